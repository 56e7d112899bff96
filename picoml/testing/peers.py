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


def tflm_arena(model: Union[str, os.PathLike], arena_size: int = 4_000_000) -> dict[str, int]:
    """tflite-micro's arena use (``head`` = non-persistent, ``tail`` = persistent, ``total``),
    read from its allocation recording, which the runtime prints on the C stderr."""
    import re
    import sys
    import tempfile

    from tflite_micro.python.tflite_micro import runtime

    interp = runtime.Interpreter.from_file(str(model), arena_size=arena_size)
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+") as tmp:
        os.dup2(tmp.fileno(), 2)
        try:
            interp.print_allocations()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        tmp.seek(0)
        text = tmp.read()
    found = {k: int(v) for k, v in re.findall(r"Arena allocation (\w+) (\d+) bytes", text)}
    if set(found) != {"head", "tail", "total"}:
        raise RuntimeError(f"could not read tflite-micro's allocation report: {text[:500]}")
    return found
