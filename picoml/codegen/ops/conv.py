"""C emitters for CONV_2D, DEPTHWISE_CONV_2D and TRANSPOSE_CONV (kernels in pm_conv.c for int8
and int16x8, pm_conv_f32.c for float32 and hybrid).

Every constant comes from the NumPy kernel's params (``picoml.kernels.conv`` and
``output_stage``): geometry, padding, per-channel multipliers with their precomputed
requantization constants, the folded int8 bias, clamp bounds, the interior of depthwise convs.
Which C function runs is a lookup in a small explicit table keyed by the params' ``kind``.
"""
from __future__ import annotations

from typing import Any, Optional

import numpy as np

from picoml.codegen.cformat import c_float, c_int
from picoml.codegen.emitter import OpContext
from picoml.codegen.registry import c_op
from picoml.errors import UnsupportedError
from picoml.ir import Tensor

# int8 dot products: |x * w| <= 2^14, so int32 sums are exact up to this many terms.
MAX_INT8_DEPTH = (1 << 31) // (1 << 14) - 1
# int8 sums of (x - zp) * w (TRANSPOSE_CONV): |term| <= 255 * 128 < 2^15.
MAX_INT8_OFFSET_TERMS = (1 << 16) - 1

# (op type, params kind) -> C function; the param struct is the function name + "_params".
KERNELS = {
    ("CONV_2D", "int8"): "pm_conv_s8",
    ("CONV_2D", "int16"): "pm_conv_s16",
    ("CONV_2D", "float32"): "pm_conv_f32",
    ("CONV_2D", "hybrid"): "pm_conv_hybrid_f32",
    ("DEPTHWISE_CONV_2D", "int8"): "pm_depthwise_conv_s8",
    ("DEPTHWISE_CONV_2D", "int16"): "pm_depthwise_conv_s16",
    ("DEPTHWISE_CONV_2D", "float32"): "pm_depthwise_conv_f32",
    ("TRANSPOSE_CONV", "int8"): "pm_transpose_conv_s8",
    ("TRANSPOSE_CONV", "int16"): "pm_transpose_conv_s16",
    ("TRANSPOSE_CONV", "float32"): "pm_transpose_conv_f32",
}
_CTYPE = {"int8": "int8_t", "int16": "int16_t", "float32": "float", "hybrid": "float"}


def braced(fields: dict[str, Any]) -> str:
    """A designated initializer ``{.a = 1, ...}`` for a nested struct field (ints, floats, C
    expressions as str, nested dicts)."""
    def value(v: Any) -> str:
        if isinstance(v, dict):
            return braced(v)
        if isinstance(v, str):
            return v
        if isinstance(v, (float, np.floating)):
            return c_float(float(v))
        return c_int(int(v), "int32_t" if -(1 << 31) <= int(v) < (1 << 31) else "int64_t")

    return "{" + ", ".join(f".{k} = {value(v)}" for k, v in fields.items()) + "}"


def requant_stage(ctx: OpContext, tile: int = 1) -> dict[str, Any]:
    """Fields of ``pm_requant_stage`` (int32 accumulator) from the op's params, the per-channel
    arrays repeated ``tile`` times (one copy per pixel of an output-stage call)."""
    p = ctx.params

    def array(key: str, ctype: str) -> str:
        return ctx.const(np.tile(np.asarray(p[key]), tile), ctype, key.replace("rq_", ""))

    return {"multiplier": array("multiplier", "int32_t"), "left_shift": array("rq_left_shift", "int32_t"),
            "neg_below": array("rq_neg_below", "int32_t"), "round": array("rq_round", "int64_t"),
            "total_shift": array("rq_total_shift", "int32_t"),
            "output_zero_point": p["output_zero_point"], "act_min": p["act_min"], "act_max": p["act_max"]}


