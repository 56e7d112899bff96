"""SOFTMAX: bit-exact with tflite-micro on generated one-op graphs (int8->int8, int8->int16,
int16->int16, float32; sizes 1..1000, ranks 1-4, beta, input scales) and on the last op of
the real models that end in a softmax; refused graphs."""
import math

import numpy as np
import pytest

from picoml.errors import GraphError
from picoml.frontends.tflite import load_tflite
from picoml.interpreter import Interpreter
from picoml.ir import DType
from picoml.kernels.softmax import exp_lut_int16, one_over_one_plus_x_lut_int16
from picoml.testing.opmodel import compare_with_tflm, single_op_graph, tensor

OUT_GRID = {(DType.INT8, DType.INT8): (1 / 256, -128), (DType.INT8, DType.INT16): (1 / 65536, -32768),
            (DType.INT16, DType.INT16): (1 / 32768, 0)}
SHAPES = [[1, 1], [1, 2], [1, 10], [1, 33], [7], [2, 3, 5], [2, 2, 3, 7]]


def graph(shape, in_dtype, out_dtype=None, in_scale=None, in_zp=0, beta=1.0, out=None):
    out_dtype = out_dtype or in_dtype
    out_scale, out_zp = out or OUT_GRID.get((in_dtype, out_dtype), (None, 0))
    x = tensor("x", shape, in_dtype, in_scale, in_zp)
    y = tensor("y", shape, out_dtype, out_scale, out_zp)
    return single_op_graph("SOFTMAX", [x], [y], {"beta": beta})


def int_input(shape, dtype, rng):
    """Random values, with rows that are all equal, one-hot, and at the type's extremes."""
    info = np.iinfo(dtype)
    x = rng.integers(info.min, info.max, size=shape, endpoint=True).reshape(-1, shape[-1])
    if x.shape[0] > 1:
        x[0] = info.max
        x[-1] = info.min
        x[-1, 0] = info.max
    return x.reshape(shape).astype(dtype)


def assert_tflm_safe(x, scale, beta):
    """int8 -> int8 in TFLM aborts the process (TFLITE_CHECK) when a row's sum of exps
    reaches 512: keep generated cases below that."""
    rows = x.reshape(-1, x.shape[-1]).astype(np.float64)
    sums = np.exp((rows - rows.max(axis=1, keepdims=True)) * scale * beta).sum(axis=1)
    assert sums.max() < 480, "test case would abort tflite-micro"


# -- int8 -> int8 / int16 -------------------------------------------------------------------

@pytest.mark.parametrize("out_dtype", [DType.INT8, DType.INT16])
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("scale", [0.01, 0.0625, 0.1, 0.171854, 0.3, 1.0, 4.0])
@pytest.mark.parametrize("beta", [1.0, 0.5, 2.0])
def test_int8(out_dtype, shape, scale, beta, rng):
    zp = int(rng.integers(-128, 128))
    g = graph(shape, DType.INT8, out_dtype, scale, zp, beta)
    compare_with_tflm(g, [int_input(shape, np.int8, rng)])


@pytest.mark.parametrize("out_dtype", [DType.INT8, DType.INT16])
@pytest.mark.parametrize("scale", [0.05, 0.1, 0.5, 2.0])
def test_int8_long_rows(out_dtype, scale, rng):
    x = rng.integers(-128, 128, size=(2, 1000)).astype(np.int8)
    if out_dtype is DType.INT16:
        x[-1] = rng.integers(-128, -100, size=1000)  # many values near the max
    else:
        assert_tflm_safe(x, scale, 1.0)
    compare_with_tflm(graph([2, 1000], DType.INT8, out_dtype, scale), [x])


def test_int8_to_int16_large_sums(rng):
    # int16 output has room for sums of exps TFLM's int8 output aborts on: 1000 values near
    # the max, and 4096 equal values whose Q12.19 sum wraps int32 exactly as in TFLM
    x = rng.integers(120, 128, size=(1, 1000)).astype(np.int8)
    compare_with_tflm(graph([1, 1000], DType.INT8, DType.INT16, 0.01), [x])
    compare_with_tflm(graph([1, 4096], DType.INT8, DType.INT16, 0.1), [np.zeros((1, 4096), np.int8)])


