"""Data movement: RESHAPE, TRANSPOSE, CONCATENATION, PAD and STRIDED_SLICE, bit-exact with
TFLM's reference kernels. None of them computes on values (MACs 0); prepare turns the
constant index inputs (shape, permutation, paddings, begin/end/strides) into plain params.

TFLM behaviours kept on purpose:

* CONCATENATION never requantizes: it copies values. Like TFLM it therefore requires every
  int8 input to have exactly the output's scale and zero point and every int16 zero point
  to be 0 (int16 scales are not compared: TFLM copies those values unchanged), and refuses
  a fused activation other than NONE.
* CONCATENATION takes any number of inputs of any rank (TFLM: at most 10, rank <= 6).
* PAD fills int8 with the output zero point, and int16, int32 and float32 with 0 (TFLM
  ignores an int16 zero point).
* STRIDED_SLICE follows ``strided_slice_logic.h`` (``StridedSliceStartForAxis`` /
  ``StridedSliceEndForAxis``): negative indices count from the end, then clamp to
  ``[0, n]`` (stride > 0) or ``[-1, n-1]`` (stride < 0), then begin/end masks override
  (also on a shrunk axis, where begin_mask selects index 0, unlike TensorFlow).
  TFLM ignores the ``offset`` option and forces ``ellipsis_mask`` and ``new_axis_mask`` to
  0, so picoml refuses graphs that set them rather than silently computing another slice;
  it also refuses a shrunk axis with a negative stride or out-of-range begin, for which
  TFLM reads no element and leaves the output unwritten.
"""
from __future__ import annotations

from typing import Any, Optional, Sequence

import numpy as np

from picoml.errors import GraphError
from picoml.ir import DType, Graph, Op, Tensor
from picoml.kernels.elementwise import op_tensors, per_tensor_quant
from picoml.kernels.registry import Params, register

MAX_TRANSPOSE_RANK = 6
MAX_SLICE_RANK = 5  # TFLM's reference StridedSlice pads everything to 5-D


# -- shared helpers ---------------------------------------------------------------------------
def const_ints(op: Op, graph: Graph, index: int, what: str,
               dtypes: Sequence[DType] = (DType.INT32,)) -> np.ndarray:
    """The int64 values of constant input ``index`` (an index tensor such as axis or shape)."""
    name = op.inputs[index] if index < len(op.inputs) else None
    if name is None:
        raise GraphError(f"{op.describe()}: input {index} ({what}) is missing")
    t = graph.tensors[name]
    if t.dtype not in dtypes:
        raise GraphError(f"{op.describe()}: {what} {t.describe()} must be "
                         f"{' or '.join(d.value for d in dtypes)}")
    if not t.is_const:
        raise GraphError(f"{op.describe()}: {what} {t.describe()} must be a constant; picoml (like TFLM) "
                         "needs it at build time to fix the output shape")
    return np.asarray(t.data).astype(np.int64)


def _same_dtype(op: Op, x: Tensor, out: Tensor) -> None:
    if out.dtype is not x.dtype:
        raise GraphError(f"{op.describe()}: output {out.describe()} must have the input's type {x.dtype.value}")


def _check_shape(op: Op, out: Tensor, expected: Sequence[int]) -> None:
    expected = tuple(int(d) for d in expected)
    if out.shape != expected:
        raise GraphError(f"{op.describe()}: output {out.describe()} should have shape {list(expected)}")


def _int_attr(op: Op, name: str, default: Any = None) -> int:
    v = op.attrs.get(name, default)
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)):
        raise GraphError(f"{op.describe()}: attr {name}={v!r}; expected an integer")
    return int(v)


