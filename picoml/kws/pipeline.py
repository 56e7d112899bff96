"""Keyword spotting end to end: train (int8 and binary DS-CNN), deploy (host C and Cortex-M4
emulator), label TFLM's real recordings, measure the always-on CPU load, write the report.

    from picoml.kws import Settings, run
    run(Settings())                  # ~ a few minutes on 2 cores; `picoml demo kws`, `make demo-kws`
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np

from picoml.kws.train import LABELS, TrainSettings

__all__ = ["Settings", "run"]


@dataclass
class Settings:
    """Training settings plus deployment ones."""

    train: TrainSettings = field(default_factory=TrainSettings)
    out: str = "out"
    clock_mhz: float = 120.0
    test_limit: Optional[int] = None   # evaluate the compiled C on this many test clips
    tflm_model: bool = True            # also measure TFLM's micro_speech_quantized


def _progress(con: Any) -> Any:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    TextColumn("{task.fields[acc]}"), console=con)


def _deploy(name: str, graph: Any, torch_pred: Optional[np.ndarray], q_test: np.ndarray, y_test: np.ndarray,
            real: dict[str, np.ndarray], s: Settings, con: Any) -> tuple[dict, dict, dict]:
    """Compile for host and M4; (accuracy row, real-recordings row, M4 bench)."""
    import picoml
    from picoml.kws.deploy import accuracy, label_clip

    host = picoml.compile(graph, target="host")
    acc, pred = accuracy(host.run, graph, q_test, y_test)
    mcu = picoml.compile(graph, target="cortex-m4", clock_mhz=s.clock_mhz)
    real_row: dict[str, Any] = {"model": name}
    ok = bool(real)
    for word, by_shift in real.items():
        hs = {k: label_clip(host.run, graph, q, LABELS) for k, q in by_shift.items()}
        ms = {k: label_clip(mcu.run, graph, q, LABELS) for k, q in by_shift.items()}  # checked against the interpreter
        real_row.update({
            f"{word}_host": "/".join(h["label"] for h in hs.values()),
            f"{word}_m4": "/".join(m["label"] for m in ms.values()),
            f"p_{word}": min(h["scores"][word] for h in hs.values()),
            f"{word}_shifts": list(hs), f"{word}_scores": [h["scores"] for h in hs.values()],
            f"{word}_raw": [h["raw"] for h in hs.values()]})
        ok = ok and all(h["label"] == word for h in hs.values()) and all(m["label"] == word for m in ms.values())
    real_row["ok"] = ok
    yes = real.get("yes", {})
    bench = mcu.bench([host_input(graph, yes.get(0, q_test[0]) if yes else q_test[0])])
    row = {"model": name, "c_accuracy": acc, "test_clips": int(len(y_test)),
           "c_vs_torch": float(np.mean(pred == torch_pred)) if torch_pred is not None else None,
           "ops": [op.type for op in graph.ops]}
    con.print(f"[bold]{name}[/]: {len(graph.ops)} ops ({', '.join(sorted(set(row['ops'])))}); compiled C "
              f"{acc:.1%} on {len(y_test)} test clips; yes -> {real_row.get('yes_host')}/{real_row.get('yes_m4')}, "
              f"no -> {real_row.get('no_host')}/{real_row.get('no_m4')} (host/M4); M4 firmware = reference: "
              f"{bench['outputs_match']}")
    return row, real_row, bench


def host_input(graph: Any, q: np.ndarray) -> np.ndarray:
    """The graph input for one feature window (benchmark input: a real clip when present)."""
    from picoml.kws.deploy import feature_input

    return feature_input(graph, q)


def run(s: Settings, con: Any = None) -> dict[str, Any]:
    """Everything (see the module docstring); returns the report payload."""
    import torch
    from rich.console import Console
    from rich.table import Table

    import picoml
    from picoml.audio import read_wav
    from picoml.kws.cpu_load import bench_frontend, cpu_load, inferences_per_second
    from picoml.kws.deploy import convert, optional_real_dir, real_features
    from picoml.kws.report import ACCURACY, LOAD, REAL, rows, write_report
    from picoml.kws.train import accuracy, load_data, train_binary, train_int8

    con = con or Console(width=max(120, Console().width))
    t0 = time.perf_counter()
    torch.manual_seed(s.train.seed)
    con.rule("synthetic speech -> micro_speech features")
    data = load_data(s.train)
    con.print(f"{len(data.y_train):,} train / {len(data.y_val):,} val / {len(data.y_test):,} test clips "
              f"(voices disjoint between splits), labels {', '.join(LABELS)}; train counts "
              f"{torch.bincount(data.y_train, minlength=len(LABELS)).tolist()}")
    with _progress(con) as progress:
        int8_model, int8_float, int8_qat = train_int8(data, s.train, progress)
        bin_model, bin_float, bin_qat = train_binary(data, s.train, progress)
    con.rule("picoml.summary: DS-CNN int8")
    picoml.summary(int8_model, (49, 40))
    con.rule("picoml.summary: DS-CNN binary")
    picoml.summary(bin_model, (49, 40))

    con.rule("convert, compile (host + Cortex-M4 emulator), run")
    q_test, y_test = data.q_test, data.y_test.numpy()
    if s.test_limit:
        q_test, y_test = q_test[:s.test_limit], y_test[:s.test_limit]
    real_dir = optional_real_dir()
    real = real_features(real_dir) if real_dir is not None and real_dir.is_dir() else {}
    if not real:
        con.print("[yellow]TFLM's recordings are not present: skipping the real-recording check[/]")
    acc_rows, real_rows, benches, graphs = [], [], {}, {}
    for name, model, fl, qa in (("DS-CNN int8", int8_model, int8_float, int8_qat),
                                ("DS-CNN binary", bin_model, bin_float, bin_qat)):
        graph = convert(model, data.x_train, name.lower().replace(" ", "_").replace("-", ""))
        model.eval()
        with torch.no_grad():
            torch_pred = model(data.x_test[:len(y_test)]).argmax(1).numpy()
        row, real_row, bench = _deploy(name, graph, torch_pred, q_test, y_test, real, s, con)
        acc_rows.append({**row, "torch_float": fl, "torch_quantized": qa})
        real_rows.append(real_row)
        benches[name], graphs[name] = bench, graph
    if s.tflm_model and real_dir is not None and (real_dir / "micro_speech_quantized.tflite").exists():
        graph = picoml.load_tflite(real_dir / "micro_speech_quantized.tflite")
        row, real_row, bench = _deploy("TFLM micro_speech", graph, None, q_test, y_test, real, s, con)
        acc_rows.append({**row, "torch_float": None, "torch_quantized": None})
        real_rows.append(real_row)
        benches["TFLM micro_speech"] = bench

    con.rule(f"CPU load on a Cortex-M4 at {s.clock_mhz:g} MHz")
    audio = (read_wav(real_dir / "yes_1000ms.wav") if real else
             np.random.default_rng(0).integers(-3000, 3000, 16000).astype(np.int16))
    fe = bench_frontend(audio, clock_mhz=s.clock_mhz)
    loads = []
    for name, b in benches.items():
        load = cpu_load(name, fe, b, clock_mhz=s.clock_mhz).as_dict()
        load.update(macs=int(b["macs"]), frontend_mcycles=load["frontend_cycles_per_s"] / 1e6,
                    model_mcycles=load["model_cycles_per_s"] / 1e6)
        loads.append(load)

    for title, cols, items in (("accuracy on the synthetic test voices", ACCURACY, acc_rows),
                               ("TFLM's real recordings", REAL, real_rows),
                               (f"CPU load, Cortex-M4 @ {s.clock_mhz:g} MHz", LOAD, loads)):
        if not items:
            continue
        table = Table(title=title)
        for c, _, _ in cols:
            table.add_column(c, justify="left" if c == "model" else "right")
        for r in rows(cols, items):
            table.add_row(*r)
        con.print(table)
    notes = [
        f"Frontend: picoml's C micro_speech frontend in the Cortex-M4 emulator, {fe.cycles_per_frame:,.0f} cycles "
        f"per 20 ms frame (features identical to the NumPy frontend: {fe.matches_numpy}); its own firmware "
        f"(frontend + start-up) is {fe.flash_bytes:,} B flash and {fe.sram_bytes:,} B SRAM (incl. a 1 s audio buffer).",
        f"Model rate: the streaming detector's default (one inference every 2 frames = "
        f"{inferences_per_second():.0f}/s); max inferences/s = the model rate at which the frontend and the model "
        "take the whole CPU (above it the detector needs a longer stride, KwsConfig.stride_frames). Model flash = "
        "code + weights; SRAM = arena + static data + measured stack.",
        "Accuracy: plain top-1 over the test clips; 'unknown' is 9 of the 12 source labels, so it dominates. "
        "TFLM's micro_speech was trained on real speech (Speech Commands), not on these synthetic voices.",
        "Real recordings: TFLM's yes_1000ms.wav / no_1000ms.wav rotated by -4, 0 and +4 frames (80 ms), features "
        "from picoml's frontend; labels at the three shifts; P = the lowest probability of the right word over the "
        "shifts in the compiled C on the host (softmax of the dequantized output for picoml's models, whose last "
        "layer is the logits); M4 = the labels from the Cortex-M4 firmware.",
    ]
    payload = {"labels": list(LABELS), "clock_mhz": s.clock_mhz, "accuracy": acc_rows, "real": real_rows,
               "load": loads, "frontend": asdict(fe), "dataset": data.dataset_key,
               "settings": {**asdict(s.train), "out": s.out, "clock_mhz": s.clock_mhz, "test_limit": s.test_limit},
               "seconds": time.perf_counter() - t0}
    folder = write_report(s.out, payload, notes)
    con.print(f"Report: {folder}/ ({payload['seconds']:.0f} s)")
    payload["folder"] = str(Path(folder))
    return payload
