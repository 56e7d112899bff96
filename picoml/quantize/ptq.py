"""Post-training quantization of a float32 IR graph to the TFLite int8 scheme.

Activations get asymmetric int8 parameters from the min/max seen on calibration data (the
range always includes 0 so that zero padding is exact); conv weights are symmetric per output
channel, fully-connected weights per tensor; biases are int32 at ``input_scale * weight_scale``.
Ops that only move data (pooling, reshape) keep their input's parameters, and softmax gets the
fixed output parameters TFLM requires (scale 1/256, zero point -128).
"""
from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np

from picoml.errors import UnsupportedError
from picoml.interpreter import Interpreter
from picoml.ir import DType, Graph, Op, QuantParams, Tensor

WEIGHT_AXIS = {"CONV_2D": 0, "DEPTHWISE_CONV_2D": 3}  # the TFLite spec's quantized dimension
SAME_AS_INPUT = {"MAX_POOL_2D", "AVERAGE_POOL_2D", "RESHAPE"}
CALIBRATED = {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "ADD", "MEAN"}
FIXED_OUTPUT = {"SOFTMAX": (1.0 / 256.0, -128)}


def activation_params(lo: float, hi: float) -> QuantParams:
    lo, hi = min(lo, 0.0), max(hi, 0.0)
    scale = (hi - lo) / 255.0 if hi > lo else 1.0
    zp = int(np.clip(np.round(-128 - lo / scale), -128, 127))
    return QuantParams.per_tensor(float(np.float32(scale)), zp)


def _symmetric(w: np.ndarray, axis: int | None) -> tuple[np.ndarray, np.ndarray]:
    if axis is None:
        amax = np.array([np.abs(w).max()])
    else:
        amax = np.abs(np.moveaxis(w, axis, 0).reshape(w.shape[axis], -1)).max(axis=1)
    scale = np.where(amax > 0, amax / 127.0, 1.0).astype(np.float32)
    shape = [1] * w.ndim
    if axis is not None:
        shape[axis] = -1
    q = np.clip(np.round(w / scale.reshape(shape)), -127, 127).astype(np.int8)
    return q, scale


def calibrate(graph: Graph, samples: Iterable[Sequence[np.ndarray]]) -> dict[str, tuple[float, float]]:
    """Min and max of every activation over the calibration samples."""
    interp = Interpreter(graph)
    ranges: dict[str, tuple[float, float]] = {}
    for sample in samples:
        interp.run(sample, keep=True)
        for name, v in interp.values.items():
            if graph.tensors[name].is_const:
                continue
            lo, hi = float(np.min(v)), float(np.max(v))
            old = ranges.get(name, (lo, hi))
            ranges[name] = (min(old[0], lo), max(old[1], hi))
    return ranges


def quantize_graph(graph: Graph, calibration: Iterable[Sequence[np.ndarray]]) -> Graph:
    """An int8 copy of ``graph`` (int8 inputs and outputs) calibrated on ``calibration``."""
    unsupported = sorted({op.type for op in graph.ops} - CALIBRATED - SAME_AS_INPUT - set(FIXED_OUTPUT))
    if unsupported:
        raise UnsupportedError(f"post-training quantization does not handle {', '.join(unsupported)} yet")
    ranges = calibrate(graph, calibration)
    quant: dict[str, QuantParams] = {n: activation_params(*ranges[n]) for n in graph.inputs}
    tensors: dict[str, Tensor] = {}
    for op in graph.ops:
        x = graph.tensors[op.inputs[0]]
        out = op.outputs[0]
        if op.type in SAME_AS_INPUT:
            quant[out] = quant[x.name]
        elif op.type in FIXED_OUTPUT:
            quant[out] = QuantParams.per_tensor(*FIXED_OUTPUT[op.type])
        else:
            quant[out] = activation_params(*ranges[out])
        if op.type in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"):
            _quantize_weights(op, graph, quant, tensors)
    for name, t in graph.tensors.items():
        if name in tensors:
            continue
        if t.is_const:
            tensors[name] = t
        else:
            tensors[name] = Tensor(name, t.shape, DType.INT8, quant=quant[name])
    ops = [Op(o.type, list(o.inputs), list(o.outputs), dict(o.attrs), o.version) for o in graph.ops]
    return Graph(tensors, ops, list(graph.inputs), list(graph.outputs), name=graph.name + "_int8",
                 description="picoml post-training int8").validate()


def _quantize_weights(op: Op, graph: Graph, quant: dict, tensors: dict) -> None:
    w = graph.tensors[op.inputs[1]]
    axis = WEIGHT_AXIS.get(op.type)
    q, scale = _symmetric(w.data, axis)
    tensors[w.name] = Tensor(w.name, w.shape, DType.INT8, data=q,
                             quant=QuantParams(scale, np.zeros(scale.size, np.int64), axis or 0))
    if len(op.inputs) > 2 and op.inputs[2] is not None:
        b = graph.tensors[op.inputs[2]]
        in_scale = float(quant[op.inputs[0]].scale[0])
        bias_scale = (np.float64(in_scale) * scale.astype(np.float64)).astype(np.float32)
        qb = np.round(b.data.astype(np.float64) / bias_scale).astype(np.int32)
        tensors[b.name] = Tensor(b.name, b.shape, DType.INT32, data=qb,
                                 quant=QuantParams(bias_scale, np.zeros(bias_scale.size, np.int64), 0))