@pytest.mark.parametrize("out_dtype", [DType.INT8, DType.INT16])
@pytest.mark.parametrize("scale", [0.02, 0.1, 0.25, 1.0])
def test_int8_every_difference(out_dtype, scale):
    # row m has max m-128 and every value below it (the rest at -128): each (max, diff) once
    x = np.full((256, 256), -128, np.int64)
    for m in range(256):
        x[m, : m + 1] = np.arange(-128, m - 127)
    x = x.astype(np.int8)
    if out_dtype is DType.INT8:
        assert_tflm_safe(x, scale, 1.0)
    compare_with_tflm(graph([256, 256], DType.INT8, out_dtype, scale), [x])


@pytest.mark.parametrize("out_dtype", [DType.INT8, DType.INT16])
def test_int8_multiplier_extremes(out_dtype, rng):
    # beta*scale*2**26 capped at 2**31-1 (only the max counts), shift 30 (diff_min -1),
    # and barely above 1 (tiny scale: every difference counts, exps all near 1)
    for scale, beta in [(64.0, 1.0), (40.0, 1.0), (2.0 ** -4, 2.0 ** 9), (2.0 ** -25, 1.0), (1.6e-8, 1.0)]:
        x = int_input([3, 5], np.int8, rng)
        compare_with_tflm(graph([3, 5], DType.INT8, out_dtype, scale, beta=beta), [x])


# -- int16 -> int16 -------------------------------------------------------------------------

@pytest.mark.parametrize("shape", SHAPES + [[1, 1000]])
@pytest.mark.parametrize("scale", [1e-5, 1e-4, 3.0517578125e-05, 0.000305, 0.001, 0.01, 0.1])
@pytest.mark.parametrize("beta", [1.0, 0.5, 2.0])
def test_int16(shape, scale, beta, rng):
    g = graph(shape, DType.INT16, in_scale=scale, beta=beta)
    compare_with_tflm(g, [int_input(shape, np.int16, rng)])


@pytest.mark.parametrize("scale", [1.53e-4, 1e-3, 0.01])
def test_int16_dense_differences(scale):
    # 256 rows x 256 values: row m has max 32767 - 128*m... and differences covering 0..65535
    base = np.arange(256) * 257
    x = (32767 - (base[None, :] + np.arange(256)[:, None]) % 65536).astype(np.int16)
    compare_with_tflm(graph([256, 256], DType.INT16, in_scale=scale), [x])


def test_int16_multiplier_extremes(rng):
    # a multiplier flushed to 0 (every value counts as the max) and left shifts up to 30,
    # where large differences wrap int32 exactly as TFLM's arithmetic does
    for scale in [1e-15, 0.5, 5.0, 3000.0]:
        compare_with_tflm(graph([4, 9], DType.INT16, in_scale=scale), [int_input([4, 9], np.int16, rng)])


def test_int16_luts_shape():
    assert exp_lut_int16().shape == (513,) and one_over_one_plus_x_lut_int16().shape == (513,)
    assert exp_lut_int16()[-1] == 32767 and one_over_one_plus_x_lut_int16()[-1] == 16384


# -- float ---------------------------------------------------------------------------------

@pytest.mark.parametrize("shape", SHAPES + [[1, 1000]])
@pytest.mark.parametrize("beta", [1.0, 0.5, 2.0, -1.0])
def test_float(shape, beta, rng):
    x = (rng.standard_normal(shape) * 4).astype(np.float32)
    compare_with_tflm(graph(shape, DType.FLOAT32, beta=beta), [x])


# -- real models: the softmax at the end, in isolation ---------------------------------------

REAL_SOFTMAX = ["tflm/person_detection/person_detect.tflite", "mlperf_tiny/kws/kws_ref_model.tflite",
                "mlperf_tiny/vww/vww_96_int8.tflite", "mlperf_tiny/ic/pretrainedResnet_quant.tflite",
                "mlperf_tiny/sww/str_ww_ref_model.tflite", "tflm/keyword_benchmark/keyword_scrambled.tflite",
                "tflm/micro_speech/micro_speech_quantized.tflite", "tflm/mnist_lstm/trained_lstm_int8.tflite",
                "mlperf_tiny/kws/kws_ref_model_float32.tflite", "mlperf_tiny/vww/vww_96_float.tflite"]


