"""picoml demo, train to device on built-in data: an int8 CNN and a binarized CNN for handwritten
digits, from PyTorch training to C on the host and on an emulated Cortex-M4.

1. Data: scikit-learn's 8x8 digits (shipped in the package, nothing downloaded), upsampled to
   16x16 and scaled to [-1, 1]; 80% train, 20% test.
2. int8 CNN (``picoml.zoo.int8_cnn``): float training with Adam, then quantization-aware fine
   tuning with int8 fake quantizers (per-channel weights, observed activation ranges).
3. BNN: a full-precision first convolution, three binary 3x3 convolutions (``ste_sign``
   inputs and kernels, one-padding), max pools, a full-precision classifier; Bop trains the
   binary kernels, Adam the rest; then int8 fake quantization of the full-precision layers.
4. ``picoml.summary`` of both; ``picoml.from_torch`` converts them (the int8 CNN keeps its fake
   quantizers' parameters; the BNN becomes int8 + Larq Compute Engine binary ops with bitpacked
   activations between binary layers); ``picoml.compile`` builds C for the host and for a
   Cortex-M4 (instructions, cycles, flash and SRAM measured in the emulator).
5. One table (PyTorch float / PyTorch quantized / compiled C accuracy, flash, SRAM, latency) and
   a report folder: ``out/report/`` with the table as markdown and JSON and each model's memory
   plan plot.

    python examples/demo.py            # or: make demo
    PICOML_DEMO_OUT=/tmp/x python examples/demo.py
"""
from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import numpy as np
import torch
import torch.nn.functional as F
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from torch import nn

import picoml
from picoml.data.digits import load_digits
from picoml.interpreter import Interpreter, quantize_input
from picoml.nn import Int8ActivationFakeQuant, QuantConv2d, QuantLinear, bop_and_adam
from picoml.plan import fitted_scratch, plot_plan, plan_graph
from picoml.zoo import int8_cnn
from picoml.zoo._blocks import int8_args

OUT = os.environ.get("PICOML_DEMO_OUT", "out")
SIZE = 16            # the 8x8 digits upsampled to SIZE x SIZE
CLOCK_MHZ = 120


@dataclass
class Settings:
    """How much work the demo does (the test runs a reduced version)."""

    float_epochs: int = 15
    qat_epochs: int = 3
    bnn_epochs: int = 40
    train_limit: Optional[int] = None   # use only this many training samples
    test_limit: Optional[int] = None    # evaluate the compiled C on this many test samples
    int8_width: float = 4.0             # int8_cnn channels 8/16/32 times this
    out: str = OUT
    seed: int = 0


@dataclass
class Result:
    """One row of the final table."""

    name: str
    torch_float: float
    torch_quantized: float
    graph: Any = None
    figures: dict[str, Any] = field(default_factory=dict)


# -- data -----------------------------------------------------------------------------------
def digits(settings: Settings) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(x_train, y_train, x_test, y_test): NCHW float in [-1, 1] and int64 labels."""
    train, test = load_digits(SIZE, seed=settings.seed)
    x_tr, y_tr = torch.tensor(train.x) * 2 - 1, torch.tensor(train.y)
    if settings.train_limit:
        x_tr, y_tr = x_tr[:settings.train_limit], y_tr[:settings.train_limit]
    return x_tr, y_tr, torch.tensor(test.x) * 2 - 1, torch.tensor(test.y)


# -- models ---------------------------------------------------------------------------------
def binary_conv(cin: int, cout: int) -> QuantConv2d:
    """A binary 3x3 SAME convolution with one-padding (what the binary kernels do natively)."""
    return QuantConv2d(cin, cout, 3, padding="same", input_quantizer="ste_sign", kernel_quantizer="ste_sign",
                       kernel_constraint="weight_clip", pad_value=1.0, bias=False)


def bnn(num_classes: int = 10, qat: bool = False) -> nn.Sequential:
    """A BNN for 16x16 digits: a full-precision first conv, binary convs (32 -> 32 -> 64 -> 32
    channels: multiples of 32 fill the bitpacked words), max pools between binary layers, a
    full-precision classifier. ``qat`` fake-quantizes the full-precision layers to int8 (and the
    activation the first binary layer binarizes, so torch's sign sees the int8 value the device
    binarizes)."""
    model = nn.Sequential(
        QuantConv2d(1, 32, 3, padding="same", bias=False, **int8_args(qat)), nn.BatchNorm2d(32),
        Int8ActivationFakeQuant() if qat else nn.Identity(),
        binary_conv(32, 32), nn.BatchNorm2d(32), nn.MaxPool2d(2),
        binary_conv(32, 64), nn.BatchNorm2d(64), nn.MaxPool2d(2),
        binary_conv(64, 32), nn.BatchNorm2d(32),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), QuantLinear(32, num_classes, **int8_args(qat, per_channel=False)))
    with torch.no_grad():  # Bop trains latent-free binary weights: start them at exactly +-1
        for m in model.modules():
            if isinstance(m, QuantConv2d) and m.input_bits == 1:
                m.weight.copy_(torch.where(m.weight >= 0, 1.0, -1.0))
    return model


# -- training -------------------------------------------------------------------------------
def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Top-1 accuracy of ``model`` in eval mode."""
    model.eval()
    with torch.no_grad():
        return float((model(x).argmax(1) == y).float().mean())


