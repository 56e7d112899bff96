"""Patch-based execution (MCUNetV2): tile-by-tile runs of an initial stage are bit-identical to
plain runs, the stage checks reject what cannot be tiled, and the patched memory plan is
smaller where the literature says it should be."""
from __future__ import annotations

import numpy as np
import pytest

from picoml.errors import GraphError
from picoml.interpreter import Interpreter
from picoml.ir import Graph
from picoml.plan import check_no_overlap
from picoml.plan.patches import (check_stage, choose_patches, make_patch_plan, patched_plan, run_patched,
                                 stage_ends)
from picoml.testing.models import GraphBuilder, mobilenet_v1_like, mobilenet_v2_like
from picoml.testing.real import real_dir, real_path


def _input(g: Graph, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(-128, 128, g.input_tensors[0].shape).astype(np.int8)


def _assert_all_stages_exact(g: Graph, ns: tuple[int, ...], seed: int = 0) -> int:
    """Every valid stage end and tile count gives the plain outputs; returns the cases run."""
    interp = Interpreter(g)
    x = _input(g, seed)
    ref = interp.run([x])
    cases = 0
    for k in stage_ends(g):
        shape = g.tensors[g.ops[k].outputs[0]].shape
        for n in ns:
            if n > min(shape[1], shape[2]):
                continue
            out = run_patched(g, make_patch_plan(g, k, n), [x], interp)
            for a, b in zip(out, ref):
                np.testing.assert_array_equal(a, b, err_msg=f"stage end {k}, {n}x{n} tiles")
            cases += 1
    return cases


def _chain(seed: int, hw: tuple[int, int], layers: list[tuple]) -> Graph:
    b = GraphBuilder((1, *hw, 3), seed, "chain")
    x = b.input
    for kind, *args in layers:
        if kind == "conv":
            k, s, pad, dil = args
            x = b.conv(x, 5, k, s, pad, dilation=dil)
        elif kind == "dw":
            k, s, pad, dil, m = args
            x = b.dw(x, k, s, pad, dilation=dil, multiplier=m)
        elif kind in ("AVERAGE_POOL_2D", "MAX_POOL_2D"):
            k, s, pad = args
            x = b.pool(x, kind, k, s, pad)
        elif kind == "pad":
            x = b.pad(x, tuple(args))
        elif kind == "res":  # conv 3x3 SAME then ADD with its input
            x = b.add(x, b.conv(x, b.tensors[x].shape[3], 3, 1, "SAME", act="NONE"), act=args[0])
    y = b.conv(x, 4, 1, act="NONE")  # a tail that runs unpatched
    return b.build([y])


CHAINS = {
    "conv_strides": [("conv", 3, 2, "SAME", 1), ("conv", 3, 1, "VALID", 1), ("conv", 1, 1, "SAME", 1)],
    "conv_even_kernels": [("conv", 4, 2, "SAME", 1), ("conv", 2, 1, "SAME", 1), ("conv", 5, 3, "VALID", 1)],
    "dilation": [("conv", 3, 1, "SAME", 2), ("dw", 3, 1, "VALID", 2, 1), ("dw", 3, 1, "SAME", 3, 2)],
    "depthwise": [("conv", 3, 2, "SAME", 1), ("dw", 3, 2, "SAME", 1, 1), ("dw", 5, 1, "SAME", 1, 3),
                  ("dw", 3, 2, "VALID", 1, 1)],
    "pools": [("conv", 3, 1, "SAME", 1), ("AVERAGE_POOL_2D", 3, 2, "SAME"), ("MAX_POOL_2D", 2, 2, "VALID"),
              ("AVERAGE_POOL_2D", 3, 1, "SAME"), ("MAX_POOL_2D", 3, 2, "SAME")],
    "pad": [("pad", 1, 2, 0, 3), ("conv", 3, 2, "VALID", 1), ("pad", 2, 0, 1, 1), ("dw", 3, 1, "VALID", 1, 1)],
    "residual": [("conv", 3, 2, "SAME", 1), ("res", "NONE"), ("res", "RELU"), ("dw", 3, 2, "SAME", 1, 1)],
}


@pytest.mark.parametrize("name", sorted(CHAINS))
@pytest.mark.parametrize("hw", [(17, 23), (12, 12)])
def test_patched_equals_plain(name: str, hw: tuple[int, int]) -> None:
    g = _chain(hash(name) % 1000, hw, CHAINS[name])
    assert _assert_all_stages_exact(g, (1, 2, 3, 4, 7)) > 0


@pytest.mark.parametrize("op_type", ["SUB", "MUL"])
def test_other_elementwise(op_type: str) -> None:
    g = _chain(1, (13, 11), CHAINS["residual"])
    for op in g.ops:
        if op.type == "ADD":
            op.type = op_type
    assert _assert_all_stages_exact(g, (2, 3)) > 0


def test_float_model() -> None:
    """Float32 convs sum taps in TFLM's order; a tile sees the same taps, so the bits agree."""
    if real_dir() is None:
        pytest.skip("../shared/real not present: vww float")
    from picoml.frontends.tflite import load_tflite
    g = load_tflite(real_path("mlperf_tiny/vww/vww_96_float.tflite"))
    interp = Interpreter(g)
    x = np.random.default_rng(0).random(g.input_tensors[0].shape).astype(np.float32)
    ref = interp.run([x])[0]
    for k, n in ((7, 3), (3, 4)):
        np.testing.assert_array_equal(run_patched(g, make_patch_plan(g, k, n), [x], interp)[0], ref)


def test_mobilenets_patched_exact() -> None:
    assert _assert_all_stages_exact(mobilenet_v1_like(40), (2, 3)) >= 10
    assert _assert_all_stages_exact(mobilenet_v2_like(32, width=0.35), (2, 3)) >= 10


def test_stage_checks() -> None:
    g = mobilenet_v2_like(48, width=0.35)
    adds = [op.index for op in g.ops if op.type == "ADD"]
    first_add = adds[0]
    skip = g.ops[first_add].inputs[0]
    produced_at = next(op.index for op in g.ops if skip in op.outputs)
    with pytest.raises(GraphError, match="reads"):  # the residual input escapes the stage
        check_stage(g, produced_at + 1)
    assert check_stage(g, len(g.ops) - 1) == g.outputs[0]  # all conv/pool: one stage is valid
    g.ops[-1].type = "FULLY_CONNECTED"
    with pytest.raises(GraphError, match="cannot run patch by patch"):
        check_stage(g, len(g.ops) - 1)
    for bad in (-1, len(g.ops), True, "3"):
        with pytest.raises(GraphError):
            check_stage(g, bad)
    with pytest.raises(GraphError):
        make_patch_plan(g, 0, 0)
    with pytest.raises(GraphError):
        make_patch_plan(g, 0, 1000)


def test_patched_plan_is_valid_and_smaller() -> None:
    g = mobilenet_v1_like(96)
    choice = choose_patches(g, max_mac_overhead=0.2)
    pp = choice.patch_plan
    assert pp is not None and pp.mac_overhead <= 0.2
    assert choice.memory_plan.arena_bytes * 1.7 < choice.unpatched_arena_bytes  # the input stays alive
    check_no_overlap(choice.memory_plan)
    assert any(not c.accepted for c in choice.candidates)
    assert all(c.mac_overhead <= 0.2 for c in choice.candidates if c.accepted)
    forced = choose_patches(g, stage_end=pp.stage_end, ns=(pp.n,))
    assert forced.memory_plan.arena_bytes == choice.memory_plan.arena_bytes
    # a stage of one op with one tile changes nothing
    one = make_patch_plan(g, 0, 1)
    assert one.mac_overhead == 0 and patched_plan(g, one).arena_bytes >= choice.memory_plan.arena_bytes


def test_targets_mobilenet_v2_like() -> None:
    g = mobilenet_v2_like(144)
    choice = choose_patches(g, max_mac_overhead=0.2)
    assert choice.unpatched_arena_bytes >= 4 * choice.memory_plan.arena_bytes
    assert choice.patch_plan.mac_overhead <= 0.2


def test_person_detect() -> None:
    if real_dir() is None:
        pytest.skip("../shared/real not present: person_detect")
    from picoml.frontends.tflite import load_tflite
    g = load_tflite(real_path("tflm/person_detection/person_detect.tflite"))
    interp = Interpreter(g)
    choice = choose_patches(g, max_mac_overhead=0.2, interpreter=interp)
    assert choice.unpatched_arena_bytes >= 2.5 * choice.memory_plan.arena_bytes
    x = _input(g, 3)
    np.testing.assert_array_equal(run_patched(g, choice.patch_plan, [x], interp)[0], interp.run([x])[0])


def _person_detect_path() -> str:
    if real_dir() is None:
        pytest.skip("../shared/real not present: person_detect")
    return str(real_path("tflm/person_detection/person_detect.tflite"))


def test_cli_plan_patches(capsys: pytest.CaptureFixture, tmp_path) -> None:
    import json

    from picoml.cli import main
    path = _person_detect_path()
    assert main(["plan", path, "--patches", "auto", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    # the target: >= 2.5x lower peak SRAM at <= 20% MAC overhead (the figure
    # benchmarks/peak_memory.py prints; banded tiles, planned by their largest pixel count)
    assert d["unpatched_arena_bytes"] >= 2.5 * d["arena_bytes"]
    assert 0 < d["mac_overhead"] <= 0.2 and set(d["patches"]) == {"stage_end_op", "n"}
    assert len(d["patch_candidates"]) > 10
    assert main(["plan", path, "--patches", "auto", "--max-mac-overhead", "0.01", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["mac_overhead"] <= 0.01
    assert main(["plan", path, "--patches", "2", "--patch-stage", "3", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["patches"] == {"stage_end_op": 3, "n": 2}
    png = tmp_path / "p.png"
    assert main(["plan", path, "--patches", "auto", "--plot", str(png)]) == 0
    assert png.stat().st_size > 1000 and "patches: ops 0.." in capsys.readouterr().out
    for bad in (["--patches", "2"], ["--patches", "x"], ["--patches", "2", "--patch-stage", "99"],
                ["--patches", "auto", "--patch-stage", "3"], ["--patches", "2", "--patch-stage", "30"]):
        assert main(["plan", path, *bad]) == 2, bad
        capsys.readouterr()


def test_cli_run_patches(capsys: pytest.CaptureFixture, tmp_path) -> None:
    from picoml.cli import main
    path = _person_detect_path()
    x = tmp_path / "x.npy"
    np.save(x, np.random.default_rng(5).integers(-128, 128, (1, 96, 96, 1)).astype(np.int8))
    outs = []
    for extra in ([], ["--patches", "auto"], ["--patches", "3", "--patch-stage", "5"]):
        assert main(["run", path, "--input", str(x), "--output", str(tmp_path / "o.npz"), *extra]) == 0
        capsys.readouterr()
        outs.append(np.load(tmp_path / "o.npz")["output_0"])
    np.testing.assert_array_equal(outs[0], outs[1])
    np.testing.assert_array_equal(outs[0], outs[2])
    assert main(["run", path, "--input", str(x), "--patches", "auto", "--engine", "cortex-m4"]) == 2
