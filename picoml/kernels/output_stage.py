"""The output stage shared by the linear ops (CONV_2D, DEPTHWISE_CONV_2D, TRANSPOSE_CONV,
FULLY_CONNECTED): check the operand types and quantization, then turn an accumulator into
output values, exactly as TFLM's reference kernels do.

Quantized: ``out = clamp(requant(acc + bias) + zp_out)`` per output channel, with

* int8 x int8 (int32 bias): an int32 accumulator (wrapping like C) and the double-rounding
  ``MultiplyByQuantizedMultiplier``;
* int16 x int8 with int64 bias or no bias: an int64 accumulator and the single-rounding int64
  form;
* int16 x int8 with int32 bias (CONV_2D, FULLY_CONNECTED): an int32 accumulator and the
  double-rounding form.

The multiplier of channel ``c`` is ``in_scale * w_scale[c] / out_scale`` computed in double
(TFLM ``PopulateConvolutionQuantizationParams``; FULLY_CONNECTED gives the same bits, per tensor
too). A per-tensor FULLY_CONNECTED also requires its bias scale to be close to
``in_scale * w_scale`` (TFLM refuses the op otherwise).

Float: ``out = clamp(total + bias)`` in float32, where a fused NONE still clamps to
``+-FLT_MAX`` (TFLM ``CalculateActivationRange``).
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from picoml.errors import GraphError
from picoml.ir import DType, Graph, Op, Tensor
from picoml.kernels.quant import (activation_range, multiply_by_quantized_multiplier,
                                  multiply_by_quantized_multiplier_int64, quantize_multipliers,
                                  requant_constants, wrap_int32)
from picoml.kernels.registry import Params

ACTIVATIONS = ("NONE", "RELU", "RELU6", "RELU_N1_TO_1")
_FLT_MAX = float(np.finfo(np.float32).max)
_FLOAT_RANGE = {"NONE": (-_FLT_MAX, _FLT_MAX), "RELU": (0.0, _FLT_MAX), "RELU6": (0.0, 6.0),
                "RELU_N1_TO_1": (-1.0, 1.0)}


def fail(op: Op, message: str) -> GraphError:
    """A GraphError naming the op, so every rejection reads the same."""
    return GraphError(f"{op.describe()}: {message}")


def operands(op: Op, graph: Graph, n_required: int, n_optional: int) -> list[Optional[Tensor]]:
    """The op's input tensors (``None`` for an absent optional one), after checking the count
    of inputs and that there is exactly one output."""
    n = len(op.inputs)
    if not n_required <= n <= n_required + n_optional:
        want = n_required if n_optional == 0 else f"{n_required} to {n_required + n_optional}"
        raise fail(op, f"expects {want} inputs but has {n}")
    if len(op.outputs) != 1:
        raise fail(op, f"expects 1 output but has {len(op.outputs)}")
    tensors = [graph.tensor(name) for name in op.inputs]
    for i, t in enumerate(tensors[:n_required]):
        if t is None:
            raise fail(op, f"input {i} is required but absent")
    return tensors + [None] * (n_required + n_optional - n)


def int_attr(op: Op, name: str, default: Optional[int] = None, minimum: int = 1,
             maximum: int = 1 << 16) -> int:
    """An integer attribute (stride, dilation, ...) in ``[minimum, maximum]``; the bound keeps
    corrupt values out of the int32 fields of the generated C."""
    value = op.attrs.get(name, default)
    if (isinstance(value, bool) or not isinstance(value, (int, np.integer))
            or not minimum <= value <= maximum):
        raise fail(op, f"attribute {name}={value!r} must be an integer in [{minimum}, {maximum}]")
    return int(value)


def activation(op: Op) -> str:
    """The fused activation, which must be one TFLM applies (TANH etc. are not)."""
    act = op.attrs.get("fused_activation_function", "NONE")
    if act not in ACTIVATIONS:
        raise fail(op, f"fused activation {act!r} is not supported (expected one of {', '.join(ACTIVATIONS)})")
    return act


def check_rank(op: Op, t: Tensor, rank: int, role: str) -> None:
    if len(t.shape) != rank:
        raise fail(op, f"{role} {t.describe()} must have rank {rank}")


def check_dtype(op: Op, t: Tensor, allowed: tuple[DType, ...], role: str) -> None:
    if t.dtype not in allowed:
        names = " or ".join(d.value for d in allowed)
        raise fail(op, f"{role} {t.describe()} must be {names}")


def float_params(op: Op, w: Tensor, bias: Optional[Tensor], channels: int) -> Params:
    """Output-stage parameters of a float32 op (float weights and bias)."""
    check_dtype(op, w, (DType.FLOAT32,), "weights")
    return float_stage(op, bias, channels, "float32")


def float_stage(op: Op, bias: Optional[Tensor], channels: int, kind: str) -> Params:
    """Float32 bias check and fused-activation clamp bounds, for float and hybrid kernels."""
    _check_bias(op, bias, (DType.FLOAT32,), channels)
    lo, hi = _FLOAT_RANGE[activation(op)]
    return {"kind": kind, "act_min": lo, "act_max": hi}


def quantized_params(op: Op, x: Tensor, w: Tensor, bias: Optional[Tensor], y: Tensor, channels: int,
                     axis: int, check_bias_scale: bool = False,
                     int16_biases: tuple[DType, ...] = (DType.INT64, DType.INT32)) -> Params:
    """Output-stage parameters of an int8 or int16x8 op: per-channel multipliers and shifts,
    zero points, clamp bounds, and which accumulator TFLM uses.

    ``axis`` is the weights' quantized dimension; ``check_bias_scale`` applies TFLM's per-tensor
    FULLY_CONNECTED bias-scale check; ``int16_biases`` lists the bias types TFLM reads correctly
    for int16 activations (an int16 op without bias accumulates in int64, as measured on TFLM).
    """
    check_dtype(op, x, (DType.INT8, DType.INT16), "input")
    if y.dtype is not x.dtype:
        raise fail(op, f"output {y.describe()} must have the input's type {x.dtype.value}")
    check_dtype(op, w, (DType.INT8,), "weights")
    in_scale, in_zp = _per_tensor_quant(op, x, "input")
    out_scale, out_zp = _per_tensor_quant(op, y, "output")
    w_scales = _weight_scales(op, w, channels, axis)
    if x.dtype is DType.INT8:
        _check_bias(op, bias, (DType.INT32,), channels)
        accumulator = "int32"
    else:
        _check_bias(op, bias, int16_biases, channels)
        if in_zp != 0 or out_zp != 0:
            raise fail(op, f"int16 input {x.describe()} and output {y.describe()} must have zero point 0")
        accumulator = "int32" if bias is not None and bias.dtype is DType.INT32 else "int64"
    if check_bias_scale:
        _check_bias_scale(op, bias, in_scale, w_scales, out_scale)
    reals = np.array([float(in_scale) * float(s) / float(out_scale) for s in w_scales])
    multipliers, shifts = quantize_multipliers(reals)
    limit = 14 if accumulator == "int64" else 30
    if np.any(shifts > limit):
        raise fail(op, f"effective output scale {float(reals.max()):.6g} is too large for TFLM's "
                       f"fixed-point requantization (shift > {limit})")
    act = activation(op)
    act_min, act_max = activation_range(act, y.dtype.value, out_scale, out_zp)
    if act_min > act_max:
        raise fail(op, f"fused {act} leaves no valid value on output {y.describe()}")
    if w_scales.size == 1:
        multipliers = np.repeat(multipliers, channels)
        shifts = np.repeat(shifts, channels)
    params = {"kind": x.dtype.value, "accumulator": accumulator, "input_zero_point": in_zp,
              "output_zero_point": out_zp, "multiplier": multipliers, "shift": shifts,
              "act_min": act_min, "act_max": act_max}
    if accumulator == "int32":  # the C output stage's branch-free form of the same requantization
        params.update({f"rq_{k}": v for k, v in requant_constants(multipliers, shifts).items()})
    return params


def stage_pixels(channels: int, pixels: int, groups: int = 1) -> int:
    """Output pixels (of ``pixels``) the C int8 kernels requantize per output-stage call:
    enough that one call covers at least 32 values, so its loop vectorises even for few
    channels (the emitter tiles the per-channel arrays that many times). 1 for grouped
    convolutions."""
    return min(max(1, 32 // channels), pixels) if groups == 1 else 1


def folded_bias(w: Tensor, bias: Optional[Tensor], p: Params, sum_axes: tuple[int, ...]) -> Params:
    """For int8 ops with constant weights and bias: ``bias + input_offset * sum(w)`` per output
    channel (wrapped to int32), the accumulator's constant part. With it the C kernels'
    inner loops are pure int8 dot products of the raw input, and padding taps read the input
    zero point: ``sum (x - zp) * w + bias == sum x * w + folded`` modulo 2**32, which is all
    TFLM's int32 accumulator keeps. Empty when the weights or bias are not constant."""
    if p["kind"] != "int8" or not w.is_const or (bias is not None and not bias.is_const):
        return {}
    sums = np.asarray(w.data, np.int64).sum(axis=sum_axes)
    total = -int(p["input_zero_point"]) * sums
    if bias is not None:
        total = total + np.asarray(bias.data, np.int64)
    return {"folded_bias": wrap_int32(total)}


