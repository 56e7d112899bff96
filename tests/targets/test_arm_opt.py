"""The Cortex-M DSP kernels (codegen/c/opt/arm): bit-exact with the reference interpreter in the
emulator on generated one-op graphs that reach every specialised path and every fallback, the
project selects them only where they apply, the portable build stays the reference, and the
DSP output stage's arithmetic equals TFLM's requantization for every kind of int32 input.

Cases share a compile: many one-op graphs are merged into one graph per test.
"""
from __future__ import annotations

import re
import shutil
import subprocess

import numpy as np
import pytest

from picoml.codegen import generate
from picoml.interpreter import Interpreter
from picoml.ir import DType
from picoml.kernels.quant import (INT32_MAX, INT32_MIN, arm_requant_constants, multiply_by_arm_constants,
                                  multiply_by_quantized_multiplier, wrap_int32)
from picoml.testing.opmodel import random_input, single_op_graph, tensor
from tests.codegen.test_elementwise_c import binary_graph, merge
from tests.kernels.test_conv import CONV_GRID, conv_graph, depthwise_graph, seed_of
from tests.kernels.test_fully_connected import fc_graph
from tests.kernels.test_pool import pool_graph

I8 = DType.INT8
ARM_GCC = shutil.which("arm-none-eabi-gcc")
needs_emulator = pytest.mark.skipif(ARM_GCC is None, reason="arm-none-eabi-gcc is not installed "
                                    "(apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi)")


def _emulator_modules() -> None:
    for m in ("unicorn", "elftools", "capstone"):
        pytest.importorskip(m, reason=f"{m} is not installed (pip install unicorn pyelftools capstone)")


# -- the output stage's arithmetic ----------------------------------------------------------------
def _edge_inputs(rng: np.random.Generator, q: int, r: int) -> np.ndarray:
    """int32 extremes, small values, and accumulators whose double rounding ties (both signs)."""
    xs = [rng.integers(INT32_MIN, INT32_MAX, 3000, endpoint=True), np.arange(-2000, 2001),
          [INT32_MIN, INT32_MIN + 1, -1, 0, 1, INT32_MAX - 1, INT32_MAX]]
    if q:  # x with x*q near (k + 1/2) * 2**(31 + r) - 2**30: the second rounding's ties
        k = rng.integers(-2 ** max(0, 30 - r), 2 ** max(0, 30 - r), 200)
        centre = ((2 * k + 1) << (30 + r)) - (1 << 30)
        base = centre // q
        xs += [base + d for d in (-1, 0, 1)]
    return np.clip(np.concatenate([np.asarray(x, np.int64).ravel() for x in xs]), INT32_MIN, INT32_MAX)


def test_arm_output_stage_equals_tflm_requantization():
    """(x*q + round - [x<0] 2^31) >> 32 >> shift, + offset == wrap32(MBQM(x) + zp) for every
    right shift 1..31, q = 2^30 and q = 0 (dead channels), zero points at the int8 ends, with
    the zero point folded (every r <= 24) and added after the shift (some r > 24)."""
    rng = np.random.default_rng(7)
    checked = 0
    for r in range(1, 32):
        for q in (1 << 30, (1 << 31) - 1, int(rng.integers(1 << 30, 1 << 31)), 0):
            for zp in (-128, 0, 127, int(rng.integers(-128, 128))):
                for other_r in (1, 31):  # the other channel decides whether the zero point folds
                    qs, rs = np.array([q, 1 << 30]), np.array([r if q else 0, other_r])
                    c = arm_requant_constants(qs, -rs, zp)
                    assert c is not None
                    fold = max(r if q else 1, other_r) <= 24
                    assert int(c["offset"]) == (0 if fold else zp)
                    x = _edge_inputs(rng, q, r)
                    one = {k: (v[0] if np.ndim(v) else v) for k, v in c.items()}
                    expected = wrap_int32(multiply_by_quantized_multiplier(x, q, -rs[0]) + zp)
                    np.testing.assert_array_equal(multiply_by_arm_constants(x, one), expected)
                    checked += x.size
    assert checked > 1_000_000


