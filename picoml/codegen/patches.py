"""Patch-based execution of an initial stage in the generated C (MCUNetV2; the plan and the
reference executor are :mod:`picoml.plan.patches`).

The C runs the reference's tiles in the same order, with the same kernels:

    for each tile t (row-major):
        for each stage op tile t needs:  one kernel call with a param struct for t's windows
        pm_move: the tile buffer of the stage output -> its place in the stage output

Buffers and offsets come from ``patched_plan`` (so the arena is the patched plan's, exactly):

* a stage intermediate ``X`` holds, in tile ``t``, the window of ``X`` its producer computes
  there (the union of what ``X``'s consumers read), stored compactly as
  ``[N, rows, cols, C]``; the plan reserves the largest such window (``tile_shapes``);
* graph inputs are read in place: a tile's buffer of a graph input is the whole tensor;
* the stage's last op writes its tile into ``output_tile_name(plan)``; a strided copy puts it
  in the stage output (whose tile rows are not contiguous).

Each call's params are the op's prepared params with the reference's tile overrides
(``window_params``: output size, leading padding, PAD's pads), so every constant is the NumPy
kernel's. Kernels see the whole buffer as their input: a consumer whose buffer starts before the
first row (column) its outputs reach, ``a0``, gets the leading padding ``buffer start - a0``
(negative when it starts later inside the buffer). Then tap row ``oy*s - pad + fy*d`` in buffer
coordinates is the reference's row, and the taps the kernel skips as outside its input are
exactly those outside the tensor, because the buffer holds every in-tensor row and column the
tile's outputs read. The depthwise kernels' interior (outputs with no tap outside the input)
is recomputed for that geometry. Element-wise ops and PAD read their window out of a wider
buffer with explicit strides (``pm_broadcast`` / ``pm_move``).

In-place element-wise ops inside the stage (the planner may give ``ADD``'s output its operand's
buffer): the output window is always inside the operand's window, so each output element is
written at or before the position its own operand value is read from, and after every earlier
element's: the sequential C loop never overwrites a value it has yet to read. ``emit_stage``
checks that containment for every tile.

Only the portable kernels run inside the stage (the optimised variants are not used there).
"""
from __future__ import annotations

import dataclasses
from typing import Any, Optional

import numpy as np

from picoml.codegen.cformat import CTYPES
from picoml.codegen.emitter import OpContext
from picoml.codegen.ops import elementwise as ew
from picoml.codegen.ops.shape_ops import move_box, row_major_strides
from picoml.codegen.registry import get_c_op
from picoml.errors import UnsupportedError
from picoml.ir import Op, Tensor
from picoml.kernels.conv import interior
from picoml.plan.patches import (ELEMENTWISE_OPS, OpWindow, PatchPlan, Window, output_tile_name,
                                 window_params)


@dataclasses.dataclass(frozen=True)
class Buffer:
    """Where one tensor's tile lives: a byte offset in the arena and the tensor window it holds."""

    offset: int
    window: Window


