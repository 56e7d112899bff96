"""ADD, SUB and MUL with NumPy broadcasting, bit-exact with TFLM's reference kernels.

Quantized ADD/SUB (int8 and int16) follow TFLM's general rescaling path: both inputs are
shifted left (20 bits for int8, 15 for int16), scaled to a common scale of twice the
larger input scale, added, and requantized to the output::

    a_i = MBQM((q_i - zp_i) << left_shift, m_i, s_i)   m_i 2**s_i ~ scale_i / (2 max_scale)
    out = MBQM(a_1 +/- a_2, m_o, s_o) + zp_o           m_o 2**s_o ~ 2 max_scale / (2**left_shift scale_o)

with MBQM = :func:`~picoml.kernels.quant.multiply_by_quantized_multiplier` (all shifts <= 0).
TFLM ignores ADD's ``pot_scale_int16`` option and always takes this path for int16. The
real factors are computed in double from the float32 scales (the tflite-micro package does
this for SUB too, although some TFLM sources compute SUB's in float32). Quantized MUL
computes ``MBQM((q_1 - zp_1) * (q_2 - zp_2), m, s) + zp_o`` with
``m * 2**s ~ scale_1 * scale_2 / scale_o``; int16 MUL needs all zero points 0. Fused
activations clamp the result. Float32 kernels compute in float32. Unquantized int32 wraps
like C; TFLM applies the fused activation to int32 SUB and MUL but not to int32 ADD.
"""
from __future__ import annotations

from typing import Any, Optional

import numpy as np

from picoml.errors import GraphError
from picoml.ir import DType, Graph, Op, Tensor
from picoml.kernels.quant import (INT32_MAX, INT32_MIN, RANGES, activation_range, activation_range_float32,
                                  multiply_by_quantized_multiplier, quantize_multiplier, wrap_int32)
from picoml.kernels.registry import Params, register

MAX_BROADCAST_RANK = 6  # TFLM's broadcast helpers (BroadcastAdd6DSlow, BroadcastMul6DSlow)
ACTIVATIONS = ("NONE", "RELU", "RELU6", "RELU_N1_TO_1")
ADD_LEFT_SHIFT = {"int8": 20, "int16": 15}


# -- shared checks (also used by the quantize and leaky_relu kernels) ------------------------------
def op_tensors(op: Op, graph: Graph, n_inputs: int) -> tuple[list[Tensor], Tensor]:
    """The op's required inputs and its single output, or a GraphError if any is missing."""
    if len(op.inputs) != n_inputs or any(n is None for n in op.inputs):
        raise GraphError(f"{op.describe()}: expects exactly {n_inputs} input(s), got {len(op.inputs)}")
    if len(op.outputs) != 1:
        raise GraphError(f"{op.describe()}: expects exactly 1 output, got {len(op.outputs)}")
    try:
        ins = [graph.tensors[n] for n in op.inputs]
        out = graph.tensors[op.outputs[0]]
    except KeyError as e:
        raise GraphError(f"{op.describe()}: tensor {e} does not exist") from None
    return ins, out


def per_tensor_quant(op: Op, t: Tensor) -> tuple[float, int]:
    """(scale, zero_point) of a per-tensor quantized tensor; the scale must be positive and
    the zero point representable in the tensor's type, since TFLM divides by scales."""
    q = t.quant
    if q is None or q.scale.size == 0:
        raise GraphError(f"{op.describe()}: {t.describe()} needs quantization parameters (scale, zero point)")
    if q.per_channel:
        raise GraphError(f"{op.describe()}: {t.describe()} must be quantized per tensor, not per channel")
    scale = float(q.scale[0])
    if not np.isfinite(scale) or scale <= 0.0:
        raise GraphError(f"{op.describe()}: {t.describe()} has scale {scale}; expected a finite scale > 0")
    zp = int(q.zero_point[0])
    lo, hi = RANGES.get(t.dtype.value, RANGES["int32"])
    if not lo <= zp <= hi:
        raise GraphError(f"{op.describe()}: {t.describe()} has zero point {zp} outside [{lo}, {hi}]")
    return scale, zp


def rescale_multiplier(op: Op, real: float, what: str) -> tuple[int, int]:
    """:func:`quantize_multiplier` of a real rescale factor, refused when it is not finite or
    so large that the left shift would not fit an int32 (TFLM would overflow)."""
    if not np.isfinite(real):
        raise GraphError(f"{op.describe()}: rescale factor {what} is not finite ({real})")
    multiplier, shift = quantize_multiplier(real)
    if shift > 31:
        raise GraphError(f"{op.describe()}: rescale factor {what} = {real:.6g} is too large (over 2**31)")
    return multiplier, shift