def requant64_stage(ctx: OpContext, bias: Optional[Tensor], channels: int) -> dict[str, Any]:
    """Fields of ``pm_requant64_stage`` (int16 activations); the bias is stored as int64."""
    p = ctx.params
    return {"int64_accumulator": int(p["accumulator"] == "int64"),
            "bias": ctx.const(constant_bias(ctx, bias, channels, np.int64), "int64_t", "bias"),
            "multiplier": ctx.const(p["multiplier"], "int32_t", "multiplier"),
            "shift": ctx.const(p["shift"], "int32_t", "shift"),
            "act_min": p["act_min"], "act_max": p["act_max"]}


def constant_bias(ctx: OpContext, bias: Optional[Tensor], channels: int, dtype: type) -> np.ndarray:
    """The bias values (zeros when absent); integer C kernels need them at build time."""
    if bias is None:
        return np.zeros(channels, dtype)
    if not bias.is_const:
        raise UnsupportedError(f"{ctx.op.describe()}: the C kernel needs a constant bias, "
                               f"but {bias.describe()} is computed at run time")
    return np.asarray(bias.data).astype(dtype)


def folded_bias(ctx: OpContext, tile: int = 1) -> str:
    """The int8 kernels' folded bias array (needs constant weights and bias), repeated ``tile``
    times like the stage's arrays."""
    if "folded_bias" not in ctx.params:
        raise UnsupportedError(f"{ctx.op.describe()}: the int8 C kernel needs constant weights and bias "
                               "(to fold the input zero point into the bias)")
    return ctx.const(np.tile(ctx.params["folded_bias"], tile), "int32_t", "folded_bias")


def gemm_weights(ctx: OpContext, weights: np.ndarray, groups: int) -> tuple[str, int]:
    """The weights of the int8 GEMM core (``pm_gemm_pixels_s8``) and their layout: per group,
    unit-major [units][K] (the OHWI order; dot products along K) when K >= 2 * units, else
    depth-major [K][units] (each group's block transposed; the loop over units vectorises)."""
    units = weights.shape[0] // groups
    blocks = np.asarray(weights, np.int8).reshape(groups, units, -1)
    depth_major = int(blocks.shape[2] < 2 * units)
    if depth_major:
        blocks = blocks.transpose(0, 2, 1)
    return ctx.const(np.ascontiguousarray(blocks), "int8_t", "w"), depth_major


def constant_weights(ctx: OpContext, w: Tensor) -> np.ndarray:
    """The weight values (the int8 kernels reorder them and fold them into the bias)."""
    if not w.is_const:
        raise UnsupportedError(f"{ctx.op.describe()}: the int8 C kernel needs constant weights, "
                               f"but {w.describe()} is computed at run time")
    return np.asarray(w.data)


def float_bias(ctx: OpContext, index: int) -> str:
    return "NULL" if ctx.tensor(index) is None else ctx.input(index, "float")


def check_limit(ctx: OpContext, what: str, value: int, limit: int) -> None:
    if value > limit:
        raise UnsupportedError(f"{ctx.op.describe()}: {what} {value} exceeds {limit}, the most the int8 C "
                               "kernel sums without int32 overflow")


def geometry(ctx: OpContext, x: Tensor, y: Tensor, kernel_hw: tuple[int, int]) -> dict[str, int]:
    """``pm_conv_geometry`` fields."""
    p = ctx.params
    return {"batches": x.shape[0], "in_h": x.shape[1], "in_w": x.shape[2], "in_c": x.shape[3],
            "out_h": y.shape[1], "out_w": y.shape[2], "out_c": y.shape[3],
            "kernel_h": kernel_hw[0], "kernel_w": kernel_hw[1],
            "stride_h": p["stride_h"], "stride_w": p["stride_w"],
            "dilation_h": p.get("dilation_h", 1), "dilation_w": p.get("dilation_w", 1),
            "pad_h": p["pad_h"], "pad_w": p["pad_w"]}


def _kernel(ctx: OpContext) -> str:
    key = (ctx.op.type, ctx.params["kind"])
    if key not in KERNELS:
        raise UnsupportedError(f"{ctx.op.describe()}: no C kernel for {key[0]} with {key[1]} tensors")
    return KERNELS[key]


