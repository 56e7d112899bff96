"""Memory-aware scheduling: exact on small graphs (checked against brute force), never worse
than the given order, and the reordered graph runs to the same outputs."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

from picoml.interpreter import Interpreter
from picoml.ir import Graph
from picoml.plan import plan_graph
from picoml.plan.schedule import _Problem, reorder, schedule, schedule_report
from picoml.testing.real import real_dir, real_path
from tests.plan.conftest import build_graph


def _two_branches() -> Graph:
    """x feeds two branches, each a big intermediate then a small result, joined at the end.
    Given order runs both big ops first (x + p1 + p2 alive); best runs each branch to the end."""
    tensors = {"x": (1, 64), "p1": (1, 4096), "p2": (1, 4096), "q1": (1, 16), "q2": (1, 16), "y": (1, 32)}
    ops = [("A", ["x"], ["p1"]), ("B", ["x"], ["p2"]), ("C", ["p1"], ["q1"]), ("D", ["p2"], ["q2"]),
           ("CONCATENATION", ["q1", "q2"], ["y"])]
    return build_graph(tensors, ops, ["x"], ["y"])


def test_two_branches_best_order_known() -> None:
    g = _two_branches()
    r = schedule_report(g)
    assert r.exact
    assert r.order in ([0, 2, 1, 3, 4], [1, 3, 0, 2, 4])
    assert r.peak_before == 64 + 4096 + 4096
    assert r.peak_after == 64 + 4096 + 16
    assert r.arena_after < r.arena_before
    assert [op.type for op in r.graph.ops] == ["A", "C", "B", "D", "CONCATENATION"]
    assert [op.type for op in g.ops] == ["A", "B", "C", "D", "CONCATENATION"]  # input untouched
    assert [op.index for op in g.ops] == list(range(5))
    assert plan_graph(r.graph).arena_bytes == r.arena_after
    assert [op.type for op in schedule(g).ops] == [op.type for op in r.graph.ops]


def test_greedy_fallback_when_over_budget() -> None:
    r = schedule_report(_two_branches(), exact_states=1)
    assert not r.exact
    assert r.peak_after <= r.peak_before


def _all_orders(p: _Problem) -> list[list[int]]:
    out = []
    for perm in itertools.permutations(range(p.n_ops)):
        done, ok = 0, True
        for op in perm:
            if p.pred[op] & ~done:
                ok = False
                break
            done |= 1 << op
        if ok:
            out.append(list(perm))
    return out


def _random_dag(rng: np.random.Generator, n_ops: int) -> Graph:
    tensors = {"in": (int(rng.integers(1, 200)),)}
    ops = []
    for i in range(n_ops):
        avail = list(tensors)
        k = int(rng.integers(1, min(3, len(avail)) + 1))
        ins = list(rng.choice(avail, size=k, replace=False))
        tensors[f"t{i}"] = (int(rng.integers(1, 500)),)
        ops.append((f"OP{i}", ins, [f"t{i}"]))
    consumed = {n for _, ins, _ in ops for n in ins}
    outs = [n for n in tensors if n not in consumed and n != "in"]
    return build_graph(tensors, ops, ["in"], outs)


@pytest.mark.parametrize("seed", range(12))
def test_exact_matches_brute_force(seed: int) -> None:
    rng = np.random.default_rng(seed)
    g = _random_dag(rng, int(rng.integers(3, 8)))
    p = _Problem(g, 16, {})
    best = min(p.peak_of(o) for o in _all_orders(p))
    r = schedule_report(g, verify=False)
    assert r.exact and r.peak_after == best
    assert r.peak_after <= r.peak_before == p.peak_of(range(p.n_ops))
    r = schedule_report(g)
    assert r.arena_after <= r.arena_before


def test_scratch_counts_during_its_op() -> None:
    g = _two_branches()
    r = schedule_report(g, scratch={4: 10_000})
    assert r.peak_after == 64 + 16 + 16 + 32 + 10_000 or r.peak_after == r.peak_before
    assert r.peak_after >= 10_000


def test_reorder_rejects_bad_order() -> None:
    from picoml.errors import GraphError
    with pytest.raises(GraphError):
        reorder(_two_branches(), [0, 0, 1, 2, 3])
    with pytest.raises(GraphError):  # consumer before producer
        reorder(_two_branches(), [4, 0, 1, 2, 3])


def test_reordered_graph_runs_identically() -> None:
    """A residual int8 graph whose schedule changes: same outputs from the interpreter."""
    from picoml.testing.models import branchy_int8
    g = branchy_int8(seed=0)
    r = schedule_report(g)
    assert r.order != sorted(r.order) and r.arena_after < r.arena_before
    x = np.random.default_rng(1).integers(-128, 128, g.input_tensors[0].shape).astype(np.int8)
    for a, b in zip(Interpreter(g).run([x]), Interpreter(r.graph).run([x])):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("rel", ["tflm/mobilenet_v2_pytorch/mobilenet_v2_quantized_1x3x224x224.tflite",
                                 "tflm/person_detection/person_detect.tflite",
                                 "mlperf_tiny/ic/pretrainedResnet_quant.tflite"])
def test_never_worse_on_real_models(rel: str) -> None:
    if real_dir() is None:
        pytest.skip("../shared/real not present: real models")
    from picoml.frontends.tflite import load_tflite
    g = load_tflite(real_path(rel))
    sc = {op.index: int(p["scratch_bytes"]) for op, _, p in Interpreter(g).steps if p.get("scratch_bytes")}
    r = schedule_report(g, scratch=sc)
    assert r.exact
    assert r.peak_after <= r.peak_before and r.arena_after <= r.arena_before
    assert len(r.graph.ops) == len(g.ops)


def test_cli_plan_schedule(capsys: pytest.CaptureFixture) -> None:
    import json

    from picoml.cli import main
    if real_dir() is None:
        pytest.skip("../shared/real not present: real models")
    path = str(real_path("mlperf_tiny/ic/pretrainedResnet_quant.tflite"))
    assert main(["plan", path, "--schedule", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["schedule"]["arena_after"] <= d["schedule"]["arena_before"]
    assert d["arena_bytes"] == d["schedule"]["arena_after"]
    assert main(["plan", path, "--schedule"]) == 0
    assert "schedule:" in capsys.readouterr().out
