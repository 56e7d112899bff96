"""In-place int8 depthwise convolution in generated C (pm_depthwise_inplace_s8): bit-exact with
the reference interpreter on generated graphs and real models, with and without patches."""
from __future__ import annotations

import functools

import numpy as np
import pytest

import picoml.plan
import picoml.plan.planner as planner
from picoml.codegen import generate
from picoml.interpreter import Interpreter
from picoml.ir import DType, Graph
from picoml.plan.patches import make_patch_plan
from picoml.targets.host import HostModel
from picoml.testing.models import GraphBuilder, mobilenet_v1_like, mobilenet_v2_like
from picoml.testing.opmodel import assert_same, check_integer_build_has_no_float, single_op_graph, tensor
from picoml.testing.real import real_dir, real_path
from tests.codegen.test_elementwise_c import gcc_x86

CALL = "pm_depthwise_inplace_s8("


@pytest.fixture
def every_eligible(monkeypatch: pytest.MonkeyPatch) -> None:
    """Plans run every eligible depthwise op in place, not only those that lower the arena, so
    the kernel runs on every shape of a model."""
    forced = functools.partial(planner.plan_graph, depthwise_policy="all")
    monkeypatch.setattr(picoml.plan, "plan_graph", forced)
    monkeypatch.setattr(planner, "plan_graph", forced)


def _inputs(g: Graph, seeds: tuple[int, ...] = (0, 1)) -> list[list[np.ndarray]]:
    return [[np.random.default_rng(s).integers(-128, 128, t.shape, endpoint=False).astype(np.int8)
             for t in g.input_tensors] for s in seeds]


def check(g: Graph, in_place: int, patches=None, dsp: bool = False, seeds: tuple[int, ...] = (0, 1)) -> str:
    """Build ``g``, require ``in_place`` in-place calls, compare with the interpreter."""
    project = generate(g, patches=patches, dsp=dsp)
    source = project.files["model.c"]
    assert source.count(CALL) == in_place
    interp = Interpreter(g)
    host = HostModel(g, project)
    for inputs in _inputs(g, seeds):
        assert_same(host.run(inputs), interp.run(inputs))
    return source


def _sweep(batch: int, h: int, w: int, c: int, seed: int) -> Graph:
    """Chained depthwise ops over kernel sizes, dilation, 1x1 VALID and activations."""
    b = GraphBuilder((batch, h, w, 3), seed)
    x = b.conv(b.input, c, 1)
    x = b.dw(x, 3, act="RELU6")
    x = b.dw(x, 5, act="NONE")
    x = b.dw(x, 3, dilation=2, act="RELU")
    x = b.dw(x, 1, padding="VALID", act="RELU_N1_TO_1")
    x = b.dw(x, 2, act="NONE")  # even kernel: SAME pads after more than before
    return b.build([b.conv(x, 4, 1, act="NONE")])


@pytest.mark.parametrize("shape", [(2, 7, 5, 33), (1, 1, 9, 1), (1, 6, 1, 16)])
def test_generated_chains(every_eligible: None, shape: tuple[int, int, int, int]) -> None:
    check(_sweep(*shape, seed=sum(shape)), 5)


def test_one_op_extreme_quantization(every_eligible: None) -> None:
    """One op, the input a graph input: zero points at the int8 ends, per-channel scales from
    tiny to large (saturating outputs), no bias."""
    rng = np.random.default_rng(3)
    c = 6
    x = tensor("x", (1, 6, 9, c), DType.INT8, 0.05, -128)
    w = tensor("w", (1, 3, 3, c), DType.INT8, np.geomspace(1e-4, 0.5, c), 0, axis=3,
               data=rng.integers(-127, 128, (1, 3, 3, c)))
    y = tensor("y", (1, 6, 9, c), DType.INT8, 0.02, 127)
    g = single_op_graph("DEPTHWISE_CONV_2D", [x, w, None], [y],
                        {"stride_h": 1, "stride_w": 1, "padding": "SAME", "depth_multiplier": 1,
                         "fused_activation_function": "NONE"})
    check(g, 1, seeds=(0, 1, 2))


def test_chosen_by_default_where_it_lowers_the_arena() -> None:
    b = GraphBuilder((1, 16, 16, 32), 0)
    x = b.dw(b.input, 3)
    g = b.build([b.conv(x, 4, 1)])
    project = generate(g)
    assert CALL in project.files["model.c"]
    assert project.arena_bytes < picoml.plan.plan_graph(g, depthwise_in_place=False).arena_bytes
    check(g, 1)


def test_dsp_build_keeps_its_depthwise_kernels(every_eligible: None) -> None:
    """Builds with the Cortex-M DSP kernels never plan depthwise in place: the in-place kernel is
    portable C, several times slower than theirs (the host build here runs the portable twin)."""
    source = check(_sweep(1, 7, 5, 8, seed=4), 0, dsp=True)
    assert "pm_depthwise_conv_s8_arm(" in source


@pytest.mark.skipif(not gcc_x86(), reason="-mgeneral-regs-only needs gcc on x86-64")
def test_no_floating_point(every_eligible: None) -> None:
    g = _sweep(1, 5, 4, 8, seed=5)
    check_integer_build_has_no_float(g, _inputs(g, (0,))[0])


def _person_detect() -> Graph:
    if real_dir() is None:
        pytest.skip("../shared/real not present: person_detect")
    from picoml.frontends.tflite import load_tflite

    return load_tflite(real_path("tflm/person_detection/person_detect.tflite"))


MODELS = {"person_detect": (_person_detect, 7, 4), "mobilenet_v1_like_96": (lambda: mobilenet_v1_like(96), 7, 3),
          "mobilenet_v2_like_144": (lambda: mobilenet_v2_like(144, width=0.35), 12, 5)}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_models_with_and_without_patches(every_eligible: None, name: str) -> None:
    make, stage_end, n = MODELS[name]
    g = make()
    eligible = len(picoml.plan.inplace.candidates(g))
    check(g, eligible, seeds=(0,))
    pp = make_patch_plan(g, stage_end, n)
    after = sum(1 for i in picoml.plan.inplace.candidates(g) if i > stage_end)
    check(g, after, patches=pp, seeds=(0,))
