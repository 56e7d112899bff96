"""Quantization of a float32 IR graph to the TFLite int8 scheme (binary ops keep their bits).

* Activations: asymmetric int8. Parameters come from, in order: a fixed rule (SOFTMAX and
  LOGISTIC outputs 1/256 and -128, TANH 1/128 and 0, as TFLM requires); a QAT hint (a float
  tensor carrying ``quant``, set by the PyTorch frontend from an observed
  ``Int8ActivationFakeQuant``); else the min/max seen on calibration data, widened to hold 0,
  with the zero point rounded half away from zero (``picoml.nn.fake_quant.activation_qparams``
  computes the same).
* Tensors that TFLM requires to share parameters (the input and output of pooling, reshape,
  transpose and pad, every input and the output of a concatenation) are grouped, and a group
  gets one set of parameters (the union of its ranges, or its hint).
* Weights: symmetric int8 in [-127, 127], per output channel for CONV_2D / DEPTHWISE_CONV_2D,
  per tensor for FULLY_CONNECTED, rounded half away from zero -- or the scales of a QAT hint,
  which reproduce the fake-quantized weights exactly. Biases: int32 at input scale x weight scale.
* Binary ops: bitpacked tensors stay bitpacked; an ``LceBconv2d`` with float output gets int8
  output (LCE's int8 output transform); ``LceQuantize`` reads int8 (bit = q < zero point).
"""
from __future__ import annotations

from typing import Iterable, Optional, Sequence

import numpy as np

from picoml.errors import PicomlError, UnsupportedError
from picoml.interpreter import Interpreter
from picoml.ir import DType, Graph, Op, QuantParams, Tensor

WEIGHT_AXIS = {"CONV_2D": 0, "DEPTHWISE_CONV_2D": 3}  # the TFLite spec's quantized dimension
SHARED = {"MAX_POOL_2D", "AVERAGE_POOL_2D", "RESHAPE", "TRANSPOSE", "PAD", "CONCATENATION"}
CALIBRATED = {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "ADD", "SUB", "MUL", "MEAN", "LEAKY_RELU",
              "LceBconv2d", "LceDequantize"}
BINARY = {"LceQuantize", "LceBMaxPool2d"}
FIXED_OUTPUT = {"SOFTMAX": (1.0 / 256.0, -128), "LOGISTIC": (1.0 / 256.0, -128), "TANH": (1.0 / 128.0, 0)}
SUPPORTED = SHARED | CALIBRATED | BINARY | set(FIXED_OUTPUT)
# Narrower ranges are widened to this scale: TFLM refuses a fused RELU6 whose bound 6 / scale
# overflows int32 (kernel_util.cc, no_integer_overflow_from_quantization).
MIN_SCALE = 2.0 ** -27


def round_half_away(x: np.ndarray) -> np.ndarray:
    """C's ``round``: ties away from zero (TFLite's converter and kernels round this way)."""
    x = np.asarray(x, np.float64)
    return np.where(x >= 0, np.floor(x + 0.5), -np.floor(-x + 0.5))


def activation_params(lo: float, hi: float) -> QuantParams:
    """Asymmetric int8 for the range [lo, hi] widened to hold 0 (scale stored as float32, at
    least :data:`MIN_SCALE`)."""
    lo, hi = min(lo, 0.0), max(hi, 0.0)
    scale = max((hi - lo) / 255.0, MIN_SCALE) if hi > lo else 1.0
    zp = int(np.clip(round_half_away(-128 - lo / scale), -128, 127))
    return QuantParams.per_tensor(float(np.float32(scale)), zp)


def symmetric_weights(w: np.ndarray, axis: Optional[int],
                      scales: Optional[np.ndarray] = None) -> tuple[np.ndarray, np.ndarray]:
    """int8 weights and their float32 scales (computed from max |w| unless given)."""
    if scales is None:
        if axis is None:
            amax = np.array([np.abs(w).max()])
        else:
            amax = np.abs(np.moveaxis(w, axis, 0).reshape(w.shape[axis], -1)).max(axis=1)
        scales = np.where(amax > 0, amax / 127.0, 1.0).astype(np.float32)
    scales = np.asarray(scales, np.float32).reshape(-1)
    shape = [1] * w.ndim
    if axis is not None and scales.size > 1:
        shape[axis] = -1
    q = round_half_away(w.astype(np.float64) / scales.astype(np.float64).reshape(shape))
    return np.clip(q, -127, 127).astype(np.int8), scales


