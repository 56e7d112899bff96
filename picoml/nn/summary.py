"""``picoml.summary(model, input_shape)``: what a (binarized) PyTorch model costs, before deploying it.

Like Larq's ``lq.models.summary``: per layer the input precision, output shape, parameter counts
by bit width, weight memory (a 1-bit weight counts 1/8 byte) and MACs by precision; then totals
with the model size, its float32 equivalent, the compression ratio and the share of binarized
MACs. The precision of a MAC is the larger of the layer's input and kernel precisions (a float
input makes every MAC of the layer a 32-bit MAC, as in Larq).

torch is imported when the function is called, so ``import picoml`` works without torch.
"""
from __future__ import annotations

import io
import math
from typing import TYPE_CHECKING, Any, Callable, Optional, Sequence, Union

if TYPE_CHECKING:  # pragma: no cover
    from torch import nn

__all__ = ["summary"]

Shape = Sequence[int]


def _readable(n: float) -> str:
    """1234567 -> '1.23 M' (three significant figures, like Larq)."""
    n = float(f"{n:.3g}")
    if abs(n) < 1000:
        return f"{n:g}"
    mag = 0
    while abs(n) >= 1000 and mag < 4:
        n /= 1000.0
        mag += 1
    return f"{n:.3g}" + ["", " k", " M", " B", " T"][mag]


def _readable_bytes(b: float) -> str:
    if b < 1024:
        return f"{b:.2f} B"
    if b < 1024 * 1024:
        return f"{b / 1024:.2f} KiB"
    return f"{b / (1024 * 1024):.2f} MiB"


def _layers(model: "nn.Module") -> list[tuple[str, "nn.Module"]]:
    """The modules reported as rows: quantized layers, quantizers and other leaf modules."""
    from picoml.nn.layers import QuantLayer
    from picoml.nn.quantizers import Quantizer

    found: list[tuple[str, Any]] = []

    def visit(name: str, m: Any) -> None:
        if isinstance(m, (QuantLayer, Quantizer)) or next(m.children(), None) is None:
            found.append((name or type(m).__name__, m))
            return
        for child_name, child in m.named_children():
            visit(f"{name}.{child_name}" if name else child_name, child)

    visit("", model)
    return found


def _mac_count(m: Any, out: Any) -> int:
    """Multiply-accumulates of one call of a conv or linear layer (batch 1)."""
    import torch
    from torch import nn

    if not isinstance(out, torch.Tensor):
        return 0
    if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d)):
        return m.weight.numel() * math.prod(out.shape[2:])
    if isinstance(m, nn.Linear):
        return m.weight.numel() * math.prod(out.shape[1:-1])
    return 0


def _shape_of(out: Any) -> Any:
    import torch

    if isinstance(out, torch.Tensor):
        return tuple(out.shape[1:])
    if isinstance(out, (tuple, list)):
        return [_shape_of(o) for o in out]
    return None


def _dummy_inputs(input_shape: Union[Shape, Sequence[Shape]]) -> list[Any]:
    import torch

    shapes = input_shape if input_shape and isinstance(input_shape[0], (tuple, list)) else [input_shape]
    return [torch.zeros((1, *[int(d) for d in s])) for s in shapes]