def requantize(acc: np.ndarray, bias: Optional[np.ndarray], p: Params) -> np.ndarray:
    """int64 accumulators (channels last, exact sums of products) to the quantized output."""
    acc = np.asarray(acc, np.int64)
    if bias is not None:
        acc = acc + np.asarray(bias, np.int64)
    if p["accumulator"] == "int32":
        scaled = multiply_by_quantized_multiplier(wrap_int32(acc), p["multiplier"], p["shift"])
    else:
        scaled = wrap_int32(multiply_by_quantized_multiplier_int64(acc, p["multiplier"], p["shift"]))
    scaled = wrap_int32(scaled + p["output_zero_point"])
    return np.clip(scaled, p["act_min"], p["act_max"]).astype(np.dtype(p["kind"]))


def float_output(total: np.ndarray, bias: Optional[np.ndarray], p: Params) -> np.ndarray:
    """float32 accumulators plus bias, clamped by the fused activation."""
    out = np.asarray(total, np.float32)
    if bias is not None:
        out = out + np.asarray(bias, np.float32)
    return np.minimum(np.maximum(out, np.float32(p["act_min"])), np.float32(p["act_max"]))


def _per_tensor_quant(op: Op, t: Tensor, role: str) -> tuple[float, int]:
    q = t.quant
    if q is None or q.scale.size == 0:
        raise fail(op, f"{role} {t.describe()} needs quantization parameters")
    if q.per_channel:
        raise fail(op, f"{role} {t.describe()} must be quantized per tensor")
    scale = float(q.scale[0])
    if not np.isfinite(scale) or scale <= 0:
        raise fail(op, f"{role} {t.describe()} must have a positive scale")
    zp = int(q.zero_point[0])
    lo, hi = np.iinfo(t.dtype.numpy).min, np.iinfo(t.dtype.numpy).max
    if not lo <= zp <= hi:
        raise fail(op, f"{role} {t.describe()} has a zero point outside the {t.dtype.value} range")
    return scale, zp


