"""C emitter for MEAN (library ``pm_reduce`` / ``pm_reduce_f32``).

The NumPy prepare (:mod:`picoml.kernels.reduce`) gives the reduced axes, K, the folded
multiplier and shift, the zero points and the scratch size; this module only turns the axes
into the C kernel's box (see ``pm_reduce.h``).
"""
from __future__ import annotations

from typing import Sequence

from picoml.codegen.emitter import OpContext
from picoml.codegen.registry import c_op
from picoml.errors import UnsupportedError

RANK = 5  # PM_REDUCE_RANK

MEAN_KERNELS = {"int8": "pm_mean_s8", "int16": "pm_mean_s16"}


def reduce_box(shape: Sequence[int], reduced: Sequence[int]) -> tuple[list[int], list[int]]:
    """(box shape, sum-index stride per box dim) for reducing ``reduced`` axes of ``shape``:
    size-1 dims dropped, adjacent dims of the same kind (kept / reduced) merged, padded to
    ``RANK`` with leading 1s. Merging keeps the row-major order of the input and of the sums."""
    dims: list[list] = []  # [size, is_reduced]
    for d, size in enumerate(shape):
        if size == 1:
            continue
        red = d in reduced
        if dims and dims[-1][1] == red:
            dims[-1][0] *= size
        else:
            dims.append([size, red])
    if len(dims) > RANK:
        raise UnsupportedError(f"MEAN over a box of rank {len(dims)} (more than {RANK})")
    sizes, strides, step = [], [], 1
    for size, red in reversed(dims):
        sizes.append(size)
        strides.append(0 if red else step)
        step *= 1 if red else size
    pad = RANK - len(sizes)
    return [1] * pad + sizes[::-1], [0] * pad + strides[::-1]


def box_init(ctx: OpContext) -> str:
    """The ``pm_reduce_box`` initializer of this op."""
    shape, strides = reduce_box(ctx.tensor(0).shape, ctx.params["reduced"])
    out = ctx.tensor(0, output=True)
    return (f"{{.shape = {{{', '.join(map(str, shape))}}}, .out_stride = {{{', '.join(map(str, strides))}}}, "
            f".out_size = {out.size}, .count = {int(ctx.params['count'])}}}")


@c_op("MEAN")
def mean(ctx: OpContext) -> str:
    """One call of the MEAN kernel; int kernels sum into the op's planned scratch."""
    p = ctx.params
    if p["mode"] == "float":
        ctx.use("reduce", "reduce_f32")
        params = ctx.struct("pm_mean_f32_params", {"box": box_init(ctx)}, "mean")
        return f"pm_mean_f32({params}, {ctx.input(0)}, {ctx.output(0)});"
    fn = MEAN_KERNELS.get(p["dtype"])
    if fn is None:
        raise UnsupportedError(f"{ctx.op.describe()}: no C MEAN kernel for {p['dtype']}")
    ctx.use("reduce")
    params = ctx.struct("pm_mean_params", {"box": box_init(ctx), "zp_in": int(p["zp_in"]),
                                           "zp_out": int(p["zp_out"]), "multiplier": int(p["multiplier"]),
                                           "shift": int(p["shift"])}, "mean")
    return f"{fn}({params}, {ctx.input(0)}, {ctx.output(0)}, {ctx.scratch('uint32_t')});"