def fit(model: nn.Module, opt: Any, data: tuple, epochs: int, progress: Progress, label: str,
        on_epoch: Optional[Callable[[int], None]] = None, batch: int = 32) -> None:
    """Cross-entropy training with a progress bar (one tick per batch)."""
    x, y = data[0], data[1]
    steps = (len(y) + batch - 1) // batch
    task = progress.add_task(label, total=epochs * steps, acc="")
    for epoch in range(epochs):
        model.train()
        order = torch.randperm(len(y))
        for i in range(0, len(y), batch):
            idx = order[i:i + batch]
            loss = F.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            progress.advance(task)
        if on_epoch is not None:
            on_epoch(epoch)
        progress.update(task, acc=f"test {accuracy(model, data[2], data[3]):.1%}")


def train_int8(data: tuple, s: Settings, progress: Progress) -> tuple[nn.Module, float, float]:
    """Float training, then QAT fine tuning; returns (QAT model, float acc, fake-quant acc)."""
    model = int8_cnn(width=s.int8_width)
    opt = torch.optim.Adam(model.parameters(), 2e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(1, s.float_epochs))
    fit(model, opt, data, s.float_epochs, progress, "int8 CNN: float training", lambda e: sched.step())
    float_acc = accuracy(model, data[2], data[3])
    qat = int8_cnn(width=s.int8_width, qat=True)
    qat.load_state_dict(model.state_dict(), strict=False)  # the fake quantizers keep their fresh observers
    opt = torch.optim.Adam(qat.parameters(), 1e-4)
    fit(qat, opt, data, s.qat_epochs, progress, "int8 CNN: quantization-aware")
    return qat, float_acc, accuracy(qat, data[2], data[3])


def train_bnn(data: tuple, s: Settings, progress: Progress) -> tuple[nn.Module, float, float]:
    """Bop for the binary kernels, Adam (cosine-decayed) for everything else; then the same with
    int8 fake quantization of the full-precision layers. Returns (QAT model, float acc, QAT acc)."""
    model = bnn()
    opt = bop_and_adam(model, threshold=1e-6, gamma=1e-3, lr=3e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt.optimizers[1], max(1, s.bnn_epochs))
    fit(model, opt, data, s.bnn_epochs, progress, "BNN: Bop + Adam", lambda e: sched.step())
    float_acc = accuracy(model, data[2], data[3])
    qat = bnn(qat=True)
    qat.load_state_dict(model.state_dict(), strict=False)
    opt = bop_and_adam(qat, threshold=1e-6, gamma=1e-4, lr=1e-4)
    fit(qat, opt, data, s.qat_epochs, progress, "BNN: quantization-aware")
    return qat, float_acc, accuracy(qat, data[2], data[3])


# -- deployment -----------------------------------------------------------------------------
def to_nhwc(x: torch.Tensor) -> np.ndarray:
    return np.ascontiguousarray(x.permute(0, 2, 3, 1).numpy())


def model_inputs(graph: picoml.Graph, x: torch.Tensor) -> list[np.ndarray]:
    """One input array per sample, quantized when the graph input is int8."""
    t = graph.input_tensors[0]
    xs = to_nhwc(x)
    return [quantize_input(t, xs[i:i + 1]) if t.dtype.is_quantized_int else xs[i:i + 1] for i in range(len(xs))]