def summary(model: "nn.Module", input_shape: Union[Shape, Sequence[Shape]],
            print_fn: Optional[Callable[[str], Any]] = print, width: int = 120) -> dict[str, Any]:
    """Print a per-layer cost table of ``model`` and return the same figures as a dict.

    Arguments:
        model: any ``nn.Module``; picoml quantized layers report their quantizers' bit widths,
            other layers count as 32-bit.
        input_shape: the shape of one sample *without* the batch axis (e.g. ``(1, 49, 10)``), or a
            list of such shapes for a model with several inputs. A batch of one zero sample is run
            through the model in eval mode under ``no_grad`` (training flags are restored after).
        print_fn: where the rendered table goes (None: do not print).
        width: the width of the rendered table in characters.

    Returns:
        ``layers`` (one dict per row: name, type, input_bits, output_shape, params by bits,
        memory_bytes, macs by bits), ``params_by_bits``, ``total_params``, ``trainable_params``,
        ``non_trainable_params``, ``model_size_bytes``, ``model_size_int8_fp_bytes`` (float
        weights counted as 8-bit), ``float32_bytes``, ``compression_ratio`` (float32 size / model
        size), ``macs_by_bits``, ``total_macs``, ``binarized_mac_ratio``, ``ternarized_mac_ratio``
        and ``peak_sram_bytes``: the memory planner's arena for the model converted to int8 with
        the PyTorch frontend (None when it does not convert).
    """
    import torch

    from picoml.nn.layers import QuantLayer

    rows: dict[int, dict[str, Any]] = {}
    order: list[int] = []
    layers = _layers(model)

    def hook(m: Any, _inputs: Any, out: Any) -> None:
        row = rows[id(m)]
        if row["output_shape"] is None:
            row["output_shape"] = _shape_of(out)
            order.append(id(m))
        n = _mac_count(m, out)
        if n:
            row["macs"][row["mac_bits"]] = row["macs"].get(row["mac_bits"], 0) + n

    seen_params: set[int] = set()
    handles = []
    for name, m in layers:
        in_bits = m.input_bits if isinstance(m, QuantLayer) else None
        kernel_bits = m.kernel_bits if isinstance(m, QuantLayer) else 32
        params: dict[int, int] = {}
        trainable = 0
        for pname, p in m.named_parameters():
            if id(p) in seen_params:
                continue
            seen_params.add(id(p))
            bits = kernel_bits if pname == "weight" else 32
            params[bits] = params.get(bits, 0) + p.numel()
            trainable += p.numel() if p.requires_grad else 0
        rows[id(m)] = {"name": name, "type": type(m).__name__, "input_bits": in_bits, "output_shape": None,
                       "params": params, "trainable": trainable,
                       "memory_bytes": sum(b * n for b, n in params.items()) / 8,
                       "mac_bits": max(in_bits or 32, kernel_bits), "macs": {}}
        handles.append(m.register_forward_hook(hook))

    leftover = [p for p in model.parameters() if id(p) not in seen_params]
    training = {id(m): m.training for m in model.modules()}
    try:
        model.eval()
        with torch.no_grad():
            model(*_dummy_inputs(input_shape))
    finally:
        for h in handles:
            h.remove()
        for m in model.modules():
            m.training = training[id(m)]

    report = [rows[i] for i in order] + [rows[id(m)] for _, m in layers
                                          if rows[id(m)]["output_shape"] is None and rows[id(m)]["params"]]
    if leftover:
        n = sum(p.numel() for p in leftover)
        report.append({"name": "(other parameters)", "type": "-", "input_bits": None, "output_shape": None,
                       "params": {32: n}, "trainable": sum(p.numel() for p in leftover if p.requires_grad),
                       "memory_bytes": 4.0 * n, "mac_bits": 32, "macs": {}})
    for r in report:
        del r["mac_bits"]

    result = _totals(report)
    result["peak_sram_bytes"] = _planned_arena(model, input_shape)
    if print_fn is not None:
        print_fn(_render(report, result, width))
    return result


def _planned_arena(model: "nn.Module", input_shape: Union[Shape, Sequence[Shape]]) -> Optional[int]:
    """The arena the deployed model needs: convert with the PyTorch frontend (int8, calibrated on
    one zero sample, which fixes shapes and dtypes though not the scales) and plan it. None when
    the model does not convert (the frontend's error says why, e.g. an unsupported module)."""
    import torch

    from picoml.errors import PicomlError
    from picoml.frontends.torch import from_torch
    from picoml.plan import plan_graph

    shapes = [input_shape] if isinstance(input_shape[0], int) else list(input_shape)  # type: ignore[index]
    if len(shapes) != 1:
        return None
    example = torch.zeros(1, *shapes[0])
    training = model.training
    try:
        graph = from_torch(model.eval(), example, calibration_data=[example])
        return plan_graph(graph).arena_bytes
    except PicomlError:
        return None
    finally:
        model.train(training)


