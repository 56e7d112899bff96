"""The kernel table: one entry per IR op type.

Each kernel is split the TFLM way (Prepare / Eval):

* ``prepare(op, graph) -> dict`` runs once, at build time. It checks dtypes, shapes and
  quantization (raising :class:`picoml.errors.GraphError` naming the op and tensor), and
  computes everything constant: padding, fixed-point multipliers and shifts, lookup tables,
  output shape. The dict is the op's parameter block; the C code generator emits the same
  values as ``const`` data, so NumPy and C cannot disagree on them. It must contain
  ``"macs"`` (int, multiply-accumulates of one inference; 0 for data movement).
* ``eval(params, inputs) -> list[np.ndarray]`` computes the outputs from the input arrays
  (``None`` for absent optional inputs). It is pure and vectorised.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Optional

import numpy as np

from picoml.errors import UnsupportedError
from picoml.ir import Graph, Op

Params = dict[str, Any]
PrepareFn = Callable[[Op, Graph], Params]
EvalFn = Callable[[Params, list[Optional[np.ndarray]]], list[np.ndarray]]


@dataclass(frozen=True)
class Kernel:
    op_type: str
    prepare: PrepareFn
    eval: EvalFn
    dtypes: str  # human-readable list of supported type combinations, for error messages


KERNELS: dict[str, Kernel] = {}


def register(op_type: str, dtypes: str) -> Callable[[type], type]:
    """Class decorator: a class with static ``prepare`` and ``eval`` becomes the kernel."""

    def deco(cls: type) -> type:
        KERNELS[op_type] = Kernel(op_type, cls.prepare, cls.eval, dtypes)
        return cls

    return deco


def supported_ops() -> list[str]:
    _load_all()
    return sorted(KERNELS)


def get_kernel(op: Op) -> Kernel:
    _load_all()
    k = KERNELS.get(op.type)
    if k is None:
        raise UnsupportedError(unsupported_message([op]))
    return k


def check_supported(graph: Graph) -> None:
    """Raise one error listing every op of the graph that has no kernel."""
    _load_all()
    missing = [op for op in graph.ops if op.type not in KERNELS]
    if missing:
        raise UnsupportedError(unsupported_message(missing))


def unsupported_message(ops: list[Op]) -> str:
    listed = ", ".join(f"#{op.index} {op.type}" for op in ops)
    return (f"unsupported operator(s): {listed}. picoml supports: {', '.join(sorted(KERNELS))}. "
            "Re-export the model without these operators (or replace them with supported ones).")


def _load_all() -> None:
    # Importing the kernel modules fills the table.
    from picoml import kernels  # noqa: F401
