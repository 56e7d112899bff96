"""SOFTMAX in C: the generated host build gives the NumPy reference's bits (float: within 1e-5)
on the grid of tests/kernels/test_softmax.py (int8->int8, int8->int16, int16->int16, float32;
sizes 1..1000, ranks 1-4, beta, input scales, multiplier extremes, every difference), on sums
of exps TFLM aborts on or wraps, on the real models' softmax, and in int builds with no FPU
registers. Many cases share one graph (independent ops side by side) so each grid compiles once."""
import dataclasses
import shutil

import numpy as np
import pytest

from picoml.codegen import generate
from picoml.frontends.tflite import load_tflite
from picoml.interpreter import Interpreter
from picoml.ir import DType, Graph, Op
from picoml.targets.host import HostModel
from picoml.testing.opmodel import assert_same, compare_host_with_reference, tensor

OUT_GRID = {(DType.INT8, DType.INT8): (1 / 256, -128), (DType.INT8, DType.INT16): (1 / 65536, -32768),
            (DType.INT16, DType.INT16): (1 / 32768, 0)}
SHAPES = [[1, 1], [1, 2], [1, 10], [1, 33], [7], [2, 3, 5], [2, 2, 3, 7]]


def pair(shape, in_dtype, out_dtype=None, in_scale=None, in_zp=0):
    out_dtype = out_dtype or in_dtype
    out_scale, out_zp = OUT_GRID.get((in_dtype, out_dtype), (None, 0))
    return tensor("x", shape, in_dtype, in_scale, in_zp), tensor("y", shape, out_dtype, out_scale, out_zp)


def parallel_graph(cases):
    """One graph of independent SOFTMAX ops, one per ((input, output), beta) case."""
    tensors, ops = {}, []
    for i, ((x, y), beta) in enumerate(cases):
        x, y = dataclasses.replace(x, name=f"x{i}"), dataclasses.replace(y, name=f"y{i}")
        tensors.update({x.name: x, y.name: y})
        ops.append(Op("SOFTMAX", [x.name], [y.name], {"beta": beta}))
    return Graph(tensors, ops, [o.inputs[0] for o in ops], [o.outputs[0] for o in ops]).validate()


def int_input(shape, dtype, rng):
    """Random values, with rows that are all equal, one-hot, and at the type's extremes."""
    info = np.iinfo(dtype)
    x = rng.integers(info.min, info.max, size=shape, endpoint=True).reshape(-1, shape[-1])
    if x.shape[0] > 1:
        x[0] = info.max
        x[-1] = info.min
        x[-1, 0] = info.max
    return x.reshape(shape).astype(dtype)


def random_inputs(g, rng, n=3):
    """``n`` input sets for graph ``g`` (float inputs: standard normal times 4)."""
    sets = []
    for _ in range(n):
        sets.append([(rng.standard_normal(t.shape) * 4).astype(np.float32) if t.dtype is DType.FLOAT32
                     else int_input(list(t.shape), t.dtype.numpy, rng) for t in g.input_tensors])
    return sets


# -- int8 -> int8 / int16 -------------------------------------------------------------------

@pytest.mark.parametrize("out_dtype", [DType.INT8, DType.INT16])
def test_int8_grid(out_dtype, rng):
    cases = [(pair(s, DType.INT8, out_dtype, scale, int(rng.integers(-128, 128))), beta)
             for s in SHAPES for scale in [0.01, 0.0625, 0.1, 0.171854, 0.3, 1.0, 4.0] for beta in [1.0, 0.5, 2.0]]
    g = parallel_graph(cases)
    compare_host_with_reference(g, random_inputs(g, rng))


@pytest.mark.parametrize("out_dtype", [DType.INT8, DType.INT16])
def test_int8_long_rows_and_multiplier_extremes(out_dtype, rng):
    # rows of 1000; beta*scale*2**26 capped at 2**31-1 (only the max counts), shift 30
    # (diff_min -1), barely above 1 (every difference counts, exps all near 1)
    cases = [(pair([2, 1000], DType.INT8, out_dtype, s), 1.0) for s in [0.05, 0.1, 0.5, 2.0]]
    cases += [(pair([3, 5], DType.INT8, out_dtype, s), b)
              for s, b in [(64.0, 1.0), (40.0, 1.0), (2.0 ** -4, 2.0 ** 9), (2.0 ** -25, 1.0), (1.6e-8, 1.0)]]
    g = parallel_graph(cases)
    sets = random_inputs(g, rng)
    near_max = [rng.integers(-128, -100, size=t.shape).astype(np.int8) for t in g.input_tensors]
    compare_host_with_reference(g, sets + [near_max])


@pytest.mark.parametrize("out_dtype", [DType.INT8, DType.INT16])
def test_int8_every_difference(out_dtype):
    # row m has max m-128 and every value below it (the rest at -128): each (max, diff) once
    x = np.full((256, 256), -128, np.int64)
    for m in range(256):
        x[m, : m + 1] = np.arange(-128, m - 127)
    scales = [0.02, 0.1, 0.25, 1.0, 3.0]
    g = parallel_graph([(pair([256, 256], DType.INT8, out_dtype, s), 1.0) for s in scales])
    compare_host_with_reference(g, [[x.astype(np.int8)] * len(scales)])


