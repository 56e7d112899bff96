"""plan_graph: from an IR graph to a verified MemoryPlan (lifetimes -> aliasing -> offsets),
with in-place depthwise convolution where it lowers the arena."""
from __future__ import annotations

import dataclasses
import numbers
from typing import Collection, Mapping, Optional, Sequence, Union

from picoml.errors import PicomlError
from picoml.ir import Graph
from picoml.plan import inplace
from picoml.plan.aliasing import find_aliases
from picoml.plan.allocators import ALGORITHMS, Request, align_up
from picoml.plan.lifetimes import Lifetime, tensor_lifetimes
from picoml.plan.memory_plan import Buffer, MemoryPlan
from picoml.plan.verify import check_no_overlap


class PlanError(PicomlError):
    """The planner was asked for something it cannot do (bad alignment, unknown algorithm,
    malformed scratch request)."""


def plan_graph(graph: Graph, alignment: int = 16, algorithm: str = "best_fit",
               scratch: Optional[Mapping[int, int]] = None, in_place: bool = True,
               depthwise_in_place: Union[bool, Collection[int]] = True,
               depthwise_policy: str = "auto") -> MemoryPlan:
    """Plan one static arena for ``graph`` in its op order and verify the result.

    ``scratch`` maps an op index to the scratch bytes its kernel needs (``params["scratch_bytes"]``);
    each is planned as a buffer alive only during that op. ``in_place=False`` turns off
    in-place element-wise ops (views still alias), e.g. to compare with TFLM's planner.

    In-place depthwise convolution (:mod:`picoml.plan.inplace`) is used only where it lowers the
    arena: the plan without it is compared with the plan running every eligible op in place
    (``depthwise_in_place=True``: all ops; a collection: only those op indices; ``False`` or
    ``in_place=False``: none), and, when in place wins, with the plan keeping only the ops whose
    out-of-place step alone would exceed that arena. The smallest arena wins (ties: fewer ops in
    place, as the in-place kernel copies each channel once more). ``depthwise_policy="all"`` runs
    every eligible op in place whatever the arena (tests use it to exercise the in-place kernel).
    """
    _check_options(graph, alignment, algorithm, scratch)
    graph.validate(allow_unproduced=True)
    lifetimes = tensor_lifetimes(graph)
    allowed: dict[int, int] = {}
    if in_place and depthwise_in_place is not False:
        wanted = None if depthwise_in_place is True else _op_set(depthwise_in_place, len(graph.ops))
        allowed = {i: layout.scratch_bytes for i, layout in inplace.candidates(graph).items()
                   if wanted is None or i in wanted}
    if depthwise_policy not in ("auto", "all"):
        raise PlanError(f"depthwise_policy must be 'auto' or 'all', got {depthwise_policy!r}")
    if depthwise_policy == "all":
        return _plan(graph, lifetimes, alignment, algorithm, scratch, in_place, allowed)
    base = _plan(graph, lifetimes, alignment, algorithm, scratch, in_place, {})
    if not allowed:
        return base
    every = _plan(graph, lifetimes, alignment, algorithm, scratch, in_place, allowed)
    if not every.depthwise_in_place or every.arena_bytes >= base.arena_bytes:
        return base
    needed = {i: n for i, n in every.depthwise_in_place.items() if base.live_bytes[i] > every.arena_bytes}
    if needed != every.depthwise_in_place:
        fewer = _plan(graph, lifetimes, alignment, algorithm, scratch, in_place, needed)
        if fewer.arena_bytes <= every.arena_bytes:
            return fewer
    return every


