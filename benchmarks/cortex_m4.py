"""Cortex-M4 figures of the generated C: real models and two reference layers, in the emulator,
with the portable kernels and the DSP-optimised ones side by side.

    .venv/bin/python benchmarks/cortex_m4.py [--cpu cortex-m4] [--opt -O2]

Each model is cross-compiled (arm-none-eabi-gcc, -mcpu=cortex-m4 -mfloat-abi=hard, -O2) twice:
``kernels="portable"`` (-DPM_PORTABLE, the reference C) and ``kernels="optimized"`` (the SMLAD
kernels of codegen/c/opt/arm), run once each in Unicorn on the same seeded random inputs, and
checked against the reference interpreter. Cycles are picoml's static estimate
(picoml/targets/cycles.py: Cortex-M4 instruction timings, zero flash wait states, +2 per taken
branch), so they compare with other engines measured the same way, not with a board: the
TFLM + CMSIS-NN column was measured with the same gcc, emulator and cycle table. Flash is code
(everything but the weights: kernels, generated code, start-up) + weights; SRAM is arena +
other static data + measured stack.
"""
from __future__ import annotations

import argparse
from typing import Any, Optional

import numpy as np
from rich.console import Console
from rich.table import Table

import picoml
from picoml.errors import PicomlError
from picoml.ir import DType, Graph
from picoml.targets.cortex_m import compile_cortex_m, random_input
from picoml.testing.opmodel import single_op_graph, tensor
from picoml.testing.real import real_path

MODELS = [
    "tflm/person_detection/person_detect.tflite",
    "tflm/micro_speech/micro_speech_quantized.tflite",
    "mlperf_tiny/kws/kws_ref_model.tflite",
    "mlperf_tiny/vww/vww_96_int8.tflite",
    "mlperf_tiny/ic/pretrainedResnet_quant.tflite",
    "mlperf_tiny/ad/ad01_int8.tflite",
]
# TFLM + ARM CMSIS-NN on the same gcc 12.2 -O2, emulator and cycle table: estimated cycles
YARDSTICK = {"person_detect.tflite": 26.7e6, "kws_ref_model.tflite": 8.96e6, "vww_96_int8.tflite": 28.4e6,
             "pretrainedResnet_quant.tflite": 36.3e6, "ad01_int8.tflite": 0.72e6}


def conv_layer(op_type: str, hw: int, cin: int, cout: int, k: int, seed: int = 0) -> Graph:
    """A one-op int8 layer (per-channel weights, SAME padding, stride 1) with random weights."""
    rng = np.random.default_rng(seed)
    s_in, s_out = 0.05, 0.1
    depthwise = op_type == "DEPTHWISE_CONV_2D"
    w_shape = [1, k, k, cout] if depthwise else [cout, k, k, cin]
    w_scale = rng.uniform(0.002, 0.02, cout)
    x = tensor("x", [1, hw, hw, cin], DType.INT8, s_in, -3)
    w = tensor("w", w_shape, DType.INT8, w_scale, 0, axis=3 if depthwise else 0,
               data=rng.integers(-127, 128, w_shape))
    b = tensor("b", [cout], DType.INT32, s_in * w_scale, 0, data=rng.integers(-2000, 2000, cout))
    y = tensor("y", [1, hw, hw, cout], DType.INT8, s_out, 2)
    attrs = {"padding": "SAME", "stride_h": 1, "stride_w": 1, "dilation_h_factor": 1, "dilation_w_factor": 1,
             "fused_activation_function": "NONE"}
    if depthwise:
        attrs["depth_multiplier"] = 1
    return single_op_graph(op_type, [x, w, b], [y], attrs, version=6 if depthwise else 4)


LAYERS = [
    ("1x1 conv 64->64, 24x24", lambda: conv_layer("CONV_2D", 24, 64, 64, 1)),
    ("3x3 depthwise, 48x48x32", lambda: conv_layer("DEPTHWISE_CONV_2D", 48, 32, 32, 3)),
]


def missing_c_kernels(graph: Graph) -> list[str]:
    from picoml.codegen.registry import C_OPS, _load_all

    _load_all()
    return sorted({op.type for op in graph.ops} - set(C_OPS))


def measure(graph: Graph, cpu: str, opt: str, kernels: str) -> dict[str, Any]:
    """One emulated inference on seeded random inputs (the same for both kernel sets)."""
    rng = np.random.default_rng(0)
    inputs = [random_input(t, rng) for t in graph.input_tensors]
    return compile_cortex_m(graph, cpu=cpu, opt=opt, flash_kb=4096, sram_kb=1024, kernels=kernels).bench(inputs)


