"""Memory-aware op scheduling: reorder a graph's ops so that fewer bytes are alive at once.

A graph with branches (residual ADDs, CONCATENATIONs, several heads) has many valid execution
orders, and their peaks differ: running the short branch of a residual block first keeps its
small result alive while the big expansion runs, running it last keeps the big block input
alive longer. ``schedule(graph)`` returns the same ops in the order with the smallest peak.

Cost model (the one ``plan_graph`` lays out, before views and in-place sharing): while op
``o`` runs, every tensor that was written (or is a graph input) and still has an unexecuted
reader is alive, plus ``o``'s outputs and its scratch; graph outputs stay alive to the end.
Sizes are rounded up to the planner's alignment.

Search: the state is the set of executed ops (the live set follows from it), so the best peak
from a state is a dynamic programme over *downsets* of the dependency order. For chains with a
few branches (every CNN) that is a handful of states per op, so the result is exact; when the
number of states exceeds ``EXACT_STATES`` the search stops and a greedy list scheduler (at
every step the ready op with the smallest peak, then the smallest live set after it) runs
instead. The original order is always a candidate, and ``schedule_report`` finally checks the
planner's real arena, so a schedule is never worse than the order it was given.
"""
from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass
from typing import Mapping, Optional, Sequence

from picoml.errors import GraphError
from picoml.ir import Graph
from picoml.plan.allocators import align_up

EXACT_STATES = 200_000  # downsets explored before falling back to the greedy scheduler


@dataclass
class Schedule:
    """A scheduled graph plus what the reordering bought.

    ``order[k]`` is the original index of the op that runs k-th. ``peak_before``/``peak_after``
    are the cost model's peaks of live bytes; ``arena_before``/``arena_after`` the planner's
    arenas (filled by ``schedule_report`` when ``verify`` is on, else -1). ``exact`` tells
    whether the search covered every order.
    """

    graph: Graph
    order: list[int]
    peak_before: int
    peak_after: int
    exact: bool
    arena_before: int = -1
    arena_after: int = -1

    def to_json(self) -> dict:
        """JSON-ready summary for the CLI."""
        return {"order": list(self.order), "peak_before": self.peak_before, "peak_after": self.peak_after,
                "exact": self.exact, "arena_before": self.arena_before, "arena_after": self.arena_after,
                "reordered": self.order != sorted(self.order)}


class _Problem:
    """The graph as bitmask-friendly tables: per op its input/output tensor ids and sizes."""

    def __init__(self, graph: Graph, alignment: int, scratch: Mapping[int, int]) -> None:
        graph.validate(allow_unproduced=True)
        names = [n for n, t in graph.tensors.items() if not t.is_const]
        tid = {n: k for k, n in enumerate(names)}
        self.n_ops = len(graph.ops)
        self.size = [align_up(graph.tensors[n].nbytes, alignment) for n in names]
        self.ins = [sorted({tid[n] for n in op.inputs if n is not None and n in tid}) for op in graph.ops]
        self.outs = [sorted({tid[n] for n in op.outputs if n in tid}) for op in graph.ops]
        self.scratch = [align_up(int(scratch.get(i, 0)), alignment) for i in range(self.n_ops)]
        producer = {t: i for i, outs in enumerate(self.outs) for t in outs}
        readers: dict[int, int] = {}
        for i, ins in enumerate(self.ins):
            for t in ins:
                readers[t] = readers.get(t, 0) | (1 << i)
        self.readers = readers
        self.keep = {tid[n] for n in graph.outputs if n in tid}  # alive until the end
        self.pred = [0] * self.n_ops
        for i, ins in enumerate(self.ins):
            for t in ins:
                if t in producer:
                    self.pred[i] |= 1 << producer[t]
        # bytes alive for the whole run regardless of order: variables, graph inputs that no op
        # reads, and tensors read but never written (alive from their first reader: counted always)
        inputs = {tid[n] for n in graph.inputs if n in tid}
        self.base = sum(self.size[tid[n]] for n in names if graph.tensors[n].variable)
        unwritten = {t for ins in self.ins for t in ins if t not in producer and t not in inputs
                     and not graph.tensors[names[t]].variable}
        self.base += sum(self.size[t] for t in unwritten)
        self.initial = sum(self.size[t] for t in inputs if not graph.tensors[names[t]].variable)
        self.input_ids = inputs

    def step(self, done: int, live: int, op: int) -> tuple[int, int]:
        """(bytes alive while ``op`` runs, bytes alive after it) from the live bytes before."""
        new = sum(self.size[t] for t in self.outs[op])
        during = live + new + self.scratch[op]
        after_done = done | (1 << op)
        freed = 0
        for t in set(self.ins[op]) | set(self.outs[op]):
            r = self.readers.get(t, 0)
            if t not in self.keep and r & ~after_done == 0:
                freed += self.size[t]
        return during, live + new - freed

    def peak_of(self, order: Sequence[int]) -> int:
        """The cost model's peak for one order (which must be valid)."""
        done, live, peak = 0, self.initial, self.initial
        for op in order:
            during, live = self.step(done, live, op)
            peak = max(peak, during)
            done |= 1 << op
        return peak + self.base

    def ready(self, done: int) -> list[int]:
        return [i for i in range(self.n_ops) if not done >> i & 1 and self.pred[i] & ~done == 0]