class TileContext(OpContext):
    """An OpContext for one op of one tile: tensors have their buffer's shape, pointers point
    at the tile buffers, param structs with equal fields are declared once."""

    def __init__(self, gen: Any, op: Op, params: dict, buffers: dict[str, Buffer],
                 structs: dict[tuple, str]) -> None:
        super().__init__(gen, op, params)
        self.buffers = buffers
        self.structs = structs

    def tensor(self, i: int, output: bool = False) -> Optional[Tensor]:
        """The op's tensor, shaped as its buffer in this tile (constants unchanged)."""
        names = self.op.outputs if output else self.op.inputs
        if i >= len(names) or names[i] is None:
            return None
        t = self.graph.tensors[names[i]]
        if t.is_const:
            return t
        h0, h1, w0, w1 = self.buffers[t.name].window
        return dataclasses.replace(t, shape=(t.shape[0], h1 - h0, w1 - w0, *t.shape[3:]))

    def _pointer(self, t: Optional[Tensor], ctype: Optional[str], const: bool) -> str:
        if t is None:
            return "NULL"
        if t.is_const:
            return self.gen.pointer(t, ctype, const=True)
        return arena_pointer(self.buffers[t.name].offset, ctype or CTYPES[t.dtype.value], const)

    def input(self, i: int, ctype: Optional[str] = None) -> str:
        """Pointer to input ``i``'s tile buffer (a constant's array; ``NULL`` when absent)."""
        return self._pointer(self.tensor(i), ctype, True)

    def output(self, i: int = 0, ctype: Optional[str] = None) -> str:
        """Pointer to the output's tile buffer."""
        return self._pointer(self.tensor(i, output=True), ctype, False)

    def offset(self, name: str) -> int:
        """Arena offset of ``name``'s tile buffer."""
        return self.buffers[name].offset

    def struct(self, ctype: str, fields: dict[str, Any], hint: str = "p") -> str:
        """Declare the struct once per distinct field values (tiles of one size share it)."""
        key = (ctype, tuple((k, repr(v)) for k, v in fields.items()))
        if key not in self.structs:
            self.structs[key] = super().struct(ctype, fields, hint)
        return self.structs[key]


def arena_pointer(offset: int, ctype: str, const: bool) -> str:
    """A C pointer expression to ``offset`` bytes into the arena."""
    return f"(({'const ' if const else ''}{ctype} *)(pm_arena.bytes + {offset}))"


def _rows(w: Window) -> int:
    return w[1] - w[0]


def _cols(w: Window) -> int:
    return w[3] - w[2]


def _comment(text: str) -> str:
    """``text`` safe inside a C comment."""
    return text.replace("*/", "* /")


def _inside(inner: Window, outer: Window) -> bool:
    return outer[0] <= inner[0] and inner[1] <= outer[1] and outer[2] <= inner[2] and inner[3] <= outer[3]


# -- per-op tile params -----------------------------------------------------------------------
def tile_params(op: Op, params: dict, step: OpWindow, buf: Window) -> dict:
    """The params of one tile's call of a windowed op: the reference's overrides, with the
    leading padding moved to the buffer's origin (``buf``, the window the input buffer holds)
    and, for depthwise, the interior recomputed for that geometry."""
    win = step.ins[0]
    dh, dw = win[0] - buf[0], win[2] - buf[2]  # >= 0: the buffer holds the window read
    p = window_params(params, step.params)
    if op.type in ("CONV_2D", "DEPTHWISE_CONV_2D"):
        p["pad_h"], p["pad_w"] = p["pad_h"] - dh, p["pad_w"] - dw
        if "interior_h" in p:
            k = params["_k"]
            for axis, size, taps in (("h", _rows(buf), k[0]), ("w", _cols(buf), k[1])):
                first, last = interior(p, axis, size, taps)
                first = max(first, 0)
                p[f"interior_{axis}"] = (first, max(first, last))
    else:
        p["pad"] = (p["pad"][0] - dh, p["pad"][1] - dw)
    return p


# -- emitters for the ops that read a window of a wider buffer ---------------------------------
def _elementwise(ctx: TileContext, step: OpWindow) -> str:
    """``pm_<op>_<dtype>`` on the tile: each operand walked inside its own buffer."""
    op, p = ctx.op, ctx.params
    key = (op.type, p["dtype"])
    if key not in ew.KERNELS:
        raise UnsupportedError(f"{op.describe()}: no C kernel for {key[1]} {key[0]}")
    fn, ctype, module = ew.KERNELS[key]
    ctx.use("broadcast", module)
    out_t = ctx.graph.tensors[op.outputs[0]]
    c = int(np.prod(out_t.shape[3:], dtype=np.int64))
    n, h, w = out_t.shape[0], _rows(step.out), _cols(step.out)
    item = out_t.dtype.itemsize
    strides, pointers = [], []
    for name, win in zip(op.inputs, step.ins):
        b = ctx.buffers[name]
        bw = _cols(b.window) * c
        start = ((win[0] - b.window[0]) * _cols(b.window) + win[2] - b.window[2]) * c
        strides.append([_rows(b.window) * bw, bw])
        pointers.append(arena_pointer(b.offset + start * item, CTYPES[out_t.dtype.value], True))
    pad = ew.BROADCAST_RANK - 3
    bcast = ctx.struct("pm_broadcast", {
        "rows": n * h, "inner": w * c, "inner_stride1": 1, "inner_stride2": 1,
        "outer_dims": ew.c_list([1] * pad + [n, h]),
        "outer_stride1": ew.c_list([0] * pad + strides[0]), "outer_stride2": ew.c_list([0] * pad + strides[1])},
        "bcast")
    params = ctx.struct(ctype, {name: p[name] for name in ew.FIELDS[ctype]}, op.type.lower())
    return f"{fn}({params}, {bcast}, {pointers[0]}, {pointers[1]}, {ctx.output(0)});"


