"""Larq Compute Engine custom ops in the IR (a post-pass of the TFLite frontend) and back.

An LCE model stores binary tensors as INT32 tensors whose last axis holds ``ceil(C/32)``
packed words. The true channel count ``C`` is not in the tensor, so it is inferred from the
ops: LceQuantize's output has its input's C, LceBconv2d reads ``channels_in`` channels (input
and OHWI filter) and writes ``O`` (the filter's first dimension) when its output is bitpacked,
LceBMaxPool2d keeps its input's C, and LceDequantize's output shape gives its input's C.
Those tensors become ``DType.BITPACKED`` with their logical shape (constant data keeps the
packed storage shape).

Options become picoml attrs: LCE's flexbuffer keys ``stride_height`` / ``stride_width`` /
``dilation_height_factor`` / ``dilation_width_factor`` turn into ``stride_h`` / ``stride_w`` /
``dilation_h_factor`` / ``dilation_w_factor``, and the integer enums of ``padding`` and
``fused_activation_function`` into their names. ``Op.custom_options`` keeps the raw bytes,
which the exporter writes back unchanged while they still decode to the op's attrs.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Optional

from picoml.errors import GraphError, UnsupportedError
from picoml.ir import DType, Graph, Op, Tensor

LCE_OPS = ("LceQuantize", "LceDequantize", "LceBconv2d", "LceBMaxPool2d")
BITS = 32

_RENAME = {"stride_height": "stride_h", "stride_width": "stride_w",
           "dilation_height_factor": "dilation_h_factor", "dilation_width_factor": "dilation_w_factor"}
_ENUMS = {"padding": {0: "SAME", 1: "VALID"},
          "fused_activation_function": {0: "NONE", 1: "RELU", 2: "RELU_N1_TO_1", 3: "RELU6"}}


# -- options <-> attrs ---------------------------------------------------------------------------
def attrs_from_options(options: dict[str, Any]) -> dict[str, Any]:
    """LCE's decoded flexbuffer options as picoml attrs (unknown keys and values kept as they are)."""
    attrs: dict[str, Any] = {}
    for key, value in options.items():
        names = _ENUMS.get(key)
        if names is not None:
            if isinstance(value, str):
                value = value.upper()
            elif isinstance(value, int) and not isinstance(value, bool):
                value = names.get(value, value)
        attrs[_RENAME.get(key, key)] = value
    return attrs


def options_from_attrs(attrs: dict[str, Any]) -> dict[str, Any]:
    """The inverse of :func:`attrs_from_options`: LCE's option names and integer enums."""
    back = {v: k for k, v in _RENAME.items()}
    options: dict[str, Any] = {}
    for key, value in attrs.items():
        codes = {name: code for code, name in _ENUMS.get(key, {}).items()}
        options[back.get(key, key)] = codes.get(value, value) if isinstance(value, str) else value
    return options


def decode_options(raw: Optional[bytes]) -> dict[str, Any]:
    """Flexbuffer map bytes to a dict ({} for empty or undecodable options)."""
    if not raw:
        return {}
    try:
        from flatbuffers import flexbuffers

        value = flexbuffers.Loads(raw)
    except Exception:  # damaged options decode to nothing; the kernels then refuse the op
        return {}
    return dict(value) if isinstance(value, dict) else {}


def custom_options_for_export(op: Op) -> bytes:
    """The custom options to write for an LCE op: the original bytes while they still
    describe the op's attrs, else a fresh flexbuffer map built from the attrs."""
    if op.custom_options is not None and attrs_from_options(decode_options(op.custom_options)) == op.attrs:
        return op.custom_options
    options = options_from_attrs(op.attrs)
    if not options:
        return b""
    from flatbuffers import flexbuffers

    return bytes(flexbuffers.Dumps(options))


# -- the post-pass -------------------------------------------------------------------------------
def apply_lce(graph: Graph) -> Graph:
    """Normalise LCE ops' attrs and turn their packed INT32 tensors into logical-shape
    ``BITPACKED`` tensors. Refuses models whose channel counts cannot be inferred or disagree,
    grouped binary convolutions, and zero padding with a non-float output (LCE forbids it)."""
    lce_ops = [op for op in graph.ops if op.type in LCE_OPS]
    if not lce_ops:
        return graph
    for op in lce_ops:
        op.attrs = attrs_from_options(op.attrs) if op.attrs else {}
    channels = _infer_channels(graph, lce_ops)
    for op in lce_ops:
        if op.type == "LceBconv2d":
            _check_bconv_variant(graph, op, channels)
    for name, c in channels.items():
        graph.tensors[name] = _as_bitpacked(graph.tensors[name], c)
    _check_bitpacked_readers(graph, set(channels))
    return graph


def _tensor(graph: Graph, op: Op, name: Optional[str], role: str) -> Tensor:
    if name is None:
        raise GraphError(f"{op.describe()}: the {role} is missing")
    return graph.tensors[name]


def _channels_attr(op: Op) -> int:
    c = op.attrs.get("channels_in")
    if isinstance(c, bool) or not isinstance(c, int) or not 1 <= c <= 1 << 20:
        raise GraphError(f"{op.describe()}: option channels_in={c!r} must be a positive integer (it gives the "
                         "true input channel count of the bitpacked input)")
    return c


def _last_dim(op: Op, t: Tensor, role: str) -> int:
    if not t.shape or t.shape[-1] < 1:
        raise GraphError(f"{op.describe()}: {role} {t.describe()} needs a channel axis")
    return t.shape[-1]


