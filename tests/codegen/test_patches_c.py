"""Patch-based execution in generated C: the host build of a patched project gives the bits of
unpatched (and patched) reference runs, and its arena is exactly the patched memory plan's."""
from __future__ import annotations

import os
from typing import Optional

import numpy as np
import pytest

from picoml.codegen import generate
from picoml.errors import ResourceError
from picoml.interpreter import Interpreter
from picoml.ir import Graph
from picoml.plan.patches import PatchPlan, choose_patches, make_patch_plan, patched_plan, run_patched, stage_ends
from picoml.plan.scratch_fit import fit_scratch
from picoml.targets.host import HostModel
from picoml.testing.models import mobilenet_v1_like, mobilenet_v2_like
from picoml.testing.opmodel import assert_same
from picoml.testing.real import real_dir, real_path
from tests.codegen.test_elementwise_c import gcc_x86
from tests.test_patches import CHAINS, _chain


# the full sweeps take minutes (one C build per case): run them with PICOML_SLOW=1
slow = pytest.mark.skipif(not os.environ.get("PICOML_SLOW"), reason="slow sweep: set PICOML_SLOW=1 to run it")


def _scratch(interp: Interpreter) -> dict[int, int]:
    return {op.index: int(p["scratch_bytes"]) for op, _, p in interp.steps if p.get("scratch_bytes")}


def _inputs(g: Graph, seeds: tuple[int, ...] = (0, 1)) -> list[list[np.ndarray]]:
    out = []
    for s in seeds:
        rng = np.random.default_rng(s)
        t = g.input_tensors[0]
        x = (rng.standard_normal(t.shape).astype(np.float32) if t.dtype.value == "float32"
             else rng.integers(-128, 128, t.shape).astype(np.int8))
        out.append([x])
    return out


def check_patched(g: Graph, pp: PatchPlan, interp: Optional[Interpreter] = None, seeds: tuple[int, ...] = (0, 1),
                  extra_flags: tuple[str, ...] = ()) -> HostModel:
    """Build ``g`` with ``pp`` and compare with the plain and the patched reference runs; the
    generated arena is the patched plan's."""
    interp = interp or Interpreter(g)
    project = generate(g, patches=pp)
    fitted = fit_scratch([p for _, _, p in interp.steps], lambda s: patched_plan(g, pp, scratch=s))
    assert project.arena_bytes == patched_plan(g, pp, scratch=fitted.scratch).arena_bytes
    assert project.macs == pp.macs_patched
    host = HostModel(g, project, extra_flags=extra_flags)
    for inputs in _inputs(g, seeds):
        got = host.run(inputs)
        what = f"stage 0..{pp.stage_end}, {pp.n}x{pp.n} tiles"
        assert_same(got, interp.run(inputs))
        for a, b in zip(got, run_patched(g, pp, inputs, interp)):
            np.testing.assert_array_equal(a, b, err_msg=what)
    return host


def _cases(g: Graph, ns: tuple[int, ...]) -> list[tuple[int, int]]:
    out = []
    for k in stage_ends(g):
        shape = g.tensors[g.ops[k].outputs[0]].shape
        out += [(k, n) for n in ns if n <= min(shape[1], shape[2])]
    return out