def test_arm_output_stage_refuses_what_it_cannot_do():
    assert arm_requant_constants([1 << 30], [0], 0) is None   # multiplier >= 0.5 (no right shift)
    assert arm_requant_constants([1 << 30], [1], 0) is None   # a left shift
    assert arm_requant_constants([1 << 29], [-3], 0) is None  # not a normalised Q31 multiplier
    assert arm_requant_constants([1 << 30], [-3], 200) is None
    assert arm_requant_constants([1 << 30, 0], [-32, 0], 0) is None


# -- the emitted project ------------------------------------------------------------------------------
def _requant_graph(multipliers: list[float], zp_out: int = 0, act: str = "NONE"):
    """A 1x1 conv whose channel c has real multiplier ``multipliers[c]`` (weights of 1 on the
    diagonal, so any requantization can be chosen)."""
    c = len(multipliers)
    w_scales = np.array(multipliers, np.float64) * 0.1 / 0.01
    x = tensor("x", [1, 4, 3, c], I8, 0.01, -5)
    w = tensor("w", [c, 1, 1, c], I8, list(w_scales), 0, data=np.eye(c, dtype=np.int64).reshape(c, 1, 1, c) * 127)
    b = tensor("b", [c], DType.INT32, list(0.01 * w_scales), 0, data=np.arange(c) * 1000 - 3000)
    y = tensor("y", [1, 4, 3, c], I8, 0.1, zp_out)
    attrs = {"padding": "VALID", "stride_h": 1, "stride_w": 1, "dilation_h_factor": 1, "dilation_w_factor": 1,
             "fused_activation_function": act}
    return single_op_graph("CONV_2D", [x, w, b], [y], attrs, version=4)


def test_project_carries_both_calls_and_only_what_applies():
    g = merge([_requant_graph([0.02, 0.3]), _requant_graph([0.02, 0.7]),
               single_op_graph("CONV_2D", *_grouped())])
    project = generate(g, dsp=True)
    source = project.files["model.c"]
    # op 0 has both calls under the selection macro; op 1 (multiplier >= 0.5) and op 2 (groups)
    # keep the portable kernel only
    assert source.count("pm_conv_s8_arm(") == 1 and source.count("pm_conv_s8(") == 3
    assert "#if PM_ARM_DSP" in source and '#include "pm_arm.h"' in source
    assert {"pm_arm.h", "pm_conv_arm.h", "pm_conv_arm.c"} <= set(project.files)
    assert "pm_depthwise_arm.c" not in project.files and "pm_pool_arm.c" not in project.files
    assert project.variant_weight_bytes["arm"] > 0
    # a graph without an optimisable op gets no optimised files at all
    plain = generate(_requant_graph([0.7]), dsp=True)
    assert not [n for n in plain.files if "arm" in n] and "PM_ARM_DSP" not in plain.files["model.c"]


def _grouped():
    rng = np.random.default_rng(3)
    x = tensor("x", [1, 5, 5, 4], I8, 0.05, 1)
    w = tensor("w", [4, 3, 3, 2], I8, 0.01, 0, data=rng.integers(-127, 128, (4, 3, 3, 2)))
    b = tensor("b", [4], DType.INT32, 0.0005, 0, data=rng.integers(-500, 500, 4))
    y = tensor("y", [1, 5, 5, 4], I8, 0.1, -2)
    attrs = {"padding": "SAME", "stride_h": 1, "stride_w": 1, "dilation_h_factor": 1, "dilation_w_factor": 1,
             "fused_activation_function": "RELU"}
    return [x, w, b], [y], attrs


# -- in the emulator ------------------------------------------------------------------------------------
def check_arm(cases, arm_calls: dict[str, int], runs: int = 2, seed: int = 0, kernels: str = "optimized"):
    """Merge ``cases`` ((graph, inputs) pairs) into one graph, build it for the Cortex-M4 and
    demand the reference's bits on the given inputs and ``runs`` random sets. ``arm_calls``
    says how many calls of each DSP kernel model.c must hold (so a silent fallback fails)."""
    _emulator_modules()
    from picoml.targets.cortex_m import compile_cortex_m

    g = merge([c[0] for c in cases])
    model = compile_cortex_m(g, flash_kb=2048, sram_kb=512, kernels=kernels)
    source = model.project.files["model.c"]
    if kernels == "optimized":  # DSP builds never run the portable in-place depthwise kernel
        assert "pm_depthwise_inplace_s8(" not in source
    for fn, n in arm_calls.items():
        assert source.count(f"{fn}(") == n, f"{fn}: {source.count(fn + '(')} calls, expected {n}"
    rng = np.random.default_rng(seed)
    given = [x for _, xs in cases for x in xs]
    model.run(given)  # raises OutputMismatchError naming the first difference
    for _ in range(runs):
        model.run([random_input(t, rng) for t in g.input_tensors])
    return model