# -- RESHAPE ----------------------------------------------------------------------------------
def _reshape_target(op: Op, graph: Graph, n_elements: int, declared: tuple[int, ...]) -> tuple[int, ...]:
    """The requested shape (shape input, else ``new_shape``), with its -1 resolved."""
    shape_name = op.inputs[1] if len(op.inputs) > 1 else None
    if shape_name is not None and graph.tensors[shape_name].is_const:
        req = const_ints(op, graph, 1, "shape", (DType.INT32, DType.INT64)).ravel().tolist()
    elif shape_name is not None:
        return declared  # a runtime shape input: TFLM keeps the converter's output shape
    else:
        raw = op.attrs.get("new_shape", [])
        if not isinstance(raw, (list, tuple)):
            raise GraphError(f"{op.describe()}: attr new_shape={raw!r}; expected a list of integers")
        req = [int(v) for v in raw]
        if req == [0]:
            req = []  # legacy TOCO files write [0] for a scalar
    if req.count(-1) > 1 or any(d < -1 for d in req):
        raise GraphError(f"{op.describe()}: new shape {req} may hold non-negative sizes and at most one -1")
    known = int(np.prod([d for d in req if d != -1], dtype=np.int64))
    if -1 in req:
        if known == 0 or n_elements % known:
            raise GraphError(f"{op.describe()}: cannot infer the -1 of new shape {req} for {n_elements} elements")
        req[req.index(-1)] = n_elements // known
    return tuple(req)


@register("RESHAPE", dtypes="any")
class Reshape:
    @staticmethod
    def prepare(op: Op, graph: Graph) -> Params:
        if len(op.inputs) not in (1, 2) or op.inputs[0] is None or len(op.outputs) != 1:
            raise GraphError(f"{op.describe()}: expects 1 or 2 inputs (data, optional shape) and 1 output")
        x, out = graph.tensors[op.inputs[0]], graph.tensors[op.outputs[0]]
        _same_dtype(op, x, out)
        target = _reshape_target(op, graph, x.size, out.shape)
        if int(np.prod(target, dtype=np.int64)) != x.size:
            raise GraphError(f"{op.describe()}: cannot reshape input {x.describe()} to {list(target)}")
        _check_shape(op, out, target)
        return {"out_shape": out.shape, "macs": 0}

    @staticmethod
    def eval(params: Params, inputs: list[Optional[np.ndarray]]) -> list[np.ndarray]:
        return [inputs[0].reshape(params["out_shape"]).copy()]  # never alias a constant or an input


# -- TRANSPOSE --------------------------------------------------------------------------------
@register("TRANSPOSE", dtypes="any (rank <= 6)")
class Transpose:
    @staticmethod
    def prepare(op: Op, graph: Graph) -> Params:
        (x, _), out = op_tensors(op, graph, 2)
        _same_dtype(op, x, out)
        perm = const_ints(op, graph, 1, "permutation")
        rank = len(x.shape)
        if rank > MAX_TRANSPOSE_RANK:
            raise GraphError(f"{op.describe()}: input {x.describe()} has rank {rank}; at most "
                             f"{MAX_TRANSPOSE_RANK} is supported")
        if perm.ndim != 1 or sorted(perm.tolist()) != list(range(rank)):
            raise GraphError(f"{op.describe()}: permutation {perm.tolist()} is not a permutation of "
                             f"0..{rank - 1} for input {x.describe()}")
        perm_t = tuple(int(p) for p in perm)
        _check_shape(op, out, [x.shape[p] for p in perm_t])
        return {"perm": perm_t, "macs": 0}

    @staticmethod
    def eval(params: Params, inputs: list[Optional[np.ndarray]]) -> list[np.ndarray]:
        return [np.transpose(inputs[0], params["perm"]).copy()]


