"""picoml's intermediate representation (see picoml/ir/graph.py for the conventions)."""
from picoml.ir.dtype import DType
from picoml.ir.graph import Graph, Op, QuantParams, Tensor

__all__ = ["DType", "Graph", "Op", "QuantParams", "Tensor"]
