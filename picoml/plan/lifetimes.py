"""Tensor lifetimes: when each arena tensor must hold its bytes, the input of every allocator.

Time is the op index in execution order, and both ends of a lifetime are inclusive: a tensor
is alive from the op that writes it to the last op that reads it, because an op reads its
inputs while it writes its outputs. Following TFLM (``micro_allocation_info.cc``):

* graph inputs are alive from the start (op 0), graph outputs until the end (the last op);
* variable tensors (persistent state such as LSTM cells) are alive for the whole run, so no
  other tensor ever shares their bytes and the state survives from one inference to the next
  (TFLM keeps them in its persistent tail instead; picoml has one arena, so its arena counts
  them and TFLM's "head" does not);
* constants live in flash and are never planned; absent optional inputs (``None``) are skipped;
* a tensor that some op reads but nothing writes (and that is not a graph input) is alive from
  its first reader, so it still gets bytes of its own.

As in TFLM, a graph input's bytes may be reused once its last reader has run, and a graph
output may sit where an input was: write the inputs, invoke, then read the outputs.
"""
from __future__ import annotations

from dataclasses import dataclass

from picoml.ir import Graph


@dataclass(frozen=True)
class Lifetime:
    """One arena tensor's byte size and the inclusive range of ops during which it is alive."""

    name: str
    nbytes: int
    first: int
    last: int

    def overlaps(self, other: "Lifetime") -> bool:
        """True when the two tensors are alive during at least one common op."""
        return self.first <= other.last and other.first <= self.last


def tensor_lifetimes(graph: Graph) -> dict[str, Lifetime]:
    """Lifetime of every non-constant tensor the graph uses, in the graph's tensor order.

    Tensors that no op and no graph input/output refers to (e.g. TFLite LSTM "intermediates")
    are left out. Zero-byte tensors are kept (with ``nbytes == 0``); the planner gives them no
    buffer.
    """
    end = max(len(graph.ops) - 1, 0)
    first: dict[str, int] = {}
    last: dict[str, int] = {}

    def touch(name: str, step: int) -> None:
        if graph.tensors[name].is_const:
            return
        first.setdefault(name, step)
        last[name] = max(last.get(name, step), step)

    for name in graph.inputs:
        touch(name, 0)
    for i, op in enumerate(graph.ops):
        for name in op.outputs:
            touch(name, i)
        for name in op.inputs:
            if name is not None:
                touch(name, i)
    for name in graph.outputs:
        touch(name, end)
    for name in list(first):
        if graph.tensors[name].variable:
            first[name], last[name] = 0, end
    return {
        name: Lifetime(name, graph.tensors[name].nbytes, first[name], last[name])
        for name in graph.tensors if name in first
    }
