"""In-place depthwise convolution in the planner: which ops qualify, chosen only where it lowers
the arena, the plane scratch, and a verifier that rejects wrong in-place aliasing."""
from __future__ import annotations

import dataclasses

import pytest

from picoml.errors import GraphError
from picoml.interpreter import Interpreter
from picoml.plan import PlanError, check_no_overlap, plan_graph
from picoml.plan.inplace import candidates, plane_layout
from picoml.plan.patches import make_patch_plan, patched_plan
from picoml.testing.models import GraphBuilder, mobilenet_v2_like


def _scratch(g) -> dict[int, int]:
    return {op.index: int(p["scratch_bytes"]) for op, _, p in Interpreter(g).steps if p.get("scratch_bytes")}


def _chain():
    """input -> dw 3x3 (32 ch, at the peak) -> conv 1x1 to 4 ch -> dw 3x3 (4 ch, far below it) -> conv."""
    b = GraphBuilder((1, 16, 16, 32), 0)
    big = b.dw(b.input, 3)
    x = b.conv(big, 4, 1)
    small = b.dw(x, 3)
    return b.build([b.conv(small, 8, 1)])


def test_eligibility_by_shape_dtype_and_multiplier() -> None:
    b = GraphBuilder((1, 9, 9, 8), 0)
    ok = b.dw(b.input, 3)                          # op 0: stride 1 SAME
    dil = b.dw(ok, 3, dilation=2)                  # op 1: dilation keeps the shape under SAME
    one = b.dw(dil, 1, padding="VALID")            # op 2: 1x1 VALID keeps the shape
    s2 = b.dw(one, 3, stride=2)                    # op 3: stride 2 shrinks the output
    valid = b.dw(s2, 3, padding="VALID")           # op 4: VALID 3x3 shrinks it
    mult = b.dw(valid, 1, padding="VALID", multiplier=2)  # op 5: output channel count differs
    g = b.build([mult])
    found = candidates(g)
    assert sorted(found) == [0, 1, 2]
    assert found[0] == plane_layout((9, 9), (9, 9), (3, 3), (1, 1), (1, 1), (1, 1))
    assert (found[0].plane_h, found[0].plane_w, found[0].scratch_bytes) == (11, 11, 4 * 9 + 121)
    assert (found[1].plane_h, found[2].plane_h) == (13, 9)


def test_chosen_only_where_it_lowers_the_arena() -> None:
    g = _chain()
    scratch = _scratch(g)
    off = plan_graph(g, scratch=scratch, depthwise_in_place=False)
    every = plan_graph(g, scratch=scratch, depthwise_policy="all")
    auto = plan_graph(g, scratch=scratch)
    assert sorted(every.depthwise_in_place) == [0, 2]
    assert auto.arena_bytes < off.arena_bytes
    assert auto.arena_bytes <= every.arena_bytes
    # op 2 is far below the peak: running it in place would not lower the arena, so it does not
    assert sorted(auto.depthwise_in_place) == [0]
    assert auto.in_place[0] == (g.inputs[0], g.ops[0].outputs[0])
    assert auto.offsets[g.inputs[0]] == auto.offsets[g.ops[0].outputs[0]]
    # its scratch is the plane, not the out-of-place kernel's sums
    plane = candidates(g)[0].scratch_bytes
    (buf,) = [b for b in auto.buffers if b.kind == "scratch" and b.op == 0]
    assert buf.nbytes == plane == auto.depthwise_in_place[0]
    assert auto.live_bytes[0] == 16 * 16 * 32 + -(-plane // 16) * 16  # one tensor + the plane
    assert plan_graph(g, scratch=scratch, in_place=False).depthwise_in_place == {}
    assert plan_graph(g, scratch=scratch, depthwise_in_place=[2]).depthwise_in_place == {}  # op 2 alone: no gain


def test_not_in_place_when_the_input_is_read_later() -> None:
    b = GraphBuilder((1, 8, 8, 16), 0)
    x = b.conv(b.input, 16, 1)
    y = b.dw(x, 3)
    g = b.build([b.add(x, y)])  # x is read again by the ADD
    assert 1 in candidates(g)
    assert plan_graph(g, scratch=_scratch(g), depthwise_policy="all").depthwise_in_place == {}


def test_bad_options() -> None:
    g = _chain()
    with pytest.raises(PlanError):
        plan_graph(g, depthwise_in_place=[99])
    with pytest.raises(PlanError):
        plan_graph(g, depthwise_policy="always")


def test_verifier_rejects_wrong_in_place_aliasing() -> None:
    g = _chain()
    plan = plan_graph(g, scratch=_scratch(g))
    check_no_overlap(plan)
    src, dst = plan.in_place[0]
    # an in-place depthwise op the code generator would not know to run in place
    with pytest.raises(GraphError, match="not marked"):
        check_no_overlap(dataclasses.replace(plan, depthwise_in_place={}))
    # its plane scratch too small
    small = [dataclasses.replace(b, nbytes=8) if b.kind == "scratch" and b.op == 0 else b for b in plan.buffers]
    with pytest.raises(GraphError, match="scratch bytes"):
        check_no_overlap(dataclasses.replace(plan, buffers=small))
    # an op marked in-place depthwise that is not in place
    with pytest.raises(GraphError, match="not an in-place"):
        check_no_overlap(dataclasses.replace(plan, depthwise_in_place={**plan.depthwise_in_place, 2: 100}))
    # the output larger than the input it overwrites
    bigger = dict(plan.lifetimes)
    bigger[dst] = dataclasses.replace(bigger[dst], nbytes=bigger[src].nbytes + 16)
    with pytest.raises(GraphError):
        check_no_overlap(dataclasses.replace(plan, lifetimes=bigger))
    # the input still read after the op (its lifetime reaches past the op)
    later = dict(plan.lifetimes)
    later[src] = dataclasses.replace(later[src], last=1)
    with pytest.raises(GraphError):
        check_no_overlap(dataclasses.replace(plan, lifetimes=later))


def test_patched_plans_keep_the_stage_out_of_place() -> None:
    g = mobilenet_v2_like(144)
    interp = Interpreter(g)
    params = [p for _, _, p in interp.steps]
    pp = make_patch_plan(g, 12, 5, params)
    mp = patched_plan(g, pp, scratch=_scratch(g))
    assert mp.depthwise_in_place, "the dw ops after the stage lower the patched arena"
    assert min(mp.depthwise_in_place) > pp.stage_end