@pytest.mark.parametrize("rel", REAL_SOFTMAX)
def test_real_model_softmax(real, rel, rng):
    model = load_tflite(real / rel)
    op = next(o for o in model.ops if o.type == "SOFTMAX")
    x, y = model.tensors[op.inputs[0]], model.tensors[op.outputs[0]]
    g = single_op_graph("SOFTMAX", [x], [y], op.attrs, version=op.version)
    for _ in range(20):
        if x.dtype is DType.FLOAT32:
            data = (rng.standard_normal(x.shape) * 5).astype(np.float32)
        else:
            data = int_input(list(x.shape), x.dtype.numpy, rng)
        compare_with_tflm(g, [data])
    if x.dtype is DType.INT8:
        for v in [-128, 0, 127]:
            compare_with_tflm(g, [np.full(x.shape, v, np.int8)])


# -- refused graphs ------------------------------------------------------------------------

@pytest.mark.parametrize("in_dtype,out_dtype,kwargs,match", [
    (DType.INT8, DType.INT8, dict(in_scale=0.1, out=(1 / 255, -128)), "scale"),
    (DType.INT8, DType.INT8, dict(in_scale=0.1, out=(1 / 256 * 1.0001, -128)), "scale"),
    (DType.INT8, DType.INT8, dict(in_scale=0.1, out=(1 / 256, -127)), "zero point"),
    (DType.INT8, DType.INT16, dict(in_scale=0.1, out=(1 / 65536, 0)), "zero point"),
    (DType.INT16, DType.INT16, dict(in_scale=0.001, out=(1 / 32768, -32768)), "zero point"),
    (DType.INT16, DType.INT16, dict(in_scale=0.001, out=(1 / 16384, 0)), "scale"),
    (DType.INT8, DType.INT8, dict(in_scale=None), "no quantization"),
    (DType.INT8, DType.INT8, dict(in_scale=1e-9), "too small"),
    (DType.INT8, DType.INT8, dict(in_scale=0.1, beta=0.0), "beta > 0"),
    (DType.INT16, DType.INT16, dict(in_scale=1e6), "outside the range"),
    (DType.INT16, DType.INT16, dict(in_scale=0.1, beta=-1.0), "beta > 0"),
    (DType.FLOAT32, DType.FLOAT32, dict(beta=math.inf), "finite"),
    (DType.FLOAT32, DType.INT8, dict(out=(1 / 256, -128)), "not supported"),
    (DType.INT16, DType.INT8, dict(in_scale=0.1, out=(1 / 256, -128)), "not supported"),
    (DType.INT32, DType.INT32, dict(), "not supported"),
])
def test_refused(in_dtype, out_dtype, kwargs, match):
    g = graph([1, 4], in_dtype, out_dtype, **kwargs)
    with pytest.raises(GraphError, match=match):
        Interpreter(g)


def test_refused_structure():
    x, y = tensor("x", [1, 4], DType.FLOAT32), tensor("y", [1, 5], DType.FLOAT32)
    with pytest.raises(GraphError, match="shape"):
        Interpreter(single_op_graph("SOFTMAX", [x], [y], {"beta": 1.0}))
    x, y = tensor("x", [], DType.FLOAT32), tensor("y", [], DType.FLOAT32)
    with pytest.raises(GraphError, match="at least one dimension"):
        Interpreter(single_op_graph("SOFTMAX", [x], [y], {"beta": 1.0}))
    x, y = tensor("x", [1, 70000], DType.INT16, 0.001), tensor("y", [1, 70000], DType.INT16, 1 / 32768)
    with pytest.raises(GraphError, match="overflow"):
        Interpreter(single_op_graph("SOFTMAX", [x], [y], {"beta": 1.0}))
    x, y = tensor("x", [1, 4], DType.FLOAT32), tensor("y", [1, 4], DType.FLOAT32)
    with pytest.raises(GraphError, match="beta"):
        Interpreter(single_op_graph("SOFTMAX", [x], [y], {"beta": "BAD"}))


def test_int8_large_sum_continues_where_tflm_aborts():
    # 600 equal values: TFLM's int8 output aborts; picoml gives round(256/600) - 128
    g = graph([1, 600], DType.INT8, DType.INT8, 0.01)
    out = Interpreter(g).run([np.zeros((1, 600), np.int8)])[0]
    assert np.all(out == -128 + round(256 / 600))


def test_macs_one_per_element():
    assert Interpreter(graph([2, 3, 5], DType.FLOAT32)).macs == 30
