"""CONV_2D, DEPTHWISE_CONV_2D and TRANSPOSE_CONV in C: the host build gives the reference
interpreter's bits, floats included (the C sums in the NumPy kernels' TFLM order).

The grid of tests/kernels/test_conv.py (every dtype mode; kernels 1x1, 3x3, 5x3; stride 1 and 2;
dilation 1 and 2; SAME and VALID; channels 1/3/8/17; depth multipliers 1/2/8; every fused
activation; power-of-two scales that make exact .5 ties), plus what the C kernels specialise on
(channel counts 8/16/32/64 and others, pixels grouped per output-stage call, batches, the
depthwise border), extreme quantization (zero points at the int8 ends, multipliers above 1 and
near 2^-31, int32 wrap-around), the hybrid conv, every conv op of the real models, an int8
build without floating-point registers, strict gcc/clang builds and a sanitizer run. Many cases
are compiled as one graph to keep compiler runs few.
"""
from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pytest

import picoml
from picoml.codegen import generate
from picoml.errors import UnsupportedError
from picoml.ir import DType, Graph
from picoml.kernels.quant import (INT32_MAX, INT32_MIN, multiply_by_quantized_multiplier,
                                  multiply_by_requant_constants, requant_constants)
from picoml.testing.opmodel import random_input, single_op_graph, tensor
from picoml.plan import plan_graph
from tests.codegen.test_elementwise_c import check_c as check_elementwise_c
from tests.codegen.test_elementwise_c import check_general_regs_only, merge, sanitized_run, strict_builds
from tests.kernels.test_conv import (ACTS, CONV_GRID, KERNELS, MODES, REAL_OP_MODELS, TIE_CASES, conv_graph,
                                     depthwise_graph, one_op_graph, quantized_linear, seed_of, transpose_graph)

CONV_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "TRANSPOSE_CONV")


def check_c(cases, rng=None, runs=1, **options):
    """test_elementwise_c.check_c with depthwise ops out of place, so these tests exercise
    pm_depthwise_conv_s8 (the in-place kernel has tests/codegen/test_depthwise_inplace_c.py)."""
    project = check_elementwise_c(cases, rng, runs, depthwise_in_place=False, **options)
    assert "pm_depthwise_inplace_s8(" not in project.files["model.c"]
    return project


def with_batches(graph: Graph, inputs: list[np.ndarray], batches: int, rng) -> tuple[Graph, list]:
    """The same one-op graph on ``batches`` images (TRANSPOSE_CONV's shape tensor follows)."""
    tensors = dict(graph.tensors)
    for name in [*graph.inputs, *graph.outputs]:
        t = tensors[name]
        tensors[name] = dataclasses.replace(t, shape=(batches,) + tuple(t.shape[1:]))
    if "shape" in tensors:
        tensors["shape"] = dataclasses.replace(tensors["shape"],
                                               data=np.array(tensors[graph.outputs[0]].shape, np.int32))
    g = Graph(tensors, graph.ops, list(graph.inputs), list(graph.outputs)).validate()
    return g, [random_input(t, rng) for t in g.input_tensors]


# -- the generated grid ------------------------------------------------------------------------
def test_conv2d_grid():
    cases = [conv_graph(seed_of("conv", mode, *case), mode, *case) for mode in MODES for case in CONV_GRID]
    check_c(cases, np.random.default_rng(1), runs=2)


def test_grouped_conv2d():
    cases = [conv_graph(seed, mode, (3, 3), 1, 1, "SAME", groups=2)
             for mode in ("int8_pc", "int16_i64", "float") for seed in range(3)]
    cases.append(conv_graph(7, "int8_pt", (1, 1), 2, 1, "VALID", groups=3))
    check_c(cases, np.random.default_rng(2), runs=2)


def test_depthwise_grid():
    cases = [depthwise_graph(seed_of("dw", mode, *case), mode, *case)
             for mode in ("int8_pc", "int8_pt", "int16_i64", "float") for case in CONV_GRID]
    check_c(cases, np.random.default_rng(3), runs=2)