def _weight_scales(op: Op, w: Tensor, channels: int, axis: int) -> np.ndarray:
    q = w.quant
    if q is None or q.scale.size == 0:
        raise fail(op, f"weights {w.describe()} need quantization parameters")
    if q.scale.size not in (1, channels):
        raise fail(op, f"weights {w.describe()} have {q.scale.size} scales; expected 1 or {channels}")
    if q.per_channel and q.axis != axis:
        raise fail(op, f"weights {w.describe()} must be quantized along axis {axis}")
    if np.any(q.zero_point != 0):
        raise fail(op, f"weights {w.describe()} must be symmetric (zero point 0)")
    scales = np.asarray(q.scale, np.float32)
    if not np.all(np.isfinite(scales)) or np.any(scales < 0):
        raise fail(op, f"weights {w.describe()} have invalid scales")
    return scales


def _check_bias(op: Op, bias: Optional[Tensor], allowed: tuple[DType, ...], channels: int) -> None:
    if bias is None:
        return
    check_dtype(op, bias, allowed, "bias")
    if bias.size != channels or len(bias.shape) != 1:
        raise fail(op, f"bias {bias.describe()} must be a vector of {channels} values")


def _check_bias_scale(op: Op, bias: Optional[Tensor], in_scale: float, w_scales: np.ndarray,
                         out_scale: float) -> None:
    """TFLM refuses a FULLY_CONNECTED whose bias scale is far from input x weight scale."""
    if bias is None:
        return
    b_scale = float(bias.quant.scale[0]) if bias.quant is not None and bias.quant.scale.size else 0.0
    diff = abs(float(in_scale) * float(w_scales[0]) - b_scale)
    if diff / float(out_scale) > 0.02:
        raise fail(op, f"bias {bias.describe()} scale must equal input scale x weight scale "
                       f"({float(in_scale) * float(w_scales[0]):.6g})")
