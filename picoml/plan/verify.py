"""An independent check of a memory plan: it shares no code with the allocators, so a bug
in an allocator cannot hide itself. ``plan_graph`` runs it on every plan it returns."""
from __future__ import annotations

import numpy as np

from picoml.errors import GraphError
from picoml.plan.memory_plan import KINDS, MemoryPlan


def check_no_overlap(plan: MemoryPlan) -> None:
    """Raise GraphError unless the plan is safe to run.

    Checked: every buffer is aligned, of an aligned size that holds its bytes, and inside the
    arena; no two buffers alive during a common op share a byte; every tensor's offset is
    its buffer's and its lifetime lies within the buffer's; views and in-place pairs really
    share a buffer and meet only at their op, and an in-place op's input and output have the
    same byte size; in-place depthwise ops are exactly the in-place DEPTHWISE_CONV_2D ops and
    each has a scratch buffer of the bytes its kernel needs; scratch offsets match their buffers.
    """
    a = plan.alignment
    if not isinstance(a, int) or a < 1 or a & (a - 1):
        raise GraphError(f"memory plan: alignment {a!r} is not a power of two")
    for b in plan.buffers:
        where = f"memory plan: buffer '{b.name}' ({b.kind}, {b.size} bytes at offset {b.offset}, ops {b.first}..{b.last})"
        if b.kind not in KINDS:
            raise GraphError(f"{where} has unknown kind (expected one of {', '.join(KINDS)})")
        if b.offset < 0 or b.offset % a:
            raise GraphError(f"{where} is not at a multiple of the {a}-byte alignment")
        if b.size % a or b.size < b.nbytes or b.size <= 0:
            raise GraphError(f"{where} does not reserve an aligned size of at least its {b.nbytes} bytes")
        if b.offset + b.size > plan.arena_bytes:
            raise GraphError(f"{where} runs past the end of the {plan.arena_bytes}-byte arena")
        if b.first > b.last:
            raise GraphError(f"{where} has an empty lifetime")
    _check_pairs(plan)
    _check_tensors(plan)


def _check_pairs(plan: MemoryPlan) -> None:
    bufs = plan.buffers
    if len(bufs) < 2:
        return
    first = np.array([b.first for b in bufs], np.int64)
    last = np.array([b.last for b in bufs], np.int64)
    lo = np.array([b.offset for b in bufs], np.int64)
    hi = lo + np.array([b.size for b in bufs], np.int64)
    clash = ((first[:, None] <= last[None, :]) & (first[None, :] <= last[:, None])
             & (lo[:, None] < hi[None, :]) & (lo[None, :] < hi[:, None]))
    np.fill_diagonal(clash, False)
    if clash.any():
        i, j = (int(k) for k in np.argwhere(clash)[0])
        x, y = bufs[i], bufs[j]
        raise GraphError(
            f"memory plan: buffers '{x.name}' (bytes {x.offset}..{x.end}, ops {x.first}..{x.last}) and "
            f"'{y.name}' (bytes {y.offset}..{y.end}, ops {y.first}..{y.last}) are alive at the same "
            "time and overlap")


