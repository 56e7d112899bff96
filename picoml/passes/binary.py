r"""Binary lowering: Larq Compute Engine's fusions around ``LceBconv2d``.

The frontend emits every binary convolution as ``LceQuantize`` + ``LceBconv2d`` with float
output ``y = m * yhat + b`` (``yhat`` the +-1 dot product, ``m`` the kernel scale, ``b`` the conv
bias). Following LCE's converter:

1. **Activation.** A ReLU / ReLU6 / hardtanh(-1, 1) right after the conv becomes the bconv's
   ``fused_activation_function``, which LCE applies to ``yhat`` *before* the multiplier:
   exact when ``b = 0`` and ``m = 1`` (ReLU: any ``m > 0``, since relu(m yhat) = m relu(yhat)).
   Not for zero-padded convs (LCE refuses that combination).
2. **Batch norm** after that: ``m <- m * scale``, ``b <- b * scale + offset`` (post-activation
   multiplier and bias).
3. **Bitpacked output.** When every reader of the result binarizes it again (``LceQuantize``),
   possibly through a max pool, the bconv writes bits directly: bit ``o`` is
   ``sign(y_o) = -1``, i.e. ``y_o < 0``. With ``a`` = accum (xor-popcount, ``yhat = K - 2a``) that
   is a monotone function of ``a`` in ``[0, K]``; the pass evaluates it at every ``a``
   (\(y = m\,\mathrm{act}(K - 2a) + b\) in double) and stores the threshold ``t`` with
   ``bit = a > t``. Where the bit falls as ``a`` grows (``m < 0``) the channel's filter bits are
   inverted (``a -> K - a``), exactly as LCE's converter does, so the runtime only compares
   ``>``. Constant channels get INT32_MIN (always -1) or INT32_MAX (always +1).
   ``sign(maxpool(y)) = maxpool(sign(y))`` because sign is monotone, so a max pool between two
   binary layers becomes ``LceBMaxPool2d`` on the bits (AND of words).
   Only convs with one-padding or VALID padding may write bits (LCE's rule).
"""
from __future__ import annotations

import numpy as np

from picoml.errors import GraphError
from picoml.ir import DType, Graph, Op, Tensor
from picoml.kernels.bitpack import BITS, packed_words
from picoml.kernels.quant import INT32_MAX, INT32_MIN
from picoml.passes.rewrite import ACTIVATIONS, absorb, add_const, const_data, consumers, prune, sole_consumer

# The fused activation's range on the integer dot product yhat (TFLM CalculateActivationRange<int32>).
_YHAT_RANGE = {"NONE": (None, None), "RELU": (0, None), "RELU6": (0, 6), "RELU_N1_TO_1": (-1, 1)}


def lower_binary(graph: Graph) -> Graph:
    """Apply LCE's fusions to every float-output ``LceBconv2d`` of ``graph``."""
    for op in [o for o in graph.ops if o.type == "LceBconv2d"]:
        if graph.tensors[op.outputs[0]].dtype is DType.FLOAT32 and op.inputs[2] is not None:
            _absorb_output_ops(graph, op)
    for op in [o for o in graph.ops if o.type == "LceBconv2d"]:
        if graph.tensors[op.outputs[0]].dtype is DType.FLOAT32 and op.inputs[2] is not None:
            _to_bitpacked(graph, op)
    return prune(graph)


def _zero_padded(op: Op) -> bool:
    return op.attrs.get("padding") == "SAME" and op.attrs.get("pad_values") == 0


def _set_transform(graph: Graph, op: Op, m: np.ndarray, b: np.ndarray) -> None:
    op.inputs[2] = add_const(graph, f"{op.outputs[0]}/post_activation_multiplier", m.astype(np.float32))
    op.inputs[3] = add_const(graph, f"{op.outputs[0]}/post_activation_bias", b.astype(np.float32))


def _absorb_output_ops(graph: Graph, op: Op) -> None:
    """Steps 1 and 2: fuse the activation and batch norm that follow the bconv."""
    while True:
        nxt = sole_consumer(graph, op.outputs[0])
        if nxt is None:
            return
        m = const_data(graph, op.inputs[2]).astype(np.float64)
        b = const_data(graph, op.inputs[3]).astype(np.float64)
        if nxt.type in ACTIVATIONS:
            exact = np.all(b == 0) and (np.all(m == 1) or (nxt.type == "RELU" and np.all(m > 0)))
            if op.attrs.get("fused_activation_function", "NONE") != "NONE" or _zero_padded(op) or not exact:
                return
            op.attrs["fused_activation_function"] = nxt.type
        elif nxt.type == "BATCH_NORM":
            scale = const_data(graph, nxt.inputs[1]).astype(np.float64)
            offset = const_data(graph, nxt.inputs[2]).astype(np.float64)
            _set_transform(graph, op, m * scale, b * scale + offset)
        else:
            return
        absorb(graph, op, nxt)


