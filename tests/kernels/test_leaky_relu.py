"""LEAKY_RELU: picoml's kernel gives tflite-micro's bits.

The 23 real seanet int16 models on their upstream inputs (identical to tflite-micro, within
+-1 of the TFLite goldens, which derive the multipliers in float32 rather than double), then
generated graphs over every int8 / int16 input value with positive, zero, negative and >1
alphas, zero points at the extremes and tie-making scales, and float32.
"""
import glob

import numpy as np
import pytest

import picoml
from picoml.errors import GraphError
from picoml.exporters.tflite import export_tflite
from picoml.interpreter import Interpreter
from picoml.ir import DType
from picoml.testing.opmodel import assert_same, single_op_graph, tensor
from picoml.testing.peers import run_tflm

I8, I16, F32 = DType.INT8, DType.INT16, DType.FLOAT32
ALPHAS = [0.2, 0.3, 0.01, 0.0, -0.3, 1.0, 1.7, -2.5, 0.5, 0.25]


def same_bits(graph, inputs):
    got = Interpreter(graph).run(inputs)
    expected = run_tflm(export_tflite(graph), inputs)
    assert_same(got, expected)
    np.testing.assert_array_equal(got[0], expected[0].reshape(got[0].shape))


def leaky_graph(dtype, shape, alpha, in_q=(0.05, 0), out_q=(0.04, 0)):
    if dtype is F32:
        x, y = tensor("x", shape, F32), tensor("y", shape, F32)
    else:
        x, y = tensor("x", shape, dtype, *in_q), tensor("y", shape, dtype, *out_q)
    return single_op_graph("LEAKY_RELU", [x], [y], {"alpha": alpha})


def every_value(dtype):
    info = np.iinfo(dtype.numpy)
    return np.arange(info.min, info.max + 1).astype(dtype.numpy)


# -- real models ---------------------------------------------------------------------------------
def test_seanet_leaky_relu(real):
    paths = sorted(glob.glob(str(real / "tflm/seanet/leaky_relu/*.tflite")))
    assert len(paths) == 23
    for path in paths:
        g = picoml.load_tflite(path)
        stem = path[: -len(".tflite")]
        x_t, y_t = g.input_tensors[0], g.output_tensors[0]
        x = np.loadtxt(f"{stem}_input0_int16.csv", delimiter=",", dtype=np.int64)
        x = x.astype(np.int16).reshape(x_t.shape)
        golden = np.loadtxt(f"{stem}_golden_int16.csv", delimiter=",", dtype=np.int64).reshape(y_t.shape)
        got = Interpreter(g).run([x])
        assert_same(got, run_tflm(path, [x]))
        assert np.abs(got[0].astype(np.int64) - golden).max() <= 1


# -- generated graphs ----------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [I8, I16])
def test_every_input_value(dtype):
    x = every_value(dtype)
    scales = [(0.05, 0.04), (0.0142143, 0.00595885), (0.01, 0.1), (1e-3, 1e-3), (0.5, 1.0), (1.0, 0.25)]
    zps = [(0, 0)] if dtype is I16 else [(0, 0), (-128, 127), (127, -128), (-5, 9)]
    for alpha in ALPHAS:
        for (si, so) in scales:
            for zi, zo in zps:
                same_bits(leaky_graph(dtype, [x.size], alpha, (si, zi), (so, zo)), [x])


def test_int16_nonzero_zero_points():
    x = every_value(I16)
    for zi, zo in [(100, -100), (-32768, 0), (0, 32767)]:
        same_bits(leaky_graph(I16, [x.size], 0.2, (0.01, zi), (0.02, zo)), [x])


def test_float(rng):
    special = np.array([0.0, -0.0, 1.0, -1.0, np.inf, -np.inf, np.nan, 3e38, -3e38, 1e-45, -1e-45],
                       np.float32)
    for alpha in ALPHAS + [1e-7, 123.456]:
        for shape in [[special.size], [2, 3, 5], [1, 1, 7, 1]]:
            x = special if shape == [special.size] else (rng.standard_normal(shape) * 10).astype(np.float32)
            with np.errstate(over="ignore"):
                same_bits(leaky_graph(F32, shape, alpha), [x])


def test_shapes(rng):
    for shape in [[1], [33], [1, 2, 160, 8], [2, 1, 3, 1, 5]]:
        g = leaky_graph(I8, shape, 0.1, (0.03, -3), (0.02, 4))
        same_bits(g, [rng.integers(-128, 128, shape).astype(np.int8)])


def test_macs():
    assert Interpreter(leaky_graph(I16, [2, 3, 4], 0.2)).macs == 24


# -- rejected graphs -----------------------------------------------------------------------------
def one_op(x, y, alpha=0.2):
    return single_op_graph("LEAKY_RELU", [x], [y], {"alpha": alpha})


def test_rejects_inconsistent_graphs():
    cases = {
        "dtype mismatch": one_op(tensor("x", [4], I8, 0.1), tensor("y", [4], I16, 0.1)),
        "shape mismatch": one_op(tensor("x", [4], I8, 0.1), tensor("y", [5], I8, 0.1)),
        "uint8": leaky_graph(DType.UINT8, [4], 0.2),
        "int32": leaky_graph(DType.INT32, [4], 0.2),
        "missing quantization": one_op(tensor("x", [4], I8), tensor("y", [4], I8, 0.1)),
        "per-channel": one_op(tensor("x", [2, 2], I8, [0.1, 0.2], axis=1), tensor("y", [2, 2], I8, 0.1)),
        "nan alpha": leaky_graph(I8, [4], float("nan")),
        "huge alpha": leaky_graph(F32, [4], 1e300),
        "text alpha": leaky_graph(I8, [4], "0.2"),
        "huge rescale": leaky_graph(I16, [4], 0.2, (3e30, 0), (1e-30, 0)),
        "two inputs": single_op_graph("LEAKY_RELU", [tensor("x", [4], F32), tensor("z", [4], F32)],
                                      [tensor("y", [4], F32)], {"alpha": 0.2}),
    }
    for what, g in cases.items():
        with pytest.raises(GraphError):
            Interpreter(g)
            pytest.fail(f"accepted {what}")