def fused_activation(op: Op) -> str:
    """The ``fused_activation_function`` attr, checked against the clamps TFLM implements."""
    act = op.attrs.get("fused_activation_function", "NONE")
    if act not in ACTIVATIONS:
        raise GraphError(f"{op.describe()}: fused activation {act!r} is not supported; "
                         f"expected one of {', '.join(ACTIVATIONS)}")
    return act


def broadcast_shape(op: Op, a: Tensor, b: Tensor, out: Tensor) -> tuple[int, ...]:
    """NumPy broadcast of the two input shapes; the output must have that shape (leading
    1s aside, as TFLM only compares extended shapes)."""
    for t in (a, b, out):
        if len(t.shape) > MAX_BROADCAST_RANK:
            raise GraphError(f"{op.describe()}: {t.describe()} has rank {len(t.shape)}; "
                             f"at most {MAX_BROADCAST_RANK} is supported")
    try:
        shape = tuple(int(d) for d in np.broadcast_shapes(a.shape, b.shape))
    except ValueError:
        raise GraphError(f"{op.describe()}: inputs {a.describe()} and {b.describe()} cannot be broadcast "
                         "(each dimension must match or be 1)") from None
    if _strip_leading_ones(shape) != _strip_leading_ones(out.shape):
        raise GraphError(f"{op.describe()}: output {out.describe()} should have shape {list(shape)}")
    return shape


def broadcast_strides(shape_a: tuple[int, ...], shape_b: tuple[int, ...]) -> dict[str, tuple[int, ...]]:
    """How a C loop walks a broadcast: the output dims with, per input, the element step
    taken for one step along each dim (0 where that input is broadcast). Size-1 dims are
    dropped and neighbours both inputs walk contiguously are merged, so equal shapes give one
    dim and a last-axis vector two; at most ``MAX_BROADCAST_RANK`` dims (the C kernels' limit)."""
    shape = tuple(int(d) for d in np.broadcast_shapes(shape_a, shape_b))
    steps = []
    for s in (shape_a, shape_b):
        s = (1,) * (len(shape) - len(s)) + tuple(int(d) for d in s)
        contiguous = [int(np.prod(s[i + 1:], dtype=np.int64)) for i in range(len(s))]
        steps.append([0 if d == 1 else c for d, c in zip(s, contiguous)])
    dims: list[int] = []
    s1: list[int] = []
    s2: list[int] = []
    for d, a, b in zip(shape, *steps):
        if d == 1:
            continue
        if dims and s1[-1] == a * d and s2[-1] == b * d:  # walks on from the previous dim: merge
            dims[-1] *= d
            s1[-1], s2[-1] = a, b
        else:
            dims.append(d)
            s1.append(a)
            s2.append(b)
    if not dims:
        dims, s1, s2 = [1], [0], [0]
    return {"bcast_dims": tuple(dims), "bcast_stride1": tuple(s1), "bcast_stride2": tuple(s2)}


def _strip_leading_ones(shape: tuple[int, ...]) -> tuple[int, ...]:
    i = 0
    while i < len(shape) and shape[i] == 1:
        i += 1
    return tuple(shape[i:])


def int32_activation_range(act: str) -> tuple[int, int]:
    """TFLM ``CalculateActivationRange<int32_t>``: the float bounds, unscaled."""
    lo, hi = {"NONE": (INT32_MIN, INT32_MAX), "RELU": (0, INT32_MAX), "RELU6": (0, 6),
              "RELU_N1_TO_1": (-1, 1)}[act]
    return lo, hi


def _unquantized(op: Op, tensors: list[Tensor]) -> None:
    """TFLM's int32 ADD/SUB refuse quantized tensors (they would silently ignore the scale)."""
    for t in tensors:
        if t.quant is not None and t.quant.scale.size > 0:
            raise GraphError(f"{op.describe()}: int32 {op.type} takes unquantized tensors; {t.describe()} "
                             "has quantization parameters")


def _same_dtypes(op: Op, tensors: list[Tensor], allowed: tuple[DType, ...]) -> str:
    dt = tensors[0].dtype
    if dt not in allowed or any(t.dtype is not dt for t in tensors):
        got = ", ".join(t.describe() for t in tensors)
        want = " or ".join(d.value for d in allowed)
        raise GraphError(f"{op.describe()}: inputs and output must all be {want}; got {got}")
    return dt.value


