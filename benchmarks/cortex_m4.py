"""Cortex-M4 figures of the generated C: real models and two reference layers, in the emulator.

    .venv/bin/python benchmarks/cortex_m4.py [--cpu cortex-m4] [--opt -O2]

Each model is cross-compiled (arm-none-eabi-gcc, -mcpu=cortex-m4 -mfloat-abi=hard, -O2), run once
in Unicorn on seeded random inputs, and checked against the reference interpreter. Cycles are
picoml's static estimate (picoml/targets/cycles.py: Cortex-M4 instruction timings, zero flash
wait states, +2 per taken branch), so they compare with other engines measured the same way,
not with a board. Flash is code + weights; SRAM is arena + other static data + measured stack.
"""
from __future__ import annotations

import argparse

import numpy as np
from rich.console import Console
from rich.table import Table

import picoml
from picoml.errors import PicomlError
from picoml.ir import DType, Graph
from picoml.targets.cortex_m import compile_cortex_m
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


def row(name: str, graph: Graph, cpu: str, opt: str) -> list[str]:
    missing = missing_c_kernels(graph)
    if missing:
        return [name, f"no C kernel for {', '.join(missing)}"] + [""] * 7
    try:
        f = compile_cortex_m(graph, cpu=cpu, opt=opt, flash_kb=4096, sram_kb=1024).bench()
    except PicomlError as e:
        return [name, f"error: {str(e)[:90]}"] + [""] * 7
    kb = 1024
    return [name, f"{f['macs']:,}", f"{f['instructions']:,}", f"{f['cycles']:,}", f"{f['latency_ms']:.1f}",
            f"{f['flash_code_bytes'] / kb:.1f} + {f['flash_weight_bytes'] / kb:.1f}",
            f"{f['sram_arena_bytes'] / kb:.1f} + {f['sram_static_bytes'] / kb:.1f} + {f['stack_bytes'] / kb:.1f}",
            f"{f['cycles_per_mac']:.2f}" if f["cycles_per_mac"] else "-",
            "yes" if f["outputs_match"] else "[red]NO"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cpu", default="cortex-m4")
    ap.add_argument("--opt", default="-O2")
    args = ap.parse_args()
    table = Table("model / layer", "MACs", "instructions", "est. cycles", "ms @120 MHz", "flash KB code + weights",
                  "SRAM KB arena + static + stack", "cycles/MAC", "= ref",
                  title=f"picoml generated C on {args.cpu} ({args.opt}), Unicorn + static cycle estimate "
                        "(0 wait states)")
    for rel in MODELS:
        table.add_row(*row(rel.split("/")[-1], picoml.load_tflite(real_path(rel)), args.cpu, args.opt))
    table.add_section()
    for name, build in LAYERS:
        table.add_row(*row(name, build(), args.cpu, args.opt))
    Console(width=170).print(table)


if __name__ == "__main__":
    main()
