"""Patch-based inference of an initial stage (MCUNetV2): the first ops run one spatial tile at a
time, so only a tile of each early, large activation is ever in memory.

The stage is ops ``0..stage_end``. Its output (the tensor op ``stage_end`` writes) is split into
``n x n`` tiles. For each tile, walking the stage backwards gives every op the output window it
must produce and the input rows/columns it reads (its receptive field: a conv or pool with
stride ``s``, dilated extent ``e`` and implicit padding ``p`` needs input ``[o0*s - p, (o1-1)*s - p
+ e)`` for outputs ``[o0, o1)``; element-wise ops need the same window; PAD shifts it). Parts of a
receptive field outside the image become per-side padding of that tile's op, so neighbouring
tiles recompute their shared halo instead of storing it. A tensor read by several ops gets the
bounding box of their windows.

Execution reuses the kernels: the full graph is prepared once, and each tile runs the same
``eval`` with the spatial params replaced (``window_params``: output size and leading padding of
conv/depthwise, output size, padding and per-position tap count of pools, output shape of
element-wise ops, per-side pads of PAD). The tile results are written into the full stage
output, then the rest of the graph runs normally. The result is bit-identical to unpatched
execution because every output element sees exactly the same taps in the same order.

Memory: the stage's intermediate tensors only need their largest tile window, while the graph
input and the full stage output stay alive for the whole stage. ``patched_plan`` plans a
*virtual* graph with those shapes (the stage output alive from op 0, the stage input until the
stage's last op, plus one tile of the stage output, which the generated C writes and then copies
to its place), so the arena is
``max(tile buffers + stage input + stage output, rest of the graph)`` as laid out by the normal
planner. MAC overhead is the extra work of recomputed halos (conv MACs are proportional to the
output pixels computed).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional, Sequence

import numpy as np

from picoml.errors import GraphError
from picoml.interpreter import Inputs, Interpreter, bind_inputs
from picoml.ir import Graph, Op
from picoml.kernels.registry import Params
from picoml.plan.memory_plan import MemoryPlan

WINDOWED_OPS = frozenset({"CONV_2D", "DEPTHWISE_CONV_2D", "AVERAGE_POOL_2D", "MAX_POOL_2D"})
ELEMENTWISE_OPS = frozenset({"ADD", "SUB", "MUL"})  # same-shape operands only
PATCH_OPS = WINDOWED_OPS | ELEMENTWISE_OPS | {"PAD"}

Window = tuple[int, int, int, int]  # rows [h0, h1), columns [w0, w1)


@dataclass
class OpWindow:
    """One op of one tile: the output window it writes, the window of each activation input
    it reads (None for constants and absent inputs) and its spatial param overrides."""

    op: int
    out: Window
    ins: list[Optional[Window]]
    params: dict[str, Any]


@dataclass
class PatchPlan:
    """How a stage runs tile by tile. ``tiles[t]`` lists the stage's ops for tile ``t``."""

    stage_end: int
    n: int
    stage_output: str
    tiles: list[list[OpWindow]]
    # planned shape of every stage intermediate's tile buffer: [N, 1, pixels, C], pixels the
    # largest rows * cols of its windows (tiles are stored compactly, so a buffer needs the
    # largest window's pixels, not the largest rows times the largest columns)
    tile_shapes: dict[str, tuple[int, ...]]
    macs_unpatched: int
    macs_patched: int
    layout: str = "grid"  # how the stage output is cut into tiles: see LAYOUTS

    @property
    def mac_overhead(self) -> float:
        """Extra MACs of the whole graph as a fraction of its unpatched MACs."""
        return (self.macs_patched - self.macs_unpatched) / max(self.macs_unpatched, 1)

    def to_json(self) -> dict:
        return {"stage_end_op": self.stage_end, "n": self.n, "stage_output": self.stage_output,
                "mac_overhead": self.mac_overhead, "macs_unpatched": self.macs_unpatched,
                "macs_patched": self.macs_patched, "layout": self.layout}