def has_hints(graph: Graph) -> bool:
    """True when a float activation of ``graph`` carries QAT int8 parameters."""
    return any(t.quant is not None and not t.is_const and t.dtype is DType.FLOAT32 for t in graph.tensors.values())


def strip_hints(graph: Graph) -> Graph:
    """A copy of ``graph`` with no quantization on float tensors (what the float kernels expect)."""
    tensors = {n: Tensor(t.name, t.shape, t.dtype, t.data, None if t.dtype is DType.FLOAT32 else t.quant,
                         t.variable, t.shape_signature) for n, t in graph.tensors.items()}
    ops = [Op(o.type, list(o.inputs), list(o.outputs), dict(o.attrs), o.version) for o in graph.ops]
    return Graph(tensors, ops, list(graph.inputs), list(graph.outputs), graph.name, graph.description)


def calibrate(graph: Graph, samples: Iterable[Sequence[np.ndarray]]) -> dict[str, tuple[float, float]]:
    """Min and max of every float activation over the calibration samples."""
    interp = Interpreter(graph)
    ranges: dict[str, tuple[float, float]] = {}
    for sample in samples:
        interp.run(sample, keep=True)
        for name, v in interp.values.items():
            t = graph.tensors[name]
            if t.is_const or t.dtype is not DType.FLOAT32:
                continue
            lo, hi = float(np.min(v)), float(np.max(v))
            old = ranges.get(name, (lo, hi))
            ranges[name] = (min(old[0], lo), max(old[1], hi))
    return ranges


class _Groups:
    """Union-find over tensor names that must share quantization parameters."""

    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, a: str) -> str:
        self.parent.setdefault(a, a)
        while self.parent[a] != a:
            self.parent[a] = self.parent[self.parent[a]]
            a = self.parent[a]
        return a

    def union(self, a: str, b: str) -> None:
        self.parent[self.find(a)] = self.find(b)


def _activations(graph: Graph) -> list[str]:
    return [n for n, t in graph.tensors.items() if not t.is_const and t.dtype is DType.FLOAT32]


def _activation_quant(graph: Graph, calibration: Optional[Iterable[Sequence[np.ndarray]]]) -> dict[str, QuantParams]:
    """int8 parameters of every float activation (see the module docstring for the rules)."""
    groups = _Groups()
    fixed: dict[str, QuantParams] = {}
    for op in graph.ops:
        data = [n for n in op.inputs[:1 if op.type != "CONCATENATION" else None] if n is not None]
        if op.type in SHARED:
            for n in data:
                groups.union(n, op.outputs[0])
        if op.type in FIXED_OUTPUT:
            fixed[op.outputs[0]] = QuantParams.per_tensor(*FIXED_OUTPUT[op.type])
    names = _activations(graph)
    members: dict[str, list[str]] = {}
    for n in names:
        members.setdefault(groups.find(n), []).append(n)
    chosen: dict[str, QuantParams] = {}
    need: list[str] = []
    for root, group in members.items():
        pinned = {n: fixed.get(n) or graph.tensors[n].quant for n in group
                  if fixed.get(n) is not None or graph.tensors[n].quant is not None}
        distinct = {(float(q.scale[0]), int(q.zero_point[0])) for q in pinned.values()}
        if len(distinct) > 1:
            raise UnsupportedError(f"tensors {sorted(pinned)} must share int8 parameters (TFLM does not requantize "
                                   f"there) but their fake quantizers or fixed ranges differ: {sorted(distinct)}")
        if pinned:
            chosen[root] = next(iter(pinned.values()))
        else:
            need.append(root)
    if need:
        if calibration is None:
            raise PicomlError(f"quantization needs calibration data for {len(need)} tensor group(s) without "
                              f"fake-quant parameters (e.g. {members[need[0]][0]!r})")
        ranges = calibrate(strip_hints(graph), calibration)
        for root in need:
            seen = [ranges[n] for n in members[root] if n in ranges]
            if not seen:
                raise PicomlError(f"calibration never produced tensor {members[root][0]!r}")
            chosen[root] = activation_params(min(r[0] for r in seen), max(r[1] for r in seen))
    return {n: chosen[groups.find(n)] for n in names}


