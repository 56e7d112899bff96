"""Shared helpers for the planner tests: a tiny graph builder (as a fixture)."""
from __future__ import annotations

from typing import Callable, Sequence, Union

import numpy as np
import pytest

from picoml.ir import DType, Graph, Op, Tensor

Shape = tuple[int, ...]
Spec = Union[Shape, tuple[Shape, DType]]


def build_graph(tensors: dict[str, Spec], ops: Sequence[tuple], inputs: Sequence[str],
                outputs: Sequence[str], consts: Sequence[str] = (), variables: Sequence[str] = ()) -> Graph:
    """A validated graph from ``name -> shape`` (int8) or ``name -> (shape, dtype)`` and
    ``(type, [inputs], [outputs])`` ops; ``consts`` get zero data, ``variables`` are state."""
    ts = {}
    for name, spec in tensors.items():
        shape, dtype = (spec if len(spec) == 2 and isinstance(spec[1], DType) else (spec, DType.INT8))
        data = np.zeros(shape, dtype.numpy) if name in consts else None
        ts[name] = Tensor(name, tuple(shape), dtype, data=data, variable=name in variables)
    graph_ops = [Op(t, list(i), list(o)) for t, i, o in ops]
    return Graph(ts, graph_ops, list(inputs), list(outputs)).validate()


@pytest.fixture
def make_graph() -> Callable[..., Graph]:
    return build_graph