def _call(ctx: OpContext, fn: str, fields: dict[str, Any], data: list[str]) -> str:
    kind = ctx.params["kind"]
    ctx.use("conv", "output_stage", *(("conv_f32",) if kind in ("float32", "hybrid") else ()))
    params = ctx.struct(f"{fn}_params", {k: braced(v) if isinstance(v, dict) else v for k, v in fields.items()},
                        hint=fn[3:])
    return f"{fn}({', '.join([params, *data])});"


def _conv_s8(ctx: OpContext, g: dict[str, int], weights: np.ndarray, groups: int) -> str:
    """``pm_conv_s8`` for ``weights`` in OHWI order (I = input channels per group)."""
    p = ctx.params
    check_limit(ctx, "kernel size KH*KW*I", int(np.prod(weights.shape[1:])), MAX_INT8_DEPTH)
    w, depth_major = gemm_weights(ctx, weights, groups)
    fields = {"g": g, "groups": groups, "input_zero_point": p["input_zero_point"], "stage_pixels": p["stage_pixels"],
              "depth_major": depth_major, "folded_bias": folded_bias(ctx, p["stage_pixels"]),
              "stage": requant_stage(ctx, p["stage_pixels"])}
    scratch = ctx.scratch() if ctx.params.get("scratch_bytes") else "NULL"
    return _call(ctx, "pm_conv_s8", fields, [ctx.input(0, "int8_t"), w, ctx.output(0, "int8_t"), scratch])


def _lean_s8(ctx: OpContext, g: dict[str, int], weights: np.ndarray, groups: int) -> str:
    """``pm_conv_lean_s8``: the zero-scratch kernel the planner picks for this op (``params["lean"]``,
    see picoml.plan.scratch_fit); ``weights`` tap-major, [KH, KW, I, out_c]."""
    p = ctx.params
    check_limit(ctx, "kernel size KH*KW*I", int(np.prod(weights.shape[:3])), MAX_INT8_DEPTH)
    fields = {"g": g, "groups": groups, "input_zero_point": p["input_zero_point"],
              "weights": ctx.const(weights, "int8_t", "w"), "folded_bias": folded_bias(ctx),
              "stage": requant_stage(ctx)}
    return _call(ctx, "pm_conv_lean_s8", fields, [ctx.input(0, "int8_t"), ctx.output(0, "int8_t")])


@c_op("CONV_2D")
def conv2d(ctx: OpContext) -> str:
    """One call over the whole op; int8 runs as im2col patches times the weights."""
    fn = _kernel(ctx)
    p, kind = ctx.params, ctx.params["kind"]
    x, w, bias, y = ctx.tensor(0), ctx.tensor(1), ctx.tensor(2), ctx.tensor(0, output=True)
    g = geometry(ctx, x, y, (w.shape[1], w.shape[2]))
    t = _CTYPE[kind]
    if kind == "int8" and p.get("lean"):  # OHWI -> HWIO
        return _lean_s8(ctx, g, constant_weights(ctx, w).transpose(1, 2, 3, 0), p["groups"])
    if kind == "int8":
        return _conv_s8(ctx, g, constant_weights(ctx, w), p["groups"])
    data = [ctx.input(0, t), ctx.input(1, "float" if kind == "float32" else "int8_t"), ctx.output(0, t)]
    if kind == "int16":
        fields = {"g": g, "groups": p["groups"], "stage": requant64_stage(ctx, bias, w.shape[0])}
    elif kind == "hybrid":
        check_limit(ctx, "kernel size KH*KW*I", w.shape[1] * w.shape[2] * w.shape[3], MAX_INT8_DEPTH)
        fields = {"g": g, "weight_scale": float(p["weight_scale"]), "bias": float_bias(ctx, 2),
                  "act_min": float(p["act_min"]), "act_max": float(p["act_max"])}
        data.append(ctx.scratch())
    else:
        fields = {"g": g, "groups": p["groups"], "bias": float_bias(ctx, 2),
                  "act_min": float(p["act_min"]), "act_max": float(p["act_max"])}
    return _call(ctx, fn, fields, data)


