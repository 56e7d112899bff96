"""CONV_2D, DEPTHWISE_CONV_2D and TRANSPOSE_CONV: NumPy twins of TFLM's reference kernels.

Layouts: activations NHWC, conv and transpose-conv weights OHWI, depthwise weights 1HW(C*M)
with output channel ``c * M + m`` reading input channel ``c``. Taps that fall outside the image
are skipped (for quantized inputs this equals padding with the input zero point).

Integer sums are exact: products of int8/int16 values summed in float64 stay far below 2**53,
so any summation order gives TFLM's value, and the output stage then wraps to int32 where C
does. Float32 ops accumulate in TFLM's exact order (one tap and input channel at a time, each
product and sum rounded to float32), so float outputs match to the last bit on x86.

CONV_2D with float activations and int8 weights is TFLite's *hybrid* kernel (TFLM refuses it):
each batch of the input is quantized symmetrically to int8 with scale ``max|x| / 127``, the
conv runs in integers, and ``acc * (input_scale * weight_scale) + bias`` is computed in float32
(TFLite ``conv.cc`` EvalHybrid, per-tensor weight scale).
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from picoml.ir import DType, Graph, Op, Tensor
from picoml.kernels.output_stage import (check_dtype, check_rank, fail, float_output,
                                         float_params, float_stage, folded_bias, int_attr,
                                         operands, quantized_params, requantize, stage_pixels)
from picoml.kernels.arm_scratch import arm_conv_scratch, arm_depthwise_layout
from picoml.kernels.padding import out_size, pad_before
from picoml.kernels.registry import Params, register

QUANTIZED_DTYPES = "int8 x int8 (int32 bias), int16 x int8 (int64 or int32 bias), float32"


# -- geometry ---------------------------------------------------------------------------------
def _padding(op: Op) -> str:
    padding = op.attrs.get("padding")
    if padding not in ("SAME", "VALID"):
        raise fail(op, f"padding {padding!r} must be SAME or VALID")
    return padding


def window(op: Op, in_hw: tuple[int, int], k_hw: tuple[int, int], dilated: bool = True) -> Params:
    """Strides, dilations, implicit padding and output size of a windowed op (TFLM
    ``ComputePaddingHeightWidth``), rejecting strides or dilations below 1."""
    padding = _padding(op)
    p: Params = {"stride_h": int_attr(op, "stride_h"), "stride_w": int_attr(op, "stride_w"),
                 "dilation_h": int_attr(op, "dilation_h_factor", 1) if dilated else 1,
                 "dilation_w": int_attr(op, "dilation_w_factor", 1) if dilated else 1}
    for axis, size, k in (("h", in_hw[0], k_hw[0]), ("w", in_hw[1], k_hw[1])):
        stride, dilation = p[f"stride_{axis}"], p[f"dilation_{axis}"]
        if (k - 1) * dilation + 1 > 4 * (size + k):
            raise fail(op, f"a {k}-tap kernel with dilation {dilation} spans far more than the "
                           f"{size} input {'rows' if axis == 'h' else 'columns'}")
        p[f"out_{axis}"] = out_size(padding, size, k, stride, dilation)
        p[f"pad_{axis}"] = pad_before(padding, size, k, stride, dilation)
    return p


def interior(p: Params, axis: str, in_size: int, k: int) -> tuple[int, int]:
    """Output positions ``[first, last)`` along ``axis`` whose every tap lies inside the input
    (C kernels run those without bounds checks); ``first == last`` when there are none."""
    stride, dilation, pad, out = p[f"stride_{axis}"], p[f"dilation_{axis}"], p[f"pad_{axis}"], p[f"out_{axis}"]
    first = min(-(-pad // stride), out)
    last = max(first, min(out, (in_size - 1 - (k - 1) * dilation + pad) // stride + 1))
    return first, last


def _conv_scratch(p: Params, x: Tensor, w: Tensor) -> int:
    """Bytes of scratch the C CONV_2D kernels use: int8 keeps the im2col patches of the pixels
    one output-stage call covers (none for 1x1 kernels, which read the input in place), or the
    Cortex-M DSP kernel's widened pixel pair if larger; hybrid keeps one batch of quantized
    input."""
    if p["kind"] == "int8":
        portable = p["stage_pixels"] * int(np.prod(w.shape[1:])) if w.shape[1] * w.shape[2] > 1 else 0
        arm = arm_conv_scratch(int(np.prod(w.shape[1:]))) if p["groups"] == 1 else 0
        p["dsp_scratch_bytes"] = max(portable, arm)  # planned only by builds with the DSP kernels
        if portable:
            p["lean_scratch_bytes"] = 0  # pm_conv_lean_s8, where the planner needs the bytes
        return portable
    if p["kind"] == "hybrid":
        return x.shape[1] * x.shape[2] * x.shape[3]
    return 0


def _positive_dims(op: Op, *tensors: Tensor) -> None:
    for t in tensors:
        if any(d < 1 for d in t.shape):
            raise fail(op, f"tensor {t.describe()} has an empty dimension")


def _check_output_shape(op: Op, y: Tensor, expected: tuple[int, ...]) -> None:
    if tuple(y.shape) != tuple(expected):
        raise fail(op, f"output {y.describe()} should have shape {list(expected)}")


def _padded(x: np.ndarray, p: Params, k_hw: tuple[int, int]) -> np.ndarray:
    """Zero-pad H and W so that every tap of every output position is a plain slice."""
    extent_h = (p["out_h"] - 1) * p["stride_h"] + (k_hw[0] - 1) * p["dilation_h"] + 1
    extent_w = (p["out_w"] - 1) * p["stride_w"] + (k_hw[1] - 1) * p["dilation_w"] + 1
    after_h = max(0, extent_h - p["pad_h"] - x.shape[1])
    after_w = max(0, extent_w - p["pad_w"] - x.shape[2])
    return np.pad(x, ((0, 0), (p["pad_h"], after_h), (p["pad_w"], after_w), (0, 0)))


def _tap(xp: np.ndarray, p: Params, fy: int, fx: int) -> np.ndarray:
    """The input values tap (fy, fx) meets at every output position: [N, OH, OW, C]."""
    y0, x0 = fy * p["dilation_h"], fx * p["dilation_w"]
    return xp[:, y0:y0 + (p["out_h"] - 1) * p["stride_h"] + 1:p["stride_h"],
              x0:x0 + (p["out_w"] - 1) * p["stride_w"] + 1:p["stride_w"], :]


def _int_conv(xo: np.ndarray, w: np.ndarray, p: Params) -> np.ndarray:
    """Exact integer conv of offset-corrected inputs (float64 holding ints) -> int64 [N,OH,OW,O]."""
    kh, kw = w.shape[1], w.shape[2]
    xp = _padded(xo, p, (kh, kw))
    cols = np.stack([_tap(xp, p, fy, fx) for fy in range(kh) for fx in range(kw)], axis=3)
    groups, cin_g, cout = p["groups"], w.shape[3], w.shape[0]
    per_group = cout // groups
    out = np.empty(cols.shape[:3] + (cout,), np.float64)
    for g in range(groups):
        patch = cols[..., g * cin_g:(g + 1) * cin_g].reshape(-1, kh * kw * cin_g)
        wg = w[g * per_group:(g + 1) * per_group].reshape(per_group, -1).astype(np.float64)
        out[..., g * per_group:(g + 1) * per_group] = (patch @ wg.T).reshape(cols.shape[:3] + (per_group,))
    return out.astype(np.int64)


# -- CONV_2D ----------------------------------------------------------------------------------
@register("CONV_2D", dtypes=QUANTIZED_DTYPES + ", float32 x int8 hybrid (float32 bias)")
class Conv2D:
    """Convolution with OHWI weights, optional groups (input depth a multiple of the weights')."""

    @staticmethod
    def prepare(op: Op, graph: Graph) -> Params:
        x, w, bias = operands(op, graph, 2, 1)
        y = graph.tensor(op.outputs[0])
        for t, role in ((x, "input"), (w, "weights"), (y, "output")):
            check_rank(op, t, 4, role)
        _positive_dims(op, x, w, y)
        n, ih, iw, cin = x.shape
        cout, kh, kw, cin_g = w.shape
        if cin % cin_g or cout % (cin // cin_g):
            raise fail(op, f"input depth of {x.describe()} is not a multiple of the weights' "
                           f"{w.describe()} input depth (or the groups do not divide the filters)")
        p = window(op, (ih, iw), (kh, kw))
        _check_output_shape(op, y, (n, p["out_h"], p["out_w"], cout))
        p["groups"] = cin // cin_g
        if x.dtype is DType.FLOAT32 and w.dtype is DType.INT8:
            check_dtype(op, y, (DType.FLOAT32,), "output")
            p.update(_hybrid_params(op, w, bias, cout, p))
        elif x.dtype is DType.FLOAT32:
            check_dtype(op, y, (DType.FLOAT32,), "output")
            p.update(float_params(op, w, bias, cout))
        else:
            p.update(quantized_params(op, x, w, bias, y, cout, axis=0))
            p.update(folded_bias(w, bias, p, (1, 2, 3)))
            p["stage_pixels"] = stage_pixels(cout, n * p["out_h"] * p["out_w"], p["groups"])
        p["scratch_bytes"] = _conv_scratch(p, x, w)
        p["macs"] = n * p["out_h"] * p["out_w"] * cout * kh * kw * cin_g
        return p

    @staticmethod
    def eval(params: Params, inputs: list[Optional[np.ndarray]]) -> list[np.ndarray]:
        x, w = inputs[0], inputs[1]
        bias = inputs[2] if len(inputs) > 2 else None
        kind = params["kind"]
        if kind == "float32":
            return [float_output(_float_conv(x, w, params), bias, params)]
        if kind == "hybrid":
            q, scales = _quantize_per_batch(x)
            acc = _int_conv(q.astype(np.float64), w, params)
            scales = (scales * np.float32(params["weight_scale"])).astype(np.float32)
            total = acc.astype(np.float32) * scales[:, None, None, None]
            return [float_output(total, bias, params)]
        xo = x.astype(np.float64) - params["input_zero_point"]
        return [requantize(_int_conv(xo, w, params), bias, params)]


def _float_conv(x: np.ndarray, w: np.ndarray, p: Params) -> np.ndarray:
    """float32 conv summing in TFLM's order: taps (fy, fx), then input channels."""
    cout, kh, kw, cin_g = w.shape
    xp = _padded(x.astype(np.float32), p, (kh, kw))
    first_channel = (np.arange(cout) // (cout // p["groups"])) * cin_g
    total = np.zeros((x.shape[0], p["out_h"], p["out_w"], cout), np.float32)
    for fy in range(kh):
        for fx in range(kw):
            tap = _tap(xp, p, fy, fx)
            if p["groups"] > 1:  # each output channel reads its own group's channels
                tap = np.stack([tap[..., first_channel + ic] for ic in range(cin_g)], axis=-1)
            for ic in range(cin_g):
                values = tap[..., ic:ic + 1] if p["groups"] == 1 else tap[..., ic]
                total += values * w[:, fy, fx, ic]
    return total


def _hybrid_params(op: Op, w: Tensor, bias: Optional[Tensor], cout: int, p: Params) -> Params:
    """TFLite's per-tensor hybrid conv: float activations, int8 weights with one scale."""
    if p["dilation_h"] != 1 or p["dilation_w"] != 1:
        raise fail(op, "hybrid (float input, int8 weights) CONV_2D does not support dilation")
    if p["groups"] != 1:
        raise fail(op, "hybrid (float input, int8 weights) CONV_2D does not support groups")
    q = w.quant
    if q is None or q.scale.size == 0 or np.any(q.scale != q.scale[0]):
        raise fail(op, f"hybrid CONV_2D needs one weight scale on {w.describe()} "
                       "(per-channel hybrid conv is not supported)")
    if np.any(q.zero_point != 0) or not np.isfinite(q.scale[0]):
        raise fail(op, f"hybrid CONV_2D weights {w.describe()} must be symmetric with a finite scale")
    stage = float_stage(op, bias, cout, "hybrid")
    stage["weight_scale"] = float(q.scale[0])
    return stage


def _quantize_per_batch(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """TFLite ``SymmetricQuantizeFloats`` per batch: int8 in [-127, 127] and float32 scales."""
    flat = x.reshape(x.shape[0], -1).astype(np.float32)
    q = np.zeros(flat.shape, np.int64)
    scales = np.ones(flat.shape[0], np.float32)
    for b, v in enumerate(flat):
        top = np.float32(max(abs(v.min()), abs(v.max())))
        if top == 0:
            continue
        scales[b] = top / np.float32(127)
        scaled = (v * (np.float32(127) / top)).astype(np.float64)
        rounded = np.where(scaled >= 0, np.floor(scaled + 0.5), -np.floor(-scaled + 0.5))
        q[b] = np.clip(rounded, -127, 127)
    return q.reshape(x.shape), scales


# -- DEPTHWISE_CONV_2D ------------------------------------------------------------------------
@register("DEPTHWISE_CONV_2D", dtypes="int8 x int8 (int32 bias), int16 x int8 (int64 bias), float32")
class DepthwiseConv2D:
    """Depthwise conv: weights [1, KH, KW, C*M], output channel c*M+m reads input channel c."""

    @staticmethod
    def prepare(op: Op, graph: Graph) -> Params:
        x, w, bias = operands(op, graph, 2, 1)
        y = graph.tensor(op.outputs[0])
        for t, role in ((x, "input"), (w, "weights"), (y, "output")):
            check_rank(op, t, 4, role)
        _positive_dims(op, x, w, y)
        n, ih, iw, cin = x.shape
        one, kh, kw, cout = w.shape
        multiplier = int_attr(op, "depth_multiplier", 1)
        if one != 1 or cout != cin * multiplier:
            raise fail(op, f"weights {w.describe()} should have shape [1, KH, KW, {cin * multiplier}] "
                           f"(input depth {cin} x depth_multiplier {multiplier})")
        p = window(op, (ih, iw), (kh, kw))
        _check_output_shape(op, y, (n, p["out_h"], p["out_w"], cout))
        p["depth_multiplier"] = multiplier
        if x.dtype is DType.FLOAT32:
            check_dtype(op, y, (DType.FLOAT32,), "output")
            p.update(float_params(op, w, bias, cout))
        else:
            p.update(quantized_params(op, x, w, bias, y, cout, axis=3,
                                      int16_biases=(DType.INT64,)))
            p.update(folded_bias(w, bias, p, (0, 1, 2)))
            if p["kind"] == "int8":
                p["stage_pixels"] = stage_pixels(cout, n * p["out_h"] * p["out_w"])
                # one input channel and a kernel other than 3x3: the C code runs the CONV_2D
                # this op equals (im2col patches); else int32 sums and a row of zero points
                p["as_conv"] = cin == 1 and (kh, kw) != (3, 3)
                p["scratch_bytes"] = (p["stage_pixels"] * kh * kw if p["as_conv"]
                                      else 4 * cout * p["stage_pixels"] + cin)
                # the Cortex-M DSP kernel's planes (or im2col quad), if larger
                arm = (arm_conv_scratch(kh * kw) if p["as_conv"] else arm_depthwise_layout(
                    cin, multiplier, p["out_h"], p["out_w"], (kh, kw), (p["stride_h"], p["stride_w"]),
                    (p["dilation_h"], p["dilation_w"]))["scratch_bytes"])
                # planned only by builds that compile the DSP kernels (codegen `dsp=True`)
                p["dsp_scratch_bytes"] = max(p["scratch_bytes"], arm)
                p["lean_scratch_bytes"] = 0  # pm_conv_lean_s8, where the planner needs the bytes
        p["interior_h"] = interior(p, "h", ih, kh)
        p["interior_w"] = interior(p, "w", iw, kw)
        p["macs"] = n * p["out_h"] * p["out_w"] * cout * kh * kw
        return p

    @staticmethod
    def eval(params: Params, inputs: list[Optional[np.ndarray]]) -> list[np.ndarray]:
        x, w = inputs[0], inputs[1]
        bias = inputs[2] if len(inputs) > 2 else None
        _, kh, kw, cout = w.shape
        m = params["depth_multiplier"]
        if params["kind"] == "float32":
            xp = _padded(x.astype(np.float32), params, (kh, kw))
            total = np.zeros((x.shape[0], params["out_h"], params["out_w"], cout), np.float32)
            for fy in range(kh):
                for fx in range(kw):
                    total += np.repeat(_tap(xp, params, fy, fx), m, axis=3) * w[0, fy, fx]
            return [float_output(total, bias, params)]
        xp = _padded(x.astype(np.int64) - params["input_zero_point"], params, (kh, kw))
        acc = np.zeros((x.shape[0], params["out_h"], params["out_w"], cout), np.int64)
        for fy in range(kh):
            for fx in range(kw):
                acc += np.repeat(_tap(xp, params, fy, fx), m, axis=3) * w[0, fy, fx].astype(np.int64)
        return [requantize(acc, bias, params)]


# -- TRANSPOSE_CONV ---------------------------------------------------------------------------
@register("TRANSPOSE_CONV", dtypes="int8 x int8 (int32 bias), int16 x int8 (int64 bias), float32")
class TransposeConv:
    """Transpose conv: inputs (output shape int32[4], weights OHWI, activations, bias?).

    Each input pixel scatters ``x * w`` to the outputs ``in * stride - pad + tap``; the implicit
    padding is the one a forward conv of the *output* size would have.
    """

    @staticmethod
    def prepare(op: Op, graph: Graph) -> Params:
        shape_t, w, x, bias = operands(op, graph, 3, 1)
        y = graph.tensor(op.outputs[0])
        check_dtype(op, shape_t, (DType.INT32,), "output shape")
        if shape_t.shape != (4,):
            raise fail(op, f"output shape {shape_t.describe()} must be int32[4]")
        if shape_t.is_const and tuple(int(v) for v in shape_t.data) != tuple(y.shape):
            raise fail(op, f"output shape tensor says {shape_t.data.tolist()} but output is {y.describe()}")
        for t, role in ((x, "input"), (w, "weights"), (y, "output")):
            check_rank(op, t, 4, role)
        _positive_dims(op, x, w, y)
        n, ih, iw, cin = x.shape
        cout, kh, kw, w_cin = w.shape
        if w_cin != cin or y.shape[0] != n or y.shape[3] != cout:
            raise fail(op, f"weights {w.describe()} do not connect input {x.describe()} to output {y.describe()}")
        oh, ow = y.shape[1], y.shape[2]
        p = window(op, (oh, ow), (kh, kw), dilated=False)
        if (p["out_h"], p["out_w"]) != (ih, iw):
            raise fail(op, f"output {y.describe()} does not invert a {op.attrs.get('padding')} conv with "
                           f"kernel {kh}x{kw} and strides {p['stride_h']}x{p['stride_w']} to input {x.describe()}")
        p.update(out_h=oh, out_w=ow)
        if x.dtype is DType.FLOAT32:
            check_dtype(op, y, (DType.FLOAT32,), "output")
            p.update(float_params(op, w, bias, cout))
        else:
            p.update(quantized_params(op, x, w, bias, y, cout, axis=0,
                                      int16_biases=(DType.INT64,)))
            # the C kernel scatters into one batch of int32 (int8) or int64 (int16) sums
            p["scratch_bytes"] = oh * ow * cout * (4 if p["kind"] == "int8" else 8)
        p["macs"] = n * ih * iw * cin * kh * kw * cout
        return p

    @staticmethod
    def eval(params: Params, inputs: list[Optional[np.ndarray]]) -> list[np.ndarray]:
        w, x = inputs[1], inputs[2]
        bias = inputs[3] if len(inputs) > 3 else None
        if params["kind"] == "float32":
            return [float_output(_scatter_float(x, w, params), bias, params)]
        xo = x.astype(np.float64) - params["input_zero_point"]
        return [requantize(_scatter_int(xo, w, params), bias, params)]


def _scatter_buffer(x: np.ndarray, w: np.ndarray, p: Params, dtype: type) -> np.ndarray:
    """A zeroed buffer holding every scatter target, output window at [pad : pad + out]."""
    n, ih, iw, _ = x.shape
    cout, kh, kw, _ = w.shape
    full_h = max((ih - 1) * p["stride_h"] + kh, p["pad_h"] + p["out_h"])
    full_w = max((iw - 1) * p["stride_w"] + kw, p["pad_w"] + p["out_w"])
    return np.zeros((n, full_h, full_w, cout), dtype)


def _crop(acc: np.ndarray, p: Params) -> np.ndarray:
    return acc[:, p["pad_h"]:p["pad_h"] + p["out_h"], p["pad_w"]:p["pad_w"] + p["out_w"], :]


def _targets(x: np.ndarray, p: Params, fy: int, fx: int) -> tuple[slice, slice]:
    """Rows and columns of the scatter buffer that tap (fy, fx) writes."""
    ih, iw = x.shape[1], x.shape[2]
    return (slice(fy, fy + (ih - 1) * p["stride_h"] + 1, p["stride_h"]),
            slice(fx, fx + (iw - 1) * p["stride_w"] + 1, p["stride_w"]))


def _scatter_int(xo: np.ndarray, w: np.ndarray, p: Params) -> np.ndarray:
    acc = _scatter_buffer(xo, w, p, np.float64)
    flat = xo.reshape(-1, xo.shape[3])
    for fy in range(w.shape[1]):
        for fx in range(w.shape[2]):
            rows, cols = _targets(xo, p, fy, fx)
            contrib = flat @ w[:, fy, fx, :].astype(np.float64).T
            acc[:, rows, cols, :] += contrib.reshape(xo.shape[:3] + (w.shape[0],))
    return _crop(acc, p).astype(np.int64)


def _scatter_float(x: np.ndarray, w: np.ndarray, p: Params) -> np.ndarray:
    """float32 scatter in TFLM's order. For one output the reference visits input rows, columns
    and channels in increasing order, i.e. taps fy and fx *decreasing*, channels increasing."""
    x = x.astype(np.float32)
    acc = _scatter_buffer(x, w, p, np.float32)
    for fy in reversed(range(w.shape[1])):
        for fx in reversed(range(w.shape[2])):
            rows, cols = _targets(x, p, fy, fx)
            for ic in range(x.shape[3]):
                acc[:, rows, cols, :] += x[..., ic:ic + 1] * w[:, fy, fx, ic]
    return _crop(acc, p)