# -- geometry ---------------------------------------------------------------------------------
def _split(size: int, n: int) -> list[tuple[int, int]]:
    """``size`` positions in ``n`` near-equal consecutive ranges."""
    cuts = [size * i // n for i in range(n + 1)]
    return [(cuts[i], cuts[i + 1]) for i in range(n)]


def _edge_split(size: int, n: int) -> list[tuple[int, int]]:
    """``size`` positions in ``n`` consecutive ranges, the longer ones at the edges (first, last,
    second, second-to-last, ...): an edge tile's receptive field is clipped by the image border,
    so it can produce more outputs for the same window."""
    base, extra = divmod(size, n)
    lengths = [base] * n
    for k in range(extra):
        lengths[k // 2 if k % 2 == 0 else n - 1 - k // 2] += 1
    cuts = [0]
    for length in lengths:
        cuts.append(cuts[-1] + length)
    return [(cuts[i], cuts[i + 1]) for i in range(n)]


# "grid": n x n tiles of near-equal size. "banded": n bands of rows, edges longer; the inner
# bands (whose receptive fields are not clipped, so they have the largest windows) are cut into
# n + 1 tiles and the first and last into n, which evens out the largest tile window for fewer
# recomputed MACs than (n + 1) x (n + 1) tiles.
LAYOUTS = ("grid", "banded")


def tile_windows(height: int, width: int, n: int, layout: str = "grid") -> list[Window]:
    """The tiles (row-major) of an ``height x width`` stage output for ``n`` and ``layout``."""
    if layout == "grid":
        return [(r0, r1, c0, c1) for r0, r1 in _split(height, n) for c0, c1 in _split(width, n)]
    if layout == "banded":
        bands = _edge_split(height, n)
        return [(r0, r1, c0, c1) for i, (r0, r1) in enumerate(bands)
                for c0, c1 in _edge_split(width, n + 1 if 0 < i < n - 1 and n + 1 <= width else n)]
    raise GraphError(f"unknown patch layout {layout!r}; choose one of {', '.join(LAYOUTS)}")


def _axis_need(o0: int, o1: int, stride: int, pad: int, extent: int) -> tuple[int, int]:
    """Input range (unclipped) that outputs [o0, o1) of a window op read."""
    return o0 * stride - pad, (o1 - 1) * stride - pad + extent


def _geometry(op: Op, p: Params) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int]]:
    """(stride, pad, dilated extent) per axis (h, w) of a prepared windowed op."""
    if op.type in ("CONV_2D", "DEPTHWISE_CONV_2D"):
        kh, kw = p["_k"]
        return ((p["stride_h"], p["stride_w"]), (p["pad_h"], p["pad_w"]),
                ((kh - 1) * p["dilation_h"] + 1, (kw - 1) * p["dilation_w"] + 1))
    return tuple(p["stride"]), tuple(p["pad"]), tuple(p["filter"])


def _op_windows(op: Op, graph: Graph, p: Params, out: Window) -> tuple[list[Optional[Window]], dict[str, Any]]:
    """Input windows (clipped to the tensors) and the param overrides for one op and tile."""
    h0, h1, w0, w1 = out
    acts = [n if n is not None and not graph.tensors[n].is_const else None for n in op.inputs]
    x = graph.tensors[acts[0]] if acts[0] is not None else None
    if op.type in WINDOWED_OPS:
        (sh, sw), (ph, pw), (eh, ew) = _geometry(op, p)
        H, W = x.shape[1], x.shape[2]
        a0, a1 = _axis_need(h0, h1, sh, ph, eh)
        b0, b1 = _axis_need(w0, w1, sw, pw, ew)
        win = (max(a0, 0), min(a1, H), max(b0, 0), min(b1, W))
        over: dict[str, Any]
        if op.type in ("CONV_2D", "DEPTHWISE_CONV_2D"):
            over = {"pad_h": win[0] - a0, "pad_w": win[2] - b0, "out_h": h1 - h0, "out_w": w1 - w0}
        else:
            over = {"pad": (win[0] - a0, win[2] - b0), "out_hw": (h1 - h0, w1 - w0),
                    "count": np.ascontiguousarray(p["count"][h0:h1, w0:w1])}
        return [win if k == 0 else None for k in range(len(op.inputs))], over
    if op.type == "PAD":
        pads = p["pads"]
        H, W = x.shape[1], x.shape[2]
        top, left = pads[1][0], pads[2][0]
        r0, r1, c0, c1 = h0 - top, h1 - top, w0 - left, w1 - left
        win = (min(max(r0, 0), H), max(min(r1, H), 0), min(max(c0, 0), W), max(min(c1, W), 0))
        win = (win[0], max(win[0], win[1]), win[2], max(win[2], win[3]))
        before_h, before_w = min(max(0, -r0), h1 - h0), min(max(0, -c0), w1 - w0)
        new = (pads[0], (before_h, (h1 - h0) - before_h - (win[1] - win[0])),
               (before_w, (w1 - w0) - before_w - (win[3] - win[2])), *pads[3:])
        return [win, None], {"pads": new}
    shape = graph.tensors[op.outputs[0]].shape
    over = {"out_shape": (shape[0], h1 - h0, w1 - w0, *shape[3:])} if "out_shape" in p else {}
    return [out if a is not None else None for a in acts], over


