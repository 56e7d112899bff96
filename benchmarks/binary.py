"""Binary convolution speed in host C, next to the int8 convolution of the same shape.

    .venv/bin/python benchmarks/binary.py [--runs N]
    LCE_VENV=/path/to/venv-with-larq-compute-engine .venv/bin/python benchmarks/binary.py

A 3x3, 64 -> 64 channel convolution on a 32x32 input (SAME, stride 1): binary MACs per second of
picoml's LceBconv2d C kernel (bitpacked and float32 output, each popcount implementation), and
int8 MACs per second of the CONV_2D C kernel. With ``$LCE_VENV`` (a venv where
``import larq_compute_engine`` works) it also times LCE's interpreter against picoml's C on the
models in ../shared/real/lce (LCE runs in that venv, in a subprocess).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from typing import Callable, Optional

import numpy as np
from rich.console import Console
from rich.table import Table

import picoml
from picoml.codegen import generate
from picoml.ir import DType, Graph
from picoml.targets.host import HostModel, compiler
from picoml.testing.opmodel import single_op_graph, tensor

H = W = 32
CIN = COUT = 64
K = 3
VARIANTS = {"default": [], "csa": ["-DPM_CSA_POPCOUNT"], "portable": ["-DPM_PORTABLE_POPCOUNT"],
            "builtin": ["-DPM_BUILTIN_POPCOUNT"], "default, -mno-popcnt": ["-mno-popcnt"],
            "builtin, -mno-popcnt": ["-DPM_BUILTIN_POPCOUNT", "-mno-popcnt"]}
LCE_MODELS = ["bconv3x3_pad1", "bconv3x3_pad1_int8", "bconv1x1", "bconv_sign_out", "bnn_chain"]


def median_s(fn: Callable[[], None], runs: int) -> float:
    fn()  # warm up
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def bconv_graph(out: str) -> Graph:
    from picoml.kernels.bitpack import pack_bits

    rng = np.random.default_rng(0)
    x = tensor("x", (1, H, W, CIN), DType.BITPACKED)
    w = tensor("w", (COUT, K, K, CIN), DType.BITPACKED)
    w.data = pack_bits(rng.random((COUT, K, K, CIN)) < 0.5)
    attrs = {"channels_in": CIN, "dilation_h_factor": 1, "dilation_w_factor": 1, "fused_activation_function": "NONE",
             "pad_values": 1, "padding": "SAME", "stride_h": 1, "stride_w": 1}
    if out == "bitpacked":
        thr = tensor("t", (COUT,), DType.INT32, data=rng.integers(200, 380, COUT))
        return single_op_graph("LceBconv2d", [x, w, None, None, thr], [tensor("y", (1, H, W, COUT), DType.BITPACKED)],
                               attrs)
    m = tensor("m", (COUT,), DType.FLOAT32, data=rng.standard_normal(COUT))
    b = tensor("b", (COUT,), DType.FLOAT32, data=rng.standard_normal(COUT))
    return single_op_graph("LceBconv2d", [x, w, m, b, None], [tensor("y", (1, H, W, COUT), DType.FLOAT32)], attrs)


def int8_conv_graph() -> Graph:
    rng = np.random.default_rng(0)
    x = tensor("x", (1, H, W, CIN), DType.INT8, 0.05, 3)
    w = tensor("w", (COUT, K, K, CIN), DType.INT8, list(rng.uniform(0.001, 0.01, COUT)), 0, axis=0,
               data=rng.integers(-127, 128, (COUT, K, K, CIN)))
    b = tensor("b", (COUT,), DType.INT32, data=rng.integers(-1000, 1000, COUT))
    y = tensor("y", (1, H, W, COUT), DType.INT8, 0.2, -1)
    attrs = {"dilation_h_factor": 1, "dilation_w_factor": 1, "fused_activation_function": "NONE",
             "padding": "SAME", "stride_h": 1, "stride_w": 1}
    return single_op_graph("CONV_2D", [x, w, b], [y], attrs)


def host_seconds(graph: Graph, flags: list[str], runs: int) -> float:
    """Median seconds of one invoke of the compiled graph (inputs written once)."""
    host = HostModel(graph, generate(graph), extra_flags=flags)
    rng = np.random.default_rng(1)
    t = graph.input_tensors[0]
    x = rng.integers(-1 << 31, 1 << 31, t.storage_shape, dtype=np.int64).astype(np.int32) \
        if t.dtype is DType.BITPACKED else rng.integers(-128, 128, t.shape).astype(np.int8)
    host.run([x])
    return median_s(host._invoke, runs)


def conv_table(runs: int) -> Table:
    macs = H * W * COUT * K * K * CIN
    from picoml.targets import host

    native = getattr(host, "native_flags", lambda cc: ())(compiler())
    flags = " ".join([*host.HOST_CFLAGS, *native])
    table = Table("kernel", "popcount", "ms", "G MAC/s", "vs int8", title=f"3x3 conv {CIN}->{COUT} on {H}x{W} "
                  f"({macs:,} MACs), host C ({flags})")
    int8_s: Optional[float] = None
    try:
        int8_s = host_seconds(int8_conv_graph(), [], runs)
    except picoml.PicomlError as e:
        int8_note = f"int8 CONV_2D C kernel missing: {str(e)[:80]}"
    rows = []
    for out in ("bitpacked", "float32"):
        for name, flags in VARIANTS.items():
            s = host_seconds(bconv_graph(out), flags, runs)
            rows.append((f"LceBconv2d -> {out}", name, s))
    for kernel, name, s in rows:
        ratio = f"{int8_s / s:.1f}x" if int8_s else "-"
        table.add_row(kernel, name, f"{s * 1e3:.3f}", f"{macs / s / 1e9:.2f} (binary)", ratio)
    if int8_s is not None:
        table.add_row("CONV_2D int8", "-", f"{int8_s * 1e3:.3f}", f"{macs / int8_s / 1e9:.2f} (int8)", "1.0x")
    else:
        table.add_row("CONV_2D int8", "-", "-", int8_note, "-")
    return table


def cortex_m_table() -> Optional[Table]:
    """Emulated Cortex-M cycles of the binary conv (float32 output) per popcount implementation:
    the carry-save path is the one for cores without a popcount instruction."""
    import dataclasses

    try:
        from picoml.targets.cortex_m import CortexMModel, TargetConfig, build_firmware, toolchain

        toolchain()
    except (ImportError, picoml.PicomlError):
        return None
    g = bconv_graph("float32")
    macs = H * W * COUT * K * K * CIN
    x = np.random.default_rng(1).integers(-1 << 31, 1 << 31, g.input_tensors[0].storage_shape,
                                          dtype=np.int64).astype(np.int32)
    table = Table("core", "popcount", "cycles", "binary MACs / cycle", title="the same conv on Cortex-M (emulated, -O2)")
    for cpu in ("cortex-m4", "cortex-m0plus"):
        for define in ("PM_CSA_POPCOUNT", "PM_PORTABLE_POPCOUNT", "PM_BUILTIN_POPCOUNT"):
            project = generate(g)
            files = {**project.files, "pm_binary.h": f"#define {define}\n" + project.files["pm_binary.h"]}
            project = dataclasses.replace(project, files=files)
            config = TargetConfig(cpu)
            try:
                cycles = CortexMModel(g, project, config, build_firmware(project, config)).bench([x])["cycles"]
            except picoml.PicomlError as e:
                table.add_row(cpu, define, f"failed: {str(e)[:60]}", "-")
                continue
            name = define[3:-9].lower()
            table.add_row(cpu, name, f"{cycles:,}", f"{macs / cycles:.2f}")
    return table


_LCE_SCRIPT = """
import json, sys, time, statistics
import numpy as np
from larq_compute_engine.tflite.python.interpreter import Interpreter
out = {}
for name, path, npz, runs in json.loads(sys.argv[1]):
    # LCE's fastest single-thread setting: the indirect BGEMM kernels
    interp = Interpreter(open(path, "rb").read(), num_threads=1, use_indirect_bgemm=True)
    x = np.load(npz)["inputs"][:1]
    interp.predict(x)
    times = []
    for _ in range(runs):
        t = time.perf_counter(); interp.predict(x); times.append(time.perf_counter() - t)
    out[name] = statistics.median(times)