def _check_tensors(plan: MemoryPlan) -> None:
    home: dict[str, int] = {}
    for k, b in enumerate(plan.buffers):
        for name in b.tensors:
            if name in home:
                raise GraphError(f"memory plan: tensor '{name}' is stored in two buffers")
            home[name] = k
            lt = plan.lifetimes.get(name)
            if lt is None:
                raise GraphError(f"memory plan: buffer '{b.name}' holds '{name}', which has no lifetime")
            if plan.offsets.get(name) != b.offset:
                raise GraphError(
                    f"memory plan: tensor '{name}' has offset {plan.offsets.get(name)} but its buffer "
                    f"'{b.name}' is at {b.offset}")
            if lt.nbytes > b.size or lt.first < b.first or lt.last > b.last:
                raise GraphError(
                    f"memory plan: tensor '{name}' ({lt.nbytes} bytes, ops {lt.first}..{lt.last}) does not "
                    f"fit its buffer '{b.name}' ({b.size} bytes, ops {b.first}..{b.last})")
    for name, lt in plan.lifetimes.items():
        if lt.nbytes > 0 and name not in home:
            raise GraphError(f"memory plan: tensor '{name}' ({lt.nbytes} bytes) has no buffer")
        if name not in plan.offsets:
            raise GraphError(f"memory plan: tensor '{name}' has no offset")
    for op, (src, dst) in plan.in_place.items():
        if src not in home or home.get(src) != home.get(dst):
            raise GraphError(f"memory plan: in-place op #{op} does not store '{dst}' over '{src}'")
        if plan.lifetimes[src].last != op or plan.lifetimes[dst].first != op:
            raise GraphError(
                f"memory plan: in-place op #{op} overwrites '{src}', which is not dying there (or '{dst}' "
                "is not born there)")
    _check_depthwise(plan)
    for op, (src, dst) in plan.views.items():
        if src not in home or home.get(src) != home.get(dst):
            raise GraphError(f"memory plan: view op #{op} does not alias '{dst}' to '{src}'")
    _check_sharing(plan)
    scratch = {b.op: b for b in plan.buffers if b.kind == "scratch"}
    if set(scratch) != set(plan.scratch_offsets):
        raise GraphError("memory plan: scratch offsets and scratch buffers name different ops")
    for op, b in scratch.items():
        if plan.scratch_offsets[op] != b.offset or b.first != op or b.last != op:
            raise GraphError(f"memory plan: scratch of op #{op} is not a buffer alive only during that op")


def _check_depthwise(plan: MemoryPlan) -> None:
    """The in-place depthwise kernel rewrites its input channel by channel from a plane copied to
    scratch: it needs out == in byte for byte and that scratch."""
    for op, (src, dst) in plan.in_place.items():
        if plan.lifetimes[src].nbytes != plan.lifetimes[dst].nbytes:
            raise GraphError(f"memory plan: in-place op #{op} writes '{dst}' ({plan.lifetimes[dst].nbytes} bytes) "
                             f"over '{src}' ({plan.lifetimes[src].nbytes} bytes)")
        is_dw = 0 <= op < len(plan.op_types) and plan.op_types[op] == "DEPTHWISE_CONV_2D"
        if is_dw and op not in plan.depthwise_in_place:
            raise GraphError(f"memory plan: depthwise op #{op} is in place but not marked for the in-place "
                             "depthwise kernel")
    scratch = {b.op: b for b in plan.buffers if b.kind == "scratch"}
    for op, nbytes in plan.depthwise_in_place.items():
        if op not in plan.in_place or not 0 <= op < len(plan.op_types) \
                or plan.op_types[op] != "DEPTHWISE_CONV_2D":
            raise GraphError(f"memory plan: op #{op} is marked in-place depthwise but is not an in-place "
                             "DEPTHWISE_CONV_2D")
        if nbytes > 0 and (op not in scratch or scratch[op].nbytes < nbytes):
            have = scratch[op].nbytes if op in scratch else 0
            raise GraphError(f"memory plan: in-place depthwise op #{op} needs {nbytes} scratch bytes for its "
                             f"channel plane, the plan gives {have}")


def _check_sharing(plan: MemoryPlan) -> None:
    """Tensors sharing a buffer may be alive together only if they are views of each other,
    or only during the in-place op that writes one over the other."""
    root: dict[str, str] = {}

    def find(n: str) -> str:
        while root.get(n, n) != n:
            n = root[n]
        return n

    for src, dst in plan.views.values():
        root[find(dst)] = find(src)
    for b in plan.buffers:
        for k, s in enumerate(b.tensors):
            for t in b.tensors[k + 1:]:
                ls, lt = plan.lifetimes[s], plan.lifetimes[t]
                if not ls.overlaps(lt) or find(s) == find(t):
                    continue
                step = max(ls.first, lt.first)
                pair = plan.in_place.get(step)
                ok = (min(ls.last, lt.last) == step and pair is not None
                      and {find(pair[0]), find(pair[1])} == {find(s), find(t)})
                if not ok:
                    raise GraphError(
                        f"memory plan: tensors '{s}' (ops {ls.first}..{ls.last}) and '{t}' (ops "
                        f"{lt.first}..{lt.last}) share buffer '{b.name}' while both alive, but neither is a "
                        "view of the other nor written in place over it")
