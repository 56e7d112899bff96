"""Write an IR graph as a ``.tflite`` flatbuffer, so TFLM, LiteRT and LCE can run what
picoml holds (and so tests can build one-op models for the peers).

The inverse of :mod:`picoml.frontends.tflite`: attrs go back to builtin options by name,
custom ops keep their raw options, and constant data is stored 16-byte aligned.
"""
from __future__ import annotations

import os
import tempfile
from typing import Any, Optional, Union

import flatbuffers
import numpy as np

from picoml.errors import UnsupportedError
from picoml.frontends.lce import LCE_OPS, custom_options_for_export
from picoml.ir import DType, Graph, Op, Tensor

_TYPE_CODES = {DType.FLOAT32: 0, DType.FLOAT16: 1, DType.INT32: 2, DType.UINT8: 3, DType.INT64: 4,
               DType.BOOL: 6, DType.INT16: 7, DType.INT8: 9, DType.UINT64: 12, DType.UINT32: 15,
               DType.UINT16: 16, DType.BITPACKED: 2}
_PADDING = {"SAME": 0, "VALID": 1}
_ACTIVATION = {"NONE": 0, "RELU": 1, "RELU_N1_TO_1": 2, "RELU6": 3, "TANH": 4, "SIGN_BIT": 5}
_OPTIONS_OVERRIDE = {"AVERAGE_POOL_2D": "Pool2DOptions", "MAX_POOL_2D": "Pool2DOptions",
                     "L2_POOL_2D": "Pool2DOptions", "MEAN": "ReducerOptions", "SUM": "ReducerOptions",
                     "REDUCE_MAX": "ReducerOptions", "REDUCE_MIN": "ReducerOptions",
                     "REDUCE_PROD": "ReducerOptions", "RELU": None, "LOGISTIC": None, "TANH": None}


def export_tflite(graph: Graph, path: Optional[Union[str, os.PathLike]] = None) -> bytes:
    """Serialise ``graph``; with ``path``, also write the file atomically (never half-written)."""
    data = _Writer(graph).build()
    if path is not None:
        path = os.fspath(path)
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(os.path.abspath(path)) or ".", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise
    return data


