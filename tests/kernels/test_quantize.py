"""QUANTIZE and DEQUANTIZE: picoml's kernels give tflite-micro's bits.

Real seanet QUANTIZE models (int32 -> int16 and int16 -> int32) on their upstream inputs, then
generated graphs: float quantization with exact .5 ties, huge values, inf and NaN; every
integer requantization pair TFLM supports, with zero points at the extremes and tie-making
scale ratios; dequantization of int8/int16/uint8 over their whole range.
"""
import glob

import numpy as np
import pytest

import picoml
from picoml.errors import GraphError
from picoml.exporters.tflite import export_tflite
from picoml.interpreter import Interpreter
from picoml.ir import DType
from picoml.testing.opmodel import assert_same, random_input, single_op_graph, tensor
from picoml.testing.peers import run_tflm

D = DType
REQUANTIZE = [(D.INT16, D.INT8), (D.INT8, D.INT8), (D.INT8, D.UINT8), (D.UINT8, D.INT8),
              (D.INT8, D.INT16), (D.INT8, D.INT32), (D.INT16, D.INT16), (D.INT16, D.INT32),
              (D.INT32, D.INT8), (D.INT32, D.INT16)]


def same_bits(graph, inputs):
    got = Interpreter(graph).run(inputs)
    expected = run_tflm(export_tflite(graph), inputs)
    assert_same(got, expected)
    np.testing.assert_array_equal(got[0], expected[0].reshape(got[0].shape))


def quantize_graph(src, dst, shape, in_q=None, out_q=None):
    x = tensor("x", shape, src, *(in_q or ()))
    y = tensor("y", shape, dst, *(out_q or ()))
    return single_op_graph("QUANTIZE", [x], [y])


def full_range(dtype, shape=None):
    info = np.iinfo(dtype.numpy)
    if dtype is D.INT32:
        v = np.concatenate([np.arange(-70000, 70000, 7), [info.min, info.min + 1, info.max - 1, info.max],
                            np.random.default_rng(3).integers(info.min, info.max, 1000)])
    else:
        v = np.arange(info.min, info.max + 1)
    return v.astype(dtype.numpy)


# -- real models ---------------------------------------------------------------------------------
def test_seanet_quantize(real):
    paths = sorted(glob.glob(str(real / "tflm/seanet/quantize/*.tflite")))
    assert len(paths) == 2
    for path in paths:
        g = picoml.load_tflite(path)
        stem = path[: -len(".tflite")]
        x_t, y_t = g.input_tensors[0], g.output_tensors[0]
        x = np.loadtxt(f"{stem}_input0_{x_t.dtype.value}.csv", delimiter=",", dtype=np.int64)
        x = x.astype(x_t.dtype.numpy).reshape(x_t.shape)
        golden = np.loadtxt(f"{stem}_golden_{y_t.dtype.value}.csv", delimiter=",", dtype=np.int64)
        got = Interpreter(g).run([x])
        assert_same(got, run_tflm(path, [x]))
        assert np.abs(got[0].astype(np.int64).ravel() - golden).max() <= 1


# -- float -> int ---------------------------------------------------------------------------------
SPECIAL = np.array([0.0, -0.0, 0.5, -0.5, 1.5, -1.5, 2.5, -2.5, 126.5, -127.5, 127.5, -128.5, 0.49999997,
                    -0.49999997, 1e10, -1e10, 3e9, -3e9, 2.1e9, -2.2e9, np.inf, -np.inf, np.nan, 1e-45,
                    32767.5, -32768.5, 32766.5, 65535.0, -1e38, 1e38], np.float32)


@pytest.mark.parametrize("dst", [D.INT8, D.INT16])
def test_float_quantize(dst, rng):
    """Ties round away from zero in float32; out-of-int32 values and NaN go through x86's
    INT32_MIN conversion result before the zero point and clamp."""
    zps = [0, -1, 1, 5] + ([-128, 127] if dst is D.INT8 else [-32768, 32767, 300])
    for scale in [1.0, 0.5, 0.25, 2.0, 0.1, 0.0123, 1e-3, 3.7, 1e-6]:
        for zp in zps:
            g = quantize_graph(D.FLOAT32, dst, [SPECIAL.size], out_q=(scale, zp))
            with np.errstate(over="ignore"):
                scaled = SPECIAL * np.float32(scale)
            same_bits(g, [scaled])
            same_bits(g, [SPECIAL])
            g = quantize_graph(D.FLOAT32, dst, [600], out_q=(scale, zp))
            same_bits(g, [(rng.standard_normal(600) * 200 * scale).astype(np.float32)])
            # Exact halves of the scale: every element is a tie.
            same_bits(g, [((np.arange(-300, 300) + 0.5) * scale).astype(np.float32)])


# -- int -> int ------------------------------------------------------------------------------------
def zero_points(dtype):
    return {D.INT8: [-128, 0, 127, -3], D.UINT8: [0, 128, 255], D.INT16: [0, -32768, 32767, 17],
            D.INT32: [0, -70000, 123]}[dtype]