def op_classes(fig: dict[str, Any], graph: Graph) -> dict[str, tuple[int, int]]:
    """(MACs, cycles) per class of op: pointwise conv, other conv, depthwise, the rest."""
    out: dict[str, list[int]] = {}
    for o, op in zip(fig["ops"], graph.ops):
        kind = op.type
        if op.type == "CONV_2D":
            kind = "CONV_2D 1x1" if graph.tensors[op.inputs[1]].shape[1:3] == (1, 1) else "CONV_2D KxK"
        acc = out.setdefault(kind, [0, 0])
        acc[0] += o["macs"]
        acc[1] += o["cycles"]
    return {k: (v[0], v[1]) for k, v in out.items()}


def row(name: str, graph: Graph, cpu: str, opt: str) -> tuple[list[str], Optional[dict]]:
    missing = missing_c_kernels(graph)
    if missing:
        return [name, f"no C kernel for {', '.join(missing)}"] + [""] * 10, None
    try:
        slow = measure(graph, cpu, opt, "portable")
        fast = measure(graph, cpu, opt, "optimized")
    except PicomlError as e:
        return [name, f"error: {str(e)[:90]}"] + [""] * 10, None
    kb = 1024
    ref = YARDSTICK.get(name)
    cells = [name, f"{fast['macs']:,}",
             f"{slow['instructions'] / 1e6:.2f} / {slow['cycles'] / 1e6:.2f}",
             f"{fast['instructions'] / 1e6:.2f} / {fast['cycles'] / 1e6:.2f}",
             f"{fast['cycles'] / slow['cycles']:.2f}",
             f"{slow['cycles_per_mac']:.2f} -> {fast['cycles_per_mac']:.2f}" if fast["cycles_per_mac"] else "-",
             f"{ref / 1e6:.2f}" if ref else "-", f"{fast['cycles'] / ref:.2f}" if ref else "-",
             f"{fast['latency_ms']:.1f}",
             f"{slow['flash_code_bytes'] / kb:.1f} / {fast['flash_code_bytes'] / kb:.1f} + "
             f"{fast['flash_weight_bytes'] / kb:.1f}",
             f"{fast['sram_arena_bytes'] / kb:.1f} + {fast['sram_static_bytes'] / kb:.1f} + "
             f"{fast['stack_bytes'] / kb:.1f}",
             "yes" if slow["outputs_match"] and fast["outputs_match"] else "[red]NO"]
    return cells, {"portable": slow, "optimized": fast}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cpu", default="cortex-m4")
    ap.add_argument("--opt", default="-O2")
    args = ap.parse_args()
    table = Table("model / layer", "MACs", "portable M instr / M cycles", "optimized M instr / M cycles",
                  "opt / port cycles", "cycles/MAC port -> opt", "TFLM+CMSIS-NN M cycles", "opt / CMSIS",
                  "opt ms @120 MHz", "flash KB code port / opt + weights", "SRAM KB arena + static + stack", "= ref",
                  title=f"picoml generated C on {args.cpu} ({args.opt}), Unicorn + static cycle estimate "
                        "(0 wait states): portable vs DSP-optimised kernels")
    person = None
    for rel in MODELS:
        graph = picoml.load_tflite(real_path(rel))
        cells, figs = row(rel.split("/")[-1], graph, args.cpu, args.opt)
        table.add_row(*cells)
        if rel.endswith("person_detect.tflite") and figs:
            person = (graph, figs)
    table.add_section()
    for name, build in LAYERS:
        table.add_row(*row(name, build(), args.cpu, args.opt)[0])
    console = Console(width=230)
    console.print(table)
    if person is not None:
        graph, figs = person
        fast = figs["optimized"]
        console.print(f"person_detect flash without weights (kernels, generated code, start-up): "
                      f"{fast['flash_code_bytes']:,} bytes optimized, {figs['portable']['flash_code_bytes']:,} "
                      "portable")
        for kind, (macs, cycles) in sorted(op_classes(fast, graph).items(), key=lambda kv: -kv[1][1]):
            per = f"{cycles / macs:.2f} cycles/MAC" if macs else ""
            console.print(f"  {kind:20s} {cycles / 1e6:6.2f} M cycles ({100 * cycles / fast['cycles']:4.1f}%) {per}")


if __name__ == "__main__":
    main()
