"""Kernel scratch that never raises the arena.

The fast C kernels want scratch (im2col patches, a few pixels' int32 sums). Where an op runs at
the arena's peak, those bytes add to the peak, so a model would need more SRAM with picoml's
generated C than with TFLM's reference kernels, which use none. Some kernels therefore also offer
a "lean" variant (``params["lean_scratch_bytes"]``, e.g. ``pm_conv_lean_s8`` with none): slower,
but free. This module picks, per op, the fast variant wherever its scratch fits in the arena the
all-lean plan needs anyway, and the lean one elsewhere:

1. plan with every op's fast scratch; if that arena is no larger than the all-lean one, done;
2. else start from all-lean and give ops back their fast scratch one by one, the most MACs first
   (the lean path costs most there), keeping each only if the arena stays at the all-lean size.

The result is the ``scratch`` argument of the planners plus the set of lean ops, which the code
generator marks ``params["lean"]`` so the emitter calls the lean kernel.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Mapping, Sequence

from picoml.plan.memory_plan import MemoryPlan

if TYPE_CHECKING:
    from picoml.ir import Graph

PlanFn = Callable[[Mapping[int, int]], MemoryPlan]


@dataclass(frozen=True)
class ScratchChoice:
    """Scratch bytes per op index (for ``plan_graph(scratch=...)``) and the ops that run lean."""

    scratch: dict[int, int]
    lean: frozenset[int] = field(default_factory=frozenset)


def fast_scratch(params: Sequence[Mapping[str, object]]) -> dict[int, int]:
    """Every op's fast-kernel scratch (``params["scratch_bytes"]``), one params dict per op in order."""
    return {i: int(p.get("scratch_bytes", 0) or 0) for i, p in enumerate(params) if p.get("scratch_bytes")}


def fit_scratch(params: Sequence[Mapping[str, object]], plan: PlanFn) -> ScratchChoice:
    """The scratch choice for ops with these prepared ``params`` (one dict per op, in order) under
    the planner ``plan`` (scratch mapping -> MemoryPlan), as the module docstring describes."""
    fast = fast_scratch(params)
    lean = {i: int(p["lean_scratch_bytes"]) for i, p in enumerate(params)
            if "lean_scratch_bytes" in p and int(p["lean_scratch_bytes"]) < fast.get(i, 0)}
    if not lean:
        return ScratchChoice(fast)
    floor = plan({**fast, **lean}).arena_bytes
    if plan(fast).arena_bytes <= floor:
        return ScratchChoice(fast)
    chosen = {**fast, **lean}
    lean_ops = set(lean)
    for i in sorted(lean, key=lambda i: (-int(params[i].get("macs", 0) or 0), i)):
        trial = {**chosen, i: fast[i]}
        if plan(trial).arena_bytes <= floor:
            chosen = trial
            lean_ops.discard(i)
    return ScratchChoice({i: n for i, n in chosen.items() if n}, frozenset(lean_ops))


def lean_params(params: Mapping[str, object]) -> dict:
    """An op's params as its lean variant sees them: its smaller scratch, and ``lean`` set."""
    return {**params, "scratch_bytes": int(params["lean_scratch_bytes"]), "lean": True}


def fitted_scratch(graph: "Graph", params: Sequence[Mapping[str, object]], alignment: int = 16,
                   algorithm: str = "best_fit") -> dict[int, int]:
    """The ``scratch`` argument of ``plan_graph`` that generated portable C plans for ``graph``
    (its ops' prepared ``params`` in order): fit_scratch under ``plan_graph`` without in-place
    depthwise ops, whose kernel is slower than the lean ones (``plan_graph`` then still runs
    depthwise ops in place where that lowers the arena further)."""
    from picoml.plan.planner import plan_graph

    def plan(scratch: Mapping[int, int]) -> MemoryPlan:
        return plan_graph(graph, alignment=alignment, algorithm=algorithm, scratch=scratch,
                          depthwise_in_place=False)

    return fit_scratch(params, plan).scratch
