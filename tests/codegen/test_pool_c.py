"""AVERAGE_POOL_2D and MAX_POOL_2D in C: the generated host build gives the NumPy reference's
bits (floats too: the C adds and compares in the NumPy kernel's order) on the grid of
tests/kernels/test_pool.py (filters 1..4 incl. non-square, strides 1..3, SAME/VALID, every fused
activation, 1/3/17/70 channels (70 crosses the C kernel's 64-channel chunk), odd sizes, varied
scale and zero point), rounding ties and extreme values, float infinities and NaN, the pooling
layers of the real models, and an int8 build with no FPU registers. Many cases share one graph
(independent ops side by side), so each grid compiles once."""
import dataclasses
import itertools
import platform
import shutil
import zlib

import numpy as np
import pytest

import picoml
from picoml.codegen import generate
from picoml.interpreter import Interpreter
from picoml.ir import DType, Graph, Op
from picoml.kernels.padding import out_size
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


def pool_case(op_type, dtype, hw, c, f, s, padding, act, scale=0.05, zp=0):
    oh, ow = out_size(padding, hw[0], f[0], s[0]), out_size(padding, hw[1], f[1], s[1])
    q = {} if dtype is DType.FLOAT32 else {"scale": scale, "zero_point": zp}
    x = tensor("x", (1, hw[0], hw[1], c), dtype, **q)
    y = tensor("y", (1, oh, ow, c), dtype, **q)
    attrs = dict(filter_height=f[0], filter_width=f[1], stride_h=s[0], stride_w=s[1], padding=padding,
                 fused_activation_function=act)
    return (op_type, [x], [y], attrs)


def compare_bits(graph, inputs_list):
    """The host build equals the reference bit for bit, floats included: the C adds the taps
    and divides in the NumPy kernel's order (compare_host_with_reference allows 1e-5)."""
    host = HostModel(graph, generate(graph))
    interp = Interpreter(graph)
    for inputs in inputs_list:
        got, want = host.run(inputs), interp.run(inputs)
        assert_same(got, want)
        for i, (g, w) in enumerate(zip(got, want)):
            assert g.tobytes() == w.tobytes(), f"output {i} ({graph.outputs[i]}) differs in the last bits"


def random_inputs(graph, rng, n=2):
    return [[random_input(t, rng) for t in graph.input_tensors] for _ in range(n)]


ACTS = ["NONE", "RELU", "RELU6", "RELU_N1_TO_1"]
SIZES = [(5, 5), (7, 6), (6, 9), (4, 4)]
CHANNELS = [1, 3, 17, 70]


@pytest.mark.parametrize("op_type", ["AVERAGE_POOL_2D", "MAX_POOL_2D"])
@pytest.mark.parametrize("dtype", [DType.INT8, DType.INT16, DType.FLOAT32])
def test_sweep(op_type, dtype):
    rng = np.random.default_rng(zlib.crc32(f"c{op_type}{dtype.value}".encode()))
    filters = [(1, 1), (2, 2), (3, 3), (4, 4), (2, 3), (4, 1)]
    strides = [(1, 1), (2, 2), (3, 3), (1, 2)]
    cases = []
    for i, (f, s, padding) in enumerate(itertools.product(filters, strides, ["SAME", "VALID"])):
        hw, c, act = SIZES[i % len(SIZES)], CHANNELS[i % len(CHANNELS)], ACTS[i % 4]
        if padding == "VALID" and (f[0] > hw[0] or f[1] > hw[1]):
            continue
        zp = int(rng.integers(-20, 20)) if dtype is DType.INT8 else 0
        scale = float(rng.choice([0.01, 0.05, 0.3]))
        cases.append(pool_case(op_type, dtype, hw, c, f, s, padding, act, scale, zp))
    assert len(cases) >= 40
    graph = side_by_side(cases)
    compare_bits(graph, random_inputs(graph, rng))


