"""LEAKY_RELU in C: the host build gives the reference interpreter's bits.

The grid of tests/kernels/test_leaky_relu.py: every int8 / int16 input value with positive,
zero, negative and > 1 alphas, zero points at the extremes, tie-making scales, float32 with
inf/NaN, odd shapes; plus an in-place chain and an integer build without float registers.
"""
import itertools

import numpy as np

from picoml.interpreter import Interpreter
from picoml.ir import DType, Graph, Op
from picoml.plan import plan_graph
from picoml.targets.host import compile_host
from picoml.testing.opmodel import random_input, single_op_graph, tensor
from tests.codegen.test_elementwise_c import (assert_bits, check_c, check_general_regs_only, merge,
                                              sanitized_run, strict_builds)

I8, I16, F32 = DType.INT8, DType.INT16, DType.FLOAT32
ALPHAS = [0.2, 0.3, 0.01, 0.0, -0.3, 1.0, 1.7, -2.5, 0.5, 0.25]


def leaky_graph(dtype, shape, alpha, in_q=(0.05, 0), out_q=(0.04, 0)):
    if dtype is F32:
        x, y = tensor("x", shape, F32), tensor("y", shape, F32)
    else:
        x, y = tensor("x", shape, dtype, *in_q), tensor("y", shape, dtype, *out_q)
    return single_op_graph("LEAKY_RELU", [x], [y], {"alpha": alpha})


def every_value(dtype):
    info = np.iinfo(dtype.numpy)
    return np.arange(info.min, info.max + 1).astype(dtype.numpy)


SCALES = [(0.05, 0.04), (0.0142143, 0.00595885), (0.01, 0.1), (1e-3, 1e-3), (0.5, 1.0), (1.0, 0.25)]


def test_every_int8_value():
    x = every_value(I8)
    cases = [(leaky_graph(I8, [x.size], alpha, (si, zi), (so, zo)), [x])
             for alpha, (si, so), (zi, zo) in itertools.product(ALPHAS, SCALES,
                                                                [(0, 0), (-128, 127), (127, -128), (-5, 9)])]
    check_c(cases)


def test_every_int16_value():
    x = every_value(I16)
    cases = [(leaky_graph(I16, [x.size], alpha, (si, 0), (so, 0)), [x]) for alpha, (si, so) in
             itertools.product(ALPHAS, SCALES)]
    cases += [(leaky_graph(I16, [x.size], 0.2, (0.01, zi), (0.02, zo)), [x])
              for zi, zo in [(100, -100), (-32768, 0), (0, 32767)]]
    cases += [(leaky_graph(I16, [x.size], -3e4, (1.0, 0), (1e-4, 0)), [x])]  # alpha rescale far above 1
    check_c(cases)


def test_int16_zero_point_add_wraps_like_tflm():
    """A multiplier just below 2**31 with shift 16 maps d = -32768 to about -2**31; TFLM adds the
    zero point in int32, which wraps, and so do the NumPy twin and the C (tflite-micro checked)."""
    from picoml.exporters.tflite import export_tflite
    from picoml.testing.peers import run_tflm

    x = every_value(I16)
    graphs = [leaky_graph(I16, [x.size], alpha, (1.0, 0), (1e-4, zo)) for alpha, zo in [(6.55359, -32768),
                                                                                          (-6.55359, 32767)]]
    for g in graphs:
        assert_bits(Interpreter(g).run([x])[0], run_tflm(export_tflite(g), [x])[0].reshape(x.shape), "tflm")
    check_c([(g, [x]) for g in graphs])


def test_float(rng):
    special = np.array([0.0, -0.0, 1.0, -1.0, np.inf, -np.inf, np.nan, 3e38, -3e38, 1e-45, -1e-45], np.float32)
    cases = []
    for alpha in ALPHAS + [1e-7, 123.456]:
        cases.append((leaky_graph(F32, [special.size], alpha), [special]))
        for shape in [[2, 3, 5], [1, 1, 7, 1], []]:
            g = leaky_graph(F32, shape, alpha)
            cases.append((g, [(rng.standard_normal(shape) * 10).astype(np.float32)]))
    with np.errstate(over="ignore"):
        check_c(cases)


def test_shapes(rng):
    cases = [(leaky_graph(dtype, shape, 0.1, (0.03, -3 if dtype is I8 else 0), (0.02, 4 if dtype is I8 else 0)), None)
             for shape in [[], [1], [33], [1, 2, 160, 8], [2, 1, 3, 1, 5]] for dtype in (I8, I16, F32)]
    check_c(cases, rng, runs=2)


def test_in_place_chain(rng):
    """Each LEAKY_RELU overwrites its input (the planner's choice), int8, int16 and float."""
    for dtype in (I8, I16, F32):
        q = (lambda s: (s, 0)) if dtype is not F32 else (lambda s: ())
        names = ["x", "t1", "t2", "y"]
        ts = {n: tensor(n, [4, 9], dtype, *q(0.05 * (k + 1))) for k, n in enumerate(names)}
        ops = [Op("LEAKY_RELU", [a], [b], {"alpha": alpha}) for a, b, alpha in
               zip(names, names[1:], [0.2, -0.7, 1.5])]
        g = Graph(ts, ops, ["x"], ["y"]).validate()
        plan = plan_graph(g)
        assert set(plan.in_place) == {0, 1, 2}, plan.in_place
        host, ref = compile_host(g), Interpreter(g)
        for _ in range(3):
            inputs = [random_input(ts["x"], rng)]
            assert_bits(host.run(inputs)[0], ref.run(inputs)[0], f"{dtype.value} chain")


def test_int_leaky_relu_builds_without_float_registers(rng):
    g = merge([leaky_graph(I8, [3, 5], -0.3, (0.05, -3), (0.04, 7)), leaky_graph(I16, [3, 5], 0.2)])
    check_general_regs_only(g, [random_input(t, rng) for t in g.input_tensors])


def test_strict_builds_and_sanitizers(tmp_path):
    """Warning-free under gcc and clang; no undefined behaviour at the value extremes."""
    graphs = [leaky_graph(I8, [256], -2.5, (1.0, -128), (0.004, 127)),
              leaky_graph(I16, [65536], -3e4, (1.0, 0), (1e-4, 0)),
              leaky_graph(I16, [65536], 6.55359, (1.0, 0), (1e-4, -32768)),
              leaky_graph(I16, [65536], -6.55359, (1.0, 0), (1e-4, 32767)),
              leaky_graph(F32, [4], 0.2)]
    g = merge(graphs)
    strict_builds(g, tmp_path)
    sanitized_run(g, [every_value(I8)] + [every_value(I16)] * 3 + [np.array([np.nan, -np.inf, 3e38, -1.0],
                                                                            np.float32)], tmp_path / "san")
