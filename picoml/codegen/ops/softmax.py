"""C emitter for SOFTMAX (kernels in pm_softmax.c / pm_softmax_f32.c).

Every constant comes from the NumPy kernel's params (``picoml.kernels.softmax``): the input
multiplier and shift, ``diff_min`` for int8 input, and the two int16 LUTs (to flash).
"""
from __future__ import annotations

from picoml.codegen.emitter import OpContext
from picoml.codegen.registry import c_op
from picoml.errors import UnsupportedError

_INT = ("softmax", "fixedpoint")
# (input dtype, output bits or None) -> (C function, param struct, library modules, in/out C types)
_KERNELS = {
    ("int8", 8): ("pm_softmax_s8", "pm_softmax_s8_params", _INT, "int8_t", "int8_t"),
    ("int8", 16): ("pm_softmax_s8_s16", "pm_softmax_s8_s16_params", _INT, "int8_t", "int16_t"),
    ("int16", None): ("pm_softmax_s16", "pm_softmax_s16_params", _INT, "int16_t", "int16_t"),
    ("float32", None): ("pm_softmax_f32", "pm_softmax_f32_params", ("softmax_f32",), "float", "float"),
}


def _fields(ctx: OpContext) -> dict:
    """The param struct of one op, by dtype."""
    p = ctx.params
    fields = {"rows": p["rows"], "depth": p["depth"]}
    if p["dtype"] == "float32":
        fields["beta"] = float(p["beta"])
    elif p["dtype"] == "int8":
        fields.update(input_multiplier=p["input_multiplier"], input_left_shift=p["input_left_shift"],
                      diff_min=p["diff_min"])
    else:
        fields.update(input_multiplier=p["input_multiplier"], input_shift=p["input_shift"],
                      exp_lut=ctx.const(p["exp_lut"], "int16_t", "softmax_exp_lut"),
                      one_over_one_plus_x_lut=ctx.const(p["one_over_one_plus_x_lut"], "int16_t",
                                                        "softmax_recip_lut"))
    return fields


@c_op("SOFTMAX")
def softmax(ctx: OpContext) -> str:
    """One call over all rows of the last axis."""
    key = (ctx.params["dtype"], ctx.params.get("out_bits"))
    if key not in _KERNELS:
        raise UnsupportedError(f"{ctx.op.describe()}: no C kernel for SOFTMAX {key}")
    fn, struct, modules, in_type, out_type = _KERNELS[key]
    ctx.use(*modules)
    params = ctx.struct(struct, _fields(ctx), hint=fn[3:])
    return f"{fn}({params}, {ctx.input(0, in_type)}, {ctx.output(0, out_type)});"