def window_params(params: Params, overrides: Mapping[str, Any]) -> Params:
    """A prepared op's params with the tile's spatial fields replaced."""
    q = dict(params)
    q.update(overrides)
    return q


def _union(a: Optional[Window], b: Window) -> Window:
    if a is None:
        return b
    return (min(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), max(a[3], b[3]))


# -- stage checks -----------------------------------------------------------------------------
def check_stage(graph: Graph, stage_end: int) -> str:
    """The stage output's name if ops ``0..stage_end`` can run tile by tile, else GraphError:
    every op is a supported NHWC spatial op with one output, activation inputs are graph inputs
    or tensors of the stage, and nothing but the stage output is read after the stage."""
    if isinstance(stage_end, bool) or not isinstance(stage_end, int) or not 0 <= stage_end < len(graph.ops):
        raise GraphError(f"patch stage end {stage_end!r} must be an op index 0..{len(graph.ops) - 1}")
    stage = graph.ops[:stage_end + 1]
    produced: set[str] = set()
    for op in stage:
        if op.type not in PATCH_OPS:
            raise GraphError(f"{op.describe()}: {op.type} cannot run patch by patch "
                             f"(supported: {', '.join(sorted(PATCH_OPS))})")
        if len(op.outputs) != 1 or len(graph.tensors[op.outputs[0]].shape) != 4:
            raise GraphError(f"{op.describe()}: patch stages need one 4-D NHWC output per op")
        out = graph.tensors[op.outputs[0]]
        for k, n in enumerate(op.inputs):
            if n is None or graph.tensors[n].is_const:
                if op.type in ELEMENTWISE_OPS and n is not None:
                    raise GraphError(f"{op.describe()}: a constant operand {graph.tensors[n].describe()} "
                                     "is not supported inside a patch stage")
                continue
            t = graph.tensors[n]
            if n not in produced and n not in graph.inputs:
                raise GraphError(f"{op.describe()}: input {t.describe()} comes from outside the stage")
            if op.type in ELEMENTWISE_OPS and t.shape != out.shape:
                raise GraphError(f"{op.describe()}: operand {t.describe()} must have the output's shape "
                                 f"{list(out.shape)} inside a patch stage (no broadcasting)")
        if op.type == "PAD":
            pads = graph.tensors[op.inputs[1]].data if len(op.inputs) == 2 and op.inputs[1] is not None else None
            if pads is None or np.asarray(pads).shape != (4, 2) or np.any(np.asarray(pads)[0] != 0):
                raise GraphError(f"{op.describe()}: only constant PAD of H, W and C is supported in a patch stage")
        produced.add(op.outputs[0])
    output = stage[-1].outputs[0]
    for op in graph.ops[stage_end + 1:]:
        for n in op.inputs:
            if n in produced and n != output:
                raise GraphError(f"{op.describe()} reads {graph.tensors[n].describe()} from inside the "
                                 f"patch stage ending at op #{stage_end}")
    for n in graph.outputs:
        if n in produced and n != output:
            raise GraphError(f"graph output {graph.tensors[n].describe()} is inside the patch stage")
    return output


