"""In-place depthwise convolution (TinyEngine's idea): which DEPTHWISE_CONV_2D ops may write
their output over their input, and the scratch they need instead of a second tensor.

A depthwise conv with depth multiplier 1 reads only input channel ``c`` to compute output
channel ``c``. When the output has the input's shape (stride 1 with SAME padding, or a 1x1
kernel), the C kernel (``pm_depthwise_inplace.c``) copies one input channel plane, padded with
the input zero point, into scratch, computes that output channel from the copy and writes it
over the same channel of the input: channel ``c`` of the tensor is rewritten only after it has
been copied, and no other channel is touched. So the output aliases the input and the op's
peak drops from ``input + output + scratch`` to ``input + plane``.

Scratch layout (``PlaneLayout``): ``out_w`` int32 sums of one output row, then the padded plane
of ``plane_h x plane_w`` bytes. The planner (``plan_graph``) runs an op in place only where
that lowers the arena; the code generator reads ``MemoryPlan.depthwise_in_place``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from picoml.errors import GraphError
from picoml.ir import DType, Graph, Op

OP_TYPE = "DEPTHWISE_CONV_2D"


@dataclass(frozen=True)
class PlaneLayout:
    """Geometry of the in-place kernel's scratch for one op: the padded plane holds input rows
    ``-pad_h .. plane_h - pad_h - 1`` and columns ``-pad_w .. plane_w - pad_w - 1`` (zero point
    outside the image), after ``out_w`` int32 row sums."""

    plane_h: int
    plane_w: int
    out_w: int

    @property
    def sums_bytes(self) -> int:
        return 4 * self.out_w

    @property
    def scratch_bytes(self) -> int:
        return self.sums_bytes + self.plane_h * self.plane_w


def plane_layout(in_hw: tuple[int, int], out_hw: tuple[int, int], kernel_hw: tuple[int, int],
                 stride: tuple[int, int], dilation: tuple[int, int], pad: tuple[int, int]) -> PlaneLayout:
    """The scratch layout for a depthwise conv of this geometry: the plane spans every row and
    column a tap can reach (``(out - 1) * stride + (k - 1) * dilation + 1`` from ``-pad``) and
    the whole image."""
    dims = []
    for size, out, k, s, d, p in zip(in_hw, out_hw, kernel_hw, stride, dilation, pad):
        dims.append(max((out - 1) * s + (k - 1) * d + 1, p + size))
    return PlaneLayout(dims[0], dims[1], out_hw[1])


def eligible(graph: Graph, op: Op) -> Optional[PlaneLayout]:
    """The scratch layout if ``op`` *could* run in place by its types and shapes alone (int8,
    depth multiplier 1, constant weights and bias, output shape == input shape), else None.
    Lifetimes (the input must die at this op) are checked by the aliasing pass."""
    from picoml.kernels.conv import window  # the kernels' own geometry: same padding as prepare

    if op.type != OP_TYPE or len(op.outputs) != 1 or len(op.inputs) < 2:
        return None
    x_name, w_name = op.inputs[0], op.inputs[1]
    bias_name = op.inputs[2] if len(op.inputs) > 2 else None
    if x_name is None or w_name is None:
        return None
    x, w, y = graph.tensors[x_name], graph.tensors[w_name], graph.tensors[op.outputs[0]]
    if x.is_const or not w.is_const or (bias_name is not None and not graph.tensors[bias_name].is_const):
        return None
    if x.dtype is not DType.INT8 or y.dtype is not DType.INT8 or w.dtype is not DType.INT8:
        return None
    if len(x.shape) != 4 or tuple(x.shape) != tuple(y.shape) or len(w.shape) != 4:
        return None
    if w.shape[0] != 1 or w.shape[3] != x.shape[3] or op.attrs.get("depth_multiplier", 1) != 1:
        return None
    try:
        p = window(op, (x.shape[1], x.shape[2]), (w.shape[1], w.shape[2]))
    except GraphError:
        return None
    if (p["out_h"], p["out_w"]) != (y.shape[1], y.shape[2]):
        return None
    return plane_layout((x.shape[1], x.shape[2]), (p["out_h"], p["out_w"]), (w.shape[1], w.shape[2]),
                        (p["stride_h"], p["stride_w"]), (p["dilation_h"], p["dilation_w"]),
                        (p["pad_h"], p["pad_w"]))


def candidates(graph: Graph) -> dict[int, PlaneLayout]:
    """Every op of ``graph`` that ``eligible`` accepts, with its scratch layout."""
    found = {}
    for i, op in enumerate(graph.ops):
        layout = eligible(graph, op)
        if layout is not None:
            found[i] = layout
    return found