@c_op("DEPTHWISE_CONV_2D")
def depthwise_conv2d(ctx: OpContext) -> str:
    """One call; int8 splits border pixels (bounds-checked taps) from the interior."""
    from picoml.codegen.ops.depthwise_inplace import emit_in_place, in_place  # ops the plan runs in place
    if in_place(ctx):
        return emit_in_place(ctx)
    fn = _kernel(ctx)
    p, kind = ctx.params, ctx.params["kind"]
    x, w, bias, y = ctx.tensor(0), ctx.tensor(1), ctx.tensor(2), ctx.tensor(0, output=True)
    g = geometry(ctx, x, y, (w.shape[1], w.shape[2]))
    t = _CTYPE[kind]
    if kind == "int8" and p.get("lean"):  # 1HW(C*M) is already tap-major; one input channel is one group
        return _lean_s8(ctx, g, constant_weights(ctx, w)[0][:, :, None, :], 1 if x.shape[3] == 1 else x.shape[3])
    if kind == "int8" and p["as_conv"]:
        # one input channel: the same sums as a CONV_2D with depth_multiplier filters of one
        # channel each, whose im2col + dot-product GEMM beats per-tap loops on large kernels
        return _conv_s8(ctx, g, constant_weights(ctx, w)[0].transpose(2, 0, 1)[..., None], 1)
    data = [ctx.input(0, t), ctx.input(1, "float" if kind == "float32" else "int8_t"), ctx.output(0, t)]
    if kind == "int8":
        check_limit(ctx, "kernel taps KH*KW", w.shape[1] * w.shape[2], MAX_INT8_DEPTH)
        (y0, y1), (x0, x1) = p["interior_h"], p["interior_w"]
        fields = {"g": g, "depth_multiplier": p["depth_multiplier"], "input_zero_point": p["input_zero_point"],
                  "interior_y0": y0, "interior_y1": y1, "interior_x0": x0, "interior_x1": x1,
                  "stage_pixels": p["stage_pixels"], "folded_bias": folded_bias(ctx, p["stage_pixels"]),
                  "stage": requant_stage(ctx, p["stage_pixels"])}
        data.append(ctx.scratch())
    elif kind == "int16":
        fields = {"g": g, "depth_multiplier": p["depth_multiplier"],
                  "stage": requant64_stage(ctx, bias, y.shape[3])}
    else:
        fields = {"g": g, "depth_multiplier": p["depth_multiplier"], "bias": float_bias(ctx, 2),
                  "act_min": float(p["act_min"]), "act_max": float(p["act_max"])}
    return _call(ctx, fn, fields, data)


@c_op("TRANSPOSE_CONV")
def transpose_conv(ctx: OpContext) -> str:
    """One call; the integer kernels scatter into int32 / int64 sums in scratch."""
    fn = _kernel(ctx)
    p, kind = ctx.params, ctx.params["kind"]
    w, x, bias, y = ctx.tensor(1), ctx.tensor(2), ctx.tensor(3), ctx.tensor(0, output=True)
    g = geometry(ctx, x, y, (w.shape[1], w.shape[2]))
    t = _CTYPE[kind]
    data = [ctx.input(2, t), ctx.input(1, "float" if kind == "float32" else "int8_t"), ctx.output(0, t)]
    if kind == "int8":
        check_limit(ctx, "input depth", x.shape[3], MAX_INT8_OFFSET_TERMS)
        fields = {"g": g, "input_zero_point": p["input_zero_point"],
                  "bias": ctx.const(constant_bias(ctx, bias, y.shape[3], np.int32), "int32_t", "bias"),
                  "stage": requant_stage(ctx)}
        data.append(ctx.scratch())
    elif kind == "int16":
        fields = {"g": g, "stage": requant64_stage(ctx, bias, y.shape[3])}
        data.append(ctx.scratch())
    else:
        fields = {"g": g, "bias": float_bias(ctx, 3), "act_min": float(p["act_min"]),
                  "act_max": float(p["act_max"])}
    return _call(ctx, fn, fields, data)
