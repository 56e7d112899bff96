"""Constant folding: an op whose inputs are all constants is evaluated once, at conversion time,
by its reference kernel, and its outputs become constants (then unused tensors are dropped)."""
from __future__ import annotations

from picoml.errors import UnsupportedError
from picoml.ir import Graph
from picoml.kernels.registry import get_kernel
from picoml.passes.rewrite import prune


def fold_constants(graph: Graph) -> Graph:
    """Evaluate every op with only constant inputs (pseudo-ops without a kernel are left alone)."""
    for op in list(graph.ops):
        names = [n for n in op.inputs if n is not None]
        if not names or not all(graph.tensors[n].is_const for n in names):
            continue
        try:
            kernel = get_kernel(op)
        except UnsupportedError:
            continue
        outs = kernel.eval(kernel.prepare(op, graph), [None if n is None else graph.tensors[n].data
                                                        for n in op.inputs])
        for name, arr in zip(op.outputs, outs):
            graph.tensors[name].data = arr
        graph.ops.remove(op)
    return prune(graph)