def _infer_channels(graph: Graph, ops: list[Op]) -> dict[str, int]:
    """Logical channel count of every tensor an LCE op reads or writes bitpacked."""
    known: dict[str, int] = {}
    roles: dict[str, str] = {}

    def claim(name: str, c: Optional[int], op: Op) -> bool:
        roles.setdefault(name, op.describe())
        if c is None:
            return False
        prev = known.get(name)
        if prev is not None and prev != c:
            raise GraphError(f"{op.describe()}: bitpacked tensor '{name}' has {c} channels here but {prev} "
                             f"according to {roles[name]}")
        known[name] = c
        return prev is None

    for op in ops:
        if len(op.outputs) != 1:
            raise GraphError(f"{op.describe()}: expects exactly 1 output, got {len(op.outputs)}")
        out = graph.tensors[op.outputs[0]]
        if op.type == "LceQuantize":
            claim(out.name, _last_dim(op, _tensor(graph, op, op.inputs[0] if op.inputs else None, "input"),
                                      "input"), op)
        elif op.type == "LceDequantize":
            claim(_tensor(graph, op, op.inputs[0] if op.inputs else None, "input").name,
                  _last_dim(op, out, "output"), op)
        elif op.type == "LceBconv2d":
            c = _channels_attr(op)
            if len(op.inputs) < 2:
                raise GraphError(f"{op.describe()}: expects the bitpacked input and filter")
            x, w = _tensor(graph, op, op.inputs[0], "input"), _tensor(graph, op, op.inputs[1], "filter")
            claim(x.name, c, op)
            claim(w.name, c, op)
            if out.dtype in (DType.INT32, DType.BITPACKED):
                if len(w.shape) != 4:
                    raise GraphError(f"{op.describe()}: filter {w.describe()} must be 4-D [O, kh, kw, words]")
                claim(out.name, w.shape[0], op)
    pools = [op for op in ops if op.type == "LceBMaxPool2d"]
    for op in pools:  # roles first, so an unresolved pool names itself
        x = _tensor(graph, op, op.inputs[0] if op.inputs else None, "input")
        claim(x.name, None, op)
        claim(op.outputs[0], None, op)
    for _ in range(len(pools) + 1):  # pools pass C through in both directions
        changed = False
        for op in pools:
            a, b = op.inputs[0], op.outputs[0]
            if a in known and claim(b, known[a], op):
                changed = True
            if b in known and claim(a, known[b], op):
                changed = True
        if not changed:
            break
    missing = [n for n in roles if n not in known]
    if missing:
        raise GraphError(f"cannot infer the channel count of bitpacked tensor '{missing[0]}' (used by "
                         f"{roles[missing[0]]}): no LceQuantize, LceBconv2d or LceDequantize fixes it")
    return known


def _as_bitpacked(t: Tensor, channels: int) -> Tensor:
    words = (channels + BITS - 1) // BITS
    if t.dtype is DType.BITPACKED and t.shape and t.shape[-1] == channels:
        return t
    if t.dtype is not DType.INT32:
        raise GraphError(f"tensor {t.describe()} holds bitpacked data and must be int32 (bitpacked binary "
                         "activations and filters; models from LCE versions with float bconv inputs are not "
                         "supported)")
    if not t.shape or t.shape[-1] != words:
        raise GraphError(f"bitpacked tensor {t.describe()} should have {words} words in its last axis for "
                         f"{channels} channels")
    sig = t.shape_signature
    if sig:
        sig = (*sig[:-1], channels)
    return dataclasses.replace(t, shape=(*t.shape[:-1], channels), dtype=DType.BITPACKED, shape_signature=sig)


def _check_bconv_variant(graph: Graph, op: Op, channels: dict[str, int]) -> None:
    w = graph.tensors[op.inputs[1]]
    c = _channels_attr(op)
    words = (c + BITS - 1) // BITS
    if len(w.shape) == 4 and w.shape[3] != words:
        per_tap = w.shape[3]
        groups = words // per_tap if per_tap and words % per_tap == 0 else 0
        if groups > 1 and (c // groups) % BITS == 0 and c % groups == 0:
            raise UnsupportedError(f"{op.describe()}: filter {w.describe()} holds {per_tap} words per tap for "
                                   f"channels_in={c}: a grouped binary convolution ({groups} groups), which picoml "
                                   "does not support")
        raise GraphError(f"{op.describe()}: filter {w.describe()} packs {per_tap} words per tap but "
                         f"channels_in={c} needs {words}")
    out = graph.tensors[op.outputs[0]]
    zero_padding = op.attrs.get("padding") == "SAME" and op.attrs.get("pad_values") == 0
    if zero_padding and out.dtype is not DType.FLOAT32:
        raise UnsupportedError(f"{op.describe()}: zero padding (SAME with pad_values=0) with {out.dtype.value} "
                               "output is not supported (Larq Compute Engine allows it only with float output and "
                               "no fused activation); convert with pad_values=1 or VALID padding")


def _check_bitpacked_readers(graph: Graph, names: set[str]) -> None:
    for op in graph.ops:
        if op.type in LCE_OPS:
            continue
        for n in [*op.inputs, *op.outputs]:
            if n in names:
                raise UnsupportedError(f"{op.describe()} uses bitpacked tensor {graph.tensors[n].describe()}; "
                                       "picoml handles bitpacked tensors only in LCE ops")
