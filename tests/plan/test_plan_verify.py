"""The verifier catches deliberately broken plans (and accepts the real ones)."""
from __future__ import annotations

import copy
import dataclasses

import pytest

from picoml.errors import GraphError
from picoml.plan import check_no_overlap, plan_graph


@pytest.fixture
def plan(make_graph):
    """in -> CONV -> x -> RESHAPE -> v -> RELU (in place) -> y -> CONV -> z, scratch at op 3."""
    g = make_graph({"in": (1, 40), "x": (2, 20), "v": (40,), "y": (40,), "z": (1, 24), "w": (1, 40)},
                   [("CONV_2D", ["in"], ["x"]), ("RESHAPE", ["x"], ["v"]), ("RELU", ["v"], ["y"]),
                    ("CONV_2D", ["y", "w"], ["z"])], ["in", "w"], ["z"])
    p = plan_graph(g, scratch={3: 20})
    assert p.in_place == {2: ("v", "y")} and p.views == {1: ("x", "v")}
    check_no_overlap(p)
    return p


def buffer_index(plan, name):
    return next(k for k, b in enumerate(plan.buffers) if b.name == name)


def move(plan, name, offset):
    """Put buffer ``name`` (and its tensors' offsets) at ``offset``."""
    k = buffer_index(plan, name)
    b = plan.buffers[k] = dataclasses.replace(plan.buffers[k], offset=offset)
    for t in b.tensors:
        plan.offsets[t] = offset
    if b.kind == "scratch":
        plan.scratch_offsets[b.op] = offset


def test_overlap_caught(plan):
    broken = copy.deepcopy(plan)
    move(broken, "w", broken.buffers[buffer_index(broken, "in")].offset)  # both alive at op 0
    with pytest.raises(GraphError, match="'(in|w)'.*'(in|w)'.*alive at the same time and overlap"):
        check_no_overlap(broken)


def test_partial_overlap_with_scratch_caught(plan):
    broken = copy.deepcopy(plan)
    y = broken.buffers[buffer_index(broken, "x")]
    move(broken, "scratch@op3", y.offset + 16)  # the in-place chain x/v/y is alive at op 3
    with pytest.raises(GraphError, match="overlap"):
        check_no_overlap(broken)


def test_misalignment_caught(plan):
    broken = copy.deepcopy(plan)
    broken.arena_bytes += 16
    move(broken, "z", broken.buffers[buffer_index(broken, "z")].offset + 8)
    with pytest.raises(GraphError, match="multiple of the 16-byte alignment"):
        check_no_overlap(broken)


def test_overflow_caught(plan):
    broken = copy.deepcopy(plan)
    broken.arena_bytes -= 16
    with pytest.raises(GraphError, match="runs past the end"):
        check_no_overlap(broken)


def test_unaligned_size_caught(plan):
    broken = copy.deepcopy(plan)
    k = buffer_index(broken, "z")
    broken.buffers[k] = dataclasses.replace(broken.buffers[k], size=24)
    with pytest.raises(GraphError, match="aligned size"):
        check_no_overlap(broken)


def test_tensor_offset_mismatch_caught(plan):
    broken = copy.deepcopy(plan)
    broken.offsets["v"] += 16
    with pytest.raises(GraphError, match="'v' has offset"):
        check_no_overlap(broken)


def test_illegal_sharing_caught(plan):
    # store w (alive at ops 0..3) in the same buffer as z (born at op 3): not a view, not in place
    broken = copy.deepcopy(plan)
    kz, kw = buffer_index(broken, "z"), buffer_index(broken, "w")
    z, w = broken.buffers[kz], broken.buffers[kw]
    top = broken.arena_bytes  # a fresh region, so only the sharing itself is wrong
    broken.buffers[kz] = dataclasses.replace(z, tensors=("w", "z"), first=0, offset=top, size=max(z.size, w.size))
    del broken.buffers[kw]
    broken.offsets["w"] = broken.offsets["z"] = top
    broken.arena_bytes = max(b.end for b in broken.buffers)
    with pytest.raises(GraphError, match="share buffer"):
        check_no_overlap(broken)


def test_false_in_place_claim_caught(plan):
    broken = copy.deepcopy(plan)
    broken.in_place[3] = ("y", "z")
    with pytest.raises(GraphError, match="in-place op #3"):
        check_no_overlap(broken)


def test_scratch_mismatch_caught(plan):
    broken = copy.deepcopy(plan)
    broken.scratch_offsets[3] += 16
    with pytest.raises(GraphError, match="scratch of op #3"):
        check_no_overlap(broken)
    broken = copy.deepcopy(plan)
    broken.scratch_offsets[1] = 0
    with pytest.raises(GraphError, match="scratch"):
        check_no_overlap(broken)


def test_missing_tensor_caught(plan):
    broken = copy.deepcopy(plan)
    k = buffer_index(broken, "z")
    broken.buffers[k] = dataclasses.replace(broken.buffers[k], tensors=())
    with pytest.raises(GraphError, match="'z'.*has no buffer"):
        check_no_overlap(broken)


def test_bad_alignment_caught(plan):
    broken = copy.deepcopy(plan)
    broken.alignment = 12
    with pytest.raises(GraphError, match="power of two"):
        check_no_overlap(broken)
