"""C emitters for ADD, SUB and MUL (``pm_elementwise.h``, float32 in ``pm_elementwise_f32.h``).

Every constant comes from the NumPy kernel's params: the multipliers and shifts, the clamp
bounds and the broadcast walk (``bcast_*``, from :func:`picoml.kernels.elementwise.broadcast_strides`),
emitted as one ``pm_broadcast`` struct.
"""
from __future__ import annotations

import math

from picoml.codegen.emitter import OpContext
from picoml.codegen.registry import c_op
from picoml.errors import UnsupportedError

BROADCAST_RANK = 6  # PM_BROADCAST_RANK in pm_broadcast.h

# (op type, dtype) -> (C function, parameter struct, library module)
KERNELS = {
    ("ADD", "int8"): ("pm_add_s8", "pm_add_params", "elementwise"),
    ("SUB", "int8"): ("pm_sub_s8", "pm_add_params", "elementwise"),
    ("ADD", "int16"): ("pm_add_s16", "pm_add_params", "elementwise"),
    ("SUB", "int16"): ("pm_sub_s16", "pm_add_params", "elementwise"),
    ("MUL", "int8"): ("pm_mul_s8", "pm_mul_params", "elementwise"),
    ("MUL", "int16"): ("pm_mul_s16", "pm_mul_params", "elementwise"),
    ("ADD", "int32"): ("pm_add_s32", "pm_binary_s32_params", "elementwise"),
    ("SUB", "int32"): ("pm_sub_s32", "pm_binary_s32_params", "elementwise"),
    ("MUL", "int32"): ("pm_mul_s32", "pm_binary_s32_params", "elementwise"),
    ("ADD", "float32"): ("pm_add_f32", "pm_binary_f32_params", "elementwise_f32"),
    ("SUB", "float32"): ("pm_sub_f32", "pm_binary_f32_params", "elementwise_f32"),
    ("MUL", "float32"): ("pm_mul_f32", "pm_binary_f32_params", "elementwise_f32"),
}

# The fields of each parameter struct, in declaration order, all taken from the params dict.
FIELDS = {
    "pm_add_params": ("input1_offset", "input2_offset", "output_offset", "left_shift", "input1_multiplier",
                      "input1_shift", "input2_multiplier", "input2_shift", "output_multiplier", "output_shift",
                      "act_min", "act_max"),
    "pm_mul_params": ("input1_offset", "input2_offset", "output_offset", "output_multiplier", "output_shift",
                      "act_min", "act_max"),
    "pm_binary_s32_params": ("act_min", "act_max"),
    "pm_binary_f32_params": ("act_min", "act_max"),
}


def c_list(values: list[int]) -> str:
    """A brace initializer for an int32_t array field."""
    return "{" + ", ".join(str(int(v)) for v in values) + "}"


def broadcast_struct(ctx: OpContext) -> str:
    """Declare the op's ``pm_broadcast``: the last walked dim is the row, the others (padded
    with 1s in front to rank 5) are the outer dims."""
    p = ctx.params
    dims, s1, s2 = list(p["bcast_dims"]), list(p["bcast_stride1"]), list(p["bcast_stride2"])
    pad = BROADCAST_RANK - len(dims)
    if pad < 0:
        raise UnsupportedError(f"{ctx.op.describe()}: broadcast over {len(dims)} dims; the C kernels walk at most "
                               f"{BROADCAST_RANK}")
    outer = [1] * pad + dims[:-1]
    fields = {
        "rows": math.prod(outer),
        "inner": dims[-1],
        "inner_stride1": s1[-1],
        "inner_stride2": s2[-1],
        "outer_dims": c_list(outer),
        "outer_stride1": c_list([0] * pad + s1[:-1]),
        "outer_stride2": c_list([0] * pad + s2[:-1]),
    }
    return ctx.struct("pm_broadcast", fields, "bcast")


@c_op("ADD", "SUB", "MUL")
def binary(ctx: OpContext) -> str:
    """One call of ``pm_<op>_<dtype>(params, broadcast, in1, in2, out)``."""
    key = (ctx.op.type, ctx.params["dtype"])
    if key not in KERNELS:
        raise UnsupportedError(f"{ctx.op.describe()}: no C kernel for {key[1]} {key[0]}; C kernels exist for "
                               + ", ".join(f"{d} {t}" for t, d in KERNELS))
    fn, ctype, module = KERNELS[key]
    ctx.use("broadcast", module)
    params = ctx.struct(ctype, {name: ctx.params[name] for name in FIELDS[ctype]}, ctx.op.type.lower())
    bcast = broadcast_struct(ctx)
    return f"{fn}({params}, {bcast}, {ctx.input(0)}, {ctx.input(1)}, {ctx.output(0)});"