def make_patch_plan(graph: Graph, stage_end: int, n: int,
                    params: Optional[Sequence[Params]] = None, layout: str = "grid") -> PatchPlan:
    """Windows of every op of every tile for ``n x n`` tiles (``layout``: see ``tile_windows``)
    of the stage ending at ``stage_end``. ``params`` are the kernels' prepared params (one per
    op), prepared here when not given."""
    output = check_stage(graph, stage_end)
    if params is None:
        params = [p for _, _, p in Interpreter(graph).steps]
    params = list(params)
    for i in range(stage_end + 1):
        op = graph.ops[i]
        if op.type in ("CONV_2D", "DEPTHWISE_CONV_2D"):
            w = graph.tensors[op.inputs[1]]
            params[i] = {**params[i], "_k": (w.shape[1], w.shape[2])}
    oshape = graph.tensors[output].shape
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= min(oshape[1], oshape[2]):
        raise GraphError(f"{n!r} x {n!r} patches do not fit stage output {graph.tensors[output].describe()}")
    tiles: list[list[OpWindow]] = []
    tile_shapes: dict[str, tuple[int, ...]] = {}
    full_macs = [int(p.get("macs", 0)) for p in params]
    patched = sum(full_macs[stage_end + 1:])
    for window in tile_windows(oshape[1], oshape[2], n, layout):
        need: dict[str, Window] = {output: window}
        steps: list[OpWindow] = []
        for i in range(stage_end, -1, -1):
            op = graph.ops[i]
            out = need.get(op.outputs[0])
            if out is None or out[0] >= out[1] or out[2] >= out[3]:
                continue  # this tile needs nothing of it (e.g. a tile of PAD's border)
            ins, over = _op_windows(op, graph, params[i], out)
            for name, win in zip(op.inputs, ins):
                if win is not None:
                    need[name] = _union(need.get(name), win)
            steps.append(OpWindow(i, out, ins, over))
            y = graph.tensors[op.outputs[0]]
            full = y.shape[1] * y.shape[2]
            patched += full_macs[i] * (out[1] - out[0]) * (out[3] - out[2]) // max(full, 1)
        steps.reverse()
        tiles.append(steps)
        for name, win in need.items():
            if name == output or name in graph.inputs or win[0] >= win[1] or win[2] >= win[3]:
                continue
            t = graph.tensors[name]
            old = tile_shapes.get(name, (t.shape[0], 1, 0, *t.shape[3:]))
            tile_shapes[name] = (t.shape[0], 1, max(old[2], (win[1] - win[0]) * (win[3] - win[2])), *t.shape[3:])
    return PatchPlan(stage_end, n, output, tiles, tile_shapes, sum(full_macs), patched, layout)


# -- execution --------------------------------------------------------------------------------
def run_patched(graph: Graph, plan: PatchPlan, inputs: Inputs,
                interpreter: Optional[Interpreter] = None) -> list[np.ndarray]:
    """Outputs of one inference with the stage run tile by tile (bit-identical to ``run``)."""
    interp = interpreter or Interpreter(graph)
    values: dict[str, np.ndarray] = {t.name: t.data for t in graph.tensors.values() if t.is_const}
    values.update(bind_inputs(graph, inputs))
    out_t = graph.tensors[plan.stage_output]
    stage_out = np.empty(out_t.storage_shape, out_t.dtype.numpy)
    for steps in plan.tiles:
        local: dict[str, tuple[np.ndarray, Window]] = {}
        for step in steps:
            op, kernel, params = interp.steps[step.op]
            args: list[Optional[np.ndarray]] = []
            for name, win in zip(op.inputs, step.ins):
                if win is None:
                    args.append(None if name is None else values[name])
                    continue
                if win[0] >= win[1] or win[2] >= win[3]:  # nothing of it is read (PAD border)
                    t = graph.tensors[name]
                    args.append(np.empty((t.shape[0], max(win[1] - win[0], 0), max(win[3] - win[2], 0),
                                          *t.shape[3:]), t.dtype.numpy))
                    continue
                arr, at = local[name] if name in local else (values[name], (0, 0, 0, 0))
                args.append(arr[:, win[0] - at[0]:win[1] - at[0], win[2] - at[2]:win[3] - at[2]])
            (res,) = kernel.eval(window_params(params, step.params), args)
            h0, h1, w0, w1 = step.out
            if res.shape[1:3] != (h1 - h0, w1 - w0):
                raise GraphError(f"{op.describe()}: tile produced {list(res.shape)} for window {step.out}")
            local[op.outputs[0]] = (res, step.out)
        res, (h0, h1, w0, w1) = local[plan.stage_output]
        stage_out[:, h0:h1, w0:w1] = res
    values[plan.stage_output] = stage_out
    for op, kernel, params in interp.steps[plan.stage_end + 1:]:
        outs = kernel.eval(params, [None if n is None else values[n] for n in op.inputs])
        for name, arr in zip(op.outputs, outs):
            values[name] = arr
    return [values[n] for n in graph.outputs]


