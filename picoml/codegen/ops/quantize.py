"""C emitters for QUANTIZE and DEQUANTIZE (``pm_quantize.h``; float conversions in
``pm_quantize_f32.h``, so an integer-only model's project has no float code)."""
from __future__ import annotations

from picoml.codegen.emitter import OpContext
from picoml.codegen.registry import c_op
from picoml.errors import UnsupportedError
from picoml.kernels.quant import RANGES

# (input dtype, output dtype) -> C function; the float ones live in the quantize_f32 module.
QUANTIZE = {
    ("int8", "int8"): "pm_quantize_s8_s8", ("int8", "uint8"): "pm_quantize_s8_u8",
    ("uint8", "int8"): "pm_quantize_u8_s8", ("int8", "int16"): "pm_quantize_s8_s16",
    ("int8", "int32"): "pm_quantize_s8_s32", ("int16", "int8"): "pm_quantize_s16_s8",
    ("int16", "int16"): "pm_quantize_s16_s16", ("int16", "int32"): "pm_quantize_s16_s32",
    ("int32", "int8"): "pm_quantize_s32_s8", ("int32", "int16"): "pm_quantize_s32_s16",
    ("float32", "int8"): "pm_quantize_f32_s8", ("float32", "int16"): "pm_quantize_f32_s16",
}
DEQUANTIZE = {"int8": "pm_dequantize_s8", "int16": "pm_dequantize_s16", "uint8": "pm_dequantize_u8"}


@c_op("QUANTIZE")
def quantize(ctx: OpContext) -> str:
    """``pm_quantize_<in>_<out>(params, n, in, out)``: float quantization or integer rescaling."""
    p = ctx.params
    fn = QUANTIZE.get((p["src"], p["dst"]))
    if fn is None:
        raise UnsupportedError(f"{ctx.op.describe()}: no C kernel for QUANTIZE {p['src']} -> {p['dst']}; C kernels "
                               "exist for " + ", ".join(f"{a}->{b}" for a, b in QUANTIZE))
    lo, hi = RANGES[p["dst"]]
    if p["src"] == "float32":
        ctx.use("quantize_f32")
        params = ctx.struct("pm_quantize_f32_params", {"scale": p["scale"], "output_zero_point": p["output_zero_point"],
                                                       "output_min": lo, "output_max": hi}, "quant")
    else:
        ctx.use("quantize")
        params = ctx.struct("pm_quantize_params", {
            "input_zero_point": p["input_zero_point"], "output_zero_point": p["output_zero_point"],
            "multiplier": p["multiplier"], "shift": p["shift"], "output_min": lo, "output_max": hi}, "quant")
    n = ctx.tensor(0).size
    return f"{fn}({params}, {n}, {ctx.input(0)}, {ctx.output(0)});"


@c_op("DEQUANTIZE")
def dequantize(ctx: OpContext) -> str:
    """``pm_dequantize_<in>(params, n, in, out)``: scale * (q - zero_point) as float32."""
    src = ctx.tensor(0).dtype.value
    if src not in DEQUANTIZE:
        raise UnsupportedError(f"{ctx.op.describe()}: no C kernel for DEQUANTIZE from {src}; C kernels exist for "
                               + ", ".join(DEQUANTIZE))
    ctx.use("quantize_f32")
    params = ctx.struct("pm_dequantize_params", {"scale": ctx.params["scale"],
                                                 "zero_point": ctx.params["zero_point"]}, "dequant")
    return f"{DEQUANTIZE[src]}({params}, {ctx.tensor(0).size}, {ctx.input(0)}, {ctx.output(0)});"