# -- CONCATENATION ----------------------------------------------------------------------------
@register("CONCATENATION", dtypes="any; int8 inputs share the output scale/zp; int16 zp 0")
class Concatenation:
    @staticmethod
    def prepare(op: Op, graph: Graph) -> Params:
        if not op.inputs or any(n is None for n in op.inputs) or len(op.outputs) != 1:
            raise GraphError(f"{op.describe()}: expects at least 1 input and exactly 1 output")
        xs = [graph.tensors[n] for n in op.inputs]
        out = graph.tensors[op.outputs[0]]
        act = op.attrs.get("fused_activation_function", "NONE")
        if act != "NONE":
            raise GraphError(f"{op.describe()}: fused activation {act!r} is not supported (TFLM's CONCATENATION "
                             "accepts only NONE); apply the activation as a separate op")
        rank = len(out.shape)
        axis = _int_attr(op, "axis", 0)
        pos = axis + rank if axis < 0 else axis
        if not 0 <= pos < rank:
            raise GraphError(f"{op.describe()}: axis {axis} is out of range for output {out.describe()}")
        for x in xs:
            _same_dtype(op, x, out)
            if len(x.shape) != rank or any(x.shape[d] != out.shape[d] for d in range(rank) if d != pos):
                raise GraphError(f"{op.describe()}: input {x.describe()} does not match output {out.describe()} "
                                 f"outside axis {pos}")
        _check_shape(op, out, [sum(x.shape[pos] for x in xs) if d == pos else out.shape[d] for d in range(rank)])
        if out.dtype in (DType.INT8, DType.INT16):
            s_out, zp_out = per_tensor_quant(op, out)
            for x in xs:
                s_in, zp_in = per_tensor_quant(op, x)
                if out.dtype is DType.INT8 and (np.float32(s_in) != np.float32(s_out) or zp_in != zp_out):
                    raise GraphError(f"{op.describe()}: int8 input {x.describe()} must have exactly the scale and "
                                     f"zero point of output {out.describe()} (TFLM's CONCATENATION does not "
                                     "requantize); insert a QUANTIZE op to rescale it")
                if out.dtype is DType.INT16 and (zp_in != 0 or zp_out != 0):
                    raise GraphError(f"{op.describe()}: int16 input {x.describe()} and output {out.describe()} "
                                     "must have zero point 0")
        return {"axis": pos, "macs": 0}

    @staticmethod
    def eval(params: Params, inputs: list[Optional[np.ndarray]]) -> list[np.ndarray]:
        return [np.concatenate(inputs, axis=params["axis"])]


# -- PAD --------------------------------------------------------------------------------------
PAD_DTYPES = (DType.FLOAT32, DType.INT8, DType.INT16, DType.INT32)


@register("PAD", dtypes="float32; int8 (pads with the output zero point); int16; int32")
class Pad:
    @staticmethod
    def prepare(op: Op, graph: Graph) -> Params:
        (x, _), out = op_tensors(op, graph, 2)
        if x.dtype not in PAD_DTYPES:
            raise GraphError(f"{op.describe()}: input {x.describe()} must be float32, int8, int16 or int32")
        _same_dtype(op, x, out)
        pads = const_ints(op, graph, 1, "paddings", (DType.INT32, DType.INT64))
        rank = len(x.shape)
        if pads.shape != (rank, 2):
            raise GraphError(f"{op.describe()}: paddings have shape {list(pads.shape)}; expected [{rank}, 2] "
                             f"for input {x.describe()}")
        if np.any(pads < 0):
            raise GraphError(f"{op.describe()}: paddings {pads.tolist()} must be non-negative")
        _check_shape(op, out, [x.shape[d] + pads[d, 0] + pads[d, 1] for d in range(rank)])
        value: Any = 0
        if x.dtype is DType.FLOAT32:
            value = 0.0
        elif x.dtype is DType.INT8:
            value = per_tensor_quant(op, out)[1]
        return {"pads": tuple((int(a), int(b)) for a, b in pads), "value": value, "macs": 0}

    @staticmethod
    def eval(params: Params, inputs: list[Optional[np.ndarray]]) -> list[np.ndarray]:
        x = inputs[0]
        if x.ndim == 0:  # nothing to pad (NumPy's pad refuses scalars)
            return [x.copy()]
        return [np.pad(x, params["pads"], mode="constant", constant_values=np.asarray(params["value"], x.dtype))]


