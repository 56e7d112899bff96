"""Which tensors share one arena buffer: views and in-place element-wise ops.

* A **view** op (``VIEW_OPS``: RESHAPE, SQUEEZE, EXPAND_DIMS) only relabels the shape, so its
  output aliases its data input: same offset, no copy (TFLM's RESHAPE skips its ``memcpy`` in
  the same case). The shared buffer lives from the first member's birth to the last member's
  death, so a chain of views, a view of a graph input, and a view that is a graph output all
  stay valid for as long as any name for the bytes is in use.
* An **in-place** op (``IN_PLACE_OPS``) writes output element ``i`` from input element ``i`` of
  one operand only (other operands are read at broadcast positions from their own buffers),
  so the C kernel may write over that operand. It is allowed when the operand has the output's
  shape and byte size, dies at this op (no later reader of it or of any view sharing its
  bytes), is not a graph output, is not persistent state, and no other operand of the op
  shares its bytes. The same rule admits the DEPTHWISE_CONV_2D ops the planner asks for
  (``depthwise``, see :mod:`picoml.plan.inplace`: their kernel rewrites one channel at a time
  from a copy of it).

Views never alias a constant (flash) or a variable tensor (state that a later op may update,
which would change what the view reads).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Collection, Optional

from picoml.ir import Graph, Op
from picoml.plan.lifetimes import Lifetime

VIEW_OPS = frozenset({"RESHAPE", "SQUEEZE", "EXPAND_DIMS"})

IN_PLACE_OPS = frozenset({
    # binary element-wise (broadcast operands are read from their own buffers)
    "ADD", "SUB", "MUL", "DIV", "SQUARED_DIFFERENCE", "MAXIMUM", "MINIMUM",
    # unary element-wise
    "LEAKY_RELU", "LOGISTIC", "TANH", "RELU", "RELU6", "RELU_N1_TO_1", "RELU_0_TO_1",
    "HARD_SWISH", "ABS", "NEG",
    # requantization int8->int8 / int16->int16 (same element size is checked per op)
    "QUANTIZE",
})


@dataclass
class Group:
    """Tensors stored in one buffer. ``tensors[0]`` is the base, the first one written."""

    tensors: list[str]
    nbytes: int
    first: int
    last: int
    has_views: bool = False


@dataclass
class Aliasing:
    """The buffer groups of a graph and the ops that make tensors share bytes."""

    groups: list[Group]
    views: dict[int, tuple[str, str]] = field(default_factory=dict)
    in_place: dict[int, tuple[str, str]] = field(default_factory=dict)


def find_aliases(graph: Graph, lifetimes: dict[str, Lifetime], in_place: bool = True,
                 depthwise: Collection[int] = ()) -> Aliasing:
    """Group the planned tensors (``nbytes > 0``) into buffers, merging views and, when
    ``in_place`` is true, the outputs of eligible in-place ops (element-wise ones, plus the
    depthwise op indices in ``depthwise``) into their operand's buffer."""
    owner: dict[str, Group] = {}
    for lt in lifetimes.values():
        if lt.nbytes > 0:
            owner[lt.name] = Group([lt.name], lt.nbytes, lt.first, lt.last)
    result = Aliasing(groups=[])

    def merge(into: Group, other: Group) -> None:
        into.tensors.extend(other.tensors)
        into.first, into.last = min(into.first, other.first), max(into.last, other.last)
        into.nbytes = max(into.nbytes, other.nbytes)
        into.has_views = into.has_views or other.has_views
        for name in other.tensors:
            owner[name] = into

    for i, op in enumerate(graph.ops):
        if op.type in VIEW_OPS:
            src = _view_source(graph, op, owner, lifetimes)
            if src is not None:
                base = owner[src]
                merge(base, owner[op.outputs[0]])
                base.has_views = True
                result.views[i] = (src, op.outputs[0])

    if in_place:
        outputs = set(graph.outputs)
        for i, op in enumerate(graph.ops):
            if op.type in IN_PLACE_OPS or i in depthwise:
                src = _in_place_source(graph, op, i, owner, outputs)
                if src is not None:
                    merge(owner[src], owner[op.outputs[0]])
                    result.in_place[i] = (src, op.outputs[0])

    seen: set[int] = set()
    for name in lifetimes:
        g = owner.get(name)
        if g is not None and id(g) not in seen:
            seen.add(id(g))
            result.groups.append(g)
    return result


def _view_source(graph: Graph, op: Op, owner: dict[str, Group],
                 lifetimes: dict[str, Lifetime]) -> Optional[str]:
    """The input whose bytes the view op's output can reuse, or None to plan it separately."""
    if len(op.outputs) != 1 or not op.inputs or op.inputs[0] is None:
        return None
    src, out = op.inputs[0], op.outputs[0]
    if src not in owner or out not in owner or owner[src] is owner[out]:
        return None
    if lifetimes[src].nbytes != lifetimes[out].nbytes:
        return None  # not a pure relabelling; the kernel will reject it
    if graph.tensors[src].variable or graph.tensors[out].variable or out in graph.inputs:
        return None
    return src


def _in_place_source(graph: Graph, op: Op, index: int, owner: dict[str, Group],
                     outputs: set[str]) -> Optional[str]:
    """The operand that op ``index`` may overwrite with its output, or None."""
    if len(op.outputs) != 1 or op.outputs[0] not in owner:
        return None
    out = graph.tensors[op.outputs[0]]
    out_group = owner[out.name]
    if out.variable or out_group.first != index or out.name in graph.inputs:
        return None
    for src in op.inputs:
        if src is None or src not in owner:
            continue
        t = graph.tensors[src]
        group = owner[src]
        if t.variable or t.shape != out.shape or t.nbytes != out.nbytes:
            continue
        if group is out_group or group.last != index:
            continue
        if any(n in outputs or graph.tensors[n].variable for n in group.tensors):
            continue
        if any(other is not None and other != src and owner.get(other) is group for other in op.inputs):
            continue
        return src
    return None
