"""Host latency of picoml's generated C against tflite-micro and LiteRT, on the real models.

    .venv/bin/python benchmarks/host_latency.py [--runs N] [--models SUBSTRING ...]

Per model, in one process and on the same inputs: the median time of one inference (setting the
inputs and reading the outputs included) of

* picoml: the generated C project built for the host (``picoml.compile(path, target="host")``,
  flags in the title) and called through ctypes;
* tflite-micro: its Python interpreter (reference kernels);
* LiteRT BUILTIN_REF: ``ai_edge_litert`` with TFLite's reference kernels;
* LiteRT default: ``ai_edge_litert`` with its default (XNNPACK) kernels;

and how many times faster picoml is than each (measured in this run). "bits" says whether
picoml's C output equals tflite-micro's bit for bit on the benchmark input. A model whose ops
lack a C kernel shows which; an engine that refuses a model (LiteRT rejects person_detect's
bias quantization) shows "refuses".
"""
from __future__ import annotations

import argparse
import statistics
import time
from typing import Callable, Optional, Sequence

import numpy as np
from rich.console import Console
from rich.table import Table

import picoml
from picoml.errors import UnsupportedError
from picoml.testing.opmodel import random_input
from picoml.testing.peers import TflmModel
from picoml.testing.real import INT8_MODELS, real_path

MODELS = INT8_MODELS
Runner = Callable[[], Sequence[np.ndarray]]


def median_ms(fn: Runner, runs: int) -> float:
    """Median wall time of ``fn`` over ``runs`` calls, after one warm-up call."""
    fn()
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1e3)
    return statistics.median(times)


def picoml_runner(path: str, inputs: list[np.ndarray]) -> tuple[Optional[Runner], str]:
    """A callable running the host C build, or None and why not."""
    try:
        model = picoml.compile(path, target="host")
    except UnsupportedError as e:
        message = str(e)
        return None, message.split(";")[0].replace(" yet", "") if message.startswith("no C kernel") else message
    return (lambda: model.run(inputs)), ""


def litert_runner(path: str, inputs: list[np.ndarray], reference: bool) -> tuple[Optional[Runner], str]:
    """A callable running LiteRT (reference kernels or its default ones), or None and why not."""
    from ai_edge_litert import interpreter as litert

    try:
        kind = litert.OpResolverType.BUILTIN_REF if reference else litert.OpResolverType.AUTO
        interp = litert.Interpreter(model_path=path, experimental_op_resolver_type=kind)
        interp.allocate_tensors()
    except (RuntimeError, ValueError):
        return None, "refuses"
    ins = [d["index"] for d in interp.get_input_details()]
    outs = [d["index"] for d in interp.get_output_details()]

    def run() -> list[np.ndarray]:
        for i, x in zip(ins, inputs):
            interp.set_tensor(i, x)
        interp.invoke()
        return [interp.get_tensor(o) for o in outs]

    return run, ""


def cell(ms: Optional[float], why: str) -> str:
    return f"{ms:.3f}" if ms is not None else why


def ratio(theirs: Optional[float], ours: Optional[float]) -> str:
    return f"{theirs / ours:.1f}x" if theirs is not None and ours is not None else "-"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=30, help="timed runs per engine (at least 20)")
    ap.add_argument("--models", nargs="*", help="only models whose path contains one of these")
    args = ap.parse_args()
    runs = max(args.runs, 20)
    from picoml.targets.host import HOST_CFLAGS, compiler, native_flags

    flags = " ".join([*HOST_CFLAGS, *native_flags(compiler())])
    table = Table("model", "MACs", "picoml C ms", "tflite-micro ms", "vs TFLM", "LiteRT ref ms", "vs ref",
                  "LiteRT default ms", "vs default", "bits",
                  title=f"host latency, median of {runs} runs (picoml: {compiler()} {flags})")
    rng = np.random.default_rng(0)
    for rel in MODELS:
        if args.models and not any(s in rel for s in args.models):
            continue
        path = str(real_path(rel))
        graph = picoml.load_tflite(path)
        inputs = [random_input(t, rng) for t in graph.input_tensors]
        from picoml.interpreter import Interpreter

        macs = Interpreter(graph).macs
        ours_fn, ours_why = picoml_runner(path, inputs)
        tflm = TflmModel(path)
        ref_fn, ref_why = litert_runner(path, inputs, reference=True)
        xnn_fn, xnn_why = litert_runner(path, inputs, reference=False)
        ours = median_ms(ours_fn, runs) if ours_fn else None
        theirs = median_ms(lambda: tflm.run(inputs), runs)
        ref = median_ms(ref_fn, runs) if ref_fn else None
        xnn = median_ms(xnn_fn, runs) if xnn_fn else None
        bits = "-"
        if ours_fn:
            got, expected = ours_fn(), tflm.run(inputs)
            bits = "equal" if all(np.array_equal(np.asarray(g).ravel(), np.asarray(e).ravel())
                                  for g, e in zip(got, expected)) else "DIFFER"
        table.add_row(rel.split("/")[-1].replace(".tflite", ""), f"{macs:,}", cell(ours, ours_why),
                      f"{theirs:.3f}", ratio(theirs, ours), cell(ref, ref_why), ratio(ref, ours),
                      cell(xnn, xnn_why), ratio(xnn, ours), bits)
    Console(width=200).print(table)


if __name__ == "__main__":
    main()