print(json.dumps(out))
"""


def lce_table(runs: int) -> Optional[Table]:
    venv = os.environ.get("LCE_VENV")
    if not venv:
        return None
    from picoml.testing.real import real_path

    py = os.path.join(venv, "bin", "python")
    jobs = [(m, str(real_path(f"lce/{m}.tflite")), str(real_path(f"lce/{m}.npz")), runs) for m in LCE_MODELS]
    r = subprocess.run([py, "-c", _LCE_SCRIPT, json.dumps(jobs)], capture_output=True, text=True)
    table = Table("model", "picoml C ms", "LCE interpreter ms", "ratio", title="whole LCE models (batch 1)")
    if r.returncode != 0:
        table.add_row("-", "-", f"LCE venv failed: {r.stderr.strip()[-200:]}", "-")
        return table
    lce = json.loads(r.stdout.strip().splitlines()[-1])
    for m in LCE_MODELS:
        g = picoml.load_tflite(real_path(f"lce/{m}.tflite"))
        x = np.load(real_path(f"lce/{m}.npz"))["inputs"][:1]
        try:
            host = HostModel(g, generate(g))
        except picoml.PicomlError as e:
            table.add_row(m, f"no C: {str(e)[:60]}", f"{lce[m] * 1e3:.3f}", "-")
            continue
        # both sides timed the same way: set the input, invoke, read the output (one sample)
        ours = median_s(lambda: host.run([x]), runs)
        table.add_row(m, f"{ours * 1e3:.3f}", f"{lce[m] * 1e3:.3f}", f"{lce[m] / ours:.1f}x")
    return table


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=20)
    args = ap.parse_args()
    con = Console(width=132)
    con.print(conv_table(args.runs))
    cortex = cortex_m_table()
    con.print(cortex if cortex is not None else "Cortex-M comparison skipped: arm-none-eabi-gcc or the emulator is missing")
    lce = lce_table(args.runs)
    if lce is None:
        con.print("LCE interpreter comparison skipped: set LCE_VENV to a venv with larq-compute-engine installed")
    else:
        con.print(lce)


if __name__ == "__main__":
    sys.exit(main())