@pytest.mark.parametrize("name", sorted(CHAINS))
def test_chains(name: str) -> None:
    """Every chain (strides, even kernels, dilation, depthwise multipliers, pools, PAD,
    residual ADDs): the longest stage that fits 3x3 tiles, and a middle stage in 2x2 tiles."""
    g = _chain(hash(name) % 1000, (17, 23), CHAINS[name])
    interp = Interpreter(g)
    halves = _cases(g, (2,))
    for k, n in (_cases(g, (3,))[-1], halves[len(halves) // 2]):
        check_patched(g, make_patch_plan(g, k, n), interp)


@pytest.mark.slow
@slow
@pytest.mark.parametrize("name", sorted(CHAINS))
@pytest.mark.parametrize("hw", [(17, 23), (12, 12)])
def test_chains_every_stage(name: str, hw: tuple[int, int]) -> None:
    g = _chain(hash(name) % 1000, hw, CHAINS[name])
    interp = Interpreter(g)
    for k, n in _cases(g, (1, 2, 3, 4, 7)):
        check_patched(g, make_patch_plan(g, k, n), interp, seeds=(0,))


def test_residual_in_place_add() -> None:
    """A stage whose ADD runs in place over its operand's tile buffer."""
    g = _chain(hash("residual") % 1000, (13, 11), CHAINS["residual"])
    pp = make_patch_plan(g, 5, 3)
    plan = patched_plan(g, pp, scratch=_scratch(Interpreter(g)))
    assert any(g.ops[i].type == "ADD" for i in plan.in_place if i <= 5)
    check_patched(g, pp)


def test_no_floating_point_in_int8_patched_project() -> None:
    if not gcc_x86():
        pytest.skip("-mgeneral-regs-only needs gcc on x86-64")
    g = _chain(7, (15, 15), CHAINS["pad"] + CHAINS["residual"])
    check_patched(g, make_patch_plan(g, *_cases(g, (4,))[-1]), seeds=(2,), extra_flags=("-mgeneral-regs-only",))


def test_max_ram_checks_the_patched_arena() -> None:
    g = mobilenet_v1_like(64)
    interp = Interpreter(g)
    pp = choose_patches(g, scratch=_scratch(interp), interpreter=interp).patch_plan
    patched = patched_plan(g, pp, scratch=_scratch(interp)).arena_bytes
    plain = generate(g).arena_bytes
    assert patched < plain
    assert generate(g, max_ram=patched, patches=pp).arena_bytes == patched
    with pytest.raises(ResourceError):
        generate(g, max_ram=patched - 1, patches=pp)


def test_mobilenet_v2_like_144() -> None:
    g = mobilenet_v2_like(144, width=0.35)
    interp = Interpreter(g)
    choice = choose_patches(g, max_mac_overhead=0.2, scratch=_scratch(interp), interpreter=interp)
    assert choice.patch_plan is not None and choice.unpatched_arena_bytes >= 2 * choice.memory_plan.arena_bytes
    host = check_patched(g, choice.patch_plan, interp, seeds=(0,))
    assert host.project.arena_bytes == choice.memory_plan.arena_bytes


@pytest.mark.slow
@slow
def test_mobilenet_v2_like_144_full_width() -> None:
    g = mobilenet_v2_like(144)
    interp = Interpreter(g)
    choice = choose_patches(g, max_mac_overhead=0.2, scratch=_scratch(interp), interpreter=interp)
    assert choice.unpatched_arena_bytes >= 4 * choice.memory_plan.arena_bytes
    host = check_patched(g, choice.patch_plan, interp, seeds=(0,))
    assert host.project.arena_bytes == choice.memory_plan.arena_bytes


def _person_detect() -> Graph:
    if real_dir() is None:
        pytest.skip("../shared/real not present: person_detect")
    from picoml.frontends.tflite import load_tflite
    return load_tflite(real_path("tflm/person_detection/person_detect.tflite"))


@pytest.mark.parametrize("stage", ["auto", (3, 2)])
def test_person_detect(stage) -> None:
    g = _person_detect()
    interp = Interpreter(g)
    if stage == "auto":
        choice = choose_patches(g, max_mac_overhead=0.2, scratch=_scratch(interp), interpreter=interp)
        pp = choice.patch_plan
        assert choice.memory_plan.arena_bytes < choice.unpatched_arena_bytes
    else:
        pp = make_patch_plan(g, *stage)
    host = check_patched(g, pp, interp, seeds=(3,))
    if stage == "auto":
        assert host.project.arena_bytes == choice.memory_plan.arena_bytes


@pytest.mark.slow
@slow
@pytest.mark.parametrize("stage", [(1, 6), (5, 3), (7, 8), (12, 2)])
def test_person_detect_more_stages(stage) -> None:
    g = _person_detect()
    check_patched(g, make_patch_plan(g, *stage), seeds=(4,))


def test_float_model() -> None:
    """float32 (vww 96): the tiles sum the same taps in the same order as the plain kernels."""
    if real_dir() is None:
        pytest.skip("../shared/real not present: vww float")
    from picoml.frontends.tflite import load_tflite
    g = load_tflite(real_path("mlperf_tiny/vww/vww_96_float.tflite"))
    check_patched(g, make_patch_plan(g, 7, 3), seeds=(0,))


def test_cli_host_and_compile(capsys: pytest.CaptureFixture, tmp_path) -> None:
    from picoml.cli import main
    g = _person_detect()
    path = str(real_path("tflm/person_detection/person_detect.tflite"))
    x = tmp_path / "x.npy"
    np.save(x, np.random.default_rng(5).integers(-128, 128, (1, 96, 96, 1)).astype(np.int8))
    outs = []
    for extra in (["--engine", "ref"], ["--engine", "host", "--patches", "auto"]):
        assert main(["run", path, "--input", str(x), "--output", str(tmp_path / "o.npz"), *extra]) == 0
        capsys.readouterr()
        outs.append(np.load(tmp_path / "o.npz")["output_0"])
    np.testing.assert_array_equal(outs[0], outs[1])
    assert main(["compile", path, "-o", str(tmp_path / "proj"), "--patches", "3", "--patch-stage", "5"]) == 0
    assert "patches: ops 0..5 in 3x3 grid tiles" in capsys.readouterr().out
    arena = patched_plan(g, make_patch_plan(g, 5, 3), scratch=_scratch(Interpreter(g))).arena_bytes
    assert f"#define MODEL_ARENA_BYTES {arena}\n" in (tmp_path / "proj" / "model.h").read_text()
    assert "pm_move(" in (tmp_path / "proj" / "model.c").read_text()
    assert main(["compile", path, "-o", str(tmp_path / "p2"), "--patches", "3"]) == 2  # needs --patch-stage
    assert main(["compile", path, "-o", str(tmp_path / "p3"), "--patches", "auto", "--max-ram",
                 str(arena // 2)]) == 2


def test_zoo_mobilenet_v1_96_from_pytorch() -> None:
    """The zoo's MobileNetV1 (96x96, width 0.25), converted from PyTorch with int8 calibration:
    patched execution gives the unpatched bits in the reference and in C for several tile counts,
    and the automatic choice lowers the arena within the MAC budget."""
    torch = pytest.importorskip("torch")
    import picoml
    from picoml import zoo

    torch.manual_seed(0)
    model = zoo.mobilenet_v1(num_classes=2, width=0.25).eval()
    calibration = [torch.randn(1, 3, 96, 96) for _ in range(4)]
    g = picoml.from_torch(model, calibration[0], calibration_data=calibration)
    interp = Interpreter(g)
    choice = choose_patches(g, max_mac_overhead=0.2, scratch=_scratch(interp), interpreter=interp)
    assert choice.patch_plan is not None and choice.memory_plan.arena_bytes < choice.unpatched_arena_bytes
    assert choice.patch_plan.mac_overhead <= 0.2
    for n in (2, 3):
        check_patched(g, make_patch_plan(g, choice.patch_plan.stage_end, n), interp, seeds=(0,))
    check_patched(g, choice.patch_plan, interp, seeds=(1,))
