"""Arena bytes: picoml's memory plan against tflite-micro's arena, per real model.

    .venv/bin/python benchmarks/memory.py

TFLM's figures come from its allocation recording in the same run: ``head`` is the
non-persistent arena (activations and scratch, what picoml's arena holds), ``total`` adds the
persistent tail (TFLM's runtime structures, which generated C does not need).
"""
from __future__ import annotations

from rich.console import Console
from rich.table import Table

import picoml
from picoml.interpreter import Interpreter
from picoml.plan import fitted_scratch, plan_graph
from picoml.testing.peers import tflm_arena
from picoml.testing.real import real_path

MODELS = [
    "tflm/person_detection/person_detect.tflite",
    "tflm/micro_speech/micro_speech_quantized.tflite",
    "tflm/hello_world/hello_world_int8.tflite",
    "tflm/hello_world/hello_world_float.tflite",
    "tflm/misc/simple_add_model.tflite",
    "mlperf_tiny/kws/kws_ref_model.tflite",
    "mlperf_tiny/vww/vww_96_int8.tflite",
    "mlperf_tiny/vww/vww_96_float.tflite",
    "mlperf_tiny/ic/pretrainedResnet_quant.tflite",
    "mlperf_tiny/ic/pretrainedResnet_large_int8.tflite",
    "mlperf_tiny/ic/pretrainedResnet.tflite",
    "mlperf_tiny/ad/ad01_int8.tflite",
    "mlperf_tiny/ad/ad01_fp32.tflite",
    "mlperf_tiny/sww/str_ww_ref_model.tflite",
    "tflm/mobilenet_v2_pytorch/mobilenet_v2_quantized_1x3x224x224.tflite",
]


def picoml_arena(path) -> int:
    g = picoml.load_tflite(path)
    interp = Interpreter(g)
    scratch = fitted_scratch(g, [p for _, _, p in interp.steps])  # what the generated portable C plans
    return plan_graph(g, scratch=scratch).arena_bytes


def main() -> None:
    table = Table("model", "picoml arena", "TFLM head", "TFLM total", "picoml / head", "picoml / total",
                  title="arena bytes (picoml best-fit plan vs tflite-micro allocation recording)")
    for rel in MODELS:
        path = real_path(rel)
        ours = picoml_arena(path)
        tflm = tflm_arena(path, arena_size=8_000_000)
        table.add_row(rel.split("/")[-1], f"{ours:,}", f"{tflm['head']:,}", f"{tflm['total']:,}",
                      f"{ours / tflm['head']:.2f}", f"{ours / tflm['total']:.2f}")
    Console(width=150).print(table)


if __name__ == "__main__":
    main()
