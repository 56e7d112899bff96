"""Cost figures of a graph: MACs per op (from each kernel's prepare), binary MACs (xor-popcount
multiply-accumulates of binary layers, counted apart from float / int8 MACs) and parameter bytes,
in total and by bit width (1-bit weights count their packed bytes)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from picoml.errors import PicomlError
from picoml.ir import DType, Graph
from picoml.kernels.registry import KERNELS, get_kernel, supported_ops


@dataclass
class OpCost:
    index: int
    type: str
    macs: Optional[int]  # None when picoml has no kernel for the op
    supported: bool
    binary_macs: int = 0  # xor-popcount MACs of binary layers (LceBconv2d)


@dataclass
class GraphCost:
    ops: list[OpCost] = field(default_factory=list)
    param_bytes: int = 0
    param_bytes_by_bits: dict[str, int] = field(default_factory=dict)

    @property
    def macs(self) -> int:
        return sum(o.macs or 0 for o in self.ops)

    @property
    def binary_macs(self) -> int:
        return sum(o.binary_macs for o in self.ops)

    @property
    def unsupported(self) -> list[OpCost]:
        return [o for o in self.ops if not o.supported]


def graph_cost(graph: Graph) -> GraphCost:
    """MACs of every supported op and the bytes of all constant tensors (the flash weights)."""
    supported_ops()  # load the kernel table
    cost = GraphCost(param_bytes=sum(t.nbytes for t in graph.constants()),
                     param_bytes_by_bits=param_bytes_by_bits(graph))
    for op in graph.ops:
        if op.type not in KERNELS:
            cost.ops.append(OpCost(op.index, op.type, None, False))
            continue
        try:
            params = get_kernel(op).prepare(op, graph)
        except PicomlError:
            raise
        except Exception as e:  # a malformed op that the kernel's checks did not anticipate
            raise PicomlError(f"{op.describe()}: cannot prepare ({type(e).__name__}: {e})") from None
        cost.ops.append(OpCost(op.index, op.type, int(params.get("macs", 0)), True,
                               int(params.get("binary_macs", 0))))
    return cost


def param_bytes_by_bits(graph: Graph) -> dict[str, int]:
    """Bytes of the constant tensors grouped by element width in bits ("1" for bitpacked
    weights, which count their packed storage); "1", "8" and "32" are always present."""
    totals = {"1": 0, "8": 0, "32": 0}
    for t in graph.constants():
        bits = "1" if t.dtype is DType.BITPACKED else str(8 * t.dtype.itemsize)
        totals[bits] = totals.get(bits, 0) + t.nbytes
    return totals
