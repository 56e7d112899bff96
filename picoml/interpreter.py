"""Run an IR graph on the NumPy reference kernels: the semantic truth for every engine."""
from __future__ import annotations

from typing import Mapping, Optional, Sequence, Union

import numpy as np

from picoml.errors import GraphError, InputError, PicomlError
from picoml.ir import Graph, Op, Tensor
from picoml.kernels.registry import Kernel, Params, check_supported, get_kernel

Inputs = Union[Sequence[np.ndarray], Mapping[str, np.ndarray], np.ndarray]


class Interpreter:
    """Prepares every op once (checking it), then evaluates them in order on each ``run``."""

    def __init__(self, graph: Graph) -> None:
        check_supported(graph)
        graph.validate()
        self.graph = graph
        self.steps: list[tuple[Op, Kernel, Params]] = []
        for op in graph.ops:
            kernel = get_kernel(op)
            try:
                params = kernel.prepare(op, graph)
            except PicomlError:
                raise
            except (KeyError, ValueError, TypeError, IndexError, ZeroDivisionError, OverflowError) as e:
                raise GraphError(f"{op.describe()}: malformed operator ({type(e).__name__}: {e})") from None
            self.steps.append((op, kernel, params))

    @property
    def macs(self) -> int:
        return sum(int(p.get("macs", 0)) for _, _, p in self.steps)

    def op_macs(self) -> list[int]:
        return [int(p.get("macs", 0)) for _, _, p in self.steps]

    def run(self, inputs: Inputs, keep: bool = False) -> list[np.ndarray]:
        """Outputs of one inference. With ``keep`` every intermediate stays in ``self.values``."""
        g = self.graph
        values: dict[str, np.ndarray] = {t.name: t.data for t in g.tensors.values() if t.is_const}
        for t in g.tensors.values():
            if t.variable and not t.is_const:
                values[t.name] = np.zeros(t.storage_shape, t.dtype.numpy)
        values.update(bind_inputs(g, inputs))
        for op, kernel, params in self.steps:
            args = [None if n is None else values[n] for n in op.inputs]
            outs = kernel.eval(params, args)
            for name, arr in zip(op.outputs, outs):
                _check_output(op, g.tensors[name], arr)
                values[name] = arr
        if keep:
            self.values = values
        return [values[n] for n in g.outputs]


def bind_inputs(graph: Graph, inputs: Inputs) -> dict[str, np.ndarray]:
    """Match user arrays to the graph inputs, checking count, dtype and shape."""
    if isinstance(inputs, np.ndarray):
        inputs = [inputs]
    if isinstance(inputs, Mapping):
        missing = [n for n in graph.inputs if n not in inputs]
        if missing:
            raise InputError(f"missing input(s) {missing}; the model's inputs are {graph.inputs}")
        arrays = [inputs[n] for n in graph.inputs]
    else:
        arrays = list(inputs)
    if len(arrays) != len(graph.inputs):
        raise InputError(f"the model takes {len(graph.inputs)} input(s) but {len(arrays)} were given")
    bound = {}
    for i, (t, a) in enumerate(zip(graph.input_tensors, arrays)):
        a = np.asarray(a)
        if a.dtype != t.dtype.numpy:
            raise InputError(
                f"input {i} {t.describe()} expects {t.dtype.value} data but got {a.dtype}; "
                "quantize float data with the input's scale and zero point first (CLI: --quantize)")
        want = t.storage_shape
        if a.shape != want:
            n = int(np.prod(want, dtype=np.int64))
            if a.size != n:
                raise InputError(f"input {i} {t.describe()} expects shape {list(want)} "
                                 f"({n} elements) but got {list(a.shape)} ({a.size} elements)")
            a = a.reshape(want)
        bound[t.name] = a
    return bound


def _check_output(op: Op, t: Tensor, arr: np.ndarray) -> None:
    if arr.dtype != t.dtype.numpy or arr.shape != t.storage_shape:
        raise GraphError(f"{op.describe()} produced {arr.dtype}{list(arr.shape)} for output {t.describe()}")


def run(graph: Graph, inputs: Inputs) -> list[np.ndarray]:
    """One-shot convenience: prepare and run."""
    return Interpreter(graph).run(inputs)


def quantize_input(t: Tensor, x: np.ndarray) -> np.ndarray:
    """Float data to a quantized input tensor's dtype: round half away, clamp (TFLite's rule)."""
    info = np.iinfo(t.dtype.numpy)
    q = (np.asarray(x, np.float32) / np.float32(t.scale)).astype(np.float64)  # float32, as TFLM's QUANTIZE
    q = np.where(q >= 0, np.floor(q + 0.5), -np.floor(-q + 0.5)) + t.zero_point
    return np.clip(q, info.min, info.max).astype(t.dtype.numpy)


def optional(values: Sequence[Optional[np.ndarray]], i: int) -> Optional[np.ndarray]:
    return values[i] if i < len(values) else None