# -- ADD / SUB -------------------------------------------------------------------------------------
def _smaller_than_one(op: Op, what: str, real: float) -> tuple[int, int]:
    """TFLM ``QuantizeMultiplierSmallerThanOneExp``: aborts unless 0 < real < 1 and shift <= 0."""
    q, shift = quantize_multiplier(real) if 0.0 < real < 1.0 else (0, 1)
    if shift > 0:
        raise GraphError(f"{op.describe()}: {what} rescale factor {real:.6g} must lie in (0, 1) "
                         "(the output scale is too small relative to the input scales)")
    return q, shift


def _add_sub_multipliers(scales: tuple[float, float, float], left_shift: int) -> tuple[float, float, float]:
    """The three real rescale factors of quantized ADD/SUB, in double as TFLM derives them."""
    s1, s2, so = scales
    twice_max = 2.0 * max(s1, s2)
    return s1 / twice_max, s2 / twice_max, twice_max / ((1 << left_shift) * so)


def _prepare_add_sub(op: Op, graph: Graph, sign: int) -> Params:
    (a, b), out = op_tensors(op, graph, 2)
    dtype = _same_dtypes(op, [a, b, out], (DType.FLOAT32, DType.INT8, DType.INT16, DType.INT32))
    act = fused_activation(op)
    broadcast_shape(op, a, b, out)
    p: dict[str, Any] = {"dtype": dtype, "sign": sign, "out_shape": out.shape, "macs": out.size,
                         **broadcast_strides(a.shape, b.shape)}
    if dtype == "float32":
        p["act_min"], p["act_max"] = map(float, activation_range_float32(act))
        return p
    if dtype == "int32":
        # TFLM clamps int32 SUB to the fused activation but ignores it for int32 ADD.
        _unquantized(op, [a, b] if sign > 0 else [a, b, out])
        p["act_min"], p["act_max"] = int32_activation_range(act if sign < 0 else "NONE")
        return p
    (s1, z1), (s2, z2), (so, zo) = (per_tensor_quant(op, t) for t in (a, b, out))
    left_shift = ADD_LEFT_SHIFT[dtype]
    r1, r2, ro = _add_sub_multipliers((s1, s2, so), left_shift)
    p["left_shift"] = left_shift
    p["input1_offset"], p["input2_offset"], p["output_offset"] = -z1, -z2, zo
    p["input1_multiplier"], p["input1_shift"] = _smaller_than_one(op, "input 1", r1)
    p["input2_multiplier"], p["input2_shift"] = _smaller_than_one(op, "input 2", r2)
    p["output_multiplier"], p["output_shift"] = _smaller_than_one(op, "output", ro)
    p["act_min"], p["act_max"] = activation_range(act, dtype, so, zo)
    return p


def _eval_add_sub(params: Params, inputs: list[Optional[np.ndarray]]) -> list[np.ndarray]:
    a, b = inputs[0], inputs[1]
    dtype, sign = params["dtype"], params["sign"]
    if dtype == "float32":
        with np.errstate(over="ignore", invalid="ignore"):  # inf and NaN behave as in C
            raw = np.add(a, b, dtype=np.float32) if sign > 0 else np.subtract(a, b, dtype=np.float32)
        out = np.clip(raw, np.float32(params["act_min"]), np.float32(params["act_max"]))
        return [out.astype(np.float32).reshape(params["out_shape"])]
    if dtype == "int32":  # wraps like the C int32 arithmetic
        raw = wrap_int32(a.astype(np.int64) + sign * b.astype(np.int64))
        out = np.clip(raw, params["act_min"], params["act_max"]).astype(np.int32)
        return [out.reshape(params["out_shape"])]
    ls = params["left_shift"]
    # The per-element input rescale runs on each input's own shape; broadcasting happens at the sum.
    scaled1 = multiply_by_quantized_multiplier((a.astype(np.int64) + params["input1_offset"]) << ls,
                                               params["input1_multiplier"], params["input1_shift"])
    scaled2 = multiply_by_quantized_multiplier((b.astype(np.int64) + params["input2_offset"]) << ls,
                                               params["input2_multiplier"], params["input2_shift"])
    raw = wrap_int32(scaled1 + scaled2 if sign > 0 else scaled1 - scaled2)
    res = multiply_by_quantized_multiplier(raw, params["output_multiplier"], params["output_shift"])
    res = np.clip(res + params["output_offset"], params["act_min"], params["act_max"])
    return [res.astype(dtype).reshape(params["out_shape"])]


