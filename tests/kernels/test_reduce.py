"""MEAN against tflite-micro, bit for bit (float sums are added in TFLM's order), over axes,
keep_dims, equal and different quantization, rounding ties, and mobilenet_v2's global pool."""
import itertools

import numpy as np
import pytest

import picoml
from picoml.errors import GraphError
from picoml.exporters.tflite import export_tflite
from picoml.interpreter import Interpreter
from picoml.ir import DType
from picoml.kernels.reduce import mean_multiplier
from picoml.testing.opmodel import random_input, single_op_graph, tensor

ARENA = 1 << 20  # the runtime's default (10x the model size) is too small for one-op models


def check(graph, inputs):
    """picoml's outputs equal tflite-micro's, bit for bit."""
    from tflite_micro.python.tflite_micro import runtime

    it = runtime.Interpreter.from_bytes(export_tflite(graph), arena_size=ARENA)
    for i, x in enumerate(inputs):
        it.set_input(np.ascontiguousarray(x), i)
    it.invoke()
    got = Interpreter(graph).run(inputs)
    for i, g in enumerate(got):
        e = np.array(it.get_output(i)).reshape(g.shape)
        assert g.dtype == e.dtype
        assert g.tobytes() == e.tobytes(), f"output {i}: picoml {g.ravel()[:8]} vs tflm {e.ravel()[:8]}"


def mean_graph(dtype, shape, axes, keep, q_in=(0.1, 0), q_out=(0.1, 0), axis_dtype=DType.INT32):
    rank = len(shape)
    resolved = {a % rank for a in axes}
    out_shape = tuple(1 if d in resolved else shape[d] for d in range(rank)) if keep else \
        tuple(shape[d] for d in range(rank) if d not in resolved)
    qi = {} if dtype is DType.FLOAT32 else {"scale": q_in[0], "zero_point": q_in[1]}
    qo = {} if dtype is DType.FLOAT32 else {"scale": q_out[0], "zero_point": q_out[1]}
    x = tensor("x", shape, dtype, **qi)
    ax = tensor("axis", (len(axes),), axis_dtype, data=np.array(axes))
    y = tensor("y", out_shape, dtype, **qo)
    return single_op_graph("MEAN", [x, ax], [y], {"keep_dims": keep}), x


AXES = [[1, 2], [2, 1], [1], [3], [0], [-1], [0, 3], [1, 2, 3], [-3, 1], []]


@pytest.mark.parametrize("dtype", [DType.INT8, DType.INT16, DType.FLOAT32])
def test_sweep(dtype):
    """Axes (incl. negative, repeated, empty), keep_dims both ways, odd shapes, equal and
    different scales and zero points."""
    rng = np.random.default_rng({"int8": 1, "int16": 2, "float32": 3}[dtype.value])
    n = 0
    for i, (axes, keep) in enumerate(itertools.product(AXES, [True, False])):
        for shape in [(1, 7, 7, 17), (2, 5, 3, 7)]:
            for same in (True, False):
                zp_max = 30 if dtype is DType.INT8 else 1
                q_in = (float(rng.choice([0.02, 0.1, 0.7])), int(rng.integers(-zp_max + 1, zp_max)))
                q_out = q_in if same else (float(rng.choice([0.01, 0.05, 0.3, 3.0])),
                                          int(rng.integers(-zp_max + 1, zp_max)))
                graph, x = mean_graph(dtype, shape, axes, keep, q_in, q_out)
                check(graph, [random_input(x, rng)])
                n += 1
                if dtype is DType.FLOAT32:
                    break  # quantization plays no part
    assert n >= 40


@pytest.mark.parametrize("dtype", [DType.INT8, DType.INT16])
def test_rounding_ties_and_extremes(dtype):
    """Means that are exact halves, all-min / all-max inputs, and scale ratios from 2**-30
    (the shift clamp of QuantizedMeanOrSum) to 300."""
    rng = np.random.default_rng(5)
    info = np.iinfo(dtype.numpy)
    for count_shape in [(1, 2, 1, 6), (1, 2, 2, 6), (1, 4, 4, 3), (1, 8, 8, 2)]:
        graph, x = mean_graph(dtype, count_shape, [1, 2], True)
        check(graph, [rng.integers(-3, 4, size=x.shape).astype(dtype.numpy)])
        for v in (info.min, info.max):
            check(graph, [np.full(x.shape, v, dtype.numpy)])
    for ratio in [2.0 ** -30, 1e-8, 1e-3, 0.5, 1.0, 3.0, 300.0]:
        graph, x = mean_graph(dtype, (1, 8, 8, 4), [1, 2], False, (0.1 * ratio, 0), (0.1, 0))
        check(graph, [random_input(x, rng)])


