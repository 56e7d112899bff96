"""C emitters for data-movement ops."""
from __future__ import annotations

from picoml.codegen.emitter import OpContext
from picoml.codegen.registry import c_op


@c_op("RESHAPE")
def reshape(ctx: OpContext) -> str:
    """A view: the planner gives output and input the same offset, so usually nothing runs."""
    src, dst = ctx.tensor(0), ctx.tensor(0, output=True)
    if not src.is_const and ctx.offset(src.name) == ctx.offset(dst.name):
        return "/* view of the input: no data moves */;"
    return f"memmove({ctx.output(0, 'uint8_t')}, {ctx.input(0, 'uint8_t')}, {dst.nbytes});"
