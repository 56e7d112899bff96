"""QUANTIZE and DEQUANTIZE in C: the host build gives the reference interpreter's bits.

The grid of tests/kernels/test_quantize.py: float -> int8/int16 with exact .5 ties, huge values,
inf and NaN (x86's INT32_MIN conversion, written out in C), every integer pair TFLM rescales
over the whole input range with extreme zero points and tie-making scales, and dequantization
of int8/int16/uint8. Also in-place requantization and an integer-only build without
floating-point registers.
"""
import itertools

import numpy as np
import pytest

from picoml.interpreter import Interpreter
from picoml.ir import DType, Graph, Op
from picoml.plan import plan_graph
from picoml.targets.host import compile_host
from picoml.testing.opmodel import random_input, single_op_graph, tensor
from tests.codegen.test_elementwise_c import (assert_bits, check_c, check_general_regs_only, merge,
                                              sanitized_run, strict_builds)

D = DType
REQUANTIZE = [(D.INT16, D.INT8), (D.INT8, D.INT8), (D.INT8, D.UINT8), (D.UINT8, D.INT8),
              (D.INT8, D.INT16), (D.INT8, D.INT32), (D.INT16, D.INT16), (D.INT16, D.INT32),
              (D.INT32, D.INT8), (D.INT32, D.INT16)]


def quantize_graph(src, dst, shape, in_q=None, out_q=None):
    x, y = tensor("x", shape, src, *(in_q or ())), tensor("y", shape, dst, *(out_q or ()))
    return single_op_graph("QUANTIZE", [x], [y])


def dequantize_graph(src, shape, scale, zp):
    return single_op_graph("DEQUANTIZE", [tensor("x", shape, src, scale, zp)], [tensor("y", shape, D.FLOAT32)])


def full_range(dtype):
    info = np.iinfo(dtype.numpy)
    if dtype is D.INT32:
        v = np.concatenate([np.arange(-70000, 70000, 31), [info.min, info.min + 1, info.max - 1, info.max],
                            np.random.default_rng(3).integers(info.min, info.max, 1000)])
    else:
        v = np.arange(info.min, info.max + 1)
    return v.astype(dtype.numpy)


SPECIAL = np.array([0.0, -0.0, 0.5, -0.5, 1.5, -1.5, 2.5, -2.5, 126.5, -127.5, 127.5, -128.5, 0.49999997,
                    -0.49999997, 1e10, -1e10, 3e9, -3e9, 2.1e9, -2.2e9, np.inf, -np.inf, np.nan, 1e-45,
                    32767.5, -32768.5, 32766.5, 65535.0, -1e38, 1e38, 2147483520.0, -2147483648.0,
                    2147483648.0, -2147483904.0, 8388607.5, -8388608.5], np.float32)


@pytest.mark.parametrize("dst", [D.INT8, D.INT16], ids=["int8", "int16"])
def test_float_quantize(dst, rng):
    """Ties away from zero; values outside int32 and NaN take x86's INT32_MIN before the zero
    point (so a negative zero point sends them to the top of the range) and the clamp."""
    zps = [0, -1, 1, 5] + ([-128, 127] if dst is D.INT8 else [-32768, 32767, 300])
    cases = []
    for scale, zp in itertools.product([1.0, 0.5, 0.25, 2.0, 0.1, 0.0123, 1e-3, 3.7, 1e-6], zps):
        g = quantize_graph(D.FLOAT32, dst, [SPECIAL.size], out_q=(scale, zp))
        with np.errstate(over="ignore"):
            cases.append((g, [SPECIAL * np.float32(scale)]))
        cases.append((g, [SPECIAL]))
        g = quantize_graph(D.FLOAT32, dst, [600], out_q=(scale, zp))
        cases.append((g, [(rng.standard_normal(600) * 200 * scale).astype(np.float32)]))
        cases.append((g, [((np.arange(-300, 300) + 0.5) * scale).astype(np.float32)]))  # every element a tie
    check_c(cases)


def zero_points(dtype):
    return {D.INT8: [-128, 0, 127, -3], D.UINT8: [0, 128, 255], D.INT16: [0, -32768, 32767, 17],
            D.INT32: [0, -70000, 123]}[dtype]


@pytest.mark.parametrize("src,dst", REQUANTIZE, ids=lambda d: d.value)
def test_requantize(src, dst):
    x = full_range(src)
    cases = []
    for in_scale, out_scale in [(0.05, 0.031), (0.5, 1.0), (1.0, 4.0), (0.25, 0.25), (0.05, 0.00031),
                                (1e-4, 3.0), (0.7, 0.7000001), (2.0 ** -12, 2.0 ** -9)]:
        for zi, zo in zip(zero_points(src), zero_points(dst)[::-1] + zero_points(dst)):
            cases.append((quantize_graph(src, dst, [x.size], in_q=(in_scale, zi), out_q=(out_scale, zo)), [x]))
    check_c(cases)


