"""MEAN in C: the generated host build gives the NumPy reference's bits (floats too: the C adds
in the NumPy kernel's order) on the grid of tests/kernels/test_reduce.py (axes incl. negative,
repeated and empty, keep_dims both ways, odd shapes, equal and different scales and zero points,
rounding ties, all-min / all-max inputs, scale ratios from 2**-30 to 300, float sums of mixed
magnitude, ranks 1-5), mobilenet_v2's int8 global pool and bnn_chain's float MEAN, and an int8
build with no FPU registers. Many cases share one graph (independent ops side by side)."""
import dataclasses
import itertools
import platform
import shutil

import numpy as np
import pytest

import picoml
from picoml.codegen import generate
from picoml.codegen.ops.reduce import reduce_box
from picoml.interpreter import Interpreter
from picoml.ir import DType, Graph, Op
from picoml.targets.host import HostModel
from picoml.testing.opmodel import check_integer_build_has_no_float, assert_same, compare_host_with_reference, random_input, tensor


def side_by_side(ops):
    """One graph running every (op_type, inputs, outputs, attrs) independently; tensors are
    renamed per op so cases cannot collide."""
    tensors, graph_ops, graph_in, graph_out = {}, [], [], []
    for i, (op_type, ins, outs, attrs) in enumerate(ops):
        ins = [dataclasses.replace(t, name=f"op{i}_{t.name}") for t in ins]
        outs = [dataclasses.replace(t, name=f"op{i}_{t.name}") for t in outs]
        tensors.update({t.name: t for t in ins + outs})
        graph_ops.append(Op(op_type, [t.name for t in ins], [t.name for t in outs], dict(attrs)))
        graph_in += [t.name for t in ins if not t.is_const]
        graph_out += [t.name for t in outs]
    return Graph(tensors, graph_ops, graph_in, graph_out).validate()


def mean_case(dtype, shape, axes, keep, q_in=(0.1, 0), q_out=(0.1, 0)):
    rank = len(shape)
    resolved = {a % rank for a in axes}
    out_shape = tuple(1 if d in resolved else shape[d] for d in range(rank)) if keep else \
        tuple(shape[d] for d in range(rank) if d not in resolved)
    qi = {} if dtype is DType.FLOAT32 else {"scale": q_in[0], "zero_point": q_in[1]}
    qo = {} if dtype is DType.FLOAT32 else {"scale": q_out[0], "zero_point": q_out[1]}
    x = tensor("x", shape, dtype, **qi)
    ax = tensor("axis", (len(axes),), DType.INT32, data=np.array(axes))
    y = tensor("y", out_shape, dtype, **qo)
    return ("MEAN", [x, ax], [y], {"keep_dims": keep})


def compare_bits(graph, inputs_list):
    """The host build equals the reference bit for bit, floats included: the C adds each
    output's terms in the NumPy kernel's order (compare_host_with_reference allows 1e-5)."""
    host = HostModel(graph, generate(graph))
    interp = Interpreter(graph)
    for inputs in inputs_list:
        got, want = host.run(inputs), interp.run(inputs)
        assert_same(got, want)
        for i, (g, w) in enumerate(zip(got, want)):
            assert g.tobytes() == w.tobytes(), f"output {i} ({graph.outputs[i]}) differs in the last bits"


def random_inputs(graph, rng, n=2):
    return [[random_input(t, rng) for t in graph.input_tensors] for _ in range(n)]


AXES = [[1, 2], [2, 1], [1], [3], [0], [-1], [0, 3], [1, 2, 3], [-3, 1], [], [0, 1, 2, 3], [0, 2]]


@pytest.mark.parametrize("dtype", [DType.INT8, DType.INT16, DType.FLOAT32])
def test_sweep(dtype):
    rng = np.random.default_rng({"int8": 11, "int16": 12, "float32": 13}[dtype.value])
    cases = []
    for axes, keep in itertools.product(AXES, [True, False]):
        for shape in [(1, 7, 7, 17), (2, 5, 3, 7), (1, 3, 4, 70)]:
            for same in (True, False):
                zp_max = 30 if dtype is DType.INT8 else 1
                q_in = (float(rng.choice([0.02, 0.1, 0.7])), int(rng.integers(-zp_max + 1, zp_max)))
                q_out = q_in if same else (float(rng.choice([0.01, 0.05, 0.3, 3.0])),
                                          int(rng.integers(-zp_max + 1, zp_max)))
                cases.append(mean_case(dtype, shape, axes, keep, q_in, q_out))
                if dtype is DType.FLOAT32:
                    break  # quantization plays no part
    graph = side_by_side(cases)
    compare_bits(graph, random_inputs(graph, rng))