def deploy(r: Result, model: nn.Module, data: tuple, s: Settings, con: Console) -> None:
    """Convert, compile for the host and the Cortex-M4, evaluate and measure."""
    x_te, y_te = data[2], data[3]
    if s.test_limit:
        x_te, y_te = x_te[:s.test_limit], y_te[:s.test_limit]
    calib = [data[0][i:i + 32] for i in range(0, min(len(data[0]), 256), 32)]
    r.graph = picoml.from_torch(model, data[0][:1], calibration_data=calib,
                                name="digits_" + r.name.split()[0].lower())
    inputs = model_inputs(r.graph, x_te)
    host = picoml.compile(r.graph, target="host")
    outs = [host.run([x])[0] for x in inputs]
    ref = Interpreter(r.graph)
    exact = all(np.array_equal(o, ref.run([x])[0]) if o.dtype.kind != "f" else np.allclose(o, ref.run([x])[0], 1e-5, 1e-6)
                for o, x in zip(outs[:20], inputs[:20]))
    pred = np.array([int(np.argmax(o)) for o in outs])
    model.eval()
    with torch.no_grad():
        torch_pred = model(x_te).argmax(1).numpy()
    t0 = time.perf_counter()
    reps = max(1, 2000 // len(inputs))
    for _ in range(reps):
        for x in inputs:
            host.run([x])
    host_us = (time.perf_counter() - t0) / (reps * len(inputs)) * 1e6
    mcu = picoml.compile(r.graph, target="cortex-m4", clock_mhz=CLOCK_MHZ)
    bench = mcu.bench([inputs[0]])
    r.figures = {
        "compiled_c_accuracy": float(np.mean(pred == y_te.numpy())),
        "c_vs_torch_agreement": float(np.mean(pred == torch_pred)),
        "c_equals_reference": bool(exact), "test_samples": int(len(y_te)),
        "weight_bytes": int(bench["flash_weight_bytes"]), "flash_bytes": int(bench["flash_bytes"]),
        "sram_bytes": int(bench["sram_bytes"]), "arena_bytes": int(bench["sram_arena_bytes"]),
        "host_us": host_us, "m4_ms": float(bench["latency_ms"]), "m4_cycles": int(bench["cycles"]),
        "m4_outputs_match_reference": bool(bench["outputs_match"]), "macs": int(bench["macs"]),
        "ops": [op.type for op in r.graph.ops],
    }
    con.print(f"[bold]{r.name}[/]: {len(r.graph.ops)} ops ({', '.join(sorted(set(r.figures['ops'])))}); "
              f"compiled C = reference interpreter: {exact}; Cortex-M4 firmware = reference: {bench['outputs_match']}")


# -- report ---------------------------------------------------------------------------------
COLUMNS = [("model", "{}"), ("PyTorch float", "{:.1%}"), ("PyTorch quantized", "{:.1%}"), ("compiled C", "{:.1%}"),
           ("C = PyTorch", "{:.1%}"), ("weights B", "{:,}"), ("flash B", "{:,}"), ("SRAM B", "{:,}"),
           ("host us", "{:.1f}"), (f"M4 ms @{CLOCK_MHZ}MHz", "{:.2f}")]


def rows(results: list[Result]) -> list[list[Any]]:
    return [[r.name, r.torch_float, r.torch_quantized, r.figures["compiled_c_accuracy"],
             r.figures["c_vs_torch_agreement"], r.figures["weight_bytes"], r.figures["flash_bytes"],
             r.figures["sram_bytes"], r.figures["host_us"], r.figures["m4_ms"]] for r in results]


def verdict(results: list[Result]) -> dict[str, Any]:
    """The BNN-vs-int8 claim, measured: accuracy gap (points) and weight-memory ratio."""
    int8, b = results
    gap = 100 * (int8.figures["compiled_c_accuracy"] - b.figures["compiled_c_accuracy"])
    ratio = int8.figures["weight_bytes"] / b.figures["weight_bytes"]
    return {"accuracy_gap_points": gap, "weight_memory_ratio": ratio,
            "bnn_within_5_points": gap <= 5.0, "bnn_8x_less_weight_memory": ratio >= 8.0}


def write_report(results: list[Result], out: str, settings: Settings) -> str:
    """out/report/: table.md, table.json and one memory-plan plot per model."""
    folder = os.path.join(out, "report")
    os.makedirs(folder, exist_ok=True)
    v = verdict(results)
    lines = ["| " + " | ".join(c for c, _ in COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for row in rows(results):
        lines.append("| " + " | ".join(fmt.format(v_) for (_, fmt), v_ in zip(COLUMNS, row)) + " |")
    md = ["# picoml demo: handwritten digits, PyTorch to C", "",
          f"{results[0].figures['test_samples']} test images ({SIZE}x{SIZE}); accuracies are top-1.", "", *lines, "",
          "* PyTorch float: the model before quantization-aware training (the BNN's binary layers are binary "
          "already, its first and last layers float).",
          "* PyTorch quantized: the fake-quantized forward pass after quantization-aware fine tuning (int8 "
          "activations and weights; the BNN's binary layers as before).",
          "* compiled C: the generated C on the host; C = PyTorch: share of test images with the same prediction.",
          "* weights: constant data in flash (weights, biases, multipliers, thresholds); flash adds the code; "
          "SRAM = arena + static data + measured stack, on the Cortex-M4 emulator.", "",
          f"BNN vs int8: accuracy gap {v['accuracy_gap_points']:.1f} points (required <= 5), weight memory "
          f"{v['weight_memory_ratio']:.1f}x smaller (required >= 8x).", ""]
    for r in results:
        png = f"memory_{r.name.split()[0].lower()}.png"
        interp = Interpreter(r.graph)
        plan = plan_graph(r.graph, scratch=fitted_scratch(r.graph, [p for _, _, p in interp.steps]))
        plot_plan(plan, r.graph, os.path.join(folder, png))
        md.append(f"## {r.name}: memory plan ({plan.arena_bytes:,}-byte arena)\n\n![{r.name}]({png})\n")
    with open(os.path.join(folder, "table.md"), "w") as f:
        f.write("\n".join(md))
    payload = {"columns": [c for c, _ in COLUMNS], "rows": rows(results), "verdict": v,
               "models": {r.name: {"torch_float": r.torch_float, "torch_quantized": r.torch_quantized, **r.figures}
                          for r in results},
               "settings": settings.__dict__}
    with open(os.path.join(folder, "table.json"), "w") as f:
        json.dump(payload, f, indent=2)
    return folder


def print_table(con: Console, results: list[Result]) -> None:
    table = Table(title="digits: PyTorch -> picoml C")
    for c, _ in COLUMNS:
        table.add_column(c, justify="left" if c == "model" else "right")
    for row in rows(results):
        table.add_row(*[fmt.format(v) for (_, fmt), v in zip(COLUMNS, row)])
    con.print(table)


# -- main -----------------------------------------------------------------------------------
def run(settings: Settings, con: Optional[Console] = None) -> list[Result]:
    """Everything, with ``settings``; returns the two table rows."""
    con = con or Console(width=max(120, Console().width))
    torch.manual_seed(settings.seed)
    data = digits(settings)
    con.rule(f"digits: {len(data[1])} train / {len(data[3])} test images, {SIZE}x{SIZE}")
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
               TextColumn("{task.fields[acc]}"))
    with Progress(*columns, console=con) as progress:
        qat, float_acc, qat_acc = train_int8(data, settings, progress)
        binary, bnn_float, bnn_qat = train_bnn(data, settings, progress)
    con.rule("picoml.summary: int8 CNN")
    picoml.summary(qat, (1, SIZE, SIZE))
    con.rule("picoml.summary: BNN")
    picoml.summary(binary, (1, SIZE, SIZE))
    con.rule("convert, compile, run")
    results = [Result("int8 CNN", float_acc, qat_acc), Result("BNN", bnn_float, bnn_qat)]
    for r, model in zip(results, (qat, binary)):
        deploy(r, model, data, settings, con)
    print_table(con, results)
    folder = write_report(results, settings.out, settings)
    v = verdict(results)
    con.print(f"BNN vs int8: {v['accuracy_gap_points']:.1f} accuracy points apart, "
              f"{v['weight_memory_ratio']:.1f}x less weight memory. Report: {folder}/")
    return results


def main() -> int:
    torch.set_num_threads(2)
    run(Settings())
    return 0


if __name__ == "__main__":
    sys.exit(main())