@pytest.mark.parametrize("src,dst", REQUANTIZE, ids=lambda d: d.value)
def test_requantize(src, dst):
    x = full_range(src)
    for in_scale, out_scale in [(0.05, 0.031), (0.5, 1.0), (1.0, 4.0), (0.25, 0.25), (0.05, 0.00031),
                                (1e-4, 3.0), (0.7, 0.7000001), (2.0 ** -12, 2.0 ** -9)]:
        for zi, zo in zip(zero_points(src), zero_points(dst)[::-1] + zero_points(dst)):
            g = quantize_graph(src, dst, [x.size], in_q=(in_scale, zi), out_q=(out_scale, zo))
            same_bits(g, [x])


def test_requantize_int8_uint8_shift_path():
    """Equal scales and zero points 128 apart: TFLM's XOR-0x80 fast path."""
    cases = [(D.INT8, D.UINT8, 0, 128), (D.UINT8, D.INT8, 128, 0), (D.INT8, D.UINT8, -5, 123)]
    for src, dst, zi, zo in cases:
        same_bits(quantize_graph(src, dst, [256], in_q=(0.02, zi), out_q=(0.02, zo)), [full_range(src)])


# -- dequantize -------------------------------------------------------------------------------------
@pytest.mark.parametrize("src", [D.INT8, D.INT16, D.UINT8], ids=lambda d: d.value)
def test_dequantize(src):
    x = full_range(src)
    for scale in [1.0, 0.1, 0.0123, 3.3e-5, 7.5, 1e-30, 2.0 ** -20, 0.333333]:
        for zp in zero_points(src):
            g = single_op_graph("DEQUANTIZE", [tensor("x", [x.size], src, scale, zp)],
                                [tensor("y", [x.size], D.FLOAT32)])
            same_bits(g, [x])


def test_macs_are_zero(rng):
    g = quantize_graph(D.INT8, D.INT16, [4, 5], in_q=(0.1, 0), out_q=(0.01, 0))
    assert Interpreter(g).macs == 0
    g = single_op_graph("DEQUANTIZE", [tensor("x", [3], D.INT8, 0.1, 0)], [tensor("y", [3], D.FLOAT32)])
    assert Interpreter(g).macs == 0


def test_shapes_rank_and_odd_sizes(rng):
    for shape in [[1], [7], [1, 3, 5, 1], [2, 1, 3, 1, 5], [1, 1, 1, 1, 1, 1]]:
        g = quantize_graph(D.FLOAT32, D.INT8, shape, out_q=(0.05, -7))
        same_bits(g, [random_input(g.input_tensors[0], rng)])
        g = quantize_graph(D.INT16, D.INT8, shape, in_q=(0.001, 0), out_q=(0.05, -7))
        same_bits(g, [random_input(g.input_tensors[0], rng)])


# -- rejected graphs ---------------------------------------------------------------------------------
def test_rejects_inconsistent_graphs():
    cases = {
        "float -> uint8": quantize_graph(D.FLOAT32, D.UINT8, [4], out_q=(0.1, 0)),
        "float -> int32": quantize_graph(D.FLOAT32, D.INT32, [4], out_q=(0.1, 0)),
        "float -> float": quantize_graph(D.FLOAT32, D.FLOAT32, [4], out_q=(0.1, 0)),
        "int32 -> int32": quantize_graph(D.INT32, D.INT32, [4], in_q=(0.1, 0), out_q=(0.1, 0)),
        "uint8 -> int16": quantize_graph(D.UINT8, D.INT16, [4], in_q=(0.1, 0), out_q=(0.1, 0)),
        "missing output quantization": quantize_graph(D.FLOAT32, D.INT8, [4]),
        "missing input quantization": quantize_graph(D.INT16, D.INT8, [4], out_q=(0.1, 0)),
        "per-channel output": single_op_graph("QUANTIZE", [tensor("x", [2, 2], D.FLOAT32)],
                                              [tensor("y", [2, 2], D.INT8, [0.1, 0.2], 0, axis=1)]),
        "shape mismatch": single_op_graph("QUANTIZE", [tensor("x", [4], D.FLOAT32)],
                                          [tensor("y", [2, 2], D.INT8, 0.1, 0)]),
        "zero scale": quantize_graph(D.FLOAT32, D.INT8, [4], out_q=(0.0, 0)),
        "zero point out of range": quantize_graph(D.FLOAT32, D.INT8, [4], out_q=(0.1, 300)),
        "huge rescale": quantize_graph(D.INT16, D.INT32, [4], in_q=(3e30, 0), out_q=(1e-30, 0)),
        "dequantize to int8": single_op_graph("DEQUANTIZE", [tensor("x", [4], D.INT8, 0.1, 0)],
                                              [tensor("y", [4], D.INT8, 0.1, 0)]),
        "dequantize int32": single_op_graph("DEQUANTIZE", [tensor("x", [4], D.INT32, 0.1, 0)],
                                            [tensor("y", [4], D.FLOAT32)]),
        "dequantize float": single_op_graph("DEQUANTIZE", [tensor("x", [4], D.FLOAT32)],
                                            [tensor("y", [4], D.FLOAT32)]),
        "dequantize unquantized": single_op_graph("DEQUANTIZE", [tensor("x", [4], D.INT8)],
                                                  [tensor("y", [4], D.FLOAT32)]),
        "dequantize shape": single_op_graph("DEQUANTIZE", [tensor("x", [4], D.INT8, 0.1, 0)],
                                            [tensor("y", [5], D.FLOAT32)]),
    }
    for what, g in cases.items():
        with pytest.raises(GraphError):
            Interpreter(g)
            pytest.fail(f"accepted {what}")
