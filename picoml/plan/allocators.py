"""Offset assignment: given buffers as (size, first, last), put each at an arena offset so that
buffers alive at the same time never share a byte, and keep the arena small.

Every allocator takes requests whose sizes are already multiples of ``alignment`` and returns
one offset per request (a multiple of ``alignment``). They are registered in ``ALGORITHMS``:

* ``naive``: no reuse at all, buffers one after another (a baseline for tests and reports);
* ``greedy``: TFLM's ``GreedyMemoryPlanner``: buffers sorted by size, largest first, each
  placed at the lowest offset where it fits between the already placed buffers that are alive
  at the same time. Equal sizes go in reverse request order, as in TFLM (it fills its sort
  array from the tail, then sorts stably), so with requests in tensor order the arena is
  byte-for-byte TFLM's;
* ``best_fit``: picoml's default. It runs the greedy plan and several other orderings
  (lifetime length, size x lifetime, first use, peak-first, crowdedness), each with
  lowest-gap and smallest-gap placement, and keeps the smallest arena; graphs with at most
  ``EXACT_LIMIT`` buffers get an exhaustive search. It stops early when an arena equals the
  peak of live bytes, which no plan can beat. Because the greedy plan is one of its
  candidates, it is never worse than ``greedy``.
"""
from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import Callable, Sequence

EXACT_LIMIT = 8  # buffers; graphs this small get an exhaustive search ...
EXACT_BUDGET = 50_000  # ... of at most this many placements


@dataclass(frozen=True)
class Request:
    """A buffer to place: ``size`` bytes alive from op ``first`` to op ``last`` inclusive."""

    size: int
    first: int
    last: int


Allocator = Callable[[Sequence[Request], int], list[int]]


def naive(requests: Sequence[Request], alignment: int) -> list[int]:
    """Every buffer gets its own bytes: the arena is the sum of all sizes."""
    offsets, top = [], 0
    for r in requests:
        offsets.append(top)
        top = align_up(top + r.size, alignment)
    return offsets


def greedy(requests: Sequence[Request], alignment: int) -> list[int]:
    """TFLM's greedy-by-size plan (largest first, lowest gap that fits)."""
    return _place(requests, _by_size(requests), alignment, smallest_gap=False)[0]


def best_fit(requests: Sequence[Request], alignment: int) -> list[int]:
    """The smallest arena over several orderings and placement rules (see module docstring)."""
    if not requests:
        return []
    bound = peak_live_bytes(requests)
    best, best_top = _place(requests, _by_size(requests), alignment, smallest_gap=False)
    if best_top <= bound:
        return best
    for order in _orderings(requests):
        for smallest_gap in (False, True):
            offsets, top = _place(requests, order, alignment, smallest_gap)
            if top < best_top:
                best, best_top = offsets, top
                if best_top <= bound:
                    return best
    if len(requests) <= EXACT_LIMIT:
        offsets, top = _exact(requests, alignment, best_top, bound)
        if top < best_top:
            best = offsets
    return best


ALGORITHMS: dict[str, Allocator] = {"naive": naive, "greedy": greedy, "best_fit": best_fit}


def peak_live_bytes(requests: Sequence[Request]) -> int:
    """The largest total size of buffers alive at one op: a lower bound for any arena."""
    if not requests:
        return 0
    events: dict[int, int] = {}
    for r in requests:
        events[r.first] = events.get(r.first, 0) + r.size
        events[r.last + 1] = events.get(r.last + 1, 0) - r.size
    live = peak = 0
    for t in sorted(events):
        live += events[t]
        peak = max(peak, live)
    return peak