def test_depthwise_multipliers_and_no_bias():
    cases = [depthwise_graph(seed, mode, (3, 3), 2, 1, "SAME", multiplier=m)
             for m in (1, 2, 8) for seed, mode in enumerate(["int8_pc", "int16_i64", "float"])]
    for mode in ("int8_pc", "int16_i64", "float"):  # TFLM crashes without a bias; picoml reads zeros
        graph, inputs = depthwise_graph(4, mode, (3, 3), 2, 1, "SAME")
        graph.ops[0].inputs[2] = None
        del graph.tensors["b"]
        cases.append((graph, inputs))
    check_c(cases, np.random.default_rng(4), runs=2)


def test_transpose_conv_grid():
    modes = ["int8_pc", "int8_pt", "int8_nobias", "int16_i64", "int16_nobias", "float"]
    grid = list(itertools.product(KERNELS, [1, 2], ["SAME", "VALID"]))
    cases = [transpose_graph(seed_of("tc", mode, *case), mode, *case) for mode in modes for case in grid]
    check_c(cases, np.random.default_rng(5), runs=2)


def test_exact_half_ties():
    """Power-of-two scales: accumulators land on exact .5 in both requantization forms."""
    cases = []
    for (op_type, mode), seed in itertools.product(TIE_CASES, range(4)):
        if op_type == "CONV_2D":
            cases.append(conv_graph(seed, mode, (3, 3), 1 + seed % 2, 1, "SAME", ties=True))
        elif op_type == "DEPTHWISE_CONV_2D":
            cases.append(depthwise_graph(seed, mode, (3, 3), 1, 1 + seed % 2, "VALID", ties=True))
        else:
            cases.append(transpose_graph(seed, mode, (3, 3), 2, "SAME", ties=True))
    check_c(cases, np.random.default_rng(6), runs=3)


# -- what the C kernels specialise on ---------------------------------------------------------
def test_channel_counts_the_kernels_specialise():
    """The GEMM core and the 3x3 depthwise run common channel counts (8/16/32/64) with constant
    trip counts and group 32 // channels pixels per output stage; around them: other counts,
    reduction lengths that are not a multiple of 4, one channel, several batches."""
    rng = np.random.default_rng(7)
    cases = []
    for k, (cin, cout) in enumerate([(8, 16), (16, 32), (32, 32), (64, 64), (5, 64), (33, 7), (1, 1), (3, 31)]):
        for kernel in ((1, 1), (3, 3)):
            cases.append(with_batches(*conv_graph(100 + k, "int8_pc", kernel, 1 + k % 2, 1, "SAME",
                                                  channels=(cin, cout)), 1 + k % 3, rng))
    for k, (cin, m) in enumerate([(8, 1), (16, 1), (32, 1), (64, 1), (1, 8), (1, 3), (24, 1), (4, 2), (3, 8)]):
        for stride, padding in ((1, "SAME"), (2, "VALID"), (2, "SAME")):
            graph, inputs = depthwise_graph(200 + k, "int8_pc", (3, 3), stride, 1, padding, multiplier=m)
            x = graph.tensors["x"]
            if x.shape[3] != cin:  # the builder picks the depth; rebuild with ours
                graph, inputs = _depthwise_with_depth(200 + k, cin, m, stride, padding)
            cases.append(with_batches(graph, inputs, 1 + k % 3, rng))
    # one input channel with a kernel other than 3x3 runs as the CONV_2D it equals
    for k, (kernel, m, dilation) in enumerate([((5, 3), 8, 1), ((1, 1), 3, 1), ((4, 6), 1, 2), ((7, 2), 16, 1)]):
        for stride, padding in ((1, "SAME"), (2, "VALID")):
            cases.append(_depthwise_with_depth(300 + k, 1, m, stride, padding, kernel, dilation))
    check_c(cases, rng, runs=2)


def _depthwise_with_depth(seed: int, cin: int, m: int, stride: int, padding: str, kernel=(3, 3), dilation: int = 1):
    rng = np.random.default_rng(seed)
    kh, kw = kernel
    h, w = int(rng.integers(5, 9)) + (kh - 1) * dilation, int(rng.integers(5, 9)) + (kw - 1) * dilation
    qin, wt, b, qout = quantized_linear(rng, "int8_pc", (1, kh, kw, cin * m), 3, cin * m, kh * kw)
    attrs = {"padding": padding, "stride_h": stride, "stride_w": stride, "dilation_h_factor": dilation,
             "dilation_w_factor": dilation, "depth_multiplier": m, "fused_activation_function": str(rng.choice(ACTS))}
    oh = (h + stride - 1) // stride if padding == "SAME" else (h - (kh - 1) * dilation - 1) // stride + 1
    ow = (w + stride - 1) // stride if padding == "SAME" else (w - (kw - 1) * dilation - 1) // stride + 1
    x = tensor("x", [1, h, w, cin], DType.INT8, qin["scale"], qin["zero_point"])
    y = tensor("y", [1, oh, ow, cin * m], DType.INT8, qout["scale"], qout["zero_point"])
    graph = single_op_graph("DEPTHWISE_CONV_2D", [x, wt, b], [y], attrs, version=6)
    return graph, [random_input(x, rng)]