def _storage_signature(tensor: Tensor) -> tuple[int, ...]:
    """The shape signature as stored: a bitpacked tensor's last axis counts int32 words."""
    sig = tuple(tensor.shape_signature or ())
    if tensor.dtype is DType.BITPACKED and sig and sig[-1] >= 0:
        return (*sig[:-1], (sig[-1] + 31) // 32)
    return sig


def _camel(key: str) -> str:
    return "".join(p[:1].upper() + p[1:] for p in key.split("_"))


def options_name(op_type: str) -> Optional[str]:
    """The BuiltinOptions table of a builtin op (``CONV_2D`` -> ``Conv2DOptions``), or None."""
    import tflite

    if op_type in _OPTIONS_OVERRIDE:
        return _OPTIONS_OVERRIDE[op_type]
    by_lower = {k.lower(): k for k in vars(tflite.BuiltinOptions) if not k.startswith("_")}
    return by_lower.get(op_type.replace("_", "").lower() + "options")


class _Writer:
    def __init__(self, graph: Graph) -> None:
        import tflite

        self.t = tflite
        self.g = graph
        self.b = flatbuffers.Builder(1 << 16)
        self.ops_enum = {k: v for k, v in vars(tflite.BuiltinOperator).items() if not k.startswith("_")}

    # -- helpers ------------------------------------------------------------------------
    def _ints(self, start_fn: Any, values: Any, width: int = 4) -> int:
        values = [int(v) for v in values]
        start_fn(self.b, len(values))
        prepend = self.b.PrependInt32 if width == 4 else self.b.PrependInt64
        for v in reversed(values):
            prepend(v)
        return self.b.EndVector()

    def _floats(self, start_fn: Any, values: Any) -> int:
        values = [float(v) for v in values]
        start_fn(self.b, len(values))
        for v in reversed(values):
            self.b.PrependFloat32(v)
        return self.b.EndVector()

    def _bytes(self, raw: bytes, alignment: int = 16) -> int:
        self.b.StartVector(1, len(raw), alignment)
        self.b.head -= len(raw)
        self.b.Bytes[self.b.head:self.b.head + len(raw)] = raw
        self.b.vectorNumElems = len(raw)
        return self.b.EndVector()

    # -- tables -------------------------------------------------------------------------
    def build(self) -> bytes:
        t, b, g = self.t, self.b, self.g
        names = list(g.tensors)
        index = {n: i for i, n in enumerate(names)}
        buffers = [self._buffer(None)]
        tensor_offsets = []
        for n in names:
            tensor = g.tensors[n]
            buf_idx = 0
            if tensor.is_const:
                buffers.append(self._buffer(tensor.data))
                buf_idx = len(buffers) - 1
            tensor_offsets.append(self._tensor(tensor, buf_idx))
        codes: list[tuple[str, int]] = []
        op_offsets = []
        for op in g.ops:
            key = (op.type, op.version)
            if key not in codes:
                codes.append(key)
            op_offsets.append(self._operator(op, codes.index(key), index))
        code_offsets = [self._opcode(typ, ver) for typ, ver in codes]

        sg_name = b.CreateString(g.name)
        t.SubGraphStartTensorsVector(b, len(tensor_offsets))
        for o in reversed(tensor_offsets):
            b.PrependUOffsetTRelative(o)
        tensors_vec = b.EndVector()
        t.SubGraphStartOperatorsVector(b, len(op_offsets))
        for o in reversed(op_offsets):
            b.PrependUOffsetTRelative(o)
        ops_vec = b.EndVector()
        ins = self._ints(t.SubGraphStartInputsVector, [index[n] for n in g.inputs])
        outs = self._ints(t.SubGraphStartOutputsVector, [index[n] for n in g.outputs])
        t.SubGraphStart(b)
        t.SubGraphAddTensors(b, tensors_vec)
        t.SubGraphAddInputs(b, ins)
        t.SubGraphAddOutputs(b, outs)
        t.SubGraphAddOperators(b, ops_vec)
        t.SubGraphAddName(b, sg_name)
        subgraph = t.SubGraphEnd(b)

        t.ModelStartSubgraphsVector(b, 1)
        b.PrependUOffsetTRelative(subgraph)
        subgraphs = b.EndVector()
        t.ModelStartOperatorCodesVector(b, len(code_offsets))
        for o in reversed(code_offsets):
            b.PrependUOffsetTRelative(o)
        codes_vec = b.EndVector()
        t.ModelStartBuffersVector(b, len(buffers))
        for o in reversed(buffers):
            b.PrependUOffsetTRelative(o)
        buffers_vec = b.EndVector()
        desc = b.CreateString(g.description or "picoml")
        t.ModelStart(b)
        t.ModelAddVersion(b, 3)
        t.ModelAddOperatorCodes(b, codes_vec)
        t.ModelAddSubgraphs(b, subgraphs)
        t.ModelAddDescription(b, desc)
        t.ModelAddBuffers(b, buffers_vec)
        b.Finish(t.ModelEnd(b), file_identifier=b"TFL3")
        return bytes(b.Output())

    def _buffer(self, data: Optional[np.ndarray]) -> int:
        vec = self._bytes(np.ascontiguousarray(data).astype(data.dtype.newbyteorder("<")).tobytes()) \
            if data is not None else None
        self.t.BufferStart(self.b)
        if vec is not None:
            self.t.BufferAddData(self.b, vec)
        return self.t.BufferEnd(self.b)

    def _tensor(self, tensor: Tensor, buf_idx: int) -> int:
        t, b = self.t, self.b
        name = b.CreateString(tensor.name)
        shape = self._ints(t.TensorStartShapeVector, tensor.storage_shape)  # bitpacked: packed words
        sig = self._ints(t.TensorStartShapeSignatureVector, _storage_signature(tensor)) \
            if tensor.shape_signature else None
        quant = self._quant(tensor)
        t.TensorStart(b)
        t.TensorAddShape(b, shape)
        if sig is not None:
            t.TensorAddShapeSignature(b, sig)
        t.TensorAddType(b, _TYPE_CODES[tensor.dtype])
        t.TensorAddBuffer(b, buf_idx)
        t.TensorAddName(b, name)
        if quant is not None:
            t.TensorAddQuantization(b, quant)
        if tensor.variable:
            t.TensorAddIsVariable(b, True)
        return t.TensorEnd(b)

    def _quant(self, tensor: Tensor) -> Optional[int]:
        q = tensor.quant
        if q is None:
            return None
        t, b = self.t, self.b
        scale = self._floats(t.QuantizationParametersStartScaleVector, q.scale)
        zps = np.broadcast_to(q.zero_point, q.scale.shape)
        zp = self._ints(t.QuantizationParametersStartZeroPointVector, zps, width=8)
        t.QuantizationParametersStart(b)
        t.QuantizationParametersAddScale(b, scale)
        t.QuantizationParametersAddZeroPoint(b, zp)
        t.QuantizationParametersAddQuantizedDimension(b, int(q.axis))
        return t.QuantizationParametersEnd(b)

    def _opcode(self, op_type: str, version: int) -> int:
        t, b = self.t, self.b
        builtin = self.ops_enum.get(op_type)
        custom = None if builtin is not None else b.CreateString(op_type)
        code = builtin if builtin is not None else self.ops_enum["CUSTOM"]
        t.OperatorCodeStart(b)
        t.OperatorCodeAddBuiltinCode(b, code)
        t.OperatorCodeAddDeprecatedBuiltinCode(b, min(code, 127))
        if custom is not None:
            t.OperatorCodeAddCustomCode(b, custom)
        t.OperatorCodeAddVersion(b, version)
        return t.OperatorCodeEnd(b)

    def _operator(self, op: Op, code_index: int, index: dict[str, int]) -> int:
        t, b = self.t, self.b
        ins = self._ints(t.OperatorStartInputsVector, [-1 if n is None else index[n] for n in op.inputs])
        outs = self._ints(t.OperatorStartOutputsVector, [index[n] for n in op.outputs])
        custom = None
        options: Optional[tuple[int, int]] = None
        if op.type in self.ops_enum:
            options = self._builtin_options(op)
        elif op.type in LCE_OPS:
            custom = self._bytes(custom_options_for_export(op), 1)
        else:
            custom = self._bytes(op.custom_options or b"", 1)
        t.OperatorStart(b)
        t.OperatorAddOpcodeIndex(b, code_index)
        t.OperatorAddInputs(b, ins)
        t.OperatorAddOutputs(b, outs)
        if options is not None:
            t.OperatorAddBuiltinOptionsType(b, options[0])
            t.OperatorAddBuiltinOptions(b, options[1])
        if custom is not None:
            t.OperatorAddCustomOptions(b, custom)
            t.OperatorAddCustomOptionsFormat(b, 0)
        return t.OperatorEnd(b)

    def _builtin_options(self, op: Op) -> Optional[tuple[int, int]]:
        name = options_name(op.type)
        if name is None or not op.attrs:
            return None
        t, b = self.t, self.b
        adders = []
        for key, value in op.attrs.items():
            camel = _camel(key)
            add = getattr(t, f"{name}Add{camel}", None)
            if add is None:
                raise UnsupportedError(f"{op.describe()}: attribute '{key}' has no field in TFLite's {name}")
            if key == "padding":
                value = _PADDING[value] if isinstance(value, str) else value
            elif key == "fused_activation_function":
                value = _ACTIVATION[value] if isinstance(value, str) else value
            start_vec = getattr(t, f"{name}Start{camel}Vector", None)
            if start_vec is not None:
                value = self._ints(start_vec, value)
            adders.append((add, value))
        getattr(t, f"{name}Start")(b)
        for add, value in adders:
            add(b, value)
        return getattr(t.BuiltinOptions, name), getattr(t, f"{name}End")(b)