@pytest.mark.parametrize("dtype", [DType.INT8, DType.INT16])
def test_average_ties_and_extremes(dtype):
    """Window sums that are exact halves (+-0.5, +-1.5, ...), windows cut by SAME padding,
    all-min and all-max inputs, activation clamps with a zero point at the type's edge."""
    rng = np.random.default_rng(7)
    info = np.iinfo(dtype.numpy)
    cases, inputs = [], []
    for padding in ("SAME", "VALID"):
        cases.append(pool_case("AVERAGE_POOL_2D", dtype, (6, 6), 5, (2, 2), (2, 2), padding, "NONE"))
        inputs.append(rng.integers(-3, 4, size=(1, 6, 6, 5)).astype(dtype.numpy))
        cases.append(pool_case("AVERAGE_POOL_2D", dtype, (5, 5), 2, (2, 2), (1, 1), padding, "NONE"))
        inputs.append(np.tile(np.array([1, 0, -1, 0, 3], dtype.numpy)[None, :, None, None], (1, 1, 5, 2)))
    for v in (info.min, info.max):
        for op_type in ("AVERAGE_POOL_2D", "MAX_POOL_2D"):
            cases.append(pool_case(op_type, dtype, (4, 4), 3, (3, 3), (1, 1), "SAME", "NONE"))
            inputs.append(np.full((1, 4, 4, 3), v, dtype.numpy))
    zp_edge = info.max if dtype is DType.INT8 else 0
    for act in ("RELU", "RELU6", "RELU_N1_TO_1"):
        cases.append(pool_case("AVERAGE_POOL_2D", dtype, (5, 5), 4, (3, 3), (2, 2), "SAME", act, 0.02, zp_edge))
        inputs.append(random_input(cases[-1][1][0], rng))
    graph = side_by_side(cases)
    compare_host_with_reference(graph, [inputs])


@pytest.mark.parametrize("op_type", ["AVERAGE_POOL_2D", "MAX_POOL_2D"])
def test_float_edges(op_type):
    """-inf, +inf, NaN and huge values; all-negative windows; RELU clamps."""
    rng = np.random.default_rng(3)
    cases = [pool_case(op_type, DType.FLOAT32, (5, 5), 2, (3, 3), (2, 2), "SAME", act) for act in ("NONE", "RELU")]
    graph = side_by_side(cases)
    data = -np.abs(rng.standard_normal((1, 5, 5, 2))).astype(np.float32)
    data[0, 0, 0, 0], data[0, 4, 4, 1], data[0, 2, 2, 0], data[0, 1, 3, 1] = -np.inf, np.inf, -3.4e38, np.nan
    compare_bits(graph, [[data, data]])


REAL_POOLS = ["mlperf_tiny/kws/kws_ref_model.tflite", "mlperf_tiny/kws/kws_ref_model_float32.tflite",
              "mlperf_tiny/vww/vww_96_int8.tflite", "mlperf_tiny/vww/vww_96_float.tflite",
              "mlperf_tiny/ic/pretrainedResnet_quant.tflite", "mlperf_tiny/ic/pretrainedResnet.tflite",
              "tflm/person_detection/person_detect.tflite"]


def test_real_model_pool_layers(real):
    """Every pooling layer of the real models, cut out and run side by side, on random inputs."""
    cases = []
    for rel in REAL_POOLS:
        g = picoml.load_tflite(real / rel)
        for op in g.ops:
            if op.type.endswith("POOL_2D"):
                cases.append((op.type, [g.tensors[op.inputs[0]]], [g.tensors[op.outputs[0]]], op.attrs))
    assert len(cases) == len(REAL_POOLS)
    graph = side_by_side(cases)
    compare_bits(graph, random_inputs(graph, np.random.default_rng(11)))


def all_variants():
    return [pool_case(t, d, (7, 6), 70, (3, 2), (2, 1), "SAME", "RELU6", 0.05, 3 if d is DType.INT8 else 0)
            for t in ("AVERAGE_POOL_2D", "MAX_POOL_2D") for d in (DType.INT8, DType.INT16, DType.FLOAT32)]


def test_int8_build_uses_no_fpu(monkeypatch):
    """int8/int16 pooling compiles with -mgeneral-regs-only (any float use fails) and still
    gives the reference bits; the project holds no float pooling code."""
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
