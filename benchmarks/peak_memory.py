"""Peak SRAM without and with patch-based inference (MCUNetV2) and in-place depthwise convolution,
and the MAC overhead patching costs.

    .venv/bin/python benchmarks/peak_memory.py [--max-mac-overhead 0.2] [--plot-dir DIR] [--json]

Models: person_detect (../shared/real, skipped when absent), MobileNetV1-like at 96x96 and
MobileNetV2-like at 144x144 (synthetic int8 graphs from picoml.testing.models). For each model
the arena of the plain plan, the arena of the best patched plan within the MAC budget (stage and
tile count chosen by ``choose_patches``), the reduction factor, the MAC overhead, and a check
that the patched reference run gives the plain run's bits on a seeded random input. Both arenas
are also given with in-place depthwise convolution turned off ("no dw-ip" columns; the planner
runs a depthwise op in place only where that lowers the arena, "dw in place" counts them). Targets
(issue 7): >= 2.5x on person_detect and >= 4x on the MobileNetV2-like model at <= 20% MACs.
With ``--plot-dir`` a before/after live-memory timeline is written per model.
"""
from __future__ import annotations

import argparse
import json
import os
import time
from typing import Callable

import numpy as np
from rich.console import Console
from rich.table import Table

from picoml.interpreter import Interpreter
from picoml.ir import Graph
from picoml.plan import plan_graph
from picoml.plan.patches import choose_patches, plot_before_after, run_patched, virtual_graph
from picoml.testing.models import mobilenet_v1_like, mobilenet_v2_like
from picoml.testing.real import real_dir, real_path

TARGETS = {"person_detect": 2.5, "mobilenet_v2_like_144": 4.0}


def _models() -> list[tuple[str, Callable[[], Graph]]]:
    models: list[tuple[str, Callable[[], Graph]]] = []
    if real_dir() is not None:
        from picoml.frontends.tflite import load_tflite

        models.append(("person_detect",
                       lambda: load_tflite(real_path("tflm/person_detection/person_detect.tflite"))))
    models.append(("mobilenet_v1_like_96", lambda: mobilenet_v1_like(96)))
    models.append(("mobilenet_v2_like_144", lambda: mobilenet_v2_like(144)))
    return models


def measure(name: str, g: Graph, max_mac_overhead: float, plot_dir: str = "") -> dict:
    """One model's row: arenas, reduction, overhead, chosen stage, bit-exactness."""
    interp = Interpreter(g)
    scratch = {op.index: int(p["scratch_bytes"]) for op, _, p in interp.steps if p.get("scratch_bytes")}
    t = time.perf_counter()
    choice = choose_patches(g, max_mac_overhead, scratch=scratch, interpreter=interp)
    seconds = time.perf_counter() - t
    pp = choice.patch_plan
    plain = plan_graph(g, scratch=scratch, depthwise_in_place=False).arena_bytes
    patched_plain = (plain if pp is None else
                     plan_graph(virtual_graph(g, pp), scratch=scratch, depthwise_in_place=False).arena_bytes)
    x = np.random.default_rng(0).integers(-128, 128, g.input_tensors[0].shape).astype(np.int8)
    exact = pp is None or all(np.array_equal(a, b) for a, b in
                              zip(run_patched(g, pp, [x], interp), interp.run([x])))
    if plot_dir:
        os.makedirs(plot_dir, exist_ok=True)
        plot_before_after(g, choice, os.path.join(plot_dir, f"{name}.png"))
    return {"model": name, "unpatched_arena_bytes": choice.unpatched_arena_bytes,
            "arena_bytes": choice.memory_plan.arena_bytes,
            "unpatched_no_inplace_dw_bytes": plain, "patched_no_inplace_dw_bytes": patched_plain,
            "inplace_dw_ops": sorted(choice.memory_plan.depthwise_in_place),
            "reduction": choice.unpatched_arena_bytes / max(choice.memory_plan.arena_bytes, 1),
            "mac_overhead": pp.mac_overhead if pp else 0.0,
            "patches": None if pp is None else {"stage_end_op": pp.stage_end, "n": pp.n, "layout": pp.layout},
            "candidates": len(choice.candidates), "search_seconds": seconds, "bit_exact": exact,
            "target": TARGETS.get(name)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--max-mac-overhead", type=float, default=0.2)
    ap.add_argument("--plot-dir", default="")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    rows = [measure(name, make(), args.max_mac_overhead, args.plot_dir) for name, make in _models()]
    if args.json:
        print(json.dumps(rows, indent=1))
        return
    table = Table(title=f"Peak SRAM (arena) with patch-based inference, MAC budget {args.max_mac_overhead:.0%}")
    for col in ("model", "unpatched (no dw-ip)", "unpatched", "patched (no dw-ip)", "patched", "dw in place",
                "reduction", "MAC overhead", "stage / tiles", "bit-exact", "target"):
        table.add_column(col, justify="left" if col == "model" else "right")
    for r in rows:
        p = r["patches"]
        target = r["target"]
        met = "" if target is None else f"{target}x {'met' if r['reduction'] >= target else 'MISSED'}"
        table.add_row(r["model"], f"{r['unpatched_no_inplace_dw_bytes']:,}", f"{r['unpatched_arena_bytes']:,}",
                      f"{r['patched_no_inplace_dw_bytes']:,}", f"{r['arena_bytes']:,}", str(len(r["inplace_dw_ops"])),
                      f"{r['reduction']:.2f}x", f"{r['mac_overhead']:.1%}",
                      "-" if p is None else f"ops 0..{p['stage_end_op']}, {p['n']}x{p['n']} {p['layout']}",
                      "yes" if r["bit_exact"] else "NO", met)
    Console(width=180).print(table)


if __name__ == "__main__":
    main()