def align_up(n: int, alignment: int) -> int:
    """``n`` rounded up to a multiple of ``alignment``."""
    return -(-n // alignment) * alignment


def _by_size(requests: Sequence[Request]) -> list[int]:
    """TFLM's order: size descending, ties in reverse request order."""
    return sorted(reversed(range(len(requests))), key=lambda i: -requests[i].size)


def _orderings(requests: Sequence[Request]) -> list[list[int]]:
    """Candidate placement orders for best_fit (each a permutation of request indices)."""
    idx = range(len(requests))
    size = [r.size for r in requests]
    length = [r.last - r.first + 1 for r in requests]
    crowd = [sum(s.size for s in requests if s.first <= r.last and r.first <= s.last) for r in requests]
    peak_time = _peak_time(requests)
    at_peak = [r.first <= peak_time <= r.last for r in requests]
    keys = [
        lambda i: (-size[i], -length[i]),
        lambda i: (-length[i], -size[i]),
        lambda i: (-size[i] * length[i], -size[i]),
        lambda i: (requests[i].first, -size[i]),
        lambda i: (-requests[i].last, -size[i]),
        lambda i: (not at_peak[i], -size[i]),
        lambda i: (-crowd[i], -size[i]),
        lambda i: (-size[i], requests[i].first),
    ]
    return [sorted(idx, key=k) for k in keys]


def _peak_time(requests: Sequence[Request]) -> int:
    times = sorted({r.first for r in requests})
    return max(times, key=lambda t: sum(r.size for r in requests if r.first <= t <= r.last))


def _place(requests: Sequence[Request], order: Sequence[int], alignment: int,
           smallest_gap: bool) -> tuple[list[int], int]:
    """Place buffers one by one in ``order``; return the offsets and the arena size.

    Each buffer goes into a gap between already placed buffers that are alive at the same
    time: the lowest gap that fits or, with ``smallest_gap``, the tightest one (lowest among
    equals); above all of them when no gap fits.
    """
    offsets = [0] * len(requests)
    placed: list[tuple[int, int, int]] = []  # (offset, end, request index), sorted by offset
    top = 0
    for i in order:
        r = requests[i]
        offsets[i] = _find_gap(requests, placed, r, alignment, smallest_gap)
        end = offsets[i] + r.size
        bisect.insort(placed, (offsets[i], end, i))
        top = max(top, end)
    return offsets, top


def _find_gap(requests: Sequence[Request], placed: list[tuple[int, int, int]], r: Request,
              alignment: int, smallest_gap: bool) -> int:
    candidate, chosen, chosen_gap = 0, -1, -1
    for offset, end, j in placed:
        other = requests[j]
        if other.first > r.last or r.first > other.last:
            continue
        gap = offset - candidate
        if gap >= r.size:
            if not smallest_gap:
                return candidate
            if chosen < 0 or gap < chosen_gap:
                chosen, chosen_gap = candidate, gap
        candidate = max(candidate, align_up(end, alignment))
    return chosen if chosen >= 0 else candidate


def _exact(requests: Sequence[Request], alignment: int, limit: int, bound: int) -> tuple[list[int], int]:
    """Exhaustive search over placement orders with lowest-gap placement (which reaches an
    optimal plan: place the buffers of any optimal plan in offset order and none lands higher).
    Branches that already reach ``limit`` bytes are cut, and the search gives up after
    ``EXACT_BUDGET`` placements; returns the best (offsets, arena) found below ``limit``."""
    n = len(requests)
    best: list = [None, limit]
    budget = [EXACT_BUDGET]
    offsets = [0] * n
    placed: list[tuple[int, int, int]] = []

    def search(remaining: list[int], top: int) -> bool:
        if not remaining:
            best[0], best[1] = list(offsets), top
            return top <= bound
        for k, i in enumerate(remaining):
            budget[0] -= 1
            if budget[0] < 0:
                return True
            r = requests[i]
            off = _find_gap(requests, placed, r, alignment, smallest_gap=False)
            new_top = max(top, off + r.size)
            if new_top >= best[1]:
                continue
            offsets[i] = off
            entry = (off, off + r.size, i)
            bisect.insort(placed, entry)
            done = search(remaining[:k] + remaining[k + 1:], new_top)
            placed.remove(entry)
            if done:
                return True
        return False

    search(list(range(n)), 0)
    return (best[0], best[1]) if best[0] is not None else ([], limit)