def test_batches_for_every_op_and_dtype():
    rng = np.random.default_rng(8)
    cases = []
    for mode in ("int8_pc", "int16_i64", "int16_i32", "float"):
        cases.append(with_batches(*conv_graph(seed_of("b", mode), mode, (3, 3), 2, 1, "SAME"), 3, rng))
        if mode != "int16_i32":
            cases.append(with_batches(*depthwise_graph(seed_of("bd", mode), mode, (3, 3), 1, 2, "SAME"), 2, rng))
            cases.append(with_batches(*transpose_graph(seed_of("bt", mode), mode, (3, 3), 2, "SAME"), 2, rng))
    check_c(cases, rng, runs=2)


# -- extreme quantization -----------------------------------------------------------------------
def _requantized(graph: Graph, in_zp: int, out_zp: int, out_scale: float, bias_shift: int = 0) -> Graph:
    """``graph`` (int8) with other zero points and output scale, bias pushed toward int32's ends."""
    x, y = graph.tensors["x"], graph.tensors["y"]
    x.quant.zero_point[:] = in_zp
    y.quant.zero_point[:] = out_zp
    y.quant.scale[:] = out_scale
    if bias_shift and "b" in graph.tensors:
        b = graph.tensors["b"]
        b.data = np.clip(b.data.astype(np.int64) + (1 << bias_shift), INT32_MIN, INT32_MAX).astype(np.int32)
    return graph


def test_extreme_int8_quantization():
    """Zero points at both int8 ends, multipliers > 1 (left shifts that wrap), multipliers near
    2^-31, and biases near INT32_MAX so acc + bias wraps like TFLM's int32 accumulator."""
    rng = np.random.default_rng(9)
    cases = []
    settings = [(-128, -128, None, 0), (127, 127, None, 0), (-128, 127, 1e-6, 0), (127, -128, 3e2, 0),
                (5, -3, None, 30), (-7, 9, 1e-6, 30), (0, 0, 5e5, 0)]
    for k, (in_zp, out_zp, factor, bias_shift) in enumerate(settings):
        for build in (lambda s: conv_graph(s, "int8_pc", (3, 3), 1, 1, "SAME"),
                      lambda s: depthwise_graph(s, "int8_pc", (3, 3), 2, 1, "SAME"),
                      lambda s: transpose_graph(s, "int8_pc", (3, 3), 2, "SAME")):
            graph, _ = build(300 + k)
            scale = float(graph.tensors["y"].quant.scale[0]) * (factor or 1.0)
            graph = _requantized(graph, in_zp, out_zp, scale, bias_shift)
            cases.append((graph, None))
    check_c(cases, rng, runs=3)


def test_requant_constants_identity():
    """The output stages' one-multiply form equals TFLM's double rounding for every int32."""
    rng = np.random.default_rng(10)
    edges = np.array([INT32_MIN, INT32_MIN + 1, -(1 << 30) - 1, -(1 << 30), -3, -2, -1, 0, 1, 2, 1 << 30,
                      INT32_MAX - 1, INT32_MAX], np.int64)
    multipliers = [0, 1 << 30, (1 << 30) + 1, INT32_MAX] + rng.integers(1 << 30, 1 << 31, 60).tolist()
    for q in multipliers:
        for shift in range(-31, 32):
            x = np.concatenate([edges, rng.integers(INT32_MIN, INT32_MAX, 300, endpoint=True),
                                rng.integers(-4096, 4096, 300)])
            c = requant_constants(q, shift)
            np.testing.assert_array_equal(multiply_by_requant_constants(x, q, c),
                                          multiply_by_quantized_multiplier(x, q, shift), err_msg=f"{q} {shift}")


