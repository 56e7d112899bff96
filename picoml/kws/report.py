"""The keyword-spotting report: three tables (accuracy, real recordings, CPU load) as rich
tables, markdown and JSON in ``<out>/kws_report/``."""
from __future__ import annotations

import json
import os
from typing import Any

__all__ = ["ACCURACY", "LOAD", "REAL", "markdown_table", "rows", "write_report"]

# (column title, key in a row dict, format)
ACCURACY = [("model", "model", "{}"), ("PyTorch float", "torch_float", "{:.1%}"),
            ("PyTorch int8/binary (QAT)", "torch_quantized", "{:.1%}"), ("compiled C (host)", "c_accuracy", "{:.1%}"),
            ("C = PyTorch", "c_vs_torch", "{:.1%}"), ("test clips", "test_clips", "{:,}")]
REAL = [("model", "model", "{}"), ("yes_1000ms -4/0/+4: host", "yes_host", "{}"), ("yes: M4", "yes_m4", "{}"),
        ("min P(yes)", "p_yes", "{:.3f}"), ("no_1000ms -4/0/+4: host", "no_host", "{}"), ("no: M4", "no_m4", "{}"),
        ("min P(no)", "p_no", "{:.3f}"), ("all right", "ok", "{}")]
LOAD = [("model", "model", "{}"), ("MACs", "macs", "{:,}"), ("cycles/inference", "model_cycles_per_inference", "{:,}"),
        ("inferences/s", "inferences_per_s", "{:.0f}"), ("frontend Mcycles/s", "frontend_mcycles", "{:.2f}"),
        ("model Mcycles/s", "model_mcycles", "{:.2f}"), ("CPU load %", "cpu_load_percent", "{:.1f}"),
        ("max inferences/s", "max_inferences_per_s", "{:.1f}"),
        ("model flash B", "model_flash_bytes", "{:,}"), ("model SRAM B", "model_sram_bytes", "{:,}"),
        ("+frontend flash B", "frontend_flash_bytes", "{:,}"), ("+frontend SRAM B", "frontend_sram_bytes", "{:,}")]


def rows(columns: list[tuple[str, str, str]], items: list[dict[str, Any]]) -> list[list[str]]:
    """Formatted cells ("-" for a missing value)."""
    return [[fmt.format(it[key]) if it.get(key) is not None else "-" for _, key, fmt in columns] for it in items]


def markdown_table(columns: list[tuple[str, str, str]], items: list[dict[str, Any]]) -> str:
    """A GitHub markdown table."""
    lines = ["| " + " | ".join(c for c, _, _ in columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(r) + " |" for r in rows(columns, items)]
    return "\n".join(lines)


def write_report(out: str, payload: dict[str, Any], notes: list[str]) -> str:
    """``<out>/kws_report/report.md`` and ``report.json``; returns the folder."""
    folder = os.path.join(out, "kws_report")
    os.makedirs(folder, exist_ok=True)
    md = ["# picoml keyword spotting: synthetic speech to a Cortex-M4", "",
          "## Accuracy on the synthetic test voices (4 labels: silence, unknown, yes, no)", "",
          markdown_table(ACCURACY, payload["accuracy"]), "",
          "## TFLM's real recordings (features from picoml's frontend)", "",
          markdown_table(REAL, payload["real"]), "",
          f"## CPU load on a Cortex-M4 at {payload['clock_mhz']:g} MHz (always-on: 50 frontend frames/s + the "
          "model at the streaming detector's default rate)", "",
          markdown_table(LOAD, payload["load"]), "", *[f"* {n}" for n in notes], ""]
    with open(os.path.join(folder, "report.md"), "w") as f:
        f.write("\n".join(md))
    with open(os.path.join(folder, "report.json"), "w") as f:
        json.dump(payload, f, indent=2, default=float)
    return folder