# -- STRIDED_SLICE ----------------------------------------------------------------------------
def slice_start(begin: int, stride: int, size: int, masked: bool) -> int:
    """TFLM ``StridedSliceStartForAxis``: the first index read along one axis."""
    start = begin + size if begin < 0 else begin
    start = min(max(start, 0), size) if stride > 0 else min(max(start, -1), size - 1)
    if masked:
        start = 0 if stride > 0 else size - 1
    return start


def slice_stop(end: int, stride: int, size: int, masked: bool) -> int:
    """TFLM ``StridedSliceEndForAxis`` for a non-shrunk axis: one past the last index read."""
    stop = end + size if end < 0 else end
    stop = min(max(stop, 0), size) if stride > 0 else min(max(stop, -1), size - 1)
    if masked:
        stop = size if stride > 0 else -1
    return stop


@register("STRIDED_SLICE", dtypes="any (rank <= 5; constant begin/end/strides)")
class StridedSlice:
    @staticmethod
    def prepare(op: Op, graph: Graph) -> Params:
        (x, _, _, _), out = op_tensors(op, graph, 4)
        _same_dtype(op, x, out)
        rank = len(x.shape)
        if rank > MAX_SLICE_RANK:
            raise GraphError(f"{op.describe()}: input {x.describe()} has rank {rank}; at most {MAX_SLICE_RANK} "
                             "is supported")
        begin, end, strides = (const_ints(op, graph, i, w).ravel() for i, w in ((1, "begin"), (2, "end"),
                                                                               (3, "strides")))
        for what, v in (("begin", begin), ("end", end), ("strides", strides)):
            if v.size != rank:
                raise GraphError(f"{op.describe()}: {what} has {v.size} entries; expected {rank} for input "
                                 f"{x.describe()}")
        for mask in ("ellipsis_mask", "new_axis_mask"):
            if _int_attr(op, mask, 0) != 0:
                raise GraphError(f"{op.describe()}: {mask} is not supported (TFLM ignores it); convert the model "
                                 "with explicit begin/end for every axis")
        if op.attrs.get("offset", False):
            raise GraphError(f"{op.describe()}: the offset option is not supported (TFLM ignores it)")
        begin_mask, end_mask = _int_attr(op, "begin_mask", 0), _int_attr(op, "end_mask", 0)
        shrink_mask = _int_attr(op, "shrink_axis_mask", 0)
        axes, out_shape = [], []
        for d in range(rank):
            stride, size = int(strides[d]), x.shape[d]
            if stride == 0:
                raise GraphError(f"{op.describe()}: stride of axis {d} is 0")
            start = slice_start(int(begin[d]), stride, size, bool(begin_mask >> d & 1))
            if shrink_mask >> d & 1:
                if stride < 0:  # TFLM loops from start while index > start + 1: nothing is read
                    raise GraphError(f"{op.describe()}: shrunk axis {d} has a negative stride; TFLM reads no "
                                     "element for it (use stride 1)")
                if not 0 <= start < size:
                    raise GraphError(f"{op.describe()}: shrunk axis {d} starts at {int(begin[d])}, outside "
                                     f"input {x.describe()}")
                axes.append((start, start + 1, 1))
                continue
            stop = slice_stop(int(end[d]), stride, size, bool(end_mask >> d & 1))
            axes.append((start, stop, stride))
            out_shape.append(len(range(start, stop, stride)))
        _check_shape(op, out, out_shape)
        return {"axes": tuple(axes), "out_shape": out.shape, "macs": 0}

    @staticmethod
    def eval(params: Params, inputs: list[Optional[np.ndarray]]) -> list[np.ndarray]:
        index = np.ix_(*[np.arange(a, b, s) for a, b, s in params["axes"]])
        return [np.asarray(inputs[0][index]).reshape(params["out_shape"])]
