"""C emitters for the Larq Compute Engine ops (library ``pm_binary``, plus ``pm_binary_f32`` for
float inputs / outputs and int8-output convolutions, whose output transform is float).

Every number comes from the NumPy prepare (:mod:`picoml.kernels.binary`,
:mod:`picoml.kernels.bitpack`): geometry, thresholds, LCE's fused multiplier and bias, clamp
bounds and the zero-padding correction tables. A binary conv whose output is bitpacked writes
the packed words directly, so binary layers chain without unpacking.
"""
from __future__ import annotations

from picoml.codegen.emitter import OpContext
from picoml.codegen.registry import c_op
from picoml.errors import UnsupportedError


def _init(fields: dict) -> str:
    """A designated initializer of integer fields (nested structs read well in model.c)."""
    return "{" + ", ".join(f".{k} = {int(v)}" for k, v in fields.items()) + "}"


def geometry_init(ctx: OpContext) -> str:
    """The ``pm_bconv2d_geometry`` initializer of a binary conv."""
    p = ctx.params
    return _init({"batches": p["batches"], "in_h": p["in_hw"][0], "in_w": p["in_hw"][1], "words": p["words"],
                  "out_h": p["out_hw"][0], "out_w": p["out_hw"][1], "channels_out": p["channels_out"],
                  "filter_h": p["filter"][0], "filter_w": p["filter"][1], "stride_h": p["stride"][0],
                  "stride_w": p["stride"][1], "dilation_h": p["dilation"][0], "dilation_w": p["dilation"][1],
                  "pad_h": p["pad"][0], "pad_w": p["pad"][1]})


@c_op("LceBconv2d")
def bconv2d(ctx: OpContext) -> str:
    """One call of the binary conv kernel for the output type (bitpacked, float32 or int8)."""
    p = ctx.params
    kind = p["out_type"]
    args = f"{ctx.input(0)}, {ctx.input(1)}"
    scratch = ctx.scratch("uint32_t")
    if kind == "bitpacked":
        ctx.use("binary")
        params = ctx.struct("pm_bconv2d_bitpacked_params", {
            "geo": geometry_init(ctx), "out_words": p["out_words"],
            "thresholds": ctx.const(p["thresholds"], "int32_t", "thr")}, "bconv")
        return f"pm_bconv2d_bitpacked({params}, {args}, {ctx.output(0)}, {scratch});"
    ctx.use("binary", "binary_f32")
    fields = {"geo": geometry_init(ctx), "clamp_min": p["clamp_min"], "clamp_max": p["clamp_max"],
              "multiplier": ctx.const(p["multiplier"], "float", "mul"), "bias": ctx.const(p["bias"], "float", "bias")}
    if kind == "int8":
        params = ctx.struct("pm_bconv2d_s8_params", fields, "bconv")
        return f"pm_bconv2d_s8({params}, {args}, {ctx.output(0)}, {scratch});"
    if kind != "float32":
        raise UnsupportedError(f"{ctx.op.describe()}: no C binary conv for {kind} output")
    if p["zero_padding"]:
        fields.update({"correction": ctx.const(p["correction_cache"], "float", "padfix"),
                       "corr_h": p["correction_hw"][0], "corr_w": p["correction_hw"][1],
                       "row_case_y": ctx.const(p["row_case_y"], "int32_t", "rows"),
                       "col_case_x": ctx.const(p["col_case_x"], "int32_t", "cols"),
                       "row_inner": ctx.const(p["row_inner"], "int32_t", "inner"),
                       "col_inner": ctx.const(p["col_inner"], "int32_t", "inner")})
    else:
        fields.update({"correction": "NULL", "corr_h": 0, "corr_w": 0, "row_case_y": "NULL", "col_case_x": "NULL",
                       "row_inner": "NULL", "col_inner": "NULL"})
    params = ctx.struct("pm_bconv2d_f32_params", fields, "bconv")
    return f"pm_bconv2d_f32({params}, {args}, {ctx.output(0)}, {scratch});"


@c_op("LceQuantize")
def lce_quantize(ctx: OpContext) -> str:
    p = ctx.params
    params = ctx.struct("pm_lce_quantize_params", {"rows": p["rows"], "channels": p["channels"],
                                                   "zero_point": p["zero_point"]}, "quant")
    if p["dtype"] == "int8":
        ctx.use("binary")
        return f"pm_lce_quantize_s8({params}, {ctx.input(0)}, {ctx.output(0)});"
    ctx.use("binary", "binary_f32")
    return f"pm_lce_quantize_f32({params}, {ctx.input(0)}, {ctx.output(0)});"


@c_op("LceDequantize")
def lce_dequantize(ctx: OpContext) -> str:
    p = ctx.params
    plus, minus = p["values"]
    if p["dtype"] == "int8":
        ctx.use("binary")
        params = ctx.struct("pm_lce_dequantize_params", {"rows": p["rows"], "channels": p["channels"],
                                                         "plus": int(plus), "minus": int(minus)}, "dequant")
        return f"pm_lce_dequantize_s8({params}, {ctx.input(0)}, {ctx.output(0)});"
    ctx.use("binary", "binary_f32")
    params = ctx.struct("pm_lce_dequantize_params", {"rows": p["rows"], "channels": p["channels"],
                                                     "plus": 1, "minus": -1}, "dequant")
    return f"pm_lce_dequantize_f32({params}, {ctx.input(0)}, {ctx.output(0)});"


@c_op("LceBMaxPool2d")
def bmaxpool2d(ctx: OpContext) -> str:
    p = ctx.params
    ctx.use("binary")
    params = ctx.struct("pm_bmaxpool2d_params", {
        "batches": p["batches"], "in_h": p["in_hw"][0], "in_w": p["in_hw"][1], "words": p["words"],
        "out_h": p["out_hw"][0], "out_w": p["out_hw"][1], "filter_h": p["filter"][0], "filter_w": p["filter"][1],
        "stride_h": p["stride"][0], "stride_w": p["stride"][1], "pad_h": p["pad"][0], "pad_w": p["pad"][1]},
        "bmaxpool")
    return f"pm_bmaxpool2d({params}, {ctx.input(0)}, {ctx.output(0)});"