def has_dsp_form(graph) -> bool:
    """Whether the one-op graph's requantization has the DSP form (else the op stays portable:
    a multiplier of 0.5 or more, which these generators make for some tiny fan-ins)."""
    _, _, p = Interpreter(graph).steps[0]
    return arm_requant_constants(p["multiplier"], p["shift"], p["output_zero_point"]) is not None


@needs_emulator
@pytest.mark.parametrize("mode", ["int8_pc", "int8_pt", "int8_nobias"])
def test_conv2d_grid_in_emulator(mode):
    """Kernels 1x1, 3x3, 5x3; stride 1, 2; dilation 1, 2; SAME and VALID; 1, 3, 8, 17 channels;
    every activation: the im2col quads (gathered for channels not a multiple of 4), the
    overlapping last quad and the lone pixels."""
    cases = [conv_graph(seed_of("arm-conv", mode, *case), mode, *case) for case in CONV_GRID]
    dsp = sum(has_dsp_form(g) for g, _ in cases)
    assert dsp >= len(cases) - 3
    check_arm(cases, {"pm_conv_s8_arm": dsp})


@needs_emulator
def test_conv2d_specialised_paths():
    """Pointwise stride 1 on whole groups (widened in place), patches over the stack buffer
    (scratch), one to five pixels, batches, odd unit counts, exact .5 ties."""
    cases = [conv_graph(11, "int8_pc", (1, 1), 1, 1, "VALID", channels=(c_in, c_out)) for c_in, c_out in
             ((8, 16), (16, 5), (64, 3), (12, 7))]
    cases += [conv_graph(12, "int8_pc", (3, 3), 1, 1, "SAME", channels=(16, 9)),   # K = 144: scratch
              conv_graph(13, "int8_pt", (3, 3), 2, 1, "SAME", channels=(3, 8)),    # gathered patches
              conv_graph(14, "int8_pc", (5, 3), 1, 2, "SAME", ties=True),
              conv_graph(15, "int8_pc", (3, 3), 1, 1, "SAME", ties=True)]
    # kernel rows of whole groups (kernel_w * in_c a multiple of 4), widened row by row
    cases += [conv_graph(17, "int8_pc", (3, 4), 1, 1, "SAME", channels=(1, 8)),
              conv_graph(18, "int8_pt", (2, 2), 2, 1, "SAME", channels=(2, 5)),
              conv_graph(19, "int8_pc", (3, 2), 1, 2, "SAME", channels=(6, 4)),
              conv_graph(20, "int8_pc", (5, 8), 2, 1, "VALID", channels=(1, 8))]
    for hw in ((1, 1), (1, 2), (1, 3), (2, 2), (1, 5)):  # pixel counts 1, 2, 3, 4, 5
        g, _ = conv_graph(16, "int8_pc", (1, 1), 1, 1, "VALID", channels=(8, 6))
        x, y = g.input_tensors[0], g.output_tensors[0]
        cases.append(_reshaped(g, x.name, (2,) + hw + (8,), y.name, (2,) + hw + (6,)))
    check_arm(cases, {"pm_conv_s8_arm": len(cases)})


def _reshaped(g, x_name, x_shape, y_name, y_shape):
    import dataclasses

    from picoml.ir import Graph

    tensors = dict(g.tensors)
    tensors[x_name] = dataclasses.replace(tensors[x_name], shape=tuple(x_shape))
    tensors[y_name] = dataclasses.replace(tensors[y_name], shape=tuple(y_shape))
    graph = Graph(tensors, g.ops, list(g.inputs), list(g.outputs)).validate()
    return graph, [random_input(graph.input_tensors[0], np.random.default_rng(len(x_shape) + sum(x_shape)))]