def test_requantize_int8_uint8_shift_path():
    """Equal scales and zero points 128 apart (TFLM's XOR-0x80 fast path) give the same bits."""
    cases = [(quantize_graph(src, dst, [256], in_q=(0.02, zi), out_q=(0.02, zo)), [full_range(src)])
             for src, dst, zi, zo in [(D.INT8, D.UINT8, 0, 128), (D.UINT8, D.INT8, 128, 0),
                                      (D.INT8, D.UINT8, -5, 123)]]
    check_c(cases)


@pytest.mark.parametrize("src", [D.INT8, D.INT16, D.UINT8], ids=lambda d: d.value)
def test_dequantize(src):
    x = full_range(src)
    cases = [(dequantize_graph(src, [x.size], scale, zp), [x])
             for scale in [1.0, 0.1, 0.0123, 3.3e-5, 7.5, 1e-30, 2.0 ** -20, 0.333333] for zp in zero_points(src)]
    check_c(cases)


def test_shapes_rank_and_odd_sizes(rng):
    cases = []
    for shape in [[], [1], [7], [1, 3, 5, 1], [2, 1, 3, 1, 5], [1, 1, 1, 1, 1, 1], [33, 1]]:
        cases.append((quantize_graph(D.FLOAT32, D.INT8, shape, out_q=(0.05, -7)), None))
        cases.append((quantize_graph(D.INT16, D.INT8, shape, in_q=(0.001, 0), out_q=(0.05, -7)), None))
        cases.append((dequantize_graph(D.INT8, shape, 0.05, -7), None))
    check_c(cases, rng, runs=2)


def test_in_place_requantize(rng):
    """int8 -> int8, int8 -> uint8 -> int8 and int16 -> int16 rescale in the input's buffer."""
    x = tensor("x", [3, 17], D.INT8, 0.05, 3)
    a = tensor("a", [3, 17], D.INT8, 0.07, -5)
    b = tensor("b", [3, 17], D.UINT8, 0.03, 128)
    c = tensor("c", [3, 17], D.INT8, 0.02, 0)
    s = tensor("s", [3, 17], D.INT16, 0.001, 0)
    t = tensor("t", [3, 17], D.INT16, 0.0007, 0)
    y = tensor("y", [3, 17], D.INT8, 0.1, 1)
    ops = [Op("QUANTIZE", ["x"], ["a"]), Op("QUANTIZE", ["a"], ["b"]), Op("QUANTIZE", ["b"], ["c"]),
           Op("QUANTIZE", ["s"], ["t"]), Op("QUANTIZE", ["t"], ["y"])]
    g = Graph({v.name: v for v in (x, a, b, c, s, t, y)}, ops, ["x", "s"], ["c", "y"]).validate()
    plan = plan_graph(g)
    assert {0, 1, 2, 3} <= set(plan.in_place) and 4 not in plan.in_place, plan.in_place  # 4 narrows: no
    assert plan.offsets["a"] == plan.offsets["b"] == plan.offsets["c"]
    host, ref = compile_host(g), Interpreter(g)
    for _ in range(3):
        inputs = [random_input(v, rng) for v in g.input_tensors]
        for i, (got, exp) in enumerate(zip(host.run(inputs), ref.run(inputs))):
            assert_bits(got, exp, f"output {i}")


def test_int_quantize_builds_without_float_registers(rng):
    g = merge([quantize_graph(src, dst, [5, 7], in_q=(0.05, zero_points(src)[-1]), out_q=(0.031, zero_points(dst)[0]))
               for src, dst in REQUANTIZE])
    check_general_regs_only(g, [random_input(t, rng) for t in g.input_tensors])


def test_strict_builds_and_sanitizers(tmp_path):
    """Warning-free under gcc and clang; no undefined behaviour (float-to-int overflow
    included) on inf, NaN, huge floats and whole integer ranges at extreme zero points."""
    graphs = [quantize_graph(D.FLOAT32, D.INT8, [SPECIAL.size], out_q=(0.1, -128)),
              quantize_graph(D.FLOAT32, D.INT16, [SPECIAL.size], out_q=(1e-6, -300)),
              *(quantize_graph(src, dst, [full_range(src).size], in_q=(1e-4, zero_points(src)[1]),
                               out_q=(3.0, zero_points(dst)[-1])) for src, dst in REQUANTIZE),
              *(quantize_graph(src, dst, [full_range(src).size], in_q=(0.5, zero_points(src)[-1]),
                               out_q=(1e-4, zero_points(dst)[1])) for src, dst in REQUANTIZE),
              *(dequantize_graph(src, [full_range(src).size], 7.5, zero_points(src)[1])
                for src in (D.INT8, D.INT16, D.UINT8))]
    with np.errstate(over="ignore"):
        huge = SPECIAL * np.float32(1e30)
    inputs = [SPECIAL, huge] + [full_range(src) for src, _ in REQUANTIZE] * 2 + \
             [full_range(src) for src in (D.INT8, D.INT16, D.UINT8)]
    g = merge(graphs)
    strict_builds(g, tmp_path)
    sanitized_run(g, inputs, tmp_path / "san")