def quantize_graph(graph: Graph, calibration: Optional[Iterable[Sequence[np.ndarray]]] = None) -> Graph:
    """An int8 copy of ``graph`` (int8 inputs and outputs); ``calibration`` yields one input list
    per sample and is needed unless QAT hints cover every activation."""
    unsupported = sorted({op.type for op in graph.ops} - SUPPORTED)
    if unsupported:
        raise UnsupportedError(f"int8 quantization does not handle {', '.join(unsupported)}; supported: "
                               f"{', '.join(sorted(SUPPORTED))}")
    quant = _activation_quant(graph, calibration)
    tensors: dict[str, Tensor] = {}
    for op in graph.ops:
        if op.type in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"):
            _quantize_weights(op, graph, quant, tensors)
    for name, t in graph.tensors.items():
        if name in tensors:
            continue
        if name in quant:
            tensors[name] = Tensor(name, t.shape, DType.INT8, quant=quant[name])
        elif t.dtype is DType.FLOAT32 and t.is_const and not _float_const_ok(graph, name):
            raise UnsupportedError(f"constant {t.describe()} feeds an op that needs int8 data")
        else:
            tensors[name] = Tensor(name, t.shape, t.dtype, t.data, None if t.dtype is DType.FLOAT32 else t.quant,
                                   t.variable, t.shape_signature)
    ops = [Op(o.type, list(o.inputs), list(o.outputs), dict(o.attrs), o.version) for o in graph.ops]
    return Graph(tensors, ops, list(graph.inputs), list(graph.outputs), name=graph.name + "_int8",
                 description="picoml int8").validate()


def _float_const_ok(graph: Graph, name: str) -> bool:
    """Float constants survive only as LceBconv2d's multiplier and bias."""
    return all(op.type == "LceBconv2d" and name in op.inputs[2:4] for op in graph.consumers(name))


def _quantize_weights(op: Op, graph: Graph, quant: dict[str, QuantParams], tensors: dict[str, Tensor]) -> None:
    w = graph.tensors[op.inputs[1]]
    if w.dtype is not DType.FLOAT32 or w.data is None:
        raise UnsupportedError(f"{op.describe()}: weights {w.describe()} must be float32 constants to quantize")
    axis = WEIGHT_AXIS.get(op.type)
    hint = w.quant.scale if w.quant is not None else None
    if hint is not None and hint.size > 1:
        axis = w.quant.axis
    q, scale = symmetric_weights(w.data, axis, hint)
    if w.name in tensors and not np.array_equal(tensors[w.name].data, q):
        raise UnsupportedError(f"{op.describe()}: weights {w.describe()} are shared by ops that quantize them differently")
    tensors[w.name] = Tensor(w.name, w.shape, DType.INT8, data=q,
                             quant=QuantParams(scale, np.zeros(scale.size, np.int64), axis if scale.size > 1 else 0))
    if len(op.inputs) > 2 and op.inputs[2] is not None:
        b = graph.tensors[op.inputs[2]]
        in_scale = float(quant[op.inputs[0]].scale[0])
        bias_scale = (np.float64(in_scale) * scale.astype(np.float64)).astype(np.float32)
        qb = np.clip(round_half_away(b.data.astype(np.float64) / bias_scale.astype(np.float64)),
                     -(2 ** 31), 2 ** 31 - 1).astype(np.int32)
        tensors[b.name] = Tensor(b.name, b.shape, DType.INT32, data=qb,
                                 quant=QuantParams(bias_scale, np.zeros(bias_scale.size, np.int64), 0))