# -- memory -----------------------------------------------------------------------------------
def output_tile_name(plan: PatchPlan) -> str:
    """The buffer the stage's last op writes one tile into (then copied into the stage output)."""
    return f"{plan.stage_output}@tile"


def output_tile_shape(graph: Graph, plan: PatchPlan) -> tuple[int, ...]:
    """The planned shape of the stage output's tile buffer, [N, 1, largest tile's pixels, C]."""
    wins = [steps[-1].out for steps in plan.tiles]
    shape = graph.tensors[plan.stage_output].shape
    return (shape[0], 1, max((w[1] - w[0]) * (w[3] - w[2]) for w in wins), *shape[3:])


def virtual_graph(graph: Graph, plan: PatchPlan) -> Graph:
    """The graph the planner sees for patched execution: stage intermediates shrunk to their
    largest tile, the stage output read by op 0 so that it is alive for the whole stage, the
    graph inputs the stage reads kept alive until its last op (every tile reads them again),
    and the last op writing a tile buffer (``output_tile_name``; generated C copies it into the
    stage output, whose tile rows are not contiguous)."""
    tensors = dict(graph.tensors)
    for name, shape in plan.tile_shapes.items():
        tensors[name] = dataclasses.replace(graph.tensors[name], shape=shape)
    tile = output_tile_name(plan)
    tensors[tile] = dataclasses.replace(graph.tensors[plan.stage_output], name=tile,
                                        shape=output_tile_shape(graph, plan))
    ops = [dataclasses.replace(op, inputs=list(op.inputs), outputs=list(op.outputs)) for op in graph.ops]
    ops[0].inputs.append(plan.stage_output)
    last = ops[plan.stage_end]
    last.outputs.append(tile)  # the stage output stays listed: it may be a graph output
    read = {n for op in graph.ops[:plan.stage_end + 1] for n in op.inputs}
    last.inputs += [n for n in graph.inputs if n in read and n not in last.inputs]
    return Graph(tensors, ops, list(graph.inputs), list(graph.outputs), graph.name, graph.description)


def patched_plan(graph: Graph, plan: PatchPlan, alignment: int = 16, algorithm: str = "best_fit",
                 scratch: Optional[Mapping[int, int]] = None, depthwise_in_place: bool = True) -> MemoryPlan:
    """The memory plan of patched execution (offsets valid for every tile). Depthwise ops after
    the stage may run in place (unless ``depthwise_in_place`` is False); the stage's may not (a
    tile's depthwise input window is larger than its output window, and tiles of one planned
    shape can hold different windows)."""
    from picoml.plan.planner import plan_graph

    after = range(plan.stage_end + 1, len(graph.ops)) if depthwise_in_place else False
    return plan_graph(virtual_graph(graph, plan), alignment=alignment, algorithm=algorithm, scratch=scratch,
                      depthwise_in_place=after)


@dataclass
class Candidate:
    """One (stage_end, n, layout) tried by ``choose_patches``."""

    stage_end: int
    n: int
    arena_bytes: int
    mac_overhead: float
    accepted: bool
    layout: str = "grid"

    def to_json(self) -> dict:
        return dataclasses.asdict(self)


@dataclass
class Choice:
    """The result of ``choose_patches``: the best plan (None when patching does not help)."""

    unpatched_arena_bytes: int
    patch_plan: Optional[PatchPlan]
    memory_plan: MemoryPlan
    unpatched_plan: MemoryPlan
    candidates: list[Candidate] = field(default_factory=list)


