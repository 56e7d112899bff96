"""LCE binary ops on the NumPy reference: LceQuantize, LceDequantize, LceBconv2d, LceBMaxPool2d.

Three kinds of evidence:
* Larq Compute Engine's own outputs on every model in ../shared/real/lce (8 samples each):
  bit-exact for the models made only of LCE ops; bnn_chain ends in float MEAN/FC/SOFTMAX, where
  TFLite's optimised kernels round differently from TFLM's reference ones (within 1e-5).
* A seeded sweep of binary convolutions (kernel size, stride, dilation, SAME/VALID, pad value,
  channels 1/31/32/33/64/100, float32 / int8 / bitpacked output, fused activations, int8 ties)
  against an independent per-pixel oracle written from LCE's documented semantics: the +-1 dot
  product with explicit one- or zero-padding, then LCE's float32 output transform.
* The bitpacking contract and the rejections (GraphError naming the op) of every inconsistency.
"""
import itertools

import numpy as np
import pytest

import picoml
from picoml.errors import GraphError
from picoml.interpreter import Interpreter
from picoml.ir import DType, Tensor
from picoml.kernels.bitpack import pack_bits, packed_words, unpack_bits
from picoml.testing.opmodel import single_op_graph, tensor

BP, F32, I8, I32 = DType.BITPACKED, DType.FLOAT32, DType.INT8, DType.INT32
ACTS = ["NONE", "RELU", "RELU6", "RELU_N1_TO_1"]
CHANNELS = [1, 31, 32, 33, 64, 100]
LCE_MODELS = ["bconv3x3_pad1", "bconv3x3_pad1_int8", "bconv1x1", "bconv_sign_out", "bnn_chain"]
INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1


# -- graph builders (also used by tests/codegen/test_binary_c.py) ---------------------------------
def random_bits(rng, shape, p=0.5):
    """Packed words of random +-1 values of logical ``shape`` (unused high bits 0)."""
    return pack_bits(rng.random(shape) < p)