@pytest.mark.parametrize("dtype", [DType.INT8, DType.INT16])
def test_rounding_ties_and_extremes(dtype):
    """Means that are exact halves, all-min / all-max inputs with extreme zero points, and scale
    ratios from 2**-30 (the shift clamp of QuantizedMeanOrSum) to 300."""
    rng = np.random.default_rng(5)
    info = np.iinfo(dtype.numpy)
    cases, inputs = [], []
    for shape in [(1, 2, 1, 6), (1, 2, 2, 6), (1, 4, 4, 3), (1, 8, 8, 2)]:
        cases.append(mean_case(dtype, shape, [1, 2], True))
        inputs.append(rng.integers(-3, 4, size=shape).astype(dtype.numpy))
        for v in (info.min, info.max):
            for zp in ((info.min, info.max) if dtype is DType.INT8 else (0,)):
                cases.append(mean_case(dtype, shape, [1, 2], True, (0.1, zp), (0.1, -zp if zp > -128 else 127)))
                inputs.append(np.full(shape, v, dtype.numpy))
    for ratio in [2.0 ** -30, 1e-8, 1e-3, 0.5, 1.0, 3.0, 300.0]:
        cases.append(mean_case(dtype, (1, 8, 8, 4), [1, 2], False, (0.1 * ratio, 0), (0.1, 0)))
        inputs.append(random_input(cases[-1][1][0], rng))
    graph = side_by_side(cases)
    compare_bits(graph, [inputs])


def test_float_sum_order():
    """Many terms of mixed magnitude: only TFLM's sequential float32 order gives its bits (the
    C adds in that order too, so the bits agree)."""
    rng = np.random.default_rng(9)
    cases = [mean_case(DType.FLOAT32, (2, 13, 11, 5), [1, 2], True),
             mean_case(DType.FLOAT32, (3, 9, 4, 40), [3, 1], False),
             mean_case(DType.FLOAT32, (2, 3, 50), [2], False)]
    graph = side_by_side(cases)
    inputs = [(rng.standard_normal(t.shape) * 10.0 ** rng.integers(-4, 5, size=t.shape)).astype(np.float32)
              for t in graph.input_tensors]
    compare_bits(graph, [inputs])


def test_rank_1_to_5():
    rng = np.random.default_rng(4)
    cases = []
    for shape, axes in [((9,), [0]), ((4, 6), [1]), ((3, 4, 5), [0, 2]), ((2, 3, 2, 2, 3), [1, 4]),
                        ((2, 3, 2, 2, 3), [0, 2, 4]), ((1, 1, 1), [1]), ((2, 1, 3, 1, 2), [1, 3])]:
        for dtype in (DType.INT8, DType.INT16, DType.FLOAT32):
            cases.append(mean_case(dtype, shape, axes, False, (0.1, 3 if dtype is DType.INT8 else 0),
                                   (0.08, -2 if dtype is DType.INT8 else 0)))
    graph = side_by_side(cases)
    compare_bits(graph, random_inputs(graph, rng))


def test_reduce_box():
    """Size-1 dims drop out, adjacent dims of one kind merge, the innermost kept dim steps by 1."""
    assert reduce_box((1, 7, 7, 1280), (1, 2)) == ([1, 1, 1, 49, 1280], [0, 0, 0, 0, 1])
    assert reduce_box((2, 5, 3, 7), (3,)) == ([1, 1, 1, 30, 7], [0, 0, 0, 1, 0])
    assert reduce_box((2, 5, 3, 7), (0, 2)) == ([1, 2, 5, 3, 7], [0, 0, 7, 0, 1])
    assert reduce_box((1, 1), (0,)) == ([1] * 5, [0] * 5)
    assert reduce_box((4, 6), ()) == ([1, 1, 1, 1, 24], [0, 0, 0, 0, 1])


def test_real_model_means(real):
    """mobilenet_v2's int8 global pool ([1,7,7,1280] over H,W) and the float MEAN of bnn_chain,
    cut out and run side by side."""
    cases = []
    for rel in ["tflm/mobilenet_v2_pytorch/mobilenet_v2_quantized_1x3x224x224.tflite", "lce/bnn_chain.tflite"]:
        g = picoml.load_tflite(real / rel)
        (op,) = [op for op in g.ops if op.type == "MEAN"]
        cases.append(("MEAN", [g.tensors[n] for n in op.inputs], [g.tensors[op.outputs[0]]], op.attrs))
    graph = side_by_side(cases)
    compare_bits(graph, random_inputs(graph, np.random.default_rng(2), 3))


def all_variants():
    return [mean_case(d, (1, 5, 6, 70), [1, 2], True, (0.1, 3), (0.05, -4)) for d in (DType.INT8, DType.INT16)] + \
           [mean_case(DType.INT8, (2, 5, 3, 7), [3], False, (0.1, 3), (0.05, -4)),
            mean_case(DType.FLOAT32, (1, 5, 6, 70), [1, 2], True)]


def test_int8_build_uses_no_fpu(monkeypatch):
    """int8/int16 MEAN compiles with -mgeneral-regs-only (any float use fails) and still gives
    the reference bits; the project holds no float reduction code."""
    if platform.machine() not in ("x86_64", "AMD64") or shutil.which("gcc") is None:
        pytest.skip("-mgeneral-regs-only is checked with x86 gcc")
    monkeypatch.setenv("CC", shutil.which("gcc"))
    graph = side_by_side([c for c in all_variants() if c[1][0].dtype is not DType.FLOAT32])
    check_integer_build_has_no_float(graph, random_inputs(graph, np.random.default_rng(5), 1)[0])


def test_clang_builds_every_variant(monkeypatch):
    if shutil.which("clang") is None:
        pytest.skip("clang is not installed")
    monkeypatch.setenv("CC", "clang")
    graph = side_by_side(all_variants())
    compare_host_with_reference(graph, random_inputs(graph, np.random.default_rng(6), 1))
