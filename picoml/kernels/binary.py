"""LceBconv2d and LceBMaxPool2d: binary convolution and max pooling on bitpacked NHWC tensors,
bit-exact with Larq Compute Engine 0.16 (x86 build, default kernels).

LceBconv2d (inputs: bitpacked x, bitpacked const filter OHWI, then either float32 multiplier
``m`` and bias ``b`` per output channel, or int32 thresholds)::

    accum[o] = sum over taps and words of popcount(x_word XOR filter_word)   in [0, K]
    K        = filter_h * filter_w * channels_in

Taps in the SAME padding read all-zero words (+1 values), so one-padding (``pad_values=1``) is
what the kernel does natively. The output transform is then

* float32 / int8 output: ``y = float32(clamp(2*accum, cmin, cmax)) * m' + b'`` (a float32
  multiply, then a float32 add), with ``m' = -m/s`` and ``b' = (b + K*m)/s + zp`` computed in
  double and stored as float32 (``s = 1, zp = 0`` for float output). ``[cmin, cmax]`` is the
  fused activation's range on ``K - 2*accum`` (intersected with ``[-K, K]``), moved to
  ``2*accum``. int8: ``y`` rounded half away from zero and saturated.
* bitpacked output: bit ``o`` is ``accum[o] > threshold[o]`` (signed compare); unused high
  bits of the last word stay 0.

Zero padding (``pad_values=0`` with SAME, float output without fused activation only, as
LCE's optimised kernels require) computes the one-padded result and then adds, at border
pixels, ``float32(-m) * S`` where ``S`` is the sum of the +-1 weights of the taps outside the
input, looked up in LCE's 4-case cache (``zero_padding_correction.h``); prepare reproduces
that cache and the case selection exactly.

LceBMaxPool2d: each output word is the AND of the words of the window taps inside the input
(the max of +-1 values is -1 only when every value is -1); padded taps are skipped.

``binary_macs`` counts ``K`` binary multiply-accumulates per output element (padded taps
included); ``macs`` (float / int8 MACs) is 0.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from picoml.errors import GraphError
from picoml.ir import DType, Graph, Op, Tensor
from picoml.kernels.bitpack import check_bitpacked, pack_bits, packed_words, popcount
from picoml.kernels.conv import window
from picoml.kernels.elementwise import op_tensors, per_tensor_quant
from picoml.kernels.output_stage import activation, check_rank, fail, int_attr, operands
from picoml.kernels.padding import out_size, pad_before
from picoml.kernels.pool import padding_attr, positive_int_attr
from picoml.kernels.quant import INT32_MAX, INT32_MIN
from picoml.kernels.registry import Params, register

OUTPUT_TYPES = (DType.FLOAT32, DType.INT8, DType.BITPACKED)
# TFLM CalculateActivationRange<int32>: the fused activation's range on the +-1 dot product.
_INT_ACTIVATION_RANGE = {"NONE": (INT32_MIN, INT32_MAX), "RELU": (0, INT32_MAX), "RELU6": (0, 6),
                         "RELU_N1_TO_1": (-1, 1)}
_FLT_MAX = float(np.finfo(np.float32).max)
_CORRECTION_CASES = 4


# -- shared geometry helpers ---------------------------------------------------------------------
def _pad_zero_words(x: np.ndarray, p: Params) -> np.ndarray:
    """Pad H and W with zero words (+1 values) so every tap of every output is a plain slice."""
    (kh, kw), (sh, sw), (dh, dw) = p["filter"], p["stride"], p["dilation"]
    (ph, pw), (oh, ow) = p["pad"], p["out_hw"]
    after_h = max(0, (oh - 1) * sh + (kh - 1) * dh + 1 - ph - x.shape[1])
    after_w = max(0, (ow - 1) * sw + (kw - 1) * dw + 1 - pw - x.shape[2])
    return np.pad(x, ((0, 0), (ph, after_h), (pw, after_w), (0, 0)))


def _tap(xp: np.ndarray, p: Params, fy: int, fx: int) -> np.ndarray:
    """The words tap (fy, fx) reads at every output position: [N, OH, OW, words]."""
    (sh, sw), (dh, dw), (oh, ow) = p["stride"], p["dilation"], p["out_hw"]
    y0, x0 = fy * dh, fx * dw
    return xp[:, y0:y0 + (oh - 1) * sh + 1:sh, x0:x0 + (ow - 1) * sw + 1:sw, :]


def _const_vector(op: Op, t: Optional[Tensor], dtype: DType, n: int, role: str) -> np.ndarray:
    if t is None:
        raise fail(op, f"the {role} input is required for this output type")
    if t.dtype is not dtype or not t.is_const or tuple(t.shape) != (n,):
        raise fail(op, f"{role} {t.describe()} must be a constant {dtype.value} vector of {n} values")
    return np.asarray(t.data)


def _trunc_half(v: int) -> int:
    """C's ``v / 2`` (truncation toward zero)."""
    return -((-v) // 2) if v < 0 else v // 2


# -- LceBconv2d ----------------------------------------------------------------------------------
@register("LceBconv2d", dtypes="bitpacked x bitpacked -> float32 | int8 | bitpacked")
class LceBconv2d:
    """Binary 2-D convolution with LCE's fused output transform."""

    @staticmethod
    def prepare(op: Op, graph: Graph) -> Params:
        x, w, mult, bias, thresholds = operands(op, graph, 2, 3)
        y = graph.tensor(op.outputs[0])
        for t, role in ((x, "input"), (w, "filter")):
            check_bitpacked(op, t, role)
        for t, role in ((x, "input"), (w, "filter"), (y, "output")):
            check_rank(op, t, 4, role)
        if y.dtype not in OUTPUT_TYPES:
            raise fail(op, f"output {y.describe()} must be float32, int8 or bitpacked")
        if not w.is_const:
            raise fail(op, f"filter {w.describe()} must be a constant")
        if any(d < 1 for d in (*x.shape, *w.shape)):
            raise fail(op, f"input {x.describe()} and filter {w.describe()} must have no empty dimension")
        channels_in = int_attr(op, "channels_in")
        n, ih, iw, cin = x.shape
        cout, kh, kw, wcin = w.shape
        if cin != channels_in or wcin != channels_in:
            raise fail(op, f"channels_in={channels_in} must equal the channels of input {x.describe()} and "
                           f"filter {w.describe()} (grouped binary convolutions are not supported)")
        geo = window(op, (ih, iw), (kh, kw))
        pad_values = op.attrs.get("pad_values")
        if pad_values not in (0, 1) or isinstance(pad_values, bool):
            raise fail(op, f"attribute pad_values={pad_values!r} must be 0 or 1")
        act = activation(op)
        oh, ow = geo["out_h"], geo["out_w"]
        if oh < 1 or ow < 1:
            raise fail(op, f"a {kh}x{kw} filter does not fit input {x.describe()}")
        if tuple(y.shape) != (n, oh, ow, cout):
            raise fail(op, f"output {y.describe()} should have shape {[n, oh, ow, cout]}")
        k = kh * kw * channels_in
        if k >= 1 << 30:
            raise fail(op, f"the reduction length K = {k} is too large (2*K must fit an int32)")
        zero_padding = op.attrs.get("padding") == "SAME" and pad_values == 0
        if zero_padding and (y.dtype is not DType.FLOAT32 or act != "NONE"):
            raise fail(op, "zero padding (SAME with pad_values=0) works only with float32 output and no fused "
                           "activation (Larq Compute Engine refuses other combinations); use pad_values=1 or VALID")
        p: Params = {
            "out_type": "bitpacked" if y.dtype is DType.BITPACKED else y.dtype.value,
            "batches": n, "in_hw": (ih, iw), "channels_in": channels_in, "words": packed_words(channels_in),
            "channels_out": cout, "out_words": packed_words(cout), "filter": (kh, kw),
            "stride": (geo["stride_h"], geo["stride_w"]), "dilation": (geo["dilation_h"], geo["dilation_w"]),
            "pad": (geo["pad_h"], geo["pad_w"]), "out_hw": (oh, ow), "k": k, "zero_padding": zero_padding,
            "scratch_bytes": kh * kw * packed_words(channels_in) * 4,
            "macs": 0, "binary_macs": n * oh * ow * cout * k,
        }
        if y.dtype is DType.BITPACKED:
            if mult is not None or bias is not None:
                raise fail(op, f"bitpacked output {y.describe()} takes thresholds, not a multiplier and bias")
            p["thresholds"] = _const_vector(op, thresholds, DType.INT32, cout, "thresholds").astype(np.int32)
            return p
        if thresholds is not None:
            raise fail(op, f"{y.dtype.value} output {y.describe()} takes a multiplier and bias, not thresholds")
        m = _const_vector(op, mult, DType.FLOAT32, cout, "post_activation_multiplier")
        b = _const_vector(op, bias, DType.FLOAT32, cout, "post_activation_bias")
        p.update(_output_transform(op, y, m, b, k, act))
        if zero_padding:
            p.update(_zero_padding_correction(op, p, np.asarray(w.data), m))
        return p

    @staticmethod
    def eval(params: Params, inputs: list[Optional[np.ndarray]]) -> list[np.ndarray]:
        accum = binary_accumulate(params, inputs[0], inputs[1])
        kind = params["out_type"]
        if kind == "bitpacked":
            return [pack_bits(accum > params["thresholds"].astype(np.int64))]
        clamped = np.clip(2 * accum, params["clamp_min"], params["clamp_max"]).astype(np.float32)
        out = clamped * params["multiplier"]
        out = out + params["bias"]
        if kind == "float32":
            if params["zero_padding"]:
                out = _apply_correction(params, out)
            return [out.astype(np.float32)]
        y = out.astype(np.float64)
        rounded = np.where(y >= 0, np.floor(y + 0.5), -np.floor(-y + 0.5))  # std::round on a float
        return [np.clip(rounded, -128, 127).astype(np.int8)]


def binary_accumulate(p: Params, x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """``accum`` [N, OH, OW, O] (int64): xor-popcount over every tap and word, padded taps
    reading zero words."""
    xp = _pad_zero_words(x, p)
    kh, kw = p["filter"]
    n, (oh, ow), cout = x.shape[0], p["out_hw"], w.shape[0]
    acc = np.zeros((n, oh, ow, cout), np.int64)
    for fy in range(kh):
        for fx in range(kw):
            tap = _tap(xp, p, fy, fx)
            acc += popcount(tap[:, :, :, None, :] ^ w[None, None, None, :, fy, fx, :]).sum(-1)
    return acc


def _output_transform(op: Op, y: Tensor, m: np.ndarray, b: np.ndarray, k: int, act: str) -> Params:
    """LCE's fused multiplier, bias (double -> float32) and clamp of ``2*accum``."""
    if not (np.all(np.isfinite(m)) and np.all(np.isfinite(b))):
        raise fail(op, "post_activation_multiplier and post_activation_bias must be finite")
    scale, zp = 1.0, 0
    if y.dtype is DType.INT8:
        scale, zp = per_tensor_quant(op, y)
        scale = float(np.float32(scale))
    m64, b64 = m.astype(np.float64), b.astype(np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        multiplier = ((-1.0 * m64) / scale).astype(np.float32)
        bias = ((b64 + float(k) * m64) / scale + float(zp)).astype(np.float32)
    worst = 2.0 * k * np.abs(multiplier.astype(np.float64)) + np.abs(bias.astype(np.float64))
    if not (np.all(np.isfinite(multiplier)) and np.all(np.isfinite(bias))) or np.any(worst > _FLT_MAX):
        raise fail(op, f"the fused output transform of output {y.describe()} overflows float32")
    lo, hi = _INT_ACTIVATION_RANGE[act]
    lo, hi = max(lo, -k), min(hi, k)
    return {"multiplier": multiplier, "bias": bias, "clamp_min": k - hi, "clamp_max": k - lo}


def _zero_padding_correction(op: Op, p: Params, w: np.ndarray, m: np.ndarray) -> Params:
    """LCE's zero-padding cache [4, effH, effW, O] and the per-row / per-column case tables
    that select the cache entry of each border pixel (``ApplyCorrection``)."""
    (kh, kw), (dh, dw), (sh, sw) = p["filter"], p["dilation"], p["stride"]
    (ih, iw), (oh, ow) = p["in_hw"], p["out_hw"]
    eff_h, eff_w = (kh - 1) * dh + 1, (kw - 1) * dw + 1
    # +-1 weight sum of every (o, fy, fx) tap: channels_in - 2 * popcount over its words.
    tap_sum = p["channels_in"] - 2 * popcount(w).sum(-1)  # [O, kh, kw]
    ys, xs = np.arange(eff_h)[:, None, None, None], np.arange(eff_w)[None, :, None, None]
    efy, efx = (dh * np.arange(kh))[None, None, :, None], (dw * np.arange(kw))[None, None, None, :]
    top, left = efy < ys, efx < xs
    bottom, right = (eff_h - efy) <= ys, (eff_w - efx) <= xs
    masks = np.stack([top | left, top | right, bottom | left, bottom | right])  # [4, effH, effW, kh, kw]
    sums = np.einsum("cyxij,oij->cyxo", masks.astype(np.int64), tap_sum)
    if np.any(np.abs(sums) >= 1 << 24):
        raise fail(op, "the zero-padding correction is too large to be exact in float32")
    cache = np.float32(-1.0) * m.astype(np.float32)[None, None, None, :] * sums.astype(np.float32)

    off_t = _trunc_half((oh - 1) * sh + eff_h - ih)
    off_l = _trunc_half((ow - 1) * sw + eff_w - iw)
    t = off_t - sh * np.arange(oh, dtype=np.int64)
    bo = -t - ih + eff_h
    le = off_l - sw * np.arange(ow, dtype=np.int64)
    ri = -le - iw + eff_w
    row_y = np.stack([np.where((t > 0) & (bo < 0), t, -1), np.where(bo <= 0, np.maximum(t, 0), -1),
                      np.where(t <= 0, np.maximum(bo, 0), -1), np.where((t < 0) & (bo > 0), bo, -1)])
    col_x = np.stack([np.where(ri <= 0, np.maximum(le, 0), -1), np.where((le < 0) & (ri > 0), ri, -1),
                      np.where((le > 0) & (ri < 0), le, -1), np.where(le <= 0, np.maximum(ri, 0), -1)])
    if np.any(row_y >= eff_h) or np.any(col_x >= eff_w):
        raise fail(op, "this zero-padding geometry is outside what Larq Compute Engine's correction handles")
    return {"correction_cache": cache.astype(np.float32), "correction_hw": (eff_h, eff_w),
            "row_case_y": row_y.astype(np.int32), "col_case_x": col_x.astype(np.int32),
            "row_inner": ((t <= 0) & (bo <= 0)).astype(np.int32),
            "col_inner": ((le <= 0) & (ri <= 0)).astype(np.int32)}


def correction_index(p: Params) -> np.ndarray:
    """[OH, OW] index of the cache row ``(case*effH + y)*effW + x`` each output pixel adds,
    or -1: interior pixels and pixels matching no case get no correction."""
    eff_h, eff_w = p["correction_hw"]
    row_y, col_x = p["row_case_y"].astype(np.int64), p["col_case_x"].astype(np.int64)
    inner = (p["row_inner"][:, None] != 0) & (p["col_inner"][None, :] != 0)
    index = np.full(inner.shape, -1, np.int64)
    for case in reversed(range(_CORRECTION_CASES)):  # the first matching case wins
        hit = (row_y[case][:, None] >= 0) & (col_x[case][None, :] >= 0)
        flat = (case * eff_h + row_y[case][:, None]) * eff_w + col_x[case][None, :]
        index = np.where(hit, flat, index)
    return np.where(inner, -1, index)


def _apply_correction(p: Params, out: np.ndarray) -> np.ndarray:
    index = correction_index(p)
    rows = p["correction_cache"].reshape(-1, p["channels_out"])
    add = rows[np.maximum(index, 0)][None]  # [1, OH, OW, O]
    return np.where((index >= 0)[None, :, :, None], out + add, out)


# -- LceBMaxPool2d -------------------------------------------------------------------------------
def _axis_taps(n_out: int, stride: int, pad: int, filt: int, n_in: int) -> tuple[np.ndarray, np.ndarray]:
    idx = np.arange(n_out)[:, None] * stride - pad + np.arange(filt)[None, :]
    return np.clip(idx, 0, n_in - 1), (idx >= 0) & (idx < n_in)


@register("LceBMaxPool2d", dtypes="bitpacked -> bitpacked")
class LceBMaxPool2d:
    """Binary max pooling: AND of the window's words."""

    @staticmethod
    def prepare(op: Op, graph: Graph) -> Params:
        (x,), y = op_tensors(op, graph, 1)
        check_bitpacked(op, x, "input")
        check_bitpacked(op, y, "output")
        check_rank(op, x, 4, "input")
        sh, sw = positive_int_attr(op, "stride_h"), positive_int_attr(op, "stride_w")
        fh, fw = positive_int_attr(op, "filter_height"), positive_int_attr(op, "filter_width")
        padding = padding_attr(op)
        n, h, w, c = x.shape
        if h < 1 or w < 1:
            raise GraphError(f"{op.describe()}: input {x.describe()} has an empty dimension")
        oh, ow = out_size(padding, h, fh, sh), out_size(padding, w, fw, sw)
        if oh < 1 or ow < 1:
            raise GraphError(f"{op.describe()}: a {fh}x{fw} {padding} window does not fit input {x.describe()}")
        if tuple(y.shape) != (n, oh, ow, c):
            raise GraphError(f"{op.describe()}: output {y.describe()} should have shape {[n, oh, ow, c]}")
        ph, pw = pad_before(padding, h, fh, sh), pad_before(padding, w, fw, sw)
        rows = _axis_taps(oh, sh, ph, fh, h)[1].any(1)
        cols = _axis_taps(ow, sw, pw, fw, w)[1].any(1)
        if not (rows.all() and cols.all()):
            raise GraphError(f"{op.describe()}: some {fh}x{fw} windows lie entirely in the padding")
        return {"batches": n, "in_hw": (h, w), "stride": (sh, sw), "filter": (fh, fw), "pad": (ph, pw),
                "out_hw": (oh, ow), "words": packed_words(c), "macs": 0, "binary_macs": 0}

    @staticmethod
    def eval(params: Params, inputs: list[Optional[np.ndarray]]) -> list[np.ndarray]:
        x = inputs[0]
        (sh, sw), (fh, fw), (ph, pw), (oh, ow) = params["stride"], params["filter"], params["pad"], params["out_hw"]
        iy, vy = _axis_taps(oh, sh, ph, fh, x.shape[1])
        ix, vx = _axis_taps(ow, sw, pw, fw, x.shape[2])
        out = np.full((x.shape[0], oh, ow, x.shape[3]), -1, np.int32)
        for ty in range(fh):
            rows = x[:, iy[:, ty]]
            for tx in range(fw):
                inside = (vy[:, ty, None] & vx[None, :, tx])[None, :, :, None]
                out = np.where(inside, out & rows[:, :, ix[:, tx]], out)
        return [out.astype(np.int32)]
