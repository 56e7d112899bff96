"""Run models in the peer engines picoml is measured against (tflite-micro's Python package)."""
from __future__ import annotations

import os
from typing import Sequence, Union

import numpy as np


def tflm_available() -> bool:
    try:
        import tflite_micro  # noqa: F401
    except ImportError:
        return False
    return True


class TflmModel:
    """A tflite-micro interpreter (reference kernels) for one model, built once."""

    def __init__(self, model: Union[bytes, str, os.PathLike]) -> None:
        from tflite_micro.python.tflite_micro import runtime

        if not isinstance(model, (bytes, bytearray)):
            with open(model, "rb") as f:
                model = f.read()
        from picoml.frontends.tflite import load_tflite

        graph = load_tflite(bytes(model))
        self.n_outputs = len(graph.outputs)
        # The runtime's default arena (10x the file size) is too small for large activations
        # or kernel scratch (e.g. int16 SOFTMAX LUTs): add room for every tensor.
        arena = 10 * len(model) + 2 * sum(max(t.nbytes, 0) for t in graph.tensors.values()) + 16384
        self.interp = runtime.Interpreter.from_bytes(bytes(model), arena_size=arena)

    def run(self, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        self.interp.reset()
        for i, x in enumerate(inputs):
            self.interp.set_input(np.ascontiguousarray(x), i)
        self.interp.invoke()
        return [np.array(self.interp.get_output(i)) for i in range(self.n_outputs)]


def run_tflm(model: Union[bytes, str, os.PathLike], inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
    return TflmModel(model).run(inputs)