def test_int8_sums_tflm_aborts_on_or_wraps(rng):
    # int8 output with a sum of exps >= 512 (TFLM aborts; a 64-bit shift of 32..35 here), 1000
    # values near the max, 4096 equal values whose Q12.19 sum wraps int32 to INT32_MIN, and
    # 8192 / 8200 values whose sum wraps to 0 / a small value (exponent < 0: TFLM is undefined,
    # the NumPy reference gives +-1 before the offset)
    cases = [(pair([1, 600], DType.INT8, DType.INT8, 0.01), 1.0),
             (pair([2, 5000], DType.INT8, DType.INT8, 0.001), 1.0),
             (pair([1, 1000], DType.INT8, DType.INT16, 0.01), 1.0),
             (pair([1, 4096], DType.INT8, DType.INT16, 0.1), 1.0),
             (pair([1, 8192], DType.INT8, DType.INT16, 0.1), 1.0),
             (pair([1, 8200], DType.INT8, DType.INT16, 0.1), 1.0),
             (pair([1, 8192], DType.INT8, DType.INT8, 0.1), 1.0)]
    g = parallel_graph(cases)
    equal = [np.zeros(t.shape, np.int8) for t in g.input_tensors]
    near_max = [rng.integers(120, 128, size=t.shape).astype(np.int8) for t in g.input_tensors]
    wraps_small = [x.copy() for x in equal]
    wraps_small[5][:] = 127
    wraps_small[5][0, 8192:] = -8  # 8192 terms of 2**19 wrap to 0, plus 8 tiny terms
    compare_host_with_reference(g, [equal, near_max, wraps_small] + random_inputs(g, rng, 1))
    assert np.all(Interpreter(g).run(wraps_small)[5] == -32767)
    out = Interpreter(g).run(equal)[0]
    assert np.all(out == -128 + round(256 / 600))


# -- int16 -> int16 -------------------------------------------------------------------------

def test_int16_grid(rng):
    cases = [(pair(s, DType.INT16, in_scale=scale), beta) for s in SHAPES + [[1, 1000]]
             for scale in [1e-5, 1e-4, 3.0517578125e-05, 0.000305, 0.001, 0.01, 0.1] for beta in [1.0, 0.5, 2.0]]
    g = parallel_graph(cases)
    compare_host_with_reference(g, random_inputs(g, rng))


def test_int16_dense_differences_and_multiplier_extremes(rng):
    # differences covering 0..65535; a multiplier flushed to 0 and left shifts up to 30 whose
    # large differences wrap int32 as in TFLM
    base = np.arange(256) * 257
    dense = (32767 - (base[None, :] + np.arange(256)[:, None]) % 65536).astype(np.int16)
    cases = [(pair([256, 256], DType.INT16, in_scale=s), 1.0) for s in [1.53e-4, 1e-3, 0.01]]
    cases += [(pair([4, 9], DType.INT16, in_scale=s), 1.0) for s in [1e-15, 0.5, 5.0, 3000.0]]
    cases += [(pair([1, 65536], DType.INT16, in_scale=1e-7), 1.0)]  # the longest row allowed, all ~1
    g = parallel_graph(cases)
    sets = random_inputs(g, rng, 2)
    for s in sets:
        s[:3] = [dense] * 3
    compare_host_with_reference(g, sets)


# -- float ---------------------------------------------------------------------------------

def test_float(rng):
    cases = [(pair(s, DType.FLOAT32), beta) for s in SHAPES + [[1, 1000]] for beta in [1.0, 0.5, 2.0, -1.0]]
    g = parallel_graph(cases)
    compare_host_with_reference(g, random_inputs(g, rng))


# -- real models: the softmax at the end, in isolation, all in one graph -------------------

REAL_SOFTMAX = ["tflm/person_detection/person_detect.tflite", "mlperf_tiny/kws/kws_ref_model.tflite",
                "mlperf_tiny/vww/vww_96_int8.tflite", "mlperf_tiny/ic/pretrainedResnet_quant.tflite",
                "mlperf_tiny/sww/str_ww_ref_model.tflite", "tflm/keyword_benchmark/keyword_scrambled.tflite",
                "tflm/micro_speech/micro_speech_quantized.tflite", "tflm/mnist_lstm/trained_lstm_int8.tflite",
                "mlperf_tiny/kws/kws_ref_model_float32.tflite", "mlperf_tiny/vww/vww_96_float.tflite"]


def test_real_model_softmax(real, rng):
    cases = []
    for rel in REAL_SOFTMAX:
        model = load_tflite(real / rel)
        op = next(o for o in model.ops if o.type == "SOFTMAX")
        cases.append(((model.tensors[op.inputs[0]], model.tensors[op.outputs[0]]), op.attrs.get("beta", 1.0)))
    g = parallel_graph(cases)
    extremes = [[np.full(t.shape, v, t.dtype.numpy) if t.dtype is not DType.FLOAT32
                 else np.full(t.shape, float(v), np.float32) for t in g.input_tensors] for v in [-128, 0, 127]]
    compare_host_with_reference(g, random_inputs(g, rng, 20) + extremes)


# -- builds --------------------------------------------------------------------------------

def integer_cases():
    """One case of every integer variant."""
    return [(pair([3, 11], DType.INT8, DType.INT8, 0.1), 1.0), (pair([3, 11], DType.INT8, DType.INT16, 0.1), 1.0),
            (pair([3, 11], DType.INT16, DType.INT16, 0.001), 1.0)]


def test_integer_kernels_use_no_floating_point(rng):
    # x86 gcc rejects any float use under -mgeneral-regs-only
    g = parallel_graph(integer_cases())
    project = generate(g)
    assert not any(n.endswith("_f32.c") for n in project.files)
    host = HostModel(g, project, extra_flags=["-mgeneral-regs-only"])
    for inputs in random_inputs(g, rng):
        assert_same(host.run(inputs), Interpreter(g).run(inputs))


def test_clang_builds_every_variant(monkeypatch, rng):
    if not shutil.which("clang"):
        pytest.skip("clang is not installed")
    monkeypatch.setenv("CC", "clang")
    g = parallel_graph([*integer_cases(), (pair([3, 11], DType.FLOAT32), 1.0)])
    compare_host_with_reference(g, random_inputs(g, rng))
