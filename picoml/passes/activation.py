"""Activation fusion: a RELU / RELU6 / RELU_N1_TO_1 pseudo-op becomes the
``fused_activation_function`` of the op that produces its input, as TFLite converters do.

It fuses into CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED, ADD, SUB, MUL and the 2-D pools
when that op has no fused activation yet and the activation is the only reader of its output.
A ReLU that cannot fuse becomes ``LEAKY_RELU`` with ``alpha = 0``; ReLU6 and hardtanh(-1, 1)
have no standalone kernel and are refused.
"""
from __future__ import annotations

from picoml.errors import UnsupportedError
from picoml.ir import Graph
from picoml.passes.rewrite import ACTIVATIONS, absorb, prune, sole_consumer

FUSES_INTO = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "ADD", "SUB", "MUL", "AVERAGE_POOL_2D",
              "MAX_POOL_2D")


def fuse_activations(graph: Graph) -> Graph:
    """Fuse (or replace) every activation pseudo-op of ``graph``."""
    for act in [op for op in graph.ops if op.type in ACTIVATIONS]:
        producer = graph.producer(act.inputs[0])
        if (producer is not None and producer.type in FUSES_INTO
                and producer.attrs.get("fused_activation_function", "NONE") == "NONE"
                and sole_consumer(graph, act.inputs[0]) is act):
            producer.attrs["fused_activation_function"] = act.type
            absorb(graph, producer, act)
        elif act.type == "RELU":
            act.type, act.attrs = "LEAKY_RELU", {"alpha": 0.0}
        else:
            src = producer.type if producer is not None else "a graph input"
            raise UnsupportedError(
                f"{act.type} on {graph.tensors[act.inputs[0]].describe()}: it cannot be fused into its producer "
                f"({src}) and has no standalone kernel; supported: directly after a convolution, linear layer, "
                f"add/sub/mul or pooling ({', '.join(FUSES_INTO)}) whose output nothing else reads")
    return prune(graph)
