"""Small graph-editing helpers shared by the passes (the IR has no mutation API of its own)."""
from __future__ import annotations

from typing import Optional

import numpy as np

from picoml.ir import DType, Graph, Op, QuantParams, Tensor

ACTIVATIONS = ("RELU", "RELU6", "RELU_N1_TO_1")


def consumers(graph: Graph, name: str) -> list[Op]:
    """Ops that read tensor ``name``."""
    return [op for op in graph.ops if name in op.inputs]


def sole_consumer(graph: Graph, name: str) -> Optional[Op]:
    """The only op reading ``name`` (once), or None when it has several readers or is a graph output."""
    if name in graph.outputs:
        return None
    readers = consumers(graph, name)
    if len(readers) != 1 or readers[0].inputs.count(name) != 1:
        return None
    return readers[0]


def absorb(graph: Graph, producer: Op, consumer: Op) -> None:
    """``producer`` now writes ``consumer``'s output and ``consumer`` disappears."""
    producer.outputs[0] = consumer.outputs[0]
    graph.ops.remove(consumer)


def add_const(graph: Graph, base: str, data: np.ndarray, quant: Optional[QuantParams] = None,
              dtype: Optional[DType] = None, shape: Optional[tuple[int, ...]] = None) -> str:
    """A new constant tensor named after ``base`` (never overwrites: weights may be shared)."""
    name, k = base, 1
    while name in graph.tensors:
        name = f"{base}_{k}"
        k += 1
    dtype = dtype or DType.from_numpy(data.dtype)
    graph.tensors[name] = Tensor(name, shape if shape is not None else data.shape, dtype, data=data, quant=quant)
    return name


def const_data(graph: Graph, name: Optional[str]) -> Optional[np.ndarray]:
    """The data of a constant input (None when absent or not constant)."""
    if name is None:
        return None
    t = graph.tensors[name]
    return t.data if t.is_const else None


def prune(graph: Graph) -> Graph:
    """Drop ops whose outputs nobody reads and tensors nothing references; renumber and validate."""
    ops = list(graph.ops)
    changed = True
    while changed:
        changed = False
        read = set(graph.outputs) | {n for op in ops for n in op.inputs if n is not None}
        for op in list(ops):
            if not any(n in read for n in op.outputs):
                ops.remove(op)
                changed = True
    used = set(graph.inputs) | set(graph.outputs) | {n for op in ops for n in (*op.inputs, *op.outputs) if n}
    tensors = {k: t for k, t in graph.tensors.items() if k in used}
    return Graph(tensors, ops, list(graph.inputs), list(graph.outputs), name=graph.name,
                 description=graph.description).validate()