@register("ADD", dtypes="float32; int8; int16 (general rescaling, pot_scale_int16 ignored as in TFLM); int32")
class Add:
    @staticmethod
    def prepare(op: Op, graph: Graph) -> Params:
        """Check types, broadcast shapes and scales; derive ADD's fixed-point rescale factors."""
        return _prepare_add_sub(op, graph, +1)

    @staticmethod
    def eval(params: Params, inputs: list[Optional[np.ndarray]]) -> list[np.ndarray]:
        """Broadcast sum, rescaled and clamped to the fused activation."""
        return _eval_add_sub(params, inputs)


@register("SUB", dtypes="float32; int8; int16; int32")
class Sub:
    @staticmethod
    def prepare(op: Op, graph: Graph) -> Params:
        """As ADD, with the second input's scaled value subtracted."""
        return _prepare_add_sub(op, graph, -1)

    @staticmethod
    def eval(params: Params, inputs: list[Optional[np.ndarray]]) -> list[np.ndarray]:
        """Broadcast difference input1 - input2, rescaled and clamped."""
        return _eval_add_sub(params, inputs)


# -- MUL -------------------------------------------------------------------------------------------
@register("MUL", dtypes="float32; int8; int16 (zero points 0); int32")
class Mul:
    @staticmethod
    def prepare(op: Op, graph: Graph) -> Params:
        """Check types and broadcast shapes; one multiplier for scale_1 * scale_2 / scale_out."""
        (a, b), out = op_tensors(op, graph, 2)
        dtype = _same_dtypes(op, [a, b, out], (DType.FLOAT32, DType.INT8, DType.INT16, DType.INT32))
        act = fused_activation(op)
        broadcast_shape(op, a, b, out)
        p: dict[str, Any] = {"dtype": dtype, "out_shape": out.shape, "macs": out.size,
                             **broadcast_strides(a.shape, b.shape)}
        if dtype == "float32":
            p["act_min"], p["act_max"] = map(float, activation_range_float32(act))
            return p
        if dtype == "int32":  # plain integer product; TFLM ignores any quantization parameters
            p["act_min"], p["act_max"] = int32_activation_range(act)
            return p
        (s1, z1), (s2, z2), (so, zo) = (per_tensor_quant(op, t) for t in (a, b, out))
        if dtype == "int16" and (z1, z2, zo) != (0, 0, 0):
            raise GraphError(f"{op.describe()}: int16 MUL needs zero points 0; got {a.describe()}, "
                             f"{b.describe()}, {out.describe()}")
        p["input1_offset"], p["input2_offset"], p["output_offset"] = -z1, -z2, zo
        p["output_multiplier"], p["output_shift"] = rescale_multiplier(
            op, s1 * s2 / so, f"scale_1 * scale_2 / scale_out for output {out.describe()}")
        p["act_min"], p["act_max"] = activation_range(act, dtype, so, zo)
        return p

    @staticmethod
    def eval(params: Params, inputs: list[Optional[np.ndarray]]) -> list[np.ndarray]:
        """Broadcast product, requantized and clamped."""
        a, b = inputs[0], inputs[1]
        dtype = params["dtype"]
        if dtype == "float32":
            with np.errstate(over="ignore", invalid="ignore", under="ignore"):  # as in C
                prod = np.multiply(a, b, dtype=np.float32)
            out = np.clip(prod, np.float32(params["act_min"]), np.float32(params["act_max"]))
            return [out.astype(np.float32).reshape(params["out_shape"])]
        if dtype == "int32":  # |a * b| < 2**62, so the int64 product is exact before the C wrap
            prod = wrap_int32(a.astype(np.int64) * b.astype(np.int64))
            out = np.clip(prod, params["act_min"], params["act_max"]).astype(np.int32)
            return [out.reshape(params["out_shape"])]
        prod = (a.astype(np.int64) + params["input1_offset"]) * (b.astype(np.int64) + params["input2_offset"])
        res = multiply_by_quantized_multiplier(prod, params["output_multiplier"], params["output_shift"])
        res = np.clip(res + params["output_offset"], params["act_min"], params["act_max"])
        return [res.astype(dtype).reshape(params["out_shape"])]
