"""Read a ``.tflite`` flatbuffer into an :class:`picoml.ir.Graph`.

Everything in the file is kept: buffers become constant tensors, per-channel quantization
is preserved, builtin options become ``Op.attrs`` (TFLite option names in snake_case, enums
as names), and custom ops stay opaque with their raw options (plus the decoded flexbuffer map
when it decodes) so later stages can handle or refuse them.

A damaged file never escapes as anything but :class:`ModelFormatError`: every vector length
and offset is checked against the file size before it is followed.
"""
from __future__ import annotations

import os
import re
from typing import Any, Optional, Union

import numpy as np

from picoml.errors import GraphError, ModelFormatError, PicomlError, UnsupportedError
from picoml.ir import DType, Graph, Op, QuantParams, Tensor

_MAX_ELEMENTS = 1 << 31  # no MCU model has a tensor with more elements than this

_DTYPES = {0: DType.FLOAT32, 1: DType.FLOAT16, 2: DType.INT32, 3: DType.UINT8, 4: DType.INT64,
           6: DType.BOOL, 7: DType.INT16, 9: DType.INT8, 12: DType.UINT64, 15: DType.UINT32, 16: DType.UINT16}
_PADDING = {0: "SAME", 1: "VALID"}
_ACTIVATION = {0: "NONE", 1: "RELU", 2: "RELU_N1_TO_1", 3: "RELU6", 4: "TANH", 5: "SIGN_BIT"}


def _enum_names(enum_cls: type) -> dict[int, str]:
    return {v: k for k, v in vars(enum_cls).items() if not k.startswith("_") and isinstance(v, int)}


def load_tflite(source: Union[str, os.PathLike, bytes, bytearray]) -> Graph:
    """Parse a TFLite model from a path or from bytes (subgraph 0) and validate it."""
    if isinstance(source, (bytes, bytearray)):
        buf, what = bytes(source), "model bytes"
    else:
        what = str(source)
        try:
            with open(source, "rb") as f:
                buf = f.read()
        except OSError as e:
            raise ModelFormatError(f"cannot read model file '{what}': {e.strerror or e}") from None
    if len(buf) < 8 or buf[4:8] != b"TFL3":
        raise ModelFormatError(
            f"{what} is not a TFLite model: a .tflite flatbuffer starts with a 4-byte offset and the "
            "identifier 'TFL3'. Check that you passed the .tflite file itself (not a Keras .h5, a "
            "SavedModel or a C array).")
    try:
        graph = _Reader(buf).graph()
    except PicomlError:
        raise
    except RecursionError:
        raise ModelFormatError(f"{what} is corrupted: its flatbuffer nests without end") from None
    except Exception as e:  # the flatbuffers reader raises many types on damaged data
        raise ModelFormatError(
            f"{what} is truncated or corrupted ({type(e).__name__}: {e}); re-export or re-download "
            "the model.") from None
    if not graph.name or graph.name == "model":
        graph.name = os.path.splitext(os.path.basename(what))[0] if what != "model bytes" else "model"
    from picoml.frontends.lce import apply_lce

    return apply_lce(graph)  # Larq Compute Engine ops: bitpacked tensors, picoml attr names


