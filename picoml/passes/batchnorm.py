"""Batch-norm folding: ``BATCH_NORM(conv(x))`` becomes one conv with scaled weights and bias.

A ``BATCH_NORM`` pseudo-op computes ``y = x * scale + offset`` per channel (the last IR axis).
Folded into a CONV_2D, DEPTHWISE_CONV_2D or FULLY_CONNECTED whose output it alone reads (and
that has no fused activation yet): ``W'[o] = W[o] * scale[o]``, ``b' = b * scale + offset``,
computed in double and stored as float32. int8 weight scales fixed by QAT follow exactly
(``s'[o] = s[o] * |scale[o]|``; the int8 values only change sign), so the folded conv still holds
the fake-quantized weights of training. A batch norm that cannot be folded becomes a 1x1
depthwise convolution (4-D) or a diagonal fully connected layer (2-D).
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from picoml.errors import UnsupportedError
from picoml.ir import Graph, Op, QuantParams
from picoml.passes.rewrite import absorb, add_const, const_data, prune, sole_consumer

WEIGHT_AXIS = {"CONV_2D": 0, "DEPTHWISE_CONV_2D": 3, "FULLY_CONNECTED": 0}  # the output-channel axis


def fold_batch_norm(graph: Graph) -> Graph:
    """Fold or replace every BATCH_NORM of ``graph``."""
    for bn in [op for op in graph.ops if op.type == "BATCH_NORM"]:
        producer = graph.producer(bn.inputs[0])
        if _foldable(graph, producer, bn):
            _fold(graph, producer, bn)
        else:
            _standalone(graph, bn)
    return prune(graph)


def _foldable(graph: Graph, producer: Optional[Op], bn: Op) -> bool:
    return (producer is not None and producer.type in WEIGHT_AXIS
            and producer.attrs.get("fused_activation_function", "NONE") == "NONE"
            and sole_consumer(graph, bn.inputs[0]) is bn
            and const_data(graph, producer.inputs[1]) is not None
            and graph.tensors[producer.inputs[1]].data.dtype == np.float32)


def _fold(graph: Graph, conv: Op, bn: Op) -> None:
    scale = const_data(graph, bn.inputs[1]).astype(np.float64)
    offset = const_data(graph, bn.inputs[2]).astype(np.float64)
    w_t = graph.tensors[conv.inputs[1]]
    axis = WEIGHT_AXIS[conv.type]
    shape = [1] * w_t.data.ndim
    shape[axis] = -1
    w = (w_t.data.astype(np.float64) * scale.reshape(shape)).astype(np.float32)
    bias = const_data(graph, conv.inputs[2]) if len(conv.inputs) > 2 else None
    b = (0.0 if bias is None else bias.astype(np.float64)) * scale + offset
    conv.inputs[1] = add_const(graph, f"{w_t.name}/bn", w, quant=_scaled_quant(w_t.quant, scale, axis))
    b_name = add_const(graph, f"{conv.outputs[0]}/bias_bn", b.astype(np.float32))
    if len(conv.inputs) > 2:
        conv.inputs[2] = b_name
    else:
        conv.inputs.append(b_name)
    absorb(graph, conv, bn)


def _scaled_quant(q: Optional[QuantParams], scale: np.ndarray, axis: int) -> Optional[QuantParams]:
    """QAT weight scales after folding; None (requantize from float) when they cannot follow."""
    if q is None or q.scale.size != scale.size or np.any(scale == 0):
        return None
    s = (q.scale.astype(np.float64) * np.abs(scale)).astype(np.float32)
    return QuantParams(s, np.zeros(s.size, np.int64), axis if s.size > 1 else 0)


def _standalone(graph: Graph, bn: Op) -> None:
    x = graph.tensors[bn.inputs[0]]
    scale, offset = const_data(graph, bn.inputs[1]), const_data(graph, bn.inputs[2])
    c = scale.size
    if len(x.shape) == 4:
        w = add_const(graph, f"{bn.outputs[0]}/bn_weight", scale.reshape(1, 1, 1, c).astype(np.float32))
        bn.type = "DEPTHWISE_CONV_2D"
        bn.attrs = {"padding": "VALID", "stride_h": 1, "stride_w": 1, "dilation_h_factor": 1, "dilation_w_factor": 1,
                    "depth_multiplier": 1, "fused_activation_function": "NONE"}
    elif len(x.shape) == 2:
        w = add_const(graph, f"{bn.outputs[0]}/bn_weight", np.diag(scale).astype(np.float32))
        bn.type = "FULLY_CONNECTED"
        bn.attrs = {"fused_activation_function": "NONE", "keep_num_dims": False, "weights_format": 0,
                    "asymmetric_quantize_inputs": False}
    else:
        raise UnsupportedError(f"batch norm on {x.describe()}: supported on 2-D and 4-D tensors only")
    bn.inputs = [bn.inputs[0], w, add_const(graph, f"{bn.outputs[0]}/bn_bias", offset.astype(np.float32))]