@needs_emulator
def test_requantization_edges_in_emulator():
    """Channels with tiny multipliers (right shifts past 24: the zero point is added after the
    shift), zero-scale channels, zero points at the int8 ends, every activation; plus the ops the
    DSP kernels leave to the portable ones (a multiplier >= 0.5, a grouped conv)."""
    cases = [(_requant_graph([0.02, 3e-9, 0.0, 1e-8], zp, act), None) for zp, act in
             ((-128, "NONE"), (127, "RELU"), (5, "RELU6"), (-3, "RELU_N1_TO_1"))]
    cases += [(_requant_graph([0.02, 0.001], -128, "RELU6"), None), (_requant_graph([0.6, 0.02]), None),
              (single_op_graph("CONV_2D", *_grouped()), None)]
    rng = np.random.default_rng(5)
    cases = [(g, [random_input(t, rng) for t in g.input_tensors]) for g, _ in cases]
    check_arm(cases, {"pm_conv_s8_arm": 5})


@needs_emulator
@pytest.mark.parametrize("mode", ["int8_pc", "int8_pt"])
def test_depthwise_grid_in_emulator(mode):
    """The conv grid again, depth multipliers 1, 2 and 8 and 1, 3, 8, 17 channels: 3x3 stride 1
    and 2 (two outputs per step), other kernels and dilations (tap by tap), planes of four
    channels or one, one input channel with a kernel other than 3x3 (as a CONV_2D)."""
    cases = [depthwise_graph(seed_of("arm-dw", mode, *case), mode, *case) for case in CONV_GRID]
    cases += [depthwise_graph(seed_of("arm-dw-m", mode, m), mode, (3, 3), 2, 1, "SAME", multiplier=m)
              for m in (1, 2, 8)]
    dsp = [g for g, _ in cases if has_dsp_form(g)]
    assert len(dsp) >= len(cases) - 3
    as_conv = sum(1 for g in dsp if g.tensors[g.inputs[0]].shape[3] == 1 and
                  g.tensors[g.ops[0].inputs[1]].shape[1:3] != (3, 3))
    check_arm(cases, {"pm_depthwise_conv_s8_arm": len(dsp) - as_conv, "pm_conv_s8_arm": as_conv})