def stage_ends(graph: Graph) -> list[int]:
    """Op indices that can end a patch stage, in increasing order."""
    ends = []
    for k in range(len(graph.ops)):
        if graph.ops[k].type not in PATCH_OPS:
            break
        try:
            check_stage(graph, k)
        except GraphError:
            continue
        ends.append(k)
    return ends


def choose_patches(graph: Graph, max_mac_overhead: float = 0.2, alignment: int = 16,
                   algorithm: str = "best_fit", scratch: Optional[Mapping[int, int]] = None,
                   ns: Sequence[int] = (2, 3, 4, 5, 6, 8), stage_end: Optional[int] = None,
                   interpreter: Optional[Interpreter] = None, force: bool = False) -> Choice:
    """Try every stage end (or the given one), tile count and tile layout (``LAYOUTS``; ``force``
    uses the grid); keep the smallest arena whose MAC overhead is at most ``max_mac_overhead``,
    ties to the smaller overhead. Patching is used only
    when it beats the unpatched arena, unless ``force`` (then the given ``stage_end`` and the
    single tile count in ``ns`` must be valid, else GraphError)."""
    from picoml.plan.planner import plan_graph

    interp = interpreter or Interpreter(graph)
    params = [p for _, _, p in interp.steps]
    base = plan_graph(graph, alignment=alignment, algorithm=algorithm, scratch=scratch)
    choice = Choice(base.arena_bytes, None, base, base)
    best_key = (base.arena_bytes, 0.0)
    if force and (stage_end is None or len(ns) != 1):
        raise GraphError("forced patching needs one stage end and one tile count")
    if force:
        best_key = (float("inf"), float("inf"))
    layouts = ("grid",) if force else LAYOUTS
    for k in ([stage_end] if stage_end is not None else stage_ends(graph)):
        for n, layout in ((n, layout) for n in ns for layout in layouts if layout == "grid" or n >= 3):
            try:
                pp = make_patch_plan(graph, k, n, params, layout)
            except GraphError:
                if force:
                    raise
                continue
            mp = patched_plan(graph, pp, alignment, algorithm, scratch)
            ok = pp.mac_overhead <= max_mac_overhead + 1e-12
            choice.candidates.append(Candidate(k, n, mp.arena_bytes, pp.mac_overhead, ok, layout))
            if ok and (mp.arena_bytes, pp.mac_overhead) < best_key:
                best_key = (mp.arena_bytes, pp.mac_overhead)
                choice.patch_plan, choice.memory_plan = pp, mp
    return choice


def plot_before_after(graph: Graph, choice: Choice, path: str) -> None:
    """A PNG of live bytes per op without and with patching (the patched stage's ops show the
    bytes of one tile plus the stage's input and full output), arenas as dashed lines."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(max(8.0, min(0.25 * len(graph.ops), 24.0)), 4.5))
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    steps = range(len(graph.ops))
    base = choice.unpatched_arena_bytes
    if choice.patch_plan is not None:
        ax.step(steps, choice.unpatched_plan.live_bytes, where="mid", label=f"unpatched (arena {base:,} B)")
        pp = choice.patch_plan
        ax.step(steps, choice.memory_plan.live_bytes, where="mid",
                label=f"ops 0..{pp.stage_end} in {pp.n}x{pp.n} {pp.layout} tiles "
                      f"(arena {choice.memory_plan.arena_bytes:,} B, "
                      f"+{pp.mac_overhead:.1%} MACs)")
        ax.axvspan(-0.5, pp.stage_end + 0.5, color="grey", alpha=0.15)
        ax.axhline(choice.memory_plan.arena_bytes, color="tab:orange", linestyle="--", linewidth=0.8)
    else:
        ax.step(steps, choice.memory_plan.live_bytes, where="mid", label=f"unpatched (arena {base:,} B)")
    ax.axhline(base, color="tab:blue", linestyle="--", linewidth=0.8)
    ax.set_xlabel("op")
    ax.set_ylabel("live bytes")
    ax.set_title(f"{graph.name}: peak memory without and with patch-based inference")
    ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