def _pad(ctx: TileContext, step: OpWindow) -> str:
    """``pm_pad`` of the tile: fill, then move the input window (read with its buffer's
    strides) to its place after the tile's leading pads."""
    op = ctx.op
    x_t, out = ctx.graph.tensors[op.inputs[0]], ctx.tensor(0, output=True)
    item = x_t.dtype.itemsize
    fill = np.asarray(ctx.params["value"], x_t.dtype.numpy).tobytes()
    if len(set(fill)) != 1:
        raise UnsupportedError(f"{op.describe()}: pad value {ctx.params['value']!r} is not one repeated byte")
    ctx.use("shape_ops")
    win = step.ins[0]
    if _rows(win) <= 0 or _cols(win) <= 0:
        return f"memset({ctx.output(0)}, {fill[0]}, {out.nbytes});"
    b = ctx.buffers[op.inputs[0]]
    shape = (x_t.shape[0], _rows(win), _cols(win), *x_t.shape[3:])
    src = row_major_strides((x_t.shape[0], _rows(b.window), _cols(b.window), *x_t.shape[3:]), item)
    dst = row_major_strides(out.shape, item)
    pads = step.params["pads"]
    interior_box = move_box(shape, src, dst, item,
                            src_offset=(win[0] - b.window[0]) * src[1] + (win[2] - b.window[2]) * src[2],
                            dst_offset=sum(st * before for st, (before, _) in zip(dst, pads)))
    params = ctx.struct("pm_pad_params", {"interior": "{" + ", ".join(f".{k} = {v}" for k, v in interior_box.items())
                                          + "}", "out_bytes": out.nbytes, "fill_byte": fill[0]}, "pad")
    return f"pm_pad({params}, {arena_pointer(b.offset, 'uint8_t', True)}, {ctx.output(0)});"


def _copy_tile(ctx: TileContext, tile: Buffer, out: Tensor, out_offset: int) -> str:
    """``pm_move`` of the stage output's tile buffer to its window in the stage output."""
    item = out.dtype.itemsize
    win = tile.window
    shape = (out.shape[0], _rows(win), _cols(win), *out.shape[3:])
    dst = row_major_strides(out.shape, item)
    box = move_box(shape, row_major_strides(shape, item), dst, item, dst_offset=win[0] * dst[1] + win[2] * dst[2])
    ctx.use("shape_ops")
    params = ctx.struct("pm_move_params", box, "tile_copy")
    src, dst_ptr = arena_pointer(tile.offset, "uint8_t", True), arena_pointer(out_offset, "uint8_t", False)
    return f"pm_move({params}, {src}, {dst_ptr});"


# -- the stage --------------------------------------------------------------------------------
def _check_supported(gen: Any, plan: PatchPlan) -> None:
    for op, _, params in gen.interp.steps[:plan.stage_end + 1]:
        if params.get("kind") == "hybrid":
            raise UnsupportedError(f"{op.describe()}: a hybrid (float input, int8 weights) CONV_2D quantizes its "
                                   "whole input with one scale, so it cannot run patch by patch")
        if gen.graph.tensors[op.outputs[0]].dtype.value == "bitpacked":
            raise UnsupportedError(f"{op.describe()}: bitpacked tensors cannot run patch by patch")


