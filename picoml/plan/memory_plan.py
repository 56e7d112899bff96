"""The memory plan as data: what the code generator emits and what the verifier checks."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from picoml.plan.lifetimes import Lifetime

KINDS = ("tensor", "view-base", "scratch")


@dataclass(frozen=True)
class Buffer:
    """One planned region of the arena.

    ``kind`` is "tensor" (one tensor, or an in-place chain of tensors), "view-base" (a tensor
    plus views aliasing it) or "scratch" (an op's temporary buffer, alive only during ``op``).
    ``tensors`` lists the tensor names stored here, the first written first. ``size`` is the
    reserved byte count (a multiple of the alignment), ``nbytes`` the bytes actually used.
    """

    name: str
    kind: str
    size: int
    nbytes: int
    first: int
    last: int
    offset: int
    tensors: tuple[str, ...] = ()
    op: int = -1

    @property
    def end(self) -> int:
        """First byte after the buffer."""
        return self.offset + self.size

    def alive_at(self, step: int) -> bool:
        """True while op ``step`` runs inside the buffer's lifetime."""
        return self.first <= step <= self.last


@dataclass
class MemoryPlan:
    """Offsets of every arena tensor and scratch buffer in one static arena.

    ``offsets`` maps every non-constant tensor the graph uses to its byte offset (views and
    in-place outputs share their base's offset; zero-byte tensors get 0). ``in_place`` and
    ``views`` map an op index to the (input, output) pair that share bytes at that op, so the
    code generator can skip a view's copy and must call an in-place kernel with out == in.
    ``depthwise_in_place`` maps the DEPTHWISE_CONV_2D ops among them (which need the in-place
    depthwise kernel, :mod:`picoml.plan.inplace`) to the scratch bytes that kernel needs; their
    scratch buffer is that one, not the out-of-place kernel's.
    ``live_bytes[k]`` is the sum of buffer sizes alive while op ``order[k]`` runs. Times
    (buffer and lifetime ``first``/``last``) are positions in ``order``, which is the graph's
    op order for now.
    """

    arena_bytes: int
    alignment: int
    algorithm: str
    offsets: dict[str, int]
    buffers: list[Buffer]
    in_place: dict[int, tuple[str, str]]
    views: dict[int, tuple[str, str]]
    scratch_offsets: dict[int, int]
    order: list[int]
    op_types: list[str]
    lifetimes: dict[str, Lifetime]
    live_bytes: list[int] = field(default_factory=list)
    peak_op: int = -1
    peak_tensors: list[str] = field(default_factory=list)
    depthwise_in_place: dict[int, int] = field(default_factory=dict)

    def live_tensors(self, step: int) -> list[str]:
        """Names alive while op ``step`` runs: tensors by their own lifetime, then scratch."""
        names = [n for n, lt in self.lifetimes.items() if lt.nbytes > 0 and lt.first <= step <= lt.last]
        names += [b.name for b in self.buffers if b.kind == "scratch" and b.alive_at(step)]
        return names

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (``json.dumps`` it) for the CLI and for tools outside picoml."""
        return {
            "arena_bytes": self.arena_bytes,
            "alignment": self.alignment,
            "algorithm": self.algorithm,
            "peak_op": self.peak_op,
            "peak_tensors": list(self.peak_tensors),
            "ops": [
                {"index": i, "type": self.op_types[i], "live_bytes": self.live_bytes[k],
                 "live_tensors": self.live_tensors(k),
                 **({"in_place": list(self.in_place[i])} if i in self.in_place else {}),
                 **({"depthwise_in_place": True} if i in self.depthwise_in_place else {}),
                 **({"view": list(self.views[i])} if i in self.views else {}),
                 **({"scratch_offset": self.scratch_offsets[i]} if i in self.scratch_offsets else {})}
                for k, i in enumerate(self.order)
            ],
            "buffers": [
                {"name": b.name, "kind": b.kind, "offset": b.offset, "size": b.size, "nbytes": b.nbytes,
                 "first": b.first, "last": b.last, "tensors": list(b.tensors),
                 **({"op": b.op} if b.kind == "scratch" else {})}
                for b in self.buffers
            ],
            "offsets": dict(self.offsets),
        }