# -- hybrid ---------------------------------------------------------------------------------------
def hybrid_graph(seed: int, kernel, stride: int, padding: str, batches: int = 2):
    """CONV_2D with float activations and per-tensor int8 weights (TFLite's hybrid kernel)."""
    graph, _ = conv_graph(seed, "int8_pt", kernel, stride, 1, padding)
    rng = np.random.default_rng(seed)
    for name in ("x", "y"):
        t = graph.tensors[name]
        graph.tensors[name] = dataclasses.replace(t, dtype=DType.FLOAT32, quant=None,
                                                  shape=(batches,) + tuple(t.shape[1:]))
    b = graph.tensors["b"]
    graph.tensors["b"] = dataclasses.replace(b, dtype=DType.FLOAT32, quant=None,
                                             data=rng.standard_normal(b.shape).astype(np.float32))
    graph = Graph(graph.tensors, graph.ops, graph.inputs, graph.outputs).validate()
    x = (rng.standard_normal(graph.tensors["x"].shape) * 3).astype(np.float32)
    x[-1] = 0.0 if batches > 1 else x[-1]  # an all-zero image: scale 1, every value 0
    return graph, [x]


def test_hybrid_conv():
    cases = [hybrid_graph(400 + k, kernel, stride, padding)
             for k, (kernel, stride, padding) in enumerate(itertools.product(KERNELS, [1, 2], ["SAME", "VALID"]))]
    check_c(cases, np.random.default_rng(11), runs=1)


def test_kws_hybrid_model_conv_ops(real):
    graph = picoml.load_tflite(real / "mlperf_tiny/kws/kws_ref_model_float32.tflite")
    ops = [op for op in graph.ops if op.type == "CONV_2D"]
    assert len(ops) == 5
    check_c([(one_op_graph(graph, op), None) for op in ops], np.random.default_rng(12), runs=2)


# -- real models -----------------------------------------------------------------------------------
def test_real_model_conv_ops(real):
    """Every conv op of the real models, alone, with its weights and quantization."""
    cases = []
    for model in REAL_OP_MODELS:
        graph = picoml.load_tflite(real / model)
        ops = [op for op in graph.ops if op.type in CONV_OPS]
        assert ops, model
        cases += [(one_op_graph(graph, op), None) for op in ops]
    check_c(cases, np.random.default_rng(13), runs=2)


def test_seanet_int16_layers(real):
    """int16 x int8 with int64 bias: the 27 SEANet single-layer models."""
    graphs = [picoml.load_tflite(p) for op in ("conv", "transpose_conv")
              for p in sorted((real / "tflm/seanet" / op).glob("*.tflite"))]
    assert len(graphs) == 27
    check_c([(g, None) for g in graphs], np.random.default_rng(14), runs=1)


# -- builds ------------------------------------------------------------------------------------------
def integer_conv_graph():
    """Every integer conv kernel in one graph, with fixed inputs."""
    rng = np.random.default_rng(15)
    cases = [conv_graph(1, "int8_pc", (3, 3), 1, 1, "SAME"), conv_graph(2, "int16_i64", (3, 3), 2, 1, "SAME"),
             conv_graph(3, "int16_i32", (1, 1), 1, 1, "VALID"), depthwise_graph(4, "int8_pc", (3, 3), 1, 1, "SAME"),
             depthwise_graph(5, "int16_i64", (5, 3), 2, 2, "SAME"), transpose_graph(6, "int8_pc", (3, 3), 2, "SAME"),
             transpose_graph(7, "int16_i64", (3, 3), 2, "VALID")]
    graph = merge([g for g, _ in cases])
    return graph, [random_input(t, rng) for t in graph.input_tensors]


def float_conv_graph():
    rng = np.random.default_rng(16)
    cases = [conv_graph(1, "float", (3, 3), 1, 1, "SAME"), depthwise_graph(2, "float", (3, 3), 2, 1, "SAME"),
             transpose_graph(3, "float", (3, 3), 2, "SAME"), hybrid_graph(4, (3, 3), 1, "SAME")]
    graph = merge([g for g, _ in cases])
    return graph, [random_input(t, rng) for t in graph.input_tensors]


