"""Cost figures of a graph: MACs per op (from each kernel's prepare) and parameter bytes."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from picoml.errors import PicomlError
from picoml.ir import Graph
from picoml.kernels.registry import KERNELS, get_kernel, supported_ops


@dataclass
class OpCost:
    index: int
    type: str
    macs: Optional[int]  # None when picoml has no kernel for the op
    supported: bool


@dataclass
class GraphCost:
    ops: list[OpCost] = field(default_factory=list)
    param_bytes: int = 0

    @property
    def macs(self) -> int:
        return sum(o.macs or 0 for o in self.ops)

    @property
    def unsupported(self) -> list[OpCost]:
        return [o for o in self.ops if not o.supported]


def graph_cost(graph: Graph) -> GraphCost:
    """MACs of every supported op and the bytes of all constant tensors (the flash weights)."""
    supported_ops()  # load the kernel table
    cost = GraphCost(param_bytes=sum(t.nbytes for t in graph.constants()))
    for op in graph.ops:
        if op.type not in KERNELS:
            cost.ops.append(OpCost(op.index, op.type, None, False))
            continue
        try:
            macs = int(get_kernel(op).prepare(op, graph).get("macs", 0))
        except PicomlError:
            raise
        except Exception as e:  # a malformed op that the kernel's checks did not anticipate
            raise PicomlError(f"{op.describe()}: cannot prepare ({type(e).__name__}: {e})") from None
        cost.ops.append(OpCost(op.index, op.type, macs, True))
    return cost
