"""Run a model in Larq Compute Engine's own interpreter, which lives in a separate venv.

LCE 0.16 needs tensorflow-cpu 2.16.2 and numpy<2, which cannot share picoml's environment, so
the model and inputs go to a child process of the LCE venv's Python (``LCE_PYTHON``, set up by
``make test-peers``) and the outputs come back as an ``.npz``.
"""
from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

_SCRIPT = """
import sys, numpy as np
from larq_compute_engine.tflite.python.interpreter import Interpreter
blob = open(sys.argv[1], "rb").read()
xs = np.load(sys.argv[2])
interp = Interpreter(blob, num_threads=1)
outs = [interp.predict(xs[k]) for k in sorted(xs.files)]
np.savez(sys.argv[3], *[np.asarray(o) for o in outs])
"""


def lce_python() -> Optional[str]:
    p = os.environ.get("LCE_PYTHON")
    return p if p and Path(p).exists() else None


def run_lce(model: bytes, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
    """LCE's outputs (default kernels) for each input array (each with its batch axis)."""
    py = lce_python()
    if py is None:
        raise RuntimeError("LCE_PYTHON is not set to the Python of an LCE venv (run `make test-peers`)")
    with tempfile.TemporaryDirectory() as d:
        m, x, y = Path(d, "m.tflite"), Path(d, "x.npz"), Path(d, "y.npz")
        m.write_bytes(model)
        np.savez(x, *inputs)
        env = {**os.environ, "TF_USE_LEGACY_KERAS": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}
        r = subprocess.run([py, "-c", _SCRIPT, str(m), str(x), str(y)], capture_output=True, text=True, env=env)
        if r.returncode != 0:
            raise RuntimeError(f"LCE interpreter failed: {r.stderr[-2000:]}")
        out = np.load(y)
        return [out[f"arr_{i}"] for i in range(len(inputs))]
