"""C emitters for AVERAGE_POOL_2D and MAX_POOL_2D (library ``pm_pool`` / ``pm_pool_f32``).

Every number comes from the NumPy prepare (:mod:`picoml.kernels.pool`): window, strides,
padding, output size and the activation clamp; the C derives only each window's clipped tap
range, exactly the taps the NumPy ``count`` counts.
"""
from __future__ import annotations

from picoml.codegen.emitter import OpContext
from picoml.codegen.registry import c_op
from picoml.errors import UnsupportedError

# (op type, dtype) -> (C function, params struct, library modules)
POOL_KERNELS = {
    ("AVERAGE_POOL_2D", "int8"): ("pm_average_pool_s8", "pm_pool_params", ("pool",)),
    ("AVERAGE_POOL_2D", "int16"): ("pm_average_pool_s16", "pm_pool_params", ("pool",)),
    ("AVERAGE_POOL_2D", "float32"): ("pm_average_pool_f32", "pm_pool_f32_params", ("pool", "pool_f32")),
    ("MAX_POOL_2D", "int8"): ("pm_max_pool_s8", "pm_pool_params", ("pool",)),
    ("MAX_POOL_2D", "int16"): ("pm_max_pool_s16", "pm_pool_params", ("pool",)),
    ("MAX_POOL_2D", "float32"): ("pm_max_pool_f32", "pm_pool_f32_params", ("pool", "pool_f32")),
}


def window_init(ctx: OpContext) -> str:
    """The ``pm_pool_window`` initializer of this op (designated, so it reads in model.c)."""
    p = ctx.params
    n, h, w, c = ctx.tensor(0).shape
    fields = {"batches": n, "in_h": h, "in_w": w, "channels": c, "out_h": p["out_hw"][0], "out_w": p["out_hw"][1],
              "filter_h": p["filter"][0], "filter_w": p["filter"][1], "stride_h": p["stride"][0],
              "stride_w": p["stride"][1], "pad_h": p["pad"][0], "pad_w": p["pad"][1]}
    return "{" + ", ".join(f".{k} = {int(v)}" for k, v in fields.items()) + "}"


@c_op("AVERAGE_POOL_2D", "MAX_POOL_2D")
def pool(ctx: OpContext) -> str:
    """One call of the pooling kernel for the op's type and dtype."""
    entry = POOL_KERNELS.get((ctx.op.type, ctx.params["dtype"]))
    if entry is None:
        raise UnsupportedError(f"{ctx.op.describe()}: no C pooling kernel for {ctx.params['dtype']}")
    fn, struct, modules = entry
    ctx.use(*modules)
    lo, hi = ctx.params["act"]
    act = (float(lo), float(hi)) if ctx.params["dtype"] == "float32" else (int(lo), int(hi))
    params = ctx.struct(struct, {"window": window_init(ctx), "act_min": act[0], "act_max": act[1]}, "pool")
    return f"{fn}({params}, {ctx.input(0)}, {ctx.output(0)});"