def _exact(p: _Problem, budget: int) -> Optional[list[int]]:
    """Minimum-peak order by DP over executed-op sets, or None when over ``budget`` states."""
    full = (1 << p.n_ops) - 1
    memo: dict[int, tuple[int, int]] = {}  # done -> (best peak of the rest, first op to run)

    def best(done: int, live: int) -> int:
        if done == full:
            return 0
        hit = memo.get(done)
        if hit is not None:
            return hit[0]
        if len(memo) >= budget:
            raise _OverBudget
        choice, value = -1, None
        for op in p.ready(done):
            during, after = p.step(done, live, op)
            if value is not None and during >= value:
                continue  # cannot beat the best found (ties keep the earlier op)
            rest = max(during, best(done | 1 << op, after))
            if value is None or rest < value:
                choice, value = op, rest
        memo[done] = (value, choice)
        return value

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 4 * p.n_ops + 1000))
    try:
        best(0, p.initial)
    except _OverBudget:
        return None
    finally:
        sys.setrecursionlimit(limit)
    order, done = [], 0
    while done != full:
        op = memo[done][1]
        order.append(op)
        done |= 1 << op
    return order


class _OverBudget(Exception):
    pass


def _greedy(p: _Problem) -> list[int]:
    """List scheduling: the ready op with the smallest peak now, then the smallest live after."""
    order, done, live = [], 0, p.initial
    while len(order) < p.n_ops:
        choices = [(p.step(done, live, op), op) for op in p.ready(done)]
        (during, after), op = min(choices, key=lambda c: (c[0][0], c[0][1], c[1]))
        order.append(op)
        done |= 1 << op
        live = after
    return order


def reorder(graph: Graph, order: Sequence[int]) -> Graph:
    """A new Graph (same tensors, copied ops) running ``graph.ops[order[k]]`` k-th."""
    if sorted(order) != list(range(len(graph.ops))):
        raise GraphError(f"an op order must list each of the {len(graph.ops)} ops once, got {list(order)}")
    written: dict[str, int] = {n: i for i, op in enumerate(graph.ops) for n in op.outputs}
    position = {op: k for k, op in enumerate(order)}
    for k, i in enumerate(order):
        for n in graph.ops[i].inputs:
            if n is not None and n in written and position[written[n]] >= k:
                raise GraphError(f"{graph.ops[i].describe()} would run before op #{written[n]} "
                                 f"that writes its input '{n}'")
    ops = [dataclasses.replace(graph.ops[i]) for i in order]
    g = Graph(dict(graph.tensors), ops, list(graph.inputs), list(graph.outputs), graph.name, graph.description)
    return g.validate(allow_unproduced=True)


def schedule_report(graph: Graph, alignment: int = 16, scratch: Optional[Mapping[int, int]] = None,
                    exact_states: int = EXACT_STATES, verify: bool = True) -> Schedule:
    """The minimum-peak order of ``graph`` (see module docstring). ``scratch`` maps an original
    op index to its kernel's scratch bytes. With ``verify`` the planner's arena of both orders is
    computed and the original order is kept unless the new one is strictly smaller."""
    p = _Problem(graph, alignment, scratch or {})
    original = list(range(p.n_ops))
    order = _exact(p, exact_states)
    exact = order is not None
    if order is None:
        order = _greedy(p)
    before, after = p.peak_of(original), p.peak_of(order)
    if after >= before:
        order, after = original, before
    result = Schedule(graph if order == original else reorder(graph, order), order, before, after, exact)
    if verify:
        from picoml.plan.planner import plan_graph

        sc = dict(scratch or {})
        result.arena_before = plan_graph(graph, alignment=alignment, scratch=sc).arena_bytes
        if order == original:
            result.arena_after = result.arena_before
        else:
            moved = {order.index(i): v for i, v in sc.items()}
            result.arena_after = plan_graph(result.graph, alignment=alignment, scratch=moved).arena_bytes
            if result.arena_after >= result.arena_before:
                result.graph, result.order, result.peak_after = graph, original, before
                result.arena_after = result.arena_before
    return result


def schedule(graph: Graph, alignment: int = 16, scratch: Optional[Mapping[int, int]] = None) -> Graph:
    """``graph`` with its ops in the order of smallest peak memory (the same graph object when
    no order beats the given one). ``schedule_report`` also returns the peaks before/after."""
    return schedule_report(graph, alignment, scratch).graph