def _depthwise(seed, h, w, c, m, k, stride, padding, act="RELU6", dilation=1, ties=False, tiny=False,
               dilation_w=None):
    """A random depthwise op; ``tiny``: every other channel gets a multiplier below 2^-25 (a
    right shift past 24: the zero point is added after the shift, not folded)."""
    rng = np.random.default_rng(seed)
    kh, kw = k
    cout = c * m
    w_scales = rng.uniform(0.002, 0.02, cout) if not ties else 2.0 ** -rng.integers(6, 9, cout)
    if tiny:
        w_scales[::2] = 1e-8
    x = tensor("x", [1, h, w, c], I8, 0.02 if not ties else 2 ** -7, int(rng.integers(-20, 21)))
    wt = tensor("w", [1, kh, kw, cout], I8, list(w_scales), 0, axis=3, data=rng.integers(-127, 128, (1, kh, kw, cout)))
    b = tensor("b", [cout], DType.INT32, list(0.02 * w_scales), 0, data=rng.integers(-3000, 3000, cout))
    oh = -(-h // stride) if padding == "SAME" else (h - (kh - 1) * dilation - 1) // stride + 1
    ow = -(-w // stride) if padding == "SAME" else (w - (kw - 1) * dilation - 1) // stride + 1
    y = tensor("y", [1, oh, ow, cout], I8, 0.05 if not ties else 2 ** -7, int(rng.integers(-20, 21)))
    attrs = {"padding": padding, "stride_h": stride, "stride_w": stride, "dilation_h_factor": dilation,
             "dilation_w_factor": dilation if dilation_w is None else dilation_w, "depth_multiplier": m,
             "fused_activation_function": act}
    g = single_op_graph("DEPTHWISE_CONV_2D", [x, wt, b], [y], attrs, version=6)
    return g, [random_input(g.input_tensors[0], rng)]


@needs_emulator
def test_depthwise_bands_and_shapes():
    """Tall inputs that take several bands (rows moved between bands, stride 1 and 2, four
    channels or one per plane), odd widths, width 1, person_detect's first layer, ties."""
    cases = [_depthwise(1, 40, 9, 8, 1, (3, 3), 1, "SAME"), _depthwise(2, 41, 7, 4, 2, (3, 3), 2, "SAME"),
             _depthwise(3, 33, 5, 3, 1, (3, 3), 1, "VALID", "NONE"), _depthwise(4, 30, 6, 8, 1, (5, 3), 2, "SAME"),
             _depthwise(5, 25, 11, 12, 1, (3, 3), 1, "SAME", dilation=2), _depthwise(6, 7, 1, 8, 1, (3, 3), 1, "SAME"),
             _depthwise(7, 24, 24, 1, 8, (3, 3), 2, "SAME"), _depthwise(8, 9, 9, 16, 1, (3, 3), 1, "SAME", ties=True),
             _depthwise(9, 6, 6, 5, 3, (2, 2), 1, "VALID", "RELU"),
             # one input channel, micro_speech's 10x8 window (run as a CONV_2D)
             _depthwise(15, 19, 16, 1, 8, (10, 8), 2, "SAME")]
    # small or narrow images with whole groups of four channels: the NHWC kernel, any window
    cases += [_depthwise(10, 6, 6, 8, 1, (2, 2), 1, "VALID"), _depthwise(11, 7, 5, 12, 1, (5, 5), 1, "SAME"),
              _depthwise(12, 9, 4, 16, 1, (3, 3), 2, "SAME", "NONE", dilation=2),
              _depthwise(13, 20, 5, 8, 1, (3, 3), 1, "SAME", "RELU_N1_TO_1"),
              _depthwise(14, 3, 3, 32, 1, (3, 3), 1, "SAME", "NONE", ties=True)]
    # 3x3, multiplier 1, whole groups of four channels, outputs 4 to 15 wide (stride 1) or wider
    # (stride 2): the channel-pair kernel; odd output widths (a spare column), odd input widths,
    # VALID padding with unread columns, clamped activations, several ring wraps (case 20, dilated:
    # not pairs)
    cases += [_depthwise(16, 13, 7, 8, 1, (3, 3), 1, "SAME"), _depthwise(17, 9, 11, 12, 1, (3, 3), 2, "SAME"),
              _depthwise(18, 10, 14, 4, 1, (3, 3), 2, "VALID", "RELU_N1_TO_1"),
              _depthwise(19, 8, 9, 16, 1, (3, 3), 1, "VALID", "RELU"),
              _depthwise(20, 12, 6, 8, 1, (3, 3), 1, "SAME", "NONE", dilation=2),
              _depthwise(21, 6, 6, 128, 1, (3, 3), 1, "SAME", ties=True),
              _depthwise(22, 24, 24, 32, 1, (3, 3), 2, "SAME", "NONE"),
              # even widths: several output rows per band; 12 rows of 64 channels take two
              # bands (the second shorter, the rows both read moved down)
              _depthwise(30, 14, 12, 64, 1, (3, 3), 1, "SAME")]
    # planes: eight sums per loop pass after an odd four (widths 11: three fours, 16: four; stride
    # 2), one input channel widened four pixels per word (and a tail of three)
    cases += [_depthwise(32, 10, 16, 8, 1, (3, 3), 1, "SAME"), _depthwise(33, 9, 11, 1, 4, (3, 3), 1, "SAME"),
              _depthwise(34, 9, 32, 3, 1, (3, 3), 2, "SAME", "NONE")]
    model = check_arm(cases, {"pm_depthwise_conv_s8_arm": len(cases) - 1, "pm_conv_s8_arm": 1})
    assert model.project.files["model.c"].count(".kernel = 2") == 10  # PM_ARM_DW_PAIRS (with cases 1, 8, 13)
    assert ".band = 7" in model.project.files["model.c"]  # case 30's two bands


@needs_emulator
def test_full_range_output_stages():
    """The assembly output stages (activation spanning all of int8): CONV_2D's two-unit quads
    with odd unit counts, the zero point folded or added after the shift; the channel-pair
    depthwise kernel's rows with odd and even output widths, stride 1 and 2, both offset forms."""
    cases = [(_requant_graph(m, zp, "NONE"), None) for m, zp in
             (([0.02, 3e-9, 1e-8], 17), ([0.02, 0.01, 0.005], 3), ([0.3, 0.001, 0.02, 0.04, 0.0001], -128))]
    rng = np.random.default_rng(9)
    cases = [(g, [random_input(t, rng) for t in g.input_tensors]) for g, _ in cases]
    cases += [_depthwise(23, 9, 9, 8, 1, (3, 3), 1, "SAME", "NONE"), _depthwise(24, 7, 5, 12, 1, (3, 3), 1, "SAME", "NONE"),
              _depthwise(25, 13, 11, 8, 1, (3, 3), 2, "SAME", "NONE"), _depthwise(26, 10, 9, 4, 1, (3, 3), 2, "SAME", "NONE"),
              _depthwise(27, 9, 7, 8, 1, (3, 3), 1, "SAME", "NONE", tiny=True),
              _depthwise(28, 12, 12, 8, 1, (3, 3), 2, "VALID", "NONE", tiny=True),
              # several bands of several rows (the last shorter): the fused rows, and the
              # separate output stage of unfolded offsets
              _depthwise(29, 12, 12, 64, 1, (3, 3), 1, "SAME", "NONE"),
              _depthwise(31, 20, 20, 48, 1, (3, 3), 2, "SAME", "NONE", tiny=True)]
    model = check_arm(cases, {"pm_conv_s8_arm": 3, "pm_depthwise_conv_s8_arm": 8})
    assert model.project.files["model.c"].count(".kernel = 2") == 8  # PM_ARM_DW_PAIRS
    assert ".band = 7" in model.project.files["model.c"] and ".band = 3" in model.project.files["model.c"]
    assert model.project.files["model.c"].count(".output_offset = 0") < 9  # some offsets not folded


@needs_emulator
def test_fully_connected_in_emulator():
    """Rows 1 to 6, depths not a multiple of 4 (the partial last group), units not a multiple
    of 4, per-tensor and per-channel weights, ties."""
    cases = []
    for mode in ("int8_pt", "int8_pc", "int8_nobias"):
        for shape, keep in (((1, 17), False), ((3, 8), False), ((2, 3, 5), False), ((1, 1), False),
                            ((2, 3, 5), True), ((1, 64), False)):
            for units in (1, 3, 17):
                cases.append(fc_graph(seed_of("arm-fc", mode, shape, units), mode, shape, keep, units))
    cases.append(fc_graph(1, "int8_pc", (2, 33), False, 8, ties=True))
    dsp = sum(has_dsp_form(g) for g, _ in cases)
    assert dsp >= len(cases) - 5
    check_arm(cases, {"pm_fully_connected_s8_arm": dsp})


@needs_emulator
def test_average_pool_and_add_in_emulator():
    """AVERAGE_POOL_2D: windows, strides, SAME padding (fewer taps at the border), channel
    counts with and without whole groups of four, activations, global pooling; ADD and SUB of
    same-shape int8 tensors (zero points at the extremes, activations), and the broadcasting ADD
    the DSP kernel leaves to the portable one."""
    rng = np.random.default_rng(9)
    cases = []
    for hw, c, f, s, padding, act in (((5, 5), 4, (2, 2), (2, 2), "VALID", "NONE"),
                                      ((7, 6), 17, (3, 3), (1, 1), "SAME", "RELU"),
                                      ((6, 9), 3, (3, 2), (2, 1), "SAME", "RELU6"),
                                      ((3, 3), 256, (3, 3), (1, 1), "VALID", "NONE"),
                                      ((16, 16), 8, (16, 16), (1, 1), "VALID", "RELU_N1_TO_1"),
                                      ((4, 4), 1, (4, 4), (2, 2), "SAME", "NONE")):
        g, x = pool_graph("AVERAGE_POOL_2D", I8, hw, c, f, s, padding, act, scale=0.05, zp=int(rng.integers(-9, 9)))
        cases.append((g, [random_input(x, rng)]))
    n_pool = len(cases)
    for op in ("ADD", "SUB"):
        for zps, act in (((0, 0, 0), "NONE"), ((-128, 127, -128), "RELU"), ((5, -7, 3), "RELU6"),
                         ((127, -128, 127), "RELU_N1_TO_1")):
            g = binary_graph(op, I8, (1, 5, 7, 3), (1, 5, 7, 3), scales=(0.05, 0.07, 0.1), zps=zps, act=act)
            cases.append((g, [random_input(t, rng) for t in g.input_tensors]))
    g = binary_graph("ADD", I8, (1, 5, 7, 3), (1, 1, 1, 3))
    cases.append((g, [random_input(t, rng) for t in g.input_tensors]))
    check_arm(cases, {"pm_average_pool_s8_arm": n_pool, "pm_add_s8_arm": 8})


@needs_emulator
def test_portable_build_still_matches_and_optimized_is_faster(real):
    """The reference kernels (-DPM_PORTABLE) run person_detect bit-exact too, and the DSP
    kernels take fewer instructions and cycles."""
    _emulator_modules()
    import picoml
    from picoml.targets.cortex_m import compile_cortex_m

    g = picoml.load_tflite(real / "tflm/person_detection/person_detect.tflite")
    x = [random_input(t, np.random.default_rng(1)) for t in g.input_tensors]
    portable = compile_cortex_m(g, kernels="portable")
    fast = compile_cortex_m(g)
    assert "-DPM_PORTABLE" in (portable.elf_path.parent / "build.sh").read_text()
    slow_fig, fast_fig = portable.bench(x), fast.bench(x)
    assert slow_fig["outputs_match"] and fast_fig["outputs_match"]
    assert fast_fig["cycles"] < 0.5 * slow_fig["cycles"] and fast_fig["instructions"] < slow_fig["instructions"]
    # the generated code plus the kernels, without weights, stays small
    assert fast_fig["flash_code_bytes"] < 16 * 1024


@needs_emulator
def test_cores_without_dsp_run_the_portable_kernels():
    """Cortex-M3 has no SMLAD: the same project builds and runs there, with the portable calls."""
    _emulator_modules()
    from picoml.targets.cortex_m import compile_cortex_m

    g, x = conv_graph(21, "int8_pc", (3, 3), 1, 1, "SAME")
    model = compile_cortex_m(g, cpu="cortex-m3")
    model.run(x)
    from picoml.targets.emulator import Firmware

    names = {s.name for s in Firmware(model.elf_path).all_symbols}
    # a one-op graph's scratch would raise its arena, so the portable build runs the lean conv
    assert "pm_conv_lean_s8" in names and "pm_conv_s8_arm" not in names


@needs_emulator
def test_dsp_kernels_use_no_floating_point(tmp_path):
    """The DSP kernels and an int8 model.c that calls them compile for the Cortex-M4 with
    -mgeneral-regs-only, strict C99, warnings as errors."""
    cases = [conv_graph(31, "int8_pc", (3, 3), 1, 1, "SAME"), depthwise_graph(32, "int8_pc", (3, 3), 1, 1, "SAME"),
             fc_graph(33, "int8_pt", (1, 17), False, 3)]
    g, x = pool_graph("AVERAGE_POOL_2D", I8, (5, 5), 4, (2, 2), (2, 2), "VALID", "NONE")
    cases.append((g, None))
    cases.append((binary_graph("ADD", I8, (1, 5, 7, 3), (1, 5, 7, 3)), None))
    out = generate(merge([c[0] for c in cases]), dsp=True).write(tmp_path / "p")
    sources = sorted(p.name for p in out.glob("*_arm.c")) + ["model.c"]
    assert len(sources) == 5
    cmd = [ARM_GCC, "-mcpu=cortex-m4", "-mthumb", "-mgeneral-regs-only", "-std=c99", "-O2", "-Wall", "-Wextra",
           "-Werror", "-pedantic", "-c", *sources]
    r = subprocess.run(cmd, cwd=out, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    # the objects hold the DSP kernels (not empty translation units)
    nm = subprocess.run(["arm-none-eabi-nm", "pm_conv_arm.o"], cwd=out, capture_output=True, text=True).stdout
    assert re.search(r" T pm_conv_s8_arm\b", nm)


@pytest.mark.skipif(shutil.which("clang") is None, reason="clang is not installed")
def test_dsp_kernels_build_with_clang(tmp_path):
    """clang (its own arm_acle.h and assembler) compiles the DSP kernels strictly too."""
    probe = subprocess.run(["clang", "--target=thumbv7em-none-eabi", "-mcpu=cortex-m4", "-x", "c", "-c",
                            "-o", "/dev/null", "-"], input="int x;\n", capture_output=True, text=True)
    if probe.returncode != 0 or ARM_GCC is None:
        pytest.skip("clang cannot target thumbv7em, or newlib's headers are missing")
    sysroot = subprocess.run([ARM_GCC, "-print-sysroot"], capture_output=True, text=True).stdout.strip()
    cases = [conv_graph(41, "int8_pc", (3, 3), 1, 1, "SAME"), depthwise_graph(42, "int8_pc", (3, 3), 2, 1, "SAME"),
             fc_graph(43, "int8_pt", (1, 17), False, 3)]
    out = generate(merge([c[0] for c in cases]), dsp=True).write(tmp_path / "p")
    sources = sorted(p.name for p in out.glob("*_arm.c")) + ["model.c"]
    include = [f"-isystem{sysroot}/include"] if sysroot else ["-isystem/usr/lib/arm-none-eabi/include"]
    cmd = ["clang", "--target=thumbv7em-none-eabi", "-mcpu=cortex-m4", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16",
           *include, "-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-pedantic", "-c", *sources]
    r = subprocess.run(cmd, cwd=out, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


@needs_emulator
def test_unoptimised_build_runs_the_c_loops():
    """At -O0 the assembly inner loops give way to their C versions: the same bits."""
    cases = [conv_graph(51, "int8_pc", (3, 3), 1, 1, "SAME", channels=(8, 5)),
             conv_graph(52, "int8_pt", (1, 1), 1, 1, "VALID", channels=(16, 6)),
             _depthwise(53, 11, 9, 8, 1, (3, 3), 1, "SAME"), _depthwise(54, 12, 10, 4, 1, (3, 3), 2, "SAME"),
             _depthwise(55, 6, 6, 8, 1, (3, 3), 1, "SAME"), _depthwise(56, 5, 5, 8, 1, (2, 2), 1, "VALID"),
             fc_graph(57, "int8_pc", (2, 33), False, 7),
             _depthwise(58, 14, 12, 64, 1, (3, 3), 1, "SAME", "NONE")]  # two bands of pair rows
    _emulator_modules()
    from picoml.targets.cortex_m import compile_cortex_m

    g = merge([c[0] for c in cases])
    model = compile_cortex_m(g, opt="-O0")
    rng = np.random.default_rng(2)
    model.run([x for _, xs in cases for x in xs])
    model.run([random_input(t, rng) for t in g.input_tensors])


@needs_emulator
def test_bench_cli_kernels_option(real, capsys):
    _emulator_modules()
    import json

    from picoml.cli import main as cli

    model = str(real / "tflm/micro_speech/micro_speech_quantized.tflite")
    figures = {}
    for kernels in ("portable", "optimized"):
        assert cli(["bench", model, "--kernels", kernels, "--json"]) == 0
        figures[kernels] = json.loads(capsys.readouterr().out)
    assert figures["optimized"]["instructions"] != figures["portable"]["instructions"]


@needs_emulator
def test_depthwise_row_dilation_only():
    """Rows dilated, columns not: the pairs kernel's row bands and ring read every other input
    row (stride 1 and 2, several bands, odd and even widths)."""
    cases = [_depthwise(40, 30, 8, 8, 1, (3, 3), 1, "SAME", dilation=2, dilation_w=1),
             _depthwise(41, 33, 12, 16, 1, (3, 3), 2, "SAME", "NONE", dilation=3, dilation_w=1),
             _depthwise(42, 21, 7, 8, 1, (3, 3), 1, "SAME", "RELU", dilation=2, dilation_w=1)]
    check_arm(cases, {})