def _to_bitpacked(graph: Graph, op: Op) -> None:
    """Step 3: write bits when every reader binarizes the output (maybe through a max pool)."""
    out = op.outputs[0]
    if _zero_padded(op) or out in graph.outputs:
        return
    readers = consumers(graph, out)
    pool = None
    if (len(readers) == 1 and readers[0].type == "MAX_POOL_2D" and readers[0].outputs[0] not in graph.outputs
            and readers[0].attrs.get("fused_activation_function", "NONE") == "NONE"):
        pool = readers[0]
        readers = consumers(graph, pool.outputs[0])
    if not readers or any(r.type != "LceQuantize" for r in readers):
        return
    w_t = graph.tensors[op.inputs[1]]
    k = int(np.prod(w_t.shape[1:3])) * int(op.attrs["channels_in"])
    m, b = const_data(graph, op.inputs[2]), const_data(graph, op.inputs[3])
    thresholds, flip = bit_thresholds(m, b, op.attrs.get("fused_activation_function", "NONE"), k, op)
    if np.any(flip):
        op.inputs[1] = add_const(graph, f"{w_t.name}/flipped", _flip_channels(w_t, flip), dtype=DType.BITPACKED,
                                 shape=w_t.shape)
    op.inputs[2] = op.inputs[3] = None
    op.inputs[4:] = [add_const(graph, f"{out}/thresholds", thresholds)]
    bits = readers[0].outputs[0]
    if pool is None:
        op.outputs[0] = bits
    else:
        pre = f"{out}/bits"
        graph.tensors[pre] = Tensor(pre, graph.tensors[out].shape, DType.BITPACKED)
        op.outputs[0] = pre
        pool.type, pool.inputs, pool.outputs = "LceBMaxPool2d", [pre], [bits]
        pool.attrs = {k_: pool.attrs[k_] for k_ in ("filter_height", "filter_width", "padding", "stride_h", "stride_w")}
    for r in readers:
        graph.ops.remove(r)
        for later in consumers(graph, r.outputs[0]):
            later.inputs = [bits if n == r.outputs[0] else n for n in later.inputs]


def bit_thresholds(m: np.ndarray, b: np.ndarray, act: str, k: int, op: Op) -> tuple[np.ndarray, np.ndarray]:
    """(int32 thresholds, channels whose filter bits must be inverted) so that
    ``accum > threshold`` is ``m * act(K - 2 accum) + b < 0`` for every accum in [0, K]."""
    lo, hi = _YHAT_RANGE[act]
    yhat = np.clip(k - 2 * np.arange(k + 1), lo, hi).astype(np.float64)
    bits = (yhat[None, :] * m.astype(np.float64)[:, None] + b.astype(np.float64)[:, None]) < 0  # [O, K+1]
    thresholds = np.empty(len(m), np.int32)
    flip = np.zeros(len(m), bool)
    for o, row in enumerate(bits):
        if row.all() or not row.any():
            thresholds[o] = INT32_MIN if row.all() else INT32_MAX
            continue
        step = np.diff(row.astype(np.int8))
        if np.all(step <= 0):  # the bit falls as accum grows: invert the filter, accum -> K - accum
            row, flip[o] = row[::-1], True
        elif not np.all(step >= 0):
            raise GraphError(f"{op.describe()}: output channel {o} is not a monotone function of the dot product")
        thresholds[o] = int(np.argmax(row)) - 1
    return thresholds, flip


def _flip_channels(w: Tensor, flip: np.ndarray) -> np.ndarray:
    """The packed filter with every real channel bit of the ``flip`` output channels inverted
    (padding bits of the last word stay 0)."""
    cin = w.shape[-1]
    mask = np.zeros(packed_words(cin), np.uint32)
    for c in range(cin):
        mask[c // BITS] |= np.uint32(1) << np.uint32(c % BITS)
    data = w.data.view(np.uint32).copy()
    data[flip] ^= mask
    return data.view(np.int32)
