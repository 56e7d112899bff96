"""C emitter for a DEPTHWISE_CONV_2D the memory plan runs in place (``pm_depthwise_inplace_s8``).

The planner decides (``MemoryPlan.depthwise_in_place``, see :mod:`picoml.plan.inplace`): the op's
output shares its input's bytes and its scratch is the padded channel plane. The DEPTHWISE_CONV_2D
emitter (``ops/conv.py``) hands such ops here. Every constant is the NumPy kernel's (geometry,
padding, folded bias, per-channel requantization); the scratch layout is the planner's
``plane_layout``, so the C cannot use more scratch than was planned. Cortex-M DSP builds use
this portable kernel too (the ARM depthwise emitter declines in-place ops).
"""
from __future__ import annotations

import numpy as np

from picoml.codegen.emitter import OpContext
from picoml.codegen.ops.conv import braced, check_limit, constant_weights, folded_bias, requant_stage
from picoml.errors import UnsupportedError
from picoml.plan.inplace import plane_layout

# |x * w| <= 2^14: int32 sums are exact up to this many taps (pm_depthwise_inplace.h)
MAX_TAPS = (1 << 31) // (1 << 14) - 1


def in_place(ctx: OpContext) -> bool:
    """True when the memory plan runs this op in place (its output over its input)."""
    return ctx.op.index in getattr(ctx.gen.plan, "depthwise_in_place", {})


def emit_in_place(ctx: OpContext) -> str:
    """``pm_depthwise_inplace_s8(params, data, weights, scratch)`` for the op."""
    op, p = ctx.op, ctx.params
    x, w, y = ctx.tensor(0), ctx.tensor(1), ctx.tensor(0, output=True)
    if p.get("kind") != "int8" or p.get("depth_multiplier") != 1 or tuple(x.shape) != tuple(y.shape):
        raise UnsupportedError(f"{op.describe()}: only int8 depthwise convs with depth multiplier 1 and the "
                               "input's output shape run in place (a planner bug; please report it)")
    if ctx.offset(op.inputs[0]) != ctx.offset(op.outputs[0]):
        raise UnsupportedError(f"{op.describe()}: planned in place, but its input and output are at different "
                               "offsets (a planner bug; please report it)")
    kh, kw = w.shape[1], w.shape[2]
    check_limit(ctx, "kernel taps KH*KW", kh * kw, MAX_TAPS)
    layout = plane_layout((x.shape[1], x.shape[2]), (p["out_h"], p["out_w"]), (kh, kw),
                          (p["stride_h"], p["stride_w"]), (p["dilation_h"], p["dilation_w"]),
                          (p["pad_h"], p["pad_w"]))
    planned = ctx.gen.plan.depthwise_in_place[op.index]
    if layout.scratch_bytes > planned:
        raise UnsupportedError(f"{op.describe()}: the in-place kernel needs {layout.scratch_bytes} scratch bytes, "
                               f"the plan has {planned} (a planner bug; please report it)")
    weights = ctx.const(np.ascontiguousarray(constant_weights(ctx, w)[0]), "int8_t", "w")
    fields = {"batches": x.shape[0], "in_h": x.shape[1], "in_w": x.shape[2], "channels": x.shape[3],
              "out_h": p["out_h"], "out_w": p["out_w"], "kernel_h": kh, "kernel_w": kw,
              "stride_h": p["stride_h"], "stride_w": p["stride_w"],
              "dilation_h": p["dilation_h"], "dilation_w": p["dilation_w"], "pad_h": p["pad_h"], "pad_w": p["pad_w"],
              "plane_h": layout.plane_h, "plane_w": layout.plane_w, "input_zero_point": p["input_zero_point"],
              "folded_bias": folded_bias(ctx), "stage": braced(requant_stage(ctx))}
    ctx.use("depthwise_inplace", "output_stage")
    params = ctx.struct("pm_depthwise_inplace_s8_params", fields, "depthwise_inplace")
    return f"pm_depthwise_inplace_s8({params}, {ctx.output(0, 'int8_t')}, {weights}, {ctx.scratch()});"