def _totals(report: list[dict[str, Any]]) -> dict[str, Any]:
    params_by_bits: dict[int, int] = {}
    macs_by_bits: dict[int, int] = {}
    for r in report:
        for b, n in r["params"].items():
            params_by_bits[b] = params_by_bits.get(b, 0) + n
        for b, n in r["macs"].items():
            macs_by_bits[b] = macs_by_bits.get(b, 0) + n
    total = sum(params_by_bits.values())
    trainable = sum(r.pop("trainable") for r in report)
    size = sum(b * n for b, n in params_by_bits.items()) / 8
    size_int8 = sum(min(b, 8) * n for b, n in params_by_bits.items()) / 8
    fp32 = 4.0 * total
    total_macs = sum(macs_by_bits.values())
    return {
        "layers": report,
        "params_by_bits": dict(sorted(params_by_bits.items())),
        "total_params": total,
        "trainable_params": trainable,
        "non_trainable_params": total - trainable,
        "model_size_bytes": size,
        "model_size_int8_fp_bytes": size_int8,
        "float32_bytes": fp32,
        "compression_ratio": fp32 / size if size else 1.0,
        "macs_by_bits": dict(sorted(macs_by_bits.items())),
        "total_macs": total_macs,
        "binarized_mac_ratio": macs_by_bits.get(1, 0) / total_macs if total_macs else 0.0,
        "ternarized_mac_ratio": macs_by_bits.get(2, 0) / total_macs if total_macs else 0.0,
        "peak_sram_bytes": None,
    }


def _render(report: list[dict[str, Any]], res: dict[str, Any], width: int) -> str:
    from rich.console import Console
    from rich.table import Table

    pbits = list(res["params_by_bits"])
    mbits = list(res["macs_by_bits"])
    table = Table(title="picoml summary", show_footer=True)
    table.add_column("Layer", footer="Total")
    table.add_column("Type")
    table.add_column("Input\nprec. (bit)", justify="right")
    table.add_column("Outputs", justify="right")
    for b in pbits:
        table.add_column(f"# {b}-bit\nparams", justify="right", footer=f"{res['params_by_bits'][b]:,}")
    table.add_column("Memory\n(KiB)", justify="right", footer=f"{res['model_size_bytes'] / 1024:.2f}")
    for b in mbits:
        table.add_column(f"{b}-bit\nMACs", justify="right", footer=f"{res['macs_by_bits'][b]:,}")
    for r in report:
        shape = "-" if r["output_shape"] is None else str(r["output_shape"])
        table.add_row(r["name"], r["type"], "-" if r["input_bits"] is None else str(r["input_bits"]), shape,
                      *[f"{r['params'][b]:,}" if b in r["params"] else "0" for b in pbits],
                      f"{r['memory_bytes'] / 1024:.2f}",
                      *[f"{r['macs'][b]:,}" if b in r["macs"] else "0" for b in mbits])

    totals = Table(show_header=False, box=None)
    totals.add_column(justify="left")
    totals.add_column(justify="right")
    totals.add_row("Total params", _readable(res["total_params"]))
    totals.add_row("Trainable params", _readable(res["trainable_params"]))
    totals.add_row("Non-trainable params", _readable(res["non_trainable_params"]))
    totals.add_row("Model size", _readable_bytes(res["model_size_bytes"]))
    totals.add_row("Model size (8-bit float weights)", _readable_bytes(res["model_size_int8_fp_bytes"]))
    totals.add_row("Float-32 equivalent", _readable_bytes(res["float32_bytes"]))
    totals.add_row("Compression ratio (float32 / model)", f"{res['compression_ratio']:.2f}x")
    totals.add_row("Number of MACs", _readable(res["total_macs"]))
    if res["binarized_mac_ratio"]:
        totals.add_row("Ratio of MACs that are binarized", f"{res['binarized_mac_ratio']:.4f}")
    if res["ternarized_mac_ratio"]:
        totals.add_row("Ratio of MACs that are ternarized", f"{res['ternarized_mac_ratio']:.4f}")
    totals.add_row("Peak SRAM", "n/a (the model does not convert)" if res["peak_sram_bytes"] is None
                   else _readable_bytes(res["peak_sram_bytes"]))

    buf = io.StringIO()
    console = Console(file=buf, width=width, force_terminal=False, color_system=None)
    console.print(table)
    console.print(totals)
    return buf.getvalue().rstrip("\n")