def test_float_sum_order():
    """Many terms of mixed magnitude: only TFLM's sequential float32 order gives its bits."""
    rng = np.random.default_rng(9)
    graph, x = mean_graph(DType.FLOAT32, (2, 13, 11, 5), [1, 2], True)
    data = (rng.standard_normal(x.shape) * 10.0 ** rng.integers(-4, 5, size=x.shape)).astype(np.float32)
    check(graph, [data])
    graph, x = mean_graph(DType.FLOAT32, (3, 9, 4, 40), [3, 1], False)
    check(graph, [(rng.standard_normal(x.shape) * 1e3).astype(np.float32)])


def test_rank_1_to_5():
    rng = np.random.default_rng(4)
    for shape, axes in [((9,), [0]), ((4, 6), [1]), ((3, 4, 5), [0, 2]), ((2, 3, 2, 2, 3), [1, 4])]:
        for dtype in (DType.INT8, DType.FLOAT32):
            graph, x = mean_graph(dtype, shape, axes, False, (0.1, 3), (0.08, -2))
            check(graph, [random_input(x, rng)])


def test_mobilenet_v2_global_pool(real):
    """mobilenet_v2's MEAN (int8 [1,7,7,1280] over H,W, keep_dims) cut out as a one-op model."""
    g = picoml.load_tflite(real / "tflm/mobilenet_v2_pytorch/mobilenet_v2_quantized_1x3x224x224.tflite")
    (op,) = [op for op in g.ops if op.type == "MEAN"]
    ins = [g.tensors[n] for n in op.inputs]
    graph = single_op_graph("MEAN", ins, [g.tensors[op.outputs[0]]], op.attrs, op.version)
    rng = np.random.default_rng(2)
    for _ in range(5):
        check(graph, [random_input(ins[0], rng)])


def test_mean_multiplier():
    # 1/49 folded into 2**30 (real multiplier 1.0 -> q=2**30, shift 1): n = 5.
    assert mean_multiplier(1 << 30, 1, 49) == ((1 << 35) // 49, -4)
    # The shift clamp: n <= 31 + shift.
    assert mean_multiplier(1 << 30, -28, 64) == ((1 << 33) // 64, -31)
    assert mean_multiplier(1 << 30, 1, 1) == (1 << 30, 1)


def test_macs():
    graph, x = mean_graph(DType.INT8, (1, 7, 7, 17), [1, 2], True)
    assert Interpreter(graph).macs == x.size


@pytest.mark.parametrize("mutate, match", [
    (lambda g: g.tensors["axis"].data.__setitem__(0, 4), "out of range"),
    (lambda g: g.tensors["axis"].data.__setitem__(0, -5), "out of range"),
    (lambda g: setattr(g.tensors["y"], "shape", (1, 1, 17)), "should have shape"),
    (lambda g: g.ops[0].attrs.__setitem__("keep_dims", 3), "keep_dims"),
    (lambda g: setattr(g.tensors["y"], "dtype", DType.INT16), "type"),
    (lambda g: setattr(g.tensors["y"], "quant", None), "quantization"),
    (lambda g: g.ops[0].inputs.pop(), "expects exactly 2"),
])
def test_rejects_bad_operator(mutate, match):
    graph, _ = mean_graph(DType.INT8, (1, 7, 7, 17), [1, 2], True)
    mutate(graph)
    with pytest.raises(GraphError, match=match):
        Interpreter(graph)


def test_rejects_non_constant_or_int64_axis():
    graph, _ = mean_graph(DType.INT8, (1, 4, 4, 3), [1, 2], True, axis_dtype=DType.INT64)
    with pytest.raises(GraphError, match="int32"):
        Interpreter(graph)
    graph, _ = mean_graph(DType.INT8, (1, 4, 4, 3), [1, 2], True)
    graph.tensors["axis"].data = None
    graph.inputs.append("axis")
    with pytest.raises(GraphError, match="constant"):
        Interpreter(graph)


def test_rejects_rank_6():
    graph, _ = mean_graph(DType.FLOAT32, (1, 2, 2, 2, 2, 2), [1], True)
    with pytest.raises(GraphError, match="rank 6"):
        Interpreter(graph)