def _plan(graph: Graph, lifetimes: dict[str, Lifetime], alignment: int, algorithm: str,
          scratch: Optional[Mapping[int, int]], in_place: bool, depthwise: Mapping[int, int]) -> MemoryPlan:
    """One verified plan; the depthwise ops in ``depthwise`` (op -> scratch bytes of the
    in-place kernel) run in place where the aliasing rules allow, with that scratch."""
    aliasing = find_aliases(graph, lifetimes, in_place=in_place, depthwise=depthwise)
    chosen = {i: n for i, n in depthwise.items() if i in aliasing.in_place}
    op_scratch = {int(k): int(v) for k, v in (scratch or {}).items()}
    op_scratch.update(chosen)

    unplaced = [Buffer(name=g.tensors[0], kind="view-base" if g.has_views else "tensor",
                       size=align_up(g.nbytes, alignment), nbytes=g.nbytes, first=g.first, last=g.last,
                       offset=0, tensors=tuple(g.tensors)) for g in aliasing.groups]
    for op, nbytes in sorted(op_scratch.items()):
        if nbytes > 0:
            unplaced.append(Buffer(name=f"scratch@op{op}", kind="scratch", size=align_up(nbytes, alignment),
                                   nbytes=nbytes, first=op, last=op, offset=0, op=op))
    offsets = ALGORITHMS[algorithm]([Request(b.size, b.first, b.last) for b in unplaced], alignment)
    buffers = [dataclasses.replace(b, offset=o) for b, o in zip(unplaced, offsets)]
    tensor_offsets = {name: 0 for name in lifetimes}
    for b in buffers:
        for name in b.tensors:
            tensor_offsets[name] = b.offset
    order = list(range(len(graph.ops)))
    live = [sum(b.size for b in buffers if b.alive_at(step)) for step in order]
    plan = MemoryPlan(
        arena_bytes=max((b.end for b in buffers), default=0),
        alignment=alignment,
        algorithm=algorithm,
        offsets=tensor_offsets,
        buffers=buffers,
        in_place=dict(aliasing.in_place),
        views=dict(aliasing.views),
        scratch_offsets={b.op: b.offset for b in buffers if b.kind == "scratch"},
        order=order,
        op_types=[op.type for op in graph.ops],
        lifetimes=lifetimes,
        live_bytes=live,
        depthwise_in_place=chosen,
    )
    if order:
        plan.peak_op = max(order, key=lambda k: (live[k], -k))
        plan.peak_tensors = plan.live_tensors(plan.peak_op)
    check_no_overlap(plan)
    return plan


def scratch_from_params(params: Sequence[Mapping[str, object]]) -> dict[int, int]:
    """The ``scratch`` argument of plan_graph from the kernels' prepared params, one dict per op
    in order (``params["scratch_bytes"]``, absent meaning none)."""
    return {i: int(p.get("scratch_bytes", 0) or 0) for i, p in enumerate(params) if p.get("scratch_bytes")}


def _op_set(ops: Collection[int], count: int) -> set[int]:
    try:
        chosen = set(ops)
    except TypeError:
        raise PlanError(f"depthwise_in_place must be True, False or a collection of op indices, got {ops!r}") from None
    for op in chosen:
        if isinstance(op, bool) or not isinstance(op, numbers.Integral) or not 0 <= op < count:
            raise PlanError(f"depthwise_in_place: {op!r} is not an op index 0..{count - 1}")
    return {int(op) for op in chosen}


def _check_options(graph: Graph, alignment: int, algorithm: str,
                   scratch: Optional[Mapping[int, int]]) -> None:
    if isinstance(alignment, bool) or not isinstance(alignment, int) or alignment < 1 \
            or alignment & (alignment - 1):
        raise PlanError(f"alignment must be a power of two number of bytes (1, 2, 4, 8, 16, ...), got {alignment!r}")
    if not isinstance(algorithm, str) or algorithm not in ALGORITHMS:
        raise PlanError(f"unknown planning algorithm {algorithm!r}; choose one of {', '.join(ALGORITHMS)}")
    if scratch is not None and not isinstance(scratch, Mapping):
        raise PlanError(f"scratch must map op indices to byte counts, got {type(scratch).__name__}")
    for op, nbytes in (scratch or {}).items():
        if isinstance(op, bool) or not isinstance(op, numbers.Integral) or not 0 <= op < len(graph.ops):
            raise PlanError(f"scratch request for op {op!r}: the graph has ops 0..{len(graph.ops) - 1}")
        if isinstance(nbytes, bool) or not isinstance(nbytes, numbers.Integral) or nbytes < 0:
            raise PlanError(f"scratch request for op #{op}: {nbytes!r} is not a byte count (int >= 0)")