def _call(gen: Any, op: Op, params: dict, step: OpWindow, buffers: dict[str, Buffer],
          structs: dict[tuple, str]) -> str:
    """The C statement of one op of one tile."""
    if op.type in ELEMENTWISE_OPS:
        return _elementwise(TileContext(gen, op, params, buffers, structs), step)
    if op.type == "PAD":
        return _pad(TileContext(gen, op, params, buffers, structs), step)
    p = tile_params(op, params, step, buffers[op.inputs[0]].window)
    return get_c_op(op.type)(TileContext(gen, op, p, buffers, structs))


def emit_stage(gen: Any, plan: PatchPlan) -> tuple[str, dict]:
    """The C statements running ops ``0..plan.stage_end`` tile by tile (offsets from the
    generator's plan, which must be ``patched_plan(graph, plan)``), and the stage's summary
    for profiling (one begin/end mark pair around the whole stage)."""
    _check_supported(gen, plan)
    graph, offsets = gen.graph, gen.plan.offsets
    steps_params = gen.interp.steps
    params = []
    for op, _, p in steps_params[:plan.stage_end + 1]:
        if op.type in ("CONV_2D", "DEPTHWISE_CONV_2D"):
            w = graph.tensors[op.inputs[1]]
            p = {**p, "_k": (w.shape[1], w.shape[2])}
        params.append(p)
    structs: dict[tuple, str] = {}
    out_t = graph.tensors[plan.stage_output]
    tile_name = output_tile_name(plan)
    lines = []
    for t, steps in enumerate(plan.tiles):
        buffers = {n: Buffer(offsets[n], (0, graph.tensors[n].shape[1], 0, graph.tensors[n].shape[2]))
                   for n in graph.inputs if len(graph.tensors[n].shape) == 4}
        out_win = steps[-1].out
        lines.append(f"  /* tile {t}: rows [{out_win[0]}, {out_win[1]}) x columns [{out_win[2]}, {out_win[3]}) "
                     f"of {_comment(out_t.name)} */")
        for step in steps:
            op = graph.ops[step.op]
            name = op.outputs[0]
            buffers[name] = Buffer(offsets[tile_name if step.op == plan.stage_end else name], step.out)
            if step.op in gen.plan.in_place:
                src = gen.plan.in_place[step.op][0]
                if not _inside(step.out, buffers[src].window):
                    raise UnsupportedError(f"{op.describe()}: in place, tile {t} would write outside the window of "
                                           f"{graph.tensors[src].describe()} it reads (a picoml bug; please report it)")
            stmt = _call(gen, op, params[step.op], step, buffers, structs)
            lines.append(f"  /* op #{op.index} {op.type}: rows [{step.out[0]}, {step.out[1]}) x columns "
                         f"[{step.out[2]}, {step.out[3]}) */\n  {stmt}")
        lines.append("  " + _copy_tile(TileContext(gen, graph.ops[plan.stage_end], {}, buffers, structs),
                                       buffers[plan.stage_output], out_t, offsets[plan.stage_output]))
    macs = plan.macs_patched - sum(int(p.get("macs", 0)) for _, _, p in steps_params[plan.stage_end + 1:])
    head = (f"  /* ops #0..#{plan.stage_end} patch by patch: {plan.n}x{plan.n} tiles of {_comment(out_t.describe())}, "
            f"{macs:,} MACs (halos recomputed), tile buffers planned by patched_plan */\n"
            f"  PM_OP_BEGIN(0);")
    body = "\n".join(lines)
    summary = {"index": 0, "type": f"PATCH_STAGE(ops 0..{plan.stage_end}, {plan.n}x{plan.n})", "macs": macs}
    return f"{head}\n{body}\n  PM_OP_END({plan.stage_end});", summary