class _Reader:
    def __init__(self, buf: bytes) -> None:
        import tflite

        self.tfl = tflite
        self.buf = buf
        self.model = tflite.Model.GetRootAs(buf, 0)
        self.op_names = _enum_names(tflite.BuiltinOperator)
        self.option_names = _enum_names(tflite.BuiltinOptions)

    def _count(self, n: int, elem_size: int, what: str) -> int:
        if n < 0 or n * elem_size > len(self.buf):
            raise ModelFormatError(f"model is corrupted: {what} claims {n} entries, more than the file holds")
        return n

    def graph(self) -> Graph:
        m = self.model
        n_sub = self._count(m.SubgraphsLength(), 4, "the subgraph list")
        if n_sub == 0:
            raise ModelFormatError("model has no subgraph: there is nothing to run")
        if n_sub > 1:
            raise UnsupportedError(
                f"model has {n_sub} subgraphs; picoml runs only models with a single subgraph "
                "(control flow such as WHILE, IF or CALL_ONCE is not supported). Convert the model "
                "without control flow.")
        sg = m.Subgraphs(0)
        n_buf = self._count(m.BuffersLength(), 4, "the buffer list")
        tensors: list[Tensor] = []
        used: set[str] = set()
        for i in range(self._count(sg.TensorsLength(), 4, "the tensor list")):
            t = self._tensor(sg.Tensors(i), i, n_buf, used)
            tensors.append(t)
        names = [t.name for t in tensors]

        def ref(idx: int, where: str) -> Optional[str]:
            if idx == -1:
                return None
            if not 0 <= idx < len(names):
                raise ModelFormatError(
                    f"model is corrupted: {where} refers to tensor {idx} but subgraph 0 has {len(names)} tensors")
            return names[idx]

        ops = []
        n_codes = self._count(m.OperatorCodesLength(), 4, "the operator-code list")
        for i in range(self._count(sg.OperatorsLength(), 4, "the operator list")):
            ops.append(self._op(sg.Operators(i), i, n_codes, ref))
        inputs = [ref(int(x), "the graph inputs") for x in self._ints(sg, "Inputs")]
        outputs = [ref(int(x), "the graph outputs") for x in self._ints(sg, "Outputs")]
        if None in inputs or None in outputs:
            raise ModelFormatError("model is corrupted: a graph input or output index is -1")
        desc = m.Description()
        g = Graph({t.name: t for t in tensors}, ops, inputs, outputs,  # type: ignore[arg-type]
                  description=desc.decode("utf-8", "replace") if desc else "")
        try:
            # Tensors that an op reads but nothing writes are scratch of custom ops (e.g. ethos-u);
            # the strict check runs when an engine prepares the graph.
            return g.validate(allow_unproduced=True)
        except GraphError as e:
            raise ModelFormatError(f"model is inconsistent: {e}") from None

    def _ints(self, obj: Any, field: str) -> np.ndarray:
        n = self._count(getattr(obj, field + "Length")(), 4, field)
        if n == 0:
            return np.zeros(0, np.int64)
        return np.asarray(getattr(obj, field + "AsNumpy")()).astype(np.int64)

    def _tensor(self, t: Any, i: int, n_buf: int, used: set[str]) -> Tensor:
        raw = t.Name()
        name = raw.decode("utf-8", "replace") if raw else f"tensor_{i}"
        if name in used:
            name = f"{name}#{i}"
        used.add(name)
        code = t.Type()
        if code not in _DTYPES:
            tname = _enum_names(self.tfl.TensorType).get(code, f"type {code}")
            raise UnsupportedError(
                f"tensor {i} '{name}' has element type {tname}; picoml supports "
                f"{', '.join(d.value for d in _DTYPES.values())}. Convert the model to int8 or float32.")
        dtype = _DTYPES[code]
        shape = tuple(int(d) for d in self._ints(t, "Shape"))
        sig = tuple(int(d) for d in self._ints(t, "ShapeSignature")) or None
        if any(d < 0 for d in shape):
            raise ModelFormatError(f"model is corrupted: tensor {i} '{name}' has shape {list(shape)}")
        size = int(np.prod(shape, dtype=object)) if shape else 1
        if size > _MAX_ELEMENTS:
            raise ModelFormatError(f"model is corrupted: tensor {i} '{name}' has an implausible shape {list(shape)}")
        data = self._buffer(t.Buffer(), n_buf, i, name, dtype, shape, size)
        return Tensor(name, shape, dtype, data=data, quant=self._quant(t, name, len(shape)),
                      variable=bool(t.IsVariable()), shape_signature=sig)

    def _buffer(self, b: int, n_buf: int, i: int, name: str, dtype: DType,
                shape: tuple[int, ...], size: int) -> Optional[np.ndarray]:
        if not 0 <= b < n_buf:
            raise ModelFormatError(
                f"model is corrupted: tensor {i} '{name}' refers to buffer {b} but the model has {n_buf} buffers")
        if b == 0:
            return None
        buf = self.model.Buffers(b)
        if buf.Offset() > 1:  # large models keep buffers after the flatbuffer
            off, n = int(buf.Offset()), int(buf.Size())
            if off + n > len(self.buf):
                raise ModelFormatError(f"model is truncated: buffer {b} of tensor '{name}' runs past the end")
            raw = self.buf[off:off + n]
        else:
            n = self._count(buf.DataLength(), 1, f"buffer {b}")
            if n == 0:
                return None
            raw = buf.DataAsNumpy().tobytes()
        if len(raw) != size * dtype.itemsize:
            raise ModelFormatError(
                f"model is corrupted: tensor {i} '{name}' {dtype.value}{list(shape)} needs "
                f"{size * dtype.itemsize} bytes but its buffer {b} holds {len(raw)}")
        return np.frombuffer(raw, dtype=dtype.numpy).reshape(shape).copy()

    def _quant(self, t: Any, name: str, rank: int) -> Optional[QuantParams]:
        q = t.Quantization()
        if q is None:
            return None
        scale = np.asarray(q.ScaleAsNumpy(), np.float32) if self._count(q.ScaleLength(), 4, "scales") else None
        if scale is None or scale.size == 0:
            return None
        zp = (np.asarray(q.ZeroPointAsNumpy(), np.int64) if self._count(q.ZeroPointLength(), 8, "zero points")
              else np.zeros(scale.size, np.int64))
        axis = int(q.QuantizedDimension())
        if scale.size > 1 and rank == 1:
            axis = 0  # quirk: person_detect's biases say axis 3 on 1-D tensors; TFLM reads axis 0
        return QuantParams(scale, zp, axis)

    def _op(self, o: Any, i: int, n_codes: int, ref: Any) -> Op:
        ci = int(o.OpcodeIndex())
        if not 0 <= ci < n_codes:
            raise ModelFormatError(f"model is corrupted: operator {i} uses opcode {ci} of {n_codes}")
        code = self.model.OperatorCodes(ci)
        builtin = max(int(code.BuiltinCode()), int(code.DeprecatedBuiltinCode()))
        op_type = self.op_names.get(builtin, f"BUILTIN_{builtin}")
        custom: Optional[bytes] = None
        attrs: dict[str, Any] = {}
        if op_type == "CUSTOM":
            cc = code.CustomCode()
            op_type = cc.decode("utf-8", "replace") if cc else "CUSTOM"
            n = self._count(o.CustomOptionsLength(), 1, "custom options")
            custom = o.CustomOptionsAsNumpy().tobytes() if n else b""
            attrs = _flexbuffer_map(custom)
        else:
            attrs = self._builtin_options(o)
        where = f"operator {i} ({op_type})"
        inputs = [ref(int(x), where) for x in self._ints(o, "Inputs")]
        outputs = [ref(int(x), where) for x in self._ints(o, "Outputs")]
        if None in outputs:
            raise ModelFormatError(f"model is corrupted: {where} has an output index of -1")
        return Op(op_type, inputs, outputs, attrs, version=int(code.Version()),  # type: ignore[arg-type]
                  custom_options=custom, index=i)

    def _builtin_options(self, o: Any) -> dict[str, Any]:
        kind = self.option_names.get(int(o.BuiltinOptionsType()))
        table = o.BuiltinOptions()
        if not kind or kind == "NONE" or table is None:
            return {}
        cls = getattr(self.tfl, kind, None)
        if cls is None:
            return {}
        opts = cls()
        opts.Init(table.Bytes, table.Pos)
        return _options_to_attrs(opts)


_SKIP = {"Init"}


def _options_to_attrs(opts: Any) -> dict[str, Any]:
    attrs: dict[str, Any] = {}
    methods = [m for m in dir(opts) if m[:1].isupper() and m not in _SKIP and not m.startswith("GetRootAs")
               and not m.endswith(("Length", "IsNone", "AsNumpy", "BufferHasIdentifier"))]
    for m in methods:
        if hasattr(opts, m + "AsNumpy"):
            n = getattr(opts, m + "Length")()
            value: Any = [int(v) for v in getattr(opts, m + "AsNumpy")()] if n else []
        else:
            try:
                value = getattr(opts, m)()
            except TypeError:
                continue
        key = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", m).lower()
        if key == "padding":
            value = _PADDING.get(value, value)
        elif key == "fused_activation_function":
            value = _ACTIVATION.get(value, value)
        attrs[key] = value
    return attrs


def _flexbuffer_map(raw: bytes) -> dict[str, Any]:
    """Decode a custom op's flexbuffer options into a dict; {} if they are not a flexbuffer map."""
    if not raw:
        return {}
    try:
        from flatbuffers import flexbuffers

        value = flexbuffers.Loads(raw)
    except Exception:
        return {}
    return dict(value) if isinstance(value, dict) else {}
