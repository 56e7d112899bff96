"""Reference-interpreter time per inference against tflite-micro's, on the real models.

    .venv/bin/python benchmarks/reference_speed.py [--runs N]

Both run the same inputs in the same process; the table gives medians and the ratio
(picoml / tflite-micro: below 1 means picoml's NumPy reference is faster).
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
from rich.console import Console
from rich.table import Table

import picoml
from picoml.interpreter import Interpreter
from picoml.testing.opmodel import random_input
from picoml.testing.peers import TflmModel
from picoml.testing.real import INT8_MODELS, real_path

MODELS = INT8_MODELS


def median_ms(fn, runs: int) -> float:
    fn()  # warm up
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1e3)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=10)
    args = ap.parse_args()
    table = Table("model", "MACs", "picoml ref ms", "tflite-micro ms", "ratio", title="reference interpreter speed")
    rng = np.random.default_rng(0)
    for rel in MODELS:
        path = real_path(rel)
        g = picoml.load_tflite(path)
        interp = Interpreter(g)
        tflm = TflmModel(path)
        x = [random_input(t, rng) for t in g.input_tensors]
        ours = median_ms(lambda: interp.run(x), args.runs)
        theirs = median_ms(lambda: tflm.run(x), args.runs)
        table.add_row(rel.split("/")[-1], f"{interp.macs:,}", f"{ours:.2f}", f"{theirs:.2f}", f"{ours / theirs:.2f}")
    Console(width=150).print(table)


if __name__ == "__main__":
    main()
