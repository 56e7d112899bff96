"""C emitters for data-movement ops (library ``pm_shape_ops``): RESHAPE, TRANSPOSE,
STRIDED_SLICE, PAD and CONCATENATION.

The NumPy prepare (:mod:`picoml.kernels.shape_ops`) gives the permutation, the slice of every
axis, the paddings and fill value, the concatenation axis. This module turns them into byte
strides and offsets once, at build time, so the C loops only add strides (see
``pm_shape_ops.h``). Every kernel moves bytes, so one C function serves every dtype.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from picoml.codegen.emitter import OpContext
from picoml.codegen.registry import c_op
from picoml.errors import UnsupportedError
from picoml.ir import Tensor

RANK = 6  # PM_MOVE_RANK


def itemsize(t: Tensor) -> int:
    """Bytes per element of ``t`` as stored in the arena."""
    return int(np.dtype(t.dtype.numpy).itemsize)


def row_major_strides(shape: Sequence[int], item: int) -> list[int]:
    """Byte strides of a contiguous row-major array of ``item``-byte elements."""
    strides, step = [], item
    for size in reversed(shape):
        strides.append(step)
        step *= int(size)
    return strides[::-1]


def move_box(shape: Sequence[int], src_strides: Sequence[int], dst_strides: Sequence[int], item: int,
             src_offset: int = 0, dst_offset: int = 0) -> dict[str, int | str]:
    """The ``pm_move_params`` fields of a strided copy of ``shape`` elements (strides in bytes).

    Size-1 dims are dropped, a dim is merged into the one before it when both sides step over it
    contiguously, and a contiguous innermost dim becomes part of the copied block, so a plain
    copy is one ``memcpy`` and a transpose of NHWC channels moves whole pixel runs."""
    dims: list[list[int]] = []  # [size, src stride, dst stride]
    for size, s, d in zip(shape, src_strides, dst_strides):
        if size == 1:
            continue
        if dims and dims[-1][1] == size * s and dims[-1][2] == size * d:
            dims[-1] = [dims[-1][0] * size, s, d]
        else:
            dims.append([int(size), int(s), int(d)])
    block = item
    if dims and dims[-1][1] == item and dims[-1][2] == item:
        block *= dims.pop()[0]
    if len(dims) > RANK:
        raise UnsupportedError(f"a data-movement op needs a {len(dims)}-D strided copy; the C kernel does at "
                               f"most {RANK}")
    dims = [[1, 0, 0]] * (RANK - len(dims)) + dims
    return {"shape": _init(d[0] for d in dims), "src_stride": _init(d[1] for d in dims),
            "dst_stride": _init(d[2] for d in dims), "src_offset": int(src_offset),
            "dst_offset": int(dst_offset), "block_bytes": int(block)}


def _init(values) -> str:
    return "{" + ", ".join(str(int(v)) for v in values) + "}"


def _nested(fields: dict) -> str:
    return "{" + ", ".join(f".{k} = {v}" for k, v in fields.items()) + "}"


@c_op("RESHAPE")
def reshape(ctx: OpContext) -> str:
    """A view: the planner gives output and input the same offset, so usually nothing runs."""
    src, dst = ctx.tensor(0), ctx.tensor(0, output=True)
    if not src.is_const and ctx.offset(src.name) == ctx.offset(dst.name):
        return "/* view of the input: no data moves */;"
    return f"memmove({ctx.output(0)}, {ctx.input(0)}, {dst.nbytes});"


@c_op("TRANSPOSE")
def transpose(ctx: OpContext) -> str:
    """Output element (i_0..i_r) = input element at the permuted index: read with permuted strides."""
    x, out = ctx.tensor(0), ctx.tensor(0, output=True)
    if out.size == 0:
        return "/* empty tensor: nothing to move */;"
    perm = ctx.params["perm"]
    item = itemsize(x)
    src = row_major_strides(x.shape, item)
    box = move_box(out.shape, [src[p] for p in perm], row_major_strides(out.shape, item), item)
    ctx.use("shape_ops")
    return f"pm_transpose({ctx.struct('pm_transpose_params', box, 'transpose')}, {ctx.input(0)}, {ctx.output(0)});"


@c_op("STRIDED_SLICE")
def strided_slice(ctx: OpContext) -> str:
    """Read (start + k * step) along every input axis; shrunk axes are a slice of one."""
    x, out = ctx.tensor(0), ctx.tensor(0, output=True)
    if out.size == 0:
        return "/* empty slice: nothing to move */;"
    axes = ctx.params["axes"]
    item = itemsize(x)
    src = row_major_strides(x.shape, item)
    counts = [len(range(a, b, s)) for a, b, s in axes]
    box = move_box(counts, [st * s for st, (_, _, s) in zip(src, axes)], row_major_strides(counts, item), item,
                   src_offset=sum(st * a for st, (a, _, _) in zip(src, axes)))
    ctx.use("shape_ops")
    return (f"pm_strided_slice({ctx.struct('pm_strided_slice_params', box, 'slice')}, {ctx.input(0)}, "
            f"{ctx.output(0)});")


@c_op("PAD")
def pad(ctx: OpContext) -> str:
    """Fill the output with the pad value's byte, then move the input into the interior."""
    x, out = ctx.tensor(0), ctx.tensor(0, output=True)
    item = itemsize(x)
    fill = np.asarray(ctx.params["value"], x.dtype.numpy).tobytes()
    if len(set(fill)) != 1:  # 0, 0.0 and any int8 zero point are one repeated byte
        raise UnsupportedError(f"{ctx.op.describe()}: pad value {ctx.params['value']!r} is not one repeated byte")
    ctx.use("shape_ops")
    if out.size == 0:
        return "/* empty tensor: nothing to pad */;"
    if x.size == 0:
        return f"memset({ctx.output(0)}, {fill[0]}, {out.nbytes});"
    dst = row_major_strides(out.shape, item)
    interior = move_box(x.shape, row_major_strides(x.shape, item), dst, item,
                        dst_offset=sum(st * before for st, (before, _) in zip(dst, ctx.params["pads"])))
    params = ctx.struct("pm_pad_params", {"interior": _nested(interior), "out_bytes": out.nbytes,
                                          "fill_byte": fill[0]}, "pad")
    return f"pm_pad({params}, {ctx.input(0)}, {ctx.output(0)});"


@c_op("CONCATENATION")
def concatenation(ctx: OpContext) -> str:
    """Row by row (dims before the axis), each input's row of bytes in turn."""
    out = ctx.tensor(0, output=True)
    axis = ctx.params["axis"]
    item = itemsize(out)
    xs = [ctx.tensor(i) for i in range(len(ctx.op.inputs))]
    outer = int(np.prod(out.shape[:axis], dtype=np.int64))
    rows = [int(np.prod(x.shape[axis:], dtype=np.int64)) * item for x in xs]
    if out.size == 0:
        return "/* empty tensor: nothing to concatenate */;"
    ctx.use("shape_ops")
    params = ctx.struct("pm_concat_params", {"num_inputs": len(xs), "outer": outer,
                                             "row_bytes": ctx.const(np.array(rows, np.int32), "int32_t", "rows")},
                        "concat")
    ins = ", ".join(ctx.input(i) for i in range(len(xs)))
    return (f"{{\n    const void *const inputs[{len(xs)}] = {{{ins}}};\n"
            f"    pm_concat({params}, inputs, {ctx.output(0)});\n  }}")
