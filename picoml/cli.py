"""The ``picoml`` command: inspect, run (and later plan, compile, bench) models.

Errors a user can cause end as one paragraph on stderr and exit code 2; a bug in picoml ends
as exit code 3 with a request to report it (the traceback only with PICOML_DEBUG=1).
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import sys
import tempfile
import traceback
from typing import Any, Optional, Sequence

import numpy as np

from picoml.errors import InputError, PicomlError


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except PicomlError as e:
        print(f"picoml: error: {e}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # output piped into `head`
        return 0
    except KeyboardInterrupt:
        print("picoml: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # pragma: no cover - a bug, reported as such
        if os.environ.get("PICOML_DEBUG"):
            traceback.print_exc()
        print(f"picoml: internal error ({type(e).__name__}: {e}). This is a bug in picoml; please "
              "report it with the command and model (set PICOML_DEBUG=1 for the traceback).", file=sys.stderr)
        return 3


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="picoml", description="Deep learning on microcontrollers.")
    sub = p.add_subparsers(dest="command")

    info = sub.add_parser("info", help="inputs, outputs, ops, parameters and MACs of a model")
    info.add_argument("model")
    info.add_argument("--json", action="store_true", help="print one JSON object")
    info.set_defaults(func=cmd_info)

    run = sub.add_parser("run", help="run a model on .npy inputs")
    run.add_argument("model")
    run.add_argument("--input", action="append", default=[], metavar="FILE.npy",
                     help="one per model input, in order")
    run.add_argument("--quantize", action="store_true",
                     help="quantize float inputs with each input's scale and zero point")
    run.add_argument("--output", metavar="OUT.npz", help="write outputs as output_0, output_1, ...")
    run.add_argument("--engine", default="ref", choices=["ref", "host", "cortex-m4"],
                     help="ref: the NumPy reference interpreter; host: the generated C, compiled for this machine; "
                          "cortex-m4: the generated C cross-compiled and run in the Cortex-M4 emulator")
    _patch_args(run)
    run.set_defaults(func=cmd_run)

    plan = sub.add_parser("plan", help="the memory plan: arena bytes, peak, per-op live memory")
    plan.add_argument("model")
    plan.add_argument("--json", action="store_true", help="print one JSON object")
    plan.add_argument("--plot", metavar="FILE.png", help="write a memory-timeline plot")
    plan.add_argument("--alignment", type=int, default=16)
    plan.add_argument("--algorithm", default="best_fit")
    plan.add_argument("--schedule", action="store_true",
                      help="reorder ops to minimise peak memory (branchy graphs) before planning")
    _patch_args(plan)
    plan.set_defaults(func=cmd_plan)

    comp = sub.add_parser("compile", help="generate a self-contained C99 project")
    comp.add_argument("model")
    comp.add_argument("-o", "--output", required=True, metavar="DIR")
    comp.add_argument("--max-ram", type=int, metavar="BYTES", help="refuse a model whose arena is larger")
    comp.add_argument("--prefix", default="model", help="C name prefix (model_init, model_invoke, ...)")
    comp.add_argument("--kws-stream", action="store_true",
                      help="also add the micro_speech audio frontend and the streaming keyword detector "
                           "(<prefix>_kws.h) for a model that takes 49x40 micro_speech features")
    _patch_args(comp)
    comp.set_defaults(func=cmd_compile)

    bench = sub.add_parser("bench", help="run the generated C in a Cortex-M emulator: instructions, cycles, memory")
    bench.add_argument("model")
    bench.add_argument("--target", default="cortex-m4", choices=_cortex_m_cpus(), help="the core (default cortex-m4)")
    bench.add_argument("--cpu", choices=_cortex_m_cpus(), help="same as --target (overrides it)")
    bench.add_argument("--clock-mhz", type=float, default=120.0, help="core clock for the latency (default 120)")
    bench.add_argument("--flash-kb", type=int, default=1024, help="flash size (default 1024)")
    bench.add_argument("--sram-kb", type=int, default=320, help="SRAM size (default 320)")
    bench.add_argument("--flash-wait-states", type=int, default=0, help="flash wait states for the cycle estimate")
    bench.add_argument("--opt", default="-O2", help="compiler optimisation flag (default -O2)")
    bench.add_argument("--kernels", default="optimized", choices=("optimized", "portable"),
                       help="optimized: the DSP kernels on cores that have them (default); portable: the "
                            "reference kernels (-DPM_PORTABLE)")
    bench.add_argument("--emulator", default="unicorn", choices=("unicorn", "qemu"),
                       help="unicorn (pip, default) or qemu (qemu-system-arm with picoml's counting plugin: "
                            "faster, same figures)")
    bench.add_argument("--input", action="append", default=[], metavar="FILE.npy",
                       help="one per model input, in order (default: seeded random inputs)")
    bench.add_argument("--json", action="store_true", help="print one JSON object")
    bench.add_argument("--plot", metavar="FILE.png", help="write a per-op cycles bar chart")
    bench.set_defaults(func=cmd_bench)

    feats = sub.add_parser("features", help="keyword-spotting features of a 16 kHz mono 16-bit wav, as a model input")
    feats.add_argument("wav")
    feats.add_argument("--kind", required=True, choices=["micro_speech", "mfcc"],
                       help="micro_speech: TFLM's int8 [1, frames*40] (micro_speech_quantized); "
                            "mfcc: MLPerf Tiny KWS int8 [1, 49, 10, 1] (kws_ref_model)")
    feats.add_argument("--output", required=True, metavar="F.npy", help="where to write the int8 features")
    feats.set_defaults(func=cmd_features)

    demo = sub.add_parser("demo", help="run a demo end to end and write its report")
    demo.add_argument("name", choices=["kws"], help="kws: keyword spotting, synthetic speech to a Cortex-M4")
    demo.add_argument("--out", default="out", help="report folder parent (default: out -> out/kws_report)")
    demo.set_defaults(func=cmd_demo)
    return p


def cmd_demo(args: argparse.Namespace) -> int:
    """``picoml demo kws``: train, deploy and measure (see :mod:`picoml.kws`)."""
    import torch

    from picoml.kws import Settings, run

    torch.set_num_threads(2)
    run(Settings(out=args.out))
    return 0


# -- info --------------------------------------------------------------------------------
def _tensor_json(t: Any) -> dict:
    scale: Any = None
    zp: Any = None
    if t.quant is not None:
        scale = float(t.quant.scale[0]) if not t.quant.per_channel else [float(s) for s in t.quant.scale]
        zp = int(t.quant.zero_point[0]) if not t.quant.per_channel else [int(z) for z in t.quant.zero_point]
    return {"name": t.name, "shape": list(t.shape), "dtype": t.dtype.value, "scale": scale, "zero_point": zp}


def model_info(path: str) -> dict:
    from picoml.frontends.tflite import load_tflite
    from picoml.metrics import graph_cost

    g = load_tflite(path)
    cost = graph_cost(g)
    return {
        "model": os.path.basename(path),
        "description": g.description,
        "inputs": [_tensor_json(t) for t in g.input_tensors],
        "outputs": [_tensor_json(t) for t in g.output_tensors],
        "ops": [op.type for op in g.ops],
        "op_histogram": dict(collections.Counter(op.type for op in g.ops)),
        "op_macs": [o.macs for o in cost.ops],
        "macs": cost.macs,
        "param_bytes": cost.param_bytes,
        "binary_macs": cost.binary_macs,
        "op_binary_macs": [o.binary_macs for o in cost.ops],
        "param_bytes_by_bits": cost.param_bytes_by_bits,
        "unsupported_ops": [{"index": o.index, "type": o.type} for o in cost.unsupported],
    }


def cmd_info(args: argparse.Namespace) -> int:
    info = model_info(args.model)
    if args.json:
        print(json.dumps(info))
        return 0
    from rich.console import Console
    from rich.table import Table

    con = Console()
    con.print(f"[bold]{info['model']}[/bold]  {len(info['ops'])} ops, {info['macs']:,} MACs, "
              f"{info['param_bytes']:,} parameter bytes")
    if info["binary_macs"]:
        by_bits = ", ".join(f"{b}-bit {n:,}" for b, n in info["param_bytes_by_bits"].items() if n)
        con.print(f"binary MACs: {info['binary_macs']:,}; parameter bytes by width: {by_bits}")
    io = Table("", "name", "shape", "dtype", "scale", "zero point", title="inputs and outputs")
    for kind in ("inputs", "outputs"):
        for t in info[kind]:
            io.add_row(kind[:-1], t["name"], str(t["shape"]), t["dtype"], _short(t["scale"]), _short(t["zero_point"]))
    con.print(io)
    ops = Table("#", "op", "MACs", title="operators")
    for i, (typ, macs, bmacs) in enumerate(zip(info["ops"], info["op_macs"], info["op_binary_macs"])):
        binary = f" + {bmacs:,} binary" if bmacs else ""
        ops.add_row(str(i), typ, "unsupported" if macs is None else f"{macs:,}{binary}")
    con.print(ops)
    hist = ", ".join(f"{k}×{v}" for k, v in info["op_histogram"].items())
    con.print(f"op histogram: {hist}")
    if info["unsupported_ops"]:
        listed = ", ".join(f"#{o['index']} {o['type']}" for o in info["unsupported_ops"])
        con.print(f"[yellow]unsupported: {listed}")
    return 0


def _short(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, list):
        return f"per-channel[{len(v)}]"
    return f"{v:.6g}" if isinstance(v, float) else str(v)


# -- run ---------------------------------------------------------------------------------
def load_inputs(graph: Any, files: Sequence[str], quantize: bool) -> list[np.ndarray]:
    from picoml.interpreter import quantize_input

    if len(files) != len(graph.inputs):
        raise InputError(f"the model takes {len(graph.inputs)} input(s) "
                         f"({', '.join(t.describe() for t in graph.input_tensors)}) but {len(files)} "
                         "--input file(s) were given")
    arrays = []
    for f, t in zip(files, graph.input_tensors):
        try:
            a = np.load(f, allow_pickle=False)
        except (OSError, ValueError) as e:
            raise InputError(f"cannot read input file '{f}' as a .npy array: {e}") from None
        if quantize and a.dtype.kind == "f" and t.dtype.numpy.kind in "iu" and t.quant is not None:
            if a.size != t.size:
                raise InputError(f"input '{f}' has {a.size} elements but {t.describe()} needs {t.size}")
            a = quantize_input(t, a.reshape(t.shape))
        elif quantize and a.dtype.kind == "f" and t.dtype.numpy.kind in "iu":
            raise InputError(f"--quantize: input {t.describe()} has no quantization parameters")
        arrays.append(a)
    return arrays


def write_npz(path: str, outputs: Sequence[np.ndarray]) -> None:
    """Write outputs atomically: a crash never leaves a half-written file behind."""
    d = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=d, suffix=".npz")
    os.close(fd)
    try:
        np.savez(tmp, **{f"output_{i}": o for i, o in enumerate(outputs)})
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _patch_args(p: argparse.ArgumentParser) -> None:
    """Options of patch-based execution (MCUNetV2), shared by ``plan``, ``run`` and ``compile``."""
    p.add_argument("--patches", metavar="auto|N",
                   help="run the first ops tile by tile: 'auto' picks the stage and N x N tiles with the "
                        "smallest arena, N forces N x N tiles")
    p.add_argument("--patch-stage", type=int, metavar="K", help="the patch stage is ops 0..K (with --patches N)")
    p.add_argument("--max-mac-overhead", type=float, default=0.2, metavar="F",
                   help="largest extra MACs from recomputed halos, as a fraction (default 0.2)")


def _patch_choice(g: Any, args: argparse.Namespace, interp: Any, scratch: Any = None) -> Any:
    """The patches.Choice the --patches/--patch-stage/--max-mac-overhead options ask for."""
    from picoml.plan.patches import choose_patches

    spec = str(args.patches).strip().lower()
    if spec == "auto":
        if args.patch_stage is not None:
            raise InputError("--patch-stage needs --patches N (a tile count), not auto")
        return choose_patches(g, args.max_mac_overhead, scratch=scratch, interpreter=interp)
    if not spec.isdigit() or int(spec) < 1:
        raise InputError(f"--patches must be 'auto' or a tile count N >= 1, got {args.patches!r}")
    if args.patch_stage is None:
        raise InputError("--patches N needs --patch-stage K (the stage is ops 0..K)")
    choice = choose_patches(g, float("inf"), scratch=scratch, ns=(int(spec),), stage_end=args.patch_stage,
                            interpreter=interp, force=True)
    return choice


def cmd_run(args: argparse.Namespace) -> int:
    from picoml.frontends.tflite import load_tflite
    from picoml.interpreter import Interpreter

    g = load_tflite(args.model)
    if args.patches is not None:
        if args.engine not in ("ref", "host"):
            raise InputError("--patches runs on --engine ref or host")
        from picoml.plan.patches import run_patched

        interp = Interpreter(g)
        choice = _patch_choice(g, args, interp, _scratch(interp))
        inputs = load_inputs(g, args.input, args.quantize)
        if args.engine == "host":
            outputs = _host(g, choice.patch_plan).run(inputs)
        else:
            outputs = (run_patched(g, choice.patch_plan, inputs, interp) if choice.patch_plan is not None
                       else interp.run(inputs))
    else:
        engine = Interpreter(g) if args.engine == "ref" else _host(g) if args.engine == "host" else _cortex_m(g)
        outputs = engine.run(load_inputs(g, args.input, args.quantize))
    if args.output:
        write_npz(args.output, outputs)
    for t, o in zip(g.output_tensors, outputs):
        line = f"{t.name}: {o.dtype}{list(o.shape)}"
        flat = o.ravel()
        if flat.size <= 16:
            line += f" = {flat.tolist()}"
        if flat.size > 1 and o.dtype.kind in "fi":
            line += f"  argmax {int(np.argmax(flat))}"
        print(line)
    return 0


def _host(graph: Any, patches: Any = None) -> Any:
    from picoml.codegen import generate
    from picoml.targets.host import HostModel

    return HostModel(graph, generate(graph, patches=patches))


def _scratch(interp: Any, alignment: int = 16) -> dict:
    """Scratch bytes per op from a prepared interpreter: what the generated portable C plans
    (kernels' scratch, or their zero-scratch variant where scratch would raise the arena)."""
    from picoml.plan import fitted_scratch

    return fitted_scratch(interp.graph, [p for _, _, p in interp.steps], alignment=alignment)


# -- plan / compile ----------------------------------------------------------------------
def model_plan(path: str, alignment: int = 16, algorithm: str = "best_fit",
               schedule: bool = False) -> tuple[Any, Any]:
    """(graph, plan) of a model file; with ``schedule`` the graph's ops are first reordered to
    minimise peak memory (the returned graph is the reordered one)."""
    g, _, scratch, _ = _prepared(path, alignment, schedule)
    from picoml.plan import plan_graph

    return g, plan_graph(g, alignment=alignment, algorithm=algorithm, scratch=scratch)


def _prepared(path: str, alignment: int, schedule: bool) -> tuple[Any, Any, dict, Any]:
    """(graph, prepared interpreter, scratch per op, schedule report or None) of a model file."""
    from picoml.frontends.tflite import load_tflite
    from picoml.interpreter import Interpreter

    g = load_tflite(path)
    interp = Interpreter(g)  # checks every op and gives kernels' scratch needs
    scratch = _scratch(interp, alignment)
    report = None
    if schedule:
        from picoml.plan.schedule import schedule_report

        report = schedule_report(g, alignment=alignment, scratch=scratch)
        if report.graph is not g:
            g = report.graph
            interp = Interpreter(g)
            scratch = _scratch(interp, alignment)
    return g, interp, scratch, report


def cmd_plan(args: argparse.Namespace) -> int:
    from picoml.plan import plot_plan, print_plan

    if args.patches is not None:
        return _plan_patched(args)
    from picoml.plan import plan_graph

    g, _, scratch, report = _prepared(args.model, args.alignment, args.schedule)
    plan = plan_graph(g, alignment=args.alignment, algorithm=args.algorithm, scratch=scratch)
    if args.plot:
        plot_plan(plan, g, args.plot)
    if args.json:
        out = plan.to_json()
        if report is not None:
            out["schedule"] = report.to_json()
        print(json.dumps(out))
        return 0
    if report is not None:
        r = report
        print(f"schedule: {'reordered' if r.order != sorted(r.order) else 'kept the given order'}; "
              f"arena {r.arena_before:,} -> {r.arena_after:,} bytes ({'exact' if r.exact else 'heuristic'} search)")
    print(print_plan(plan))
    peak = plan.peak_op
    print(f"arena: {plan.arena_bytes:,} bytes; peak at op #{peak} {g.ops[peak].type if peak >= 0 else ''}; "
          f"alive there: {', '.join(plan.peak_tensors)}")
    return 0


def _plan_patched(args: argparse.Namespace) -> int:
    """``picoml plan --patches``: the patched plan, the unpatched arena and every candidate."""
    from picoml.plan import print_plan
    from picoml.plan.patches import plot_before_after

    g, interp, scratch, report = _prepared(args.model, args.alignment, args.schedule)
    choice = _patch_choice(g, args, interp, scratch)
    pp = choice.patch_plan
    if args.plot:
        plot_before_after(g, choice, args.plot)
    if args.json:
        out = choice.memory_plan.to_json()
        out.update(unpatched_arena_bytes=choice.unpatched_arena_bytes,
                   mac_overhead=pp.mac_overhead if pp is not None else 0.0,
                   patches=None if pp is None else {"stage_end_op": pp.stage_end, "n": pp.n},
                   patch_candidates=[c.to_json() for c in choice.candidates])
        if report is not None:
            out["schedule"] = report.to_json()
        print(json.dumps(out))
        return 0
    for c in choice.candidates:
        print(f"  candidate: ops 0..{c.stage_end} in {c.n}x{c.n} {c.layout} tiles: arena {c.arena_bytes:,} bytes, "
              f"MAC overhead {c.mac_overhead:.1%}{'' if c.accepted else ' (over the limit)'}")
    if pp is None:
        print(f"patching does not help: arena stays {choice.unpatched_arena_bytes:,} bytes")
        print(print_plan(choice.memory_plan))
        return 0
    print(print_plan(choice.memory_plan))
    print(f"patches: ops 0..{pp.stage_end} in {pp.n}x{pp.n} {pp.layout} tiles; "
          f"arena {choice.memory_plan.arena_bytes:,} bytes "
          f"(unpatched {choice.unpatched_arena_bytes:,}, {choice.unpatched_arena_bytes / max(choice.memory_plan.arena_bytes, 1):.2f}x "
          f"smaller); MAC overhead {pp.mac_overhead:.1%}")
    return 0


def cmd_compile(args: argparse.Namespace) -> int:
    from picoml.codegen import generate
    from picoml.frontends.tflite import load_tflite

    g = load_tflite(args.model)
    pp = None
    if args.patches is not None:
        from picoml.interpreter import Interpreter

        interp = Interpreter(g)
        pp = _patch_choice(g, args, interp, _scratch(interp)).patch_plan
    project = generate(g, prefix=args.prefix, max_ram=args.max_ram, patches=pp)
    if args.kws_stream:
        from picoml.kws.stream import add_kws_stream

        project = add_kws_stream(project, g)
    out = project.write(args.output)
    print(f"wrote {out}/ ({len(project.files)} files): arena {project.arena_bytes:,} bytes, "
          f"weights {project.weight_bytes:,} bytes, {project.macs:,} MACs")
    if pp is not None:
        print(f"patches: ops 0..{pp.stage_end} in {pp.n}x{pp.n} {pp.layout} tiles "
              f"(MAC overhead {pp.mac_overhead:.1%})")
    return 0


# -- bench -------------------------------------------------------------------------------
BENCH_KEYS = ("instructions", "cycles", "latency_ms", "clock_mhz", "flash_code_bytes", "flash_weight_bytes",
              "sram_arena_bytes", "sram_static_bytes", "stack_bytes", "outputs_match", "ops")


def _cortex_m_cpus() -> list[str]:
    from picoml.targets.cortex_m import CPUS

    return list(CPUS)


def _cortex_m(graph: Any, cpu: str = "cortex-m4") -> Any:
    from picoml.targets.cortex_m import compile_cortex_m

    return compile_cortex_m(graph, cpu=cpu)


def cmd_bench(args: argparse.Namespace) -> int:
    """Build the model for a Cortex-M, run one inference in the emulator, print the figures."""
    from picoml.frontends.tflite import load_tflite
    from picoml.targets.cortex_m import compile_cortex_m

    g = load_tflite(args.model)
    inputs = load_inputs(g, args.input, False) if args.input else None
    model = compile_cortex_m(g, cpu=args.cpu or args.target, opt=args.opt, flash_kb=args.flash_kb,
                             sram_kb=args.sram_kb, clock_mhz=args.clock_mhz, flash_wait_states=args.flash_wait_states,
                             kernels=args.kernels, emulator=args.emulator)
    fig = model.bench(inputs)
    if args.plot:
        _plot_ops(fig, os.path.basename(args.model), args.plot)
    if args.json:
        out = {k: fig[k] for k in BENCH_KEYS}
        out["ops"] = [{"type": o["type"], "cycles": o["cycles"]} for o in fig["ops"]]
        print(json.dumps(out))
        return 0 if fig["outputs_match"] else 1
    _print_bench(fig, os.path.basename(args.model))
    return 0 if fig["outputs_match"] else 1


def _print_bench(fig: dict, name: str) -> None:
    from rich.console import Console
    from rich.table import Table

    con = Console()
    cpm = f"{fig['cycles_per_mac']:.2f}" if fig["cycles_per_mac"] else "-"
    t = Table("figure", "value", title=f"{name} on {fig['cpu']} ({fig['opt']}, {fig['flash_wait_states']} flash wait "
                                        "states; cycles: static estimate)")
    for label, value in [
            ("executed instructions", f"{fig['instructions']:,}"), ("estimated cycles", f"{fig['cycles']:,}"),
            (f"latency at {fig['clock_mhz']:g} MHz", f"{fig['latency_ms']:.3f} ms"),
            ("MACs / cycles per MAC", f"{fig['macs']:,} / {cpm}"),
            ("flash: code + weights", f"{fig['flash_code_bytes']:,} + {fig['flash_weight_bytes']:,} = "
                                      f"{fig['flash_bytes']:,} bytes"),
            ("SRAM: arena + other static + stack", f"{fig['sram_arena_bytes']:,} + {fig['sram_static_bytes']:,} + "
                                                   f"{fig['stack_bytes']:,} = {fig['sram_bytes']:,} bytes"),
            ("outputs equal the reference", "yes" if fig["outputs_match"] else f"[red]NO: {fig['mismatch']}")]:
        t.add_row(label, value)
    con.print(t)
    if fig["ops"]:
        ops = Table("#", "op", "MACs", "instructions", "cycles", "cycles/MAC", "share", title="per op")
        total = max(fig["cycles"], 1)
        for o in fig["ops"]:
            ops.add_row(str(o["index"]), o["type"], f"{o['macs']:,}", f"{o['instructions']:,}", f"{o['cycles']:,}",
                        f"{o['cycles'] / o['macs']:.2f}" if o["macs"] else "-", f"{100 * o['cycles'] / total:.1f}%")
        con.print(ops)


def _plot_ops(fig: dict, name: str, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ops = fig["ops"]
    f, ax = plt.subplots(figsize=(max(6.0, 0.35 * len(ops) + 2), 4))
    ax.bar(range(len(ops)), [o["cycles"] for o in ops], color="tab:blue")
    ax.set_xticks(range(len(ops)), [f"#{o['index']} {o['type']}" for o in ops], rotation=90, fontsize=7)
    ax.set_ylabel("estimated cycles")
    ax.set_title(f"{name} on {fig['cpu']}: {fig['cycles']:,} cycles, {fig['latency_ms']:.2f} ms at "
                 f"{fig['clock_mhz']:g} MHz", fontsize=9)
    f.tight_layout()
    f.savefig(path, dpi=120)
    plt.close(f)


# -- features ----------------------------------------------------------------------------
def cmd_features(args: argparse.Namespace) -> int:
    """Write the int8 features of one wav, shaped as the keyword model's input."""
    from picoml.audio import kws_mfcc_features, micro_speech_features, read_wav

    samples = read_wav(args.wav)
    if args.kind == "micro_speech":
        features = micro_speech_features(samples).reshape(1, -1)  # fresh noise estimate per clip
    else:
        features = kws_mfcc_features(samples)
    try:
        with open(args.output, "wb") as f:
            np.save(f, features)
    except OSError as e:
        raise InputError(f"cannot write '{args.output}': {e}") from None
    print(f"{args.output}: {args.kind} features int8{list(features.shape)} of {len(samples)} samples")
    return 0


if __name__ == "__main__":
    sys.exit(main())
