"""C emitter for FULLY_CONNECTED (kernels in pm_fully_connected.c, pm_fully_connected_f32.c).

Every constant comes from ``picoml.kernels.fully_connected``'s params: rows, depth, the
per-unit requantization constants and the folded int8 bias. The int8 kernel shares the GEMM
core of the conv kernels (pm_conv.c).
"""
from __future__ import annotations

from picoml.codegen.emitter import OpContext
from picoml.codegen.ops.conv import (MAX_INT8_DEPTH, braced, check_limit, constant_weights, float_bias,
                                     folded_bias, gemm_weights, requant64_stage, requant_stage)
from picoml.codegen.registry import c_op
from picoml.errors import UnsupportedError

# params kind -> (C function, library modules, activation C type)
KERNELS = {
    "int8": ("pm_fully_connected_s8", ("fully_connected", "conv", "output_stage"), "int8_t"),
    "int16": ("pm_fully_connected_s16", ("fully_connected", "output_stage"), "int16_t"),
    "float32": ("pm_fully_connected_f32", ("fully_connected_f32",), "float"),
}


@c_op("FULLY_CONNECTED")
def fully_connected(ctx: OpContext) -> str:
    """One call over all rows."""
    p = ctx.params
    if p["kind"] not in KERNELS:
        raise UnsupportedError(f"{ctx.op.describe()}: no C kernel for FULLY_CONNECTED with {p['kind']} tensors")
    fn, modules, t = KERNELS[p["kind"]]
    units = ctx.tensor(1).shape[0]
    fields = {"rows": p["batches"], "depth": p["depth"], "units": units}
    if p["kind"] == "int8":
        check_limit(ctx, "depth", p["depth"], MAX_INT8_DEPTH)
        weights, depth_major = gemm_weights(ctx, constant_weights(ctx, ctx.tensor(1)), 1)
        fields.update(stage_pixels=p["stage_pixels"], depth_major=depth_major,
                      folded_bias=folded_bias(ctx, p["stage_pixels"]),
                      stage=braced(requant_stage(ctx, p["stage_pixels"])))
        data = [ctx.input(0, t), weights, ctx.output(0, t)]
    else:
        data = [ctx.input(0, t), ctx.input(1, "float" if t == "float" else "int8_t"), ctx.output(0, t)]
    if p["kind"] == "int16":
        fields["stage"] = braced(requant64_stage(ctx, ctx.tensor(2), units))
    elif p["kind"] == "float32":
        fields.update(bias=float_bias(ctx, 2), act_min=float(p["act_min"]), act_max=float(p["act_max"]))
    ctx.use(*modules)
    params = ctx.struct(f"{fn}_params", fields, hint=fn[3:])
    return f"{fn}({', '.join([params, *data])});"
