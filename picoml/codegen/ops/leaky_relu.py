"""C emitter for LEAKY_RELU (``pm_leaky_relu.h``; float32 in ``pm_leaky_relu_f32.h``)."""
from __future__ import annotations

from picoml.codegen.emitter import OpContext
from picoml.codegen.registry import c_op
from picoml.errors import UnsupportedError

KERNELS = {"int8": "pm_leaky_relu_s8", "int16": "pm_leaky_relu_s16", "float32": "pm_leaky_relu_f32"}
FIELDS = ("input_zero_point", "output_zero_point", "multiplier_identity", "shift_identity", "multiplier_alpha",
          "shift_alpha", "alpha_negative")


@c_op("LEAKY_RELU")
def leaky_relu(ctx: OpContext) -> str:
    """``pm_leaky_relu_<dtype>(params, n, in, out)`` with the NumPy kernel's multipliers."""
    p = ctx.params
    fn = KERNELS.get(p["dtype"])
    if fn is None:
        raise UnsupportedError(f"{ctx.op.describe()}: no C kernel for {p['dtype']} LEAKY_RELU; C kernels exist for "
                               + ", ".join(KERNELS))
    if p["dtype"] == "float32":
        ctx.use("leaky_relu_f32")
        params = ctx.struct("pm_leaky_relu_f32_params", {"alpha": p["alpha"]}, "leaky")
    else:
        ctx.use("leaky_relu")
        params = ctx.struct("pm_leaky_relu_params", {name: p[name] for name in FIELDS}, "leaky")
    return f"{fn}({params}, {ctx.tensor(0).size}, {ctx.input(0)}, {ctx.output(0)});"