def same_pad(size, k, stride, dilation):
    """TFLite SAME: output size and padding before (written out here, independent of picoml)."""
    eff = (k - 1) * dilation + 1
    out = -(-size // stride)
    return out, max(0, (out - 1) * stride + eff - size) // 2


def out_hw(in_hw, k, stride, dilation, padding):
    if padding == "SAME":
        return tuple(same_pad(s, kk, st, d)[0] for s, kk, st, d in zip(in_hw, k, stride, dilation))
    return tuple((s - ((kk - 1) * d + 1)) // st + 1 for s, kk, st, d in zip(in_hw, k, stride, dilation))


def bconv_graph(rng, cin, cout, k=(3, 3), stride=(1, 1), dilation=(1, 1), padding="SAME", pad_values=1,
                out="float32", act="NONE", in_hw=(7, 6), batches=1, out_quant=(0.05, 3), transform=None):
    """One LceBconv2d with random filter bits and random (or given ``transform`` = (m, b)) output
    transform; thresholds for bitpacked output straddle the accumulator range."""
    kh, kw = k
    kk = kh * kw * cin
    oh, ow = out_hw(in_hw, k, stride, dilation, padding)
    x = tensor("x", (batches, *in_hw, cin), BP)
    w = Tensor("w", (cout, kh, kw, cin), BP, data=random_bits(rng, (cout, kh, kw, cin)))
    m = b = thr = None
    if out == "bitpacked":
        y = tensor("y", (batches, oh, ow, cout), BP)
        t = rng.integers(-2, kk + 2, cout)
        t[rng.random(cout) < 0.1] = INT32_MIN
        t[rng.random(cout) < 0.1] = INT32_MAX
        thr = tensor("thr", (cout,), I32, data=t)
    else:
        if out == "int8":
            y = tensor("y", (batches, oh, ow, cout), I8, *out_quant)
            spread = 120 * out_quant[0] / max(kk, 1)
        else:
            y = tensor("y", (batches, oh, ow, cout), F32)
            spread = 1.0
        if transform is None:
            mv = (rng.standard_normal(cout) * spread).astype(np.float32)
            mv[rng.random(cout) < 0.1] = 0.0
            bv = (rng.standard_normal(cout) * spread * np.sqrt(kk)).astype(np.float32)
        else:
            mv, bv = (np.broadcast_to(np.float32(v), (cout,)).copy() for v in transform)
        m, b = tensor("m", (cout,), F32, data=mv), tensor("b", (cout,), F32, data=bv)
    attrs = {"channels_in": cin, "dilation_h_factor": dilation[0], "dilation_w_factor": dilation[1],
             "fused_activation_function": act, "pad_values": pad_values, "padding": padding,
             "stride_h": stride[0], "stride_w": stride[1]}
    return single_op_graph("LceBconv2d", [x, w, m, b, thr], [y], attrs)


def bmaxpool_graph(c, filt=(2, 2), stride=(2, 2), padding="VALID", in_hw=(7, 6), batches=1):
    oh, ow = (out_hw(in_hw, filt, stride, (1, 1), padding))
    x, y = tensor("x", (batches, *in_hw, c), BP), tensor("y", (batches, oh, ow, c), BP)
    attrs = {"filter_height": filt[0], "filter_width": filt[1], "padding": padding, "stride_h": stride[0],
             "stride_w": stride[1]}
    return single_op_graph("LceBMaxPool2d", [x], [y], attrs)


def quantize_graph(shape, dtype=F32, quant=(0.1, 0)):
    x = tensor("x", shape, dtype, *(quant if dtype is I8 else (None, 0)))
    return single_op_graph("LceQuantize", [x], [tensor("y", shape, BP)])


def dequantize_graph(shape, dtype=F32, quant=(0.1, 0)):
    y = tensor("y", shape, dtype, *(quant if dtype is I8 else (None, 0)))
    return single_op_graph("LceDequantize", [tensor("x", shape, BP)], [y])


def valid_case(in_hw, k, stride, dilation, padding, pad_values, out, act):
    """The combinations LCE accepts and that give a non-empty output."""
    if padding == "SAME" and pad_values == 0 and (out != "float32" or act != "NONE"):
        return False
    return all(d >= 1 for d in out_hw(in_hw, k, stride, dilation, padding))


def sweep(rng, n):
    """``n`` seeded random LceBconv2d configurations covering the parameter grid; every channel
    count meets every output type."""
    cases = []
    base = list(itertools.product(CHANNELS, ["float32", "int8", "bitpacked"]))
    for i in range(n):
        cin, out = base[i % len(base)]
        while True:
            k = [(1, 1), (3, 3), (2, 3), (5, 5), (3, 1)][rng.integers(5)]
            stride = (int(rng.integers(1, 4)), int(rng.integers(1, 3)))
            dilation = (int(rng.integers(1, 3)), int(rng.integers(1, 3)))
            padding = ["SAME", "VALID"][rng.integers(2)]
            act = ACTS[rng.integers(4)] if out != "float32" or rng.random() < 0.5 else "NONE"
            zero_ok = padding == "VALID" or (out == "float32" and act == "NONE")
            pad_values = int(rng.integers(2)) if zero_ok else 1
            eff = [(kk - 1) * d + 1 for kk, d in zip(k, dilation)]
            in_hw = (max(eff[0], int(rng.integers(4, 9))), max(eff[1], int(rng.integers(4, 9))))
            if valid_case(in_hw, k, stride, dilation, padding, pad_values, out, act):
                break
        cout = int(rng.choice([1, 5, 32, 33]))
        cases.append(dict(cin=cin, cout=cout, k=k, stride=stride, dilation=dilation, padding=padding,
                          pad_values=pad_values, out=out, act=act, in_hw=in_hw))
    return cases


# -- the independent oracle ---------------------------------------------------------------------
def oracle_bconv(graph, x_words):
    """LCE's documented semantics, pixel by pixel from the attrs and tensors (not from prepare)."""
    op = graph.ops[0]
    a = op.attrs
    xt, wt = graph.tensors[op.inputs[0]], graph.tensors[op.inputs[1]]
    yt = graph.tensors[op.outputs[0]]
    n, ih, iw, cin = xt.shape
    cout, kh, kw, _ = wt.shape
    sh, sw, dh, dw = a["stride_h"], a["stride_w"], a["dilation_h_factor"], a["dilation_w_factor"]
    if a["padding"] == "SAME":
        oh, ph = same_pad(ih, kh, sh, dh)
        ow, pw = same_pad(iw, kw, sw, dw)
    else:
        (oh, ow), ph, pw = out_hw((ih, iw), (kh, kw), (sh, sw), (dh, dw), "VALID"), 0, 0
    xs = np.where(unpack_bits(x_words, cin), -1.0, 1.0)
    ws = np.where(unpack_bits(wt.data, cin), -1.0, 1.0)  # [O, kh, kw, C]
    big_k = kh * kw * cin
    dot = np.zeros((n, oh, ow, cout))      # +-1 dot product with one-padding
    outside = np.zeros((n, oh, ow, cout))  # sum of the weights of taps outside the input
    touched = np.zeros((oh, ow), bool)
    for b, oy, ox in itertools.product(range(n), range(oh), range(ow)):
        for fy, fx in itertools.product(range(kh), range(kw)):
            iy, ix = oy * sh - ph + fy * dh, ox * sw - pw + fx * dw
            wsum = ws[:, fy, fx, :]
            if 0 <= iy < ih and 0 <= ix < iw:
                dot[b, oy, ox] += wsum @ xs[b, iy, ix]
            else:
                dot[b, oy, ox] += wsum.sum(1)
                outside[b, oy, ox] += wsum.sum(1)
                touched[oy, ox] = True
    accum = ((big_k - dot) / 2).astype(np.int64)
    if yt.dtype is BP:
        thr = graph.tensors[op.inputs[4]].data.astype(np.int64)
        return pack_bits(accum > thr)
    m = graph.tensors[op.inputs[2]].data.astype(np.float64)
    bias = graph.tensors[op.inputs[3]].data.astype(np.float64)
    scale, zp = (float(yt.quant.scale[0]), int(yt.quant.zero_point[0])) if yt.dtype is I8 else (1.0, 0)
    m2 = (-m / scale).astype(np.float32)
    b2 = ((bias + big_k * m) / scale + zp).astype(np.float32)
    lo, hi = {"NONE": (-big_k, big_k), "RELU": (0, big_k), "RELU6": (0, min(6, big_k)),
              "RELU_N1_TO_1": (-1, 1)}[a["fused_activation_function"]]
    yhat = np.clip(big_k - 2 * accum, lo, hi)
    y = (big_k - yhat).astype(np.float32) * m2
    y = y + b2
    if a["padding"] == "SAME" and a["pad_values"] == 0:
        fix = (-m).astype(np.float32) * outside.astype(np.float32)
        y = np.where(touched[None, :, :, None], y + fix, y)
    if yt.dtype is I8:
        y64 = y.astype(np.float64)
        return np.clip(np.sign(y64) * np.floor(np.abs(y64) + 0.5), -128, 127).astype(np.int8)
    return y.astype(np.float32)


def oracle_bmaxpool(graph, x_words):
    op = graph.ops[0]
    a = op.attrs
    n, ih, iw, c = graph.tensors[op.inputs[0]].shape
    fh, fw, sh, sw = a["filter_height"], a["filter_width"], a["stride_h"], a["stride_w"]
    if a["padding"] == "SAME":
        (oh, ph), (ow, pw) = same_pad(ih, fh, sh, 1), same_pad(iw, fw, sw, 1)
    else:
        (oh, ow), ph, pw = out_hw((ih, iw), (fh, fw), (sh, sw), (1, 1), "VALID"), 0, 0
    xs = np.where(unpack_bits(x_words, c), -1, 1)
    out = np.empty((n, oh, ow, c), np.int64)
    for oy, ox in itertools.product(range(oh), range(ow)):
        rows = range(max(0, oy * sh - ph), min(ih, oy * sh - ph + fh))
        cols = range(max(0, ox * sw - pw), min(iw, ox * sw - pw + fw))
        out[:, oy, ox] = xs[:, rows][:, :, cols].max(axis=(1, 2))
    return pack_bits(out < 0)


# -- bitpacking contract ------------------------------------------------------------------------
@pytest.mark.parametrize("c", [1, 31, 32, 33, 63, 64, 100])
def test_pack_unpack_round_trip_and_bit_order(c, rng):
    bits = rng.random((3, 2, c)) < 0.5
    words = pack_bits(bits)
    assert words.dtype == np.int32 and words.shape == (3, 2, packed_words(c))
    assert np.array_equal(unpack_bits(words, c), bits)
    u = words.view(np.uint32)
    for ch in (0, c // 2, c - 1):  # channel ch is bit ch % 32 of word ch // 32
        assert np.array_equal((u[..., ch // 32] >> np.uint32(ch % 32)) & 1, bits[..., ch])
    if c % 32:
        assert not np.any(u[..., -1] >> np.uint32(c % 32)), "unused high bits must be 0"


def test_quantize_float_sign_rule():
    x = np.array([[0.0, -0.0, -1e-30, 1e-30, np.nan, -np.inf, np.inf, -2.5, 3.0] + [1.0] * 24 + [-1.0]],
                 np.float32)
    (got,) = Interpreter(quantize_graph(x.shape)).run([x])
    expected = np.array([0, 0, 1, 0, 0, 1, 0, 1, 0] + [0] * 24 + [1], bool)[None]
    assert np.array_equal(unpack_bits(got, x.shape[-1]), expected) and got.shape == (1, 2)


@pytest.mark.parametrize("zp", [-128, -3, 0, 100, 127])
def test_quantize_int8_zero_point_rule(zp):
    x = np.arange(-128, 128, dtype=np.int8).reshape(4, 64)
    (got,) = Interpreter(quantize_graph(x.shape, I8, (0.1, zp))).run([x])
    assert np.array_equal(unpack_bits(got, 64), x < zp)


@pytest.mark.parametrize("scale, zp, plus, minus", [
    (0.1, 0, 10, -10), (1 / 128, 0, 127, -128), (0.4, 5, 8, 2), (0.25, 126, 127, 122), (0.8, -128, -127, -128),
    (1 / 3, -2, 1, -5), (2.0, 0, 1, -1), (4.0, 0, 0, 0)])
def test_dequantize_values(scale, zp, plus, minus, rng):
    bits = rng.random((2, 3, 37)) < 0.5
    (f,) = Interpreter(dequantize_graph(bits.shape)).run([pack_bits(bits)])
    assert f.dtype == np.float32 and np.array_equal(f, np.where(bits, -1.0, 1.0))
    (q,) = Interpreter(dequantize_graph(bits.shape, I8, (scale, zp))).run([pack_bits(bits)])
    assert np.array_equal(q, np.where(bits, minus, plus).astype(np.int8))


# -- binary convolution sweep -------------------------------------------------------------------
def test_bconv_sweep_against_oracle(rng):
    cases = sweep(rng, 144)
    for i, case in enumerate(cases):
        g = bconv_graph(rng, **case)
        interp = Interpreter(g)
        for _ in range(2):
            x = random_bits(rng, g.input_tensors[0].shape, p=float(rng.choice([0.5, 0.1, 0.9])))
            (got,) = interp.run([x])
            want = oracle_bconv(g, x)
            assert got.dtype == want.dtype and got.shape == want.shape, case
            assert np.array_equal(got.view(np.uint32) if got.dtype == np.float32 else got,
                                  want.view(np.uint32) if want.dtype == np.float32 else want), f"case {i}: {case}"


@pytest.mark.parametrize("cin", CHANNELS)
def test_zero_padding_correction(cin, rng):
    """pad_values=0 (SAME): LCE's float correction at the border, with stride and dilation."""
    for k, stride, dilation in [((3, 3), (1, 1), (1, 1)), ((3, 3), (2, 2), (1, 1)), ((5, 3), (1, 2), (2, 1)),
                                ((2, 2), (1, 1), (1, 1)), ((3, 3), (3, 1), (2, 2))]:
        g = bconv_graph(rng, cin, 7, k, stride, dilation, "SAME", 0, "float32", "NONE", in_hw=(9, 8), batches=2)
        x = random_bits(rng, g.input_tensors[0].shape)
        (got,) = Interpreter(g).run([x])
        assert np.array_equal(got.view(np.uint32), oracle_bconv(g, x).view(np.uint32)), (cin, k, stride, dilation)


@pytest.mark.parametrize("act", ACTS)
def test_int8_output_rounds_ties_away_from_zero(act, rng):
    """m = 0.5, b = 0.5, scale 1: every output is a tie x.5 (half-even rounding would differ)."""
    g = bconv_graph(rng, 32, 9, out="int8", act=act, out_quant=(1.0, 0), transform=(0.5, 0.5))
    x = random_bits(rng, g.input_tensors[0].shape)
    (got,) = Interpreter(g).run([x])
    assert np.array_equal(got, oracle_bconv(g, x))
    assert len(np.unique(got)) > (3 if act in ("NONE", "RELU") else 1)


@pytest.mark.parametrize("act", ACTS)
def test_fused_activation_clamps(act, rng):
    g = bconv_graph(rng, 33, 5, act=act, transform=(1.0, 0.0))  # y = K - 2*accum = the clamped dot product
    x = random_bits(rng, g.input_tensors[0].shape)
    (got,) = Interpreter(g).run([x])
    lo, hi = {"NONE": (-297, 297), "RELU": (0, 297), "RELU6": (0, 6), "RELU_N1_TO_1": (-1, 1)}[act]
    assert got.min() >= lo and got.max() <= hi and np.array_equal(got, oracle_bconv(g, x))


def test_output_transform_is_lce_float32_not_yhat_times_m(rng):
    """LCE folds K*m into the bias in double: its floats differ from float32(yhat*m + b)."""
    g = bconv_graph(rng, 64, 32, transform=(0.3721, -17.25))
    x = random_bits(rng, g.input_tensors[0].shape)
    (got,) = Interpreter(g).run([x])
    assert np.array_equal(got, oracle_bconv(g, x))
    params = Interpreter(g).steps[0][2]
    assert params["multiplier"][0] == np.float32(-0.3721)
    assert params["bias"][0] == np.float32(-17.25 + 576 * np.float64(np.float32(0.3721)))


def test_bitpacked_output_threshold_rule(rng):
    """bit = accum > threshold (signed): INT32_MIN always gives -1, INT32_MAX always +1."""
    g = bconv_graph(rng, 40, 70, out="bitpacked")
    thr = g.tensors["thr"].data
    thr[:3] = [INT32_MIN, INT32_MAX, 0]
    x = random_bits(rng, g.input_tensors[0].shape)
    (got,) = Interpreter(g).run([x])
    bits = unpack_bits(got, 70)
    assert bits[..., 0].all() and not bits[..., 1].any()
    assert got.shape[-1] == 3 and not np.any(got[..., -1].view(np.uint32) >> np.uint32(6))
    assert np.array_equal(got, oracle_bconv(g, x))


def test_bconv_binary_macs():
    g = bconv_graph(np.random.default_rng(0), 33, 8, (3, 3), in_hw=(6, 6), batches=2)
    p = Interpreter(g).steps[0][2]
    assert p["macs"] == 0 and p["binary_macs"] == 2 * 6 * 6 * 8 * 9 * 33
    assert p["scratch_bytes"] == 9 * 2 * 4


# -- binary max pooling -------------------------------------------------------------------------
@pytest.mark.parametrize("c", CHANNELS)
def test_bmaxpool_against_oracle(c, rng):
    for filt, stride, padding, in_hw in [((2, 2), (2, 2), "VALID", (8, 8)), ((3, 3), (2, 2), "SAME", (7, 6)),
                                         ((3, 2), (1, 2), "SAME", (5, 5)), ((1, 1), (1, 1), "VALID", (3, 4)),
                                         ((2, 3), (3, 1), "VALID", (7, 7))]:
        g = bmaxpool_graph(c, filt, stride, padding, in_hw, batches=2)
        x = random_bits(rng, g.input_tensors[0].shape, p=0.8)
        (got,) = Interpreter(g).run([x])
        assert np.array_equal(got, oracle_bmaxpool(g, x)), (c, filt, stride, padding)


# -- rejections ---------------------------------------------------------------------------------
def _with(g, **attrs):
    g.ops[0].attrs.update(attrs)
    return g


@pytest.mark.parametrize("make, message", [
    (lambda r: _with(bconv_graph(r, 8, 4), stride_h=0), "stride_h"),
    (lambda r: _with(bconv_graph(r, 8, 4), dilation_w_factor=-1), "dilation_w_factor"),
    (lambda r: _with(bconv_graph(r, 8, 4), padding="BAD"), "padding"),
    (lambda r: _with(bconv_graph(r, 8, 4), pad_values=2), "pad_values"),
    (lambda r: _with(bconv_graph(r, 8, 4), fused_activation_function="TANH"), "fused activation"),
    (lambda r: _with(bconv_graph(r, 8, 4), channels_in=9), "channels_in"),
    (lambda r: bconv_graph(r, 8, 4, out="bitpacked", pad_values=0), "zero padding"),
    (lambda r: bconv_graph(r, 8, 4, out="int8", pad_values=0), "zero padding"),
    (lambda r: bconv_graph(r, 8, 4, act="RELU", pad_values=0), "zero padding"),
    (lambda r: bconv_graph(r, 8, 4, padding="VALID", in_hw=(2, 2)), "does not fit"),
])
def test_bconv_rejects(make, message, rng):
    with pytest.raises(GraphError, match=message) as e:
        Interpreter(make(rng))
    assert "LceBconv2d" in str(e.value)


def test_bconv_rejects_inconsistent_tensors(rng):
    g = bconv_graph(rng, 8, 4)
    g.tensors["m"].data = g.tensors["m"].data[:3].copy()
    g.tensors["m"].shape = (3,)
    with pytest.raises(GraphError, match="post_activation_multiplier"):
        Interpreter(g)
    g = bconv_graph(rng, 8, 4)
    g.tensors["m"].data[1] = np.nan
    with pytest.raises(GraphError, match="finite"):
        Interpreter(g)
    g = bconv_graph(rng, 8, 4, out="bitpacked")
    g.ops[0].inputs[4] = None
    with pytest.raises(GraphError, match="thresholds"):
        Interpreter(g)
    g = bconv_graph(rng, 8, 4)
    g.tensors["y"].shape = (1, 7, 6, 5)
    with pytest.raises(GraphError, match="should have shape"):
        Interpreter(g)
    g = bconv_graph(rng, 8, 4)
    g.tensors["x"].dtype = I32
    with pytest.raises(GraphError, match="bitpacked"):
        Interpreter(g)
    g = bconv_graph(rng, 8, 4, out="int8", out_quant=(1e-37, 0), transform=(1.0, 1.0))
    with pytest.raises(GraphError, match="overflows"):
        Interpreter(g)


def test_other_ops_reject(rng):
    g = _with(bmaxpool_graph(8), filter_height=0)
    with pytest.raises(GraphError, match="filter_height"):
        Interpreter(g)
    g = bmaxpool_graph(8)
    g.tensors["y"].shape = (1, 3, 3, 9)
    with pytest.raises(GraphError, match="should have shape"):
        Interpreter(g)
    g = quantize_graph((2, 5))
    g.tensors["y"].shape = (2, 6)
    with pytest.raises(GraphError, match="logical shape"):
        Interpreter(g)
    g = quantize_graph((2, 5), I8)
    g.tensors["x"].quant = None
    with pytest.raises(GraphError, match="quantization"):
        Interpreter(g)
    g = dequantize_graph((2, 5), I8, (1e-12, 0))
    with pytest.raises(GraphError, match="scale"):
        Interpreter(g)


def test_metrics_count_binary_macs_and_packed_weight_bytes(real):
    from picoml.cli import model_info

    info = model_info(str(real / "lce/bnn_chain.tflite"))
    assert info["binary_macs"] == 3_760_128 and info["op_binary_macs"][2] == 16 * 16 * 32 * 9 * 32
    # packed filters: (32 + 32 + 64) * 9 taps * 1 word * 4 bytes at 1 bit; the rest is float32/int32
    assert info["param_bytes_by_bits"] == {"1": 128 * 9 * 4, "8": 0, "32": info["param_bytes"] - 128 * 9 * 4}


# -- real LCE models ----------------------------------------------------------------------------
@pytest.mark.parametrize("name", LCE_MODELS)
def test_lce_models_equal_lce_outputs(real, name):
    g = picoml.load_tflite(real / f"lce/{name}.tflite")
    data = np.load(real / f"lce/{name}.npz")
    interp = Interpreter(g)
    for x, want in zip(data["inputs"], data["outputs"]):
        (got,) = interp.run([x[None]])
        want = want.reshape(got.shape)
        assert got.dtype == want.dtype
        if name == "bnn_chain":  # float MEAN/FC/SOFTMAX: TFLite's optimised kernels vs TFLM's reference
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=0)
            assert np.argmax(got) == np.argmax(want)
        else:
            assert np.array_equal(got.view(np.uint32) if got.dtype == np.float32 else got,
                                  want.view(np.uint32) if want.dtype == np.float32 else want), name


def test_lce_model_binary_layers_chain_bitpacked(real):
    g = picoml.load_tflite(real / "lce/bnn_chain.tflite")
    kinds = [(op.type, g.tensors[op.outputs[0]].dtype) for op in g.ops[:5]]
    assert kinds == [("LceQuantize", BP), ("LceBconv2d", BP), ("LceBconv2d", BP), ("LceBMaxPool2d", BP),
                     ("LceBconv2d", F32)]
    interp = Interpreter(g)
    binary_macs = sum(p.get("binary_macs", 0) for _, _, p in interp.steps[:5])
    assert binary_macs == 16 * 16 * 32 * 9 * 3 + 16 * 16 * 32 * 9 * 32 + 8 * 8 * 64 * 9 * 32
