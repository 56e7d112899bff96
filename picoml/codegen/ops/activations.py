"""C emitters for LOGISTIC and TANH (kernels in pm_activations.c / pm_activations_f32.c).

Every constant comes from the NumPy kernel's params (``picoml.kernels.activations``): the
input rescaling of int8 and int16 and, for int16, TFLM's sigmoid table (emitted once to flash
and shared by every op that uses it).
"""
from __future__ import annotations

from picoml.codegen.emitter import OpContext
from picoml.codegen.registry import c_op
from picoml.errors import UnsupportedError

_INT = ("activations", "fixedpoint")
_F32 = ("activations_f32",)
# (op type, dtype) -> (C function, param struct, library modules, C element type)
_KERNELS = {
    ("LOGISTIC", "int8"): ("pm_logistic_s8", "pm_logistic_s8_params", _INT, "int8_t"),
    ("LOGISTIC", "int16"): ("pm_logistic_s16", "pm_logistic_s16_params", _INT, "int16_t"),
    ("LOGISTIC", "float32"): ("pm_logistic_f32", "pm_logistic_f32_params", _F32, "float"),
    ("TANH", "int8"): ("pm_tanh_s8", "pm_tanh_s8_params", _INT, "int8_t"),
    ("TANH", "int16"): ("pm_tanh_s16", "pm_tanh_s16_params", _INT, "int16_t"),
    ("TANH", "float32"): ("pm_tanh_f32", "pm_tanh_f32_params", _F32, "float"),
}


def _fields(ctx: OpContext) -> dict:
    """The param struct of one op, by dtype."""
    p = ctx.params
    fields = {"size": p["size"]}
    if p["dtype"] == "int8":
        fields.update(input_zero_point=p["input_zero_point"], input_range_radius=p["input_range_radius"],
                      input_multiplier=p["input_multiplier"], input_left_shift=p["input_left_shift"])
    elif p["dtype"] == "int16":
        fields.update(input_multiplier=p["input_multiplier"], input_left_shift=p["input_left_shift"],
                      sigmoid_table=ctx.const(p["sigmoid_table"], "uint16_t", "sigmoid_table"))
    return fields


@c_op("LOGISTIC", "TANH")
def activation(ctx: OpContext) -> str:
    """One call of the op's kernel over all elements (in place when the planner says so)."""
    key = (ctx.op.type, ctx.params["dtype"])
    if key not in _KERNELS:
        raise UnsupportedError(f"{ctx.op.describe()}: no C kernel for {key[1]} {key[0]}")
    fn, struct, modules, ctype = _KERNELS[key]
    ctx.use(*modules)
    params = ctx.struct(struct, _fields(ctx), hint=fn[3:])
    return f"{fn}({params}, {ctx.input(0, ctype)}, {ctx.output(0, ctype)});"