def test_integer_build_has_no_floating_point():
    graph, inputs = integer_conv_graph()
    check_general_regs_only(graph, inputs)


def test_strict_gcc_and_clang_builds(tmp_path):
    graph = merge([integer_conv_graph()[0], float_conv_graph()[0]])
    strict_builds(graph, tmp_path)


def test_sanitizers(tmp_path):
    """ASan + UBSan: no out-of-bounds access or signed overflow, even where sums wrap."""
    graph, inputs = integer_conv_graph()
    extreme = _requantized(conv_graph(17, "int8_pc", (3, 3), 1, 1, "SAME")[0], 127, -128, 1e-3, 30)
    fgraph, finputs = float_conv_graph()
    rng = np.random.default_rng(17)
    graph = merge([graph, extreme, fgraph])
    inputs = inputs + [random_input(extreme.input_tensors[0], rng)] + finputs
    sanitized_run(graph, inputs, tmp_path / "asan")


def test_unsupported_forms_are_named():
    """The int8 kernels fold constant weights at build time; run-time weights are refused."""
    graph, _ = conv_graph(18, "int8_pc", (3, 3), 1, 1, "SAME")
    w = graph.tensors["w"]
    graph.tensors["w"] = dataclasses.replace(w, data=None)
    graph = Graph(graph.tensors, graph.ops, ["x", "w"], graph.outputs).validate()
    with pytest.raises(UnsupportedError, match="CONV_2D.*constant"):
        generate(graph)


# -- the zero-scratch ("lean") int8 kernel the planner picks where scratch would raise the arena --
def check_lean(cases, rng, runs=2):
    """Compile the cases as one graph with every int8 conv on pm_conv_lean_s8 and demand the
    reference's bits."""
    project = check_c(cases, rng, runs, scratch="lean")
    assert project.files["model.c"].count("pm_conv_lean_s8(") == len(project.op_summaries)


def test_lean_conv2d_grid():
    cases = [conv_graph(seed_of("lean", mode, *case), mode, *case)
             for mode in ("int8_pc", "int8_pt", "int8_nobias") for case in CONV_GRID if case[0] != (1, 1)]
    cases += [conv_graph(seed, "int8_pc", (3, 3), 1, 1, "SAME", groups=2) for seed in range(2)]
    cases += [conv_graph(seed_of("lean-wide", k), "int8_pc", (3, 3), 1, 1, "SAME", channels=(5, 70))
              for k in range(2)]  # more output channels than one stack chunk (PM_GEMM_CHUNK)
    cases += [conv_graph(seed_of("lean-tie", mode), mode, (3, 3), 1, 1, "SAME", ties=True)
              for mode in ("int8_pc", "int8_pt")]
    check_lean(cases, np.random.default_rng(11))


def test_lean_depthwise_grid():
    cases = [depthwise_graph(seed_of("lean-dw", mode, *case), mode, *case)
             for mode in ("int8_pc", "int8_pt") for case in CONV_GRID]
    cases += [depthwise_graph(seed, "int8_pc", (5, 3), 2, 1, "SAME", multiplier=m) for seed, m in enumerate((2, 8))]
    check_lean(cases, np.random.default_rng(12))


def test_scratch_fit_uses_lean_only_at_the_peak():
    """micro_speech's first op (a 10x8 depthwise on one channel) runs at the arena's peak: the
    fast kernel's im2col scratch would add to it, so the generated C runs that op lean and its
    arena is the scratch-free plan's; person_detect's scratch fits in gaps, so nothing is lean."""
    from picoml.testing.real import real_dir, real_path

    if real_dir() is None:
        pytest.skip("../shared/real not present: no real models")
    for rel, expect_lean in (("tflm/micro_speech/micro_speech_quantized.tflite", 1),
                             ("tflm/person_detection/person_detect.tflite", 0)):
        g = picoml.load_tflite(real_path(rel))
        fit, fast = generate(g), generate(g, scratch="fast")
        assert fit.files["model.c"].count("pm_conv_lean_s8(") == expect_lean, rel
        assert fit.arena_bytes == plan_graph(g).arena_bytes, rel  # scratch costs no arena
        assert (fast.arena_bytes > fit.arena_bytes) == bool(expect_lean), rel
    with pytest.raises(picoml.errors.PicomlError, match="scratch must be"):
        generate(g, scratch="tiny")
