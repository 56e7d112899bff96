"""Converters for the aten ops of an exported program that do not belong to a picoml layer.

Each converter takes the call (its arguments bound to the op schema's names, activations as
:class:`Value`, constants as ``torch.Tensor``) and returns the :class:`Value` it produces.
``CONVERTERS`` is keyed by the schema name (``aten::conv2d``); ``IDENTITY`` ops pass their input
through.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Optional

import numpy as np

from picoml.errors import UnsupportedError
from picoml.frontends.torch_lowering import layers
from picoml.frontends.torch_lowering.builder import Builder, Value


@dataclass
class Call:
    """One aten call to convert."""

    b: Builder
    args: dict[str, Any]
    out_shape: tuple[int, ...]
    name: str   # base name for the tensors it creates
    where: str  # "features.3 (Conv2d)" for error messages

    def value(self, key: str) -> Value:
        v = self.args[key]
        if not isinstance(v, Value):
            raise UnsupportedError(f"{self.where}: argument '{key}' must be an activation here")
        return v

    def array(self, key: str) -> Optional[np.ndarray]:
        v = self.args.get(key)
        if v is None:
            return None
        if isinstance(v, Value):
            raise UnsupportedError(f"{self.where}: argument '{key}' must be a constant (a parameter or buffer), "
                                   "not an activation")
        return v.detach().cpu().numpy()


def _pair(v: Any) -> tuple[int, int]:
    v = list(v) if isinstance(v, (list, tuple)) else [v]
    return (int(v[0]), int(v[0])) if len(v) == 1 else (int(v[0]), int(v[1]))


def _conv2d(c: Call) -> Value:
    x = c.value("input")
    w = c.array("weight")
    if w.ndim != 4:
        raise UnsupportedError(f"{c.where}: only 2-D convolutions are supported (weight shape {list(w.shape)})")
    stride, dilation, groups = _pair(c.args["stride"]), _pair(c.args["dilation"]), int(c.args["groups"])
    cin, cout = x.torch_shape[1], w.shape[0]
    depthwise = groups > 1
    if depthwise and (groups != cin or cout % cin):
        raise UnsupportedError(f"{c.where}: grouped convolutions are supported only as depthwise (groups = "
                               f"in_channels, out_channels a multiple of it); got groups={groups}")
    padding = c.args["padding"]
    if isinstance(padding, str):
        if padding == "valid":
            pads = [(0, 0), (0, 0)]
        else:  # torch's "same" (stride 1): the odd extra after, like TFLite
            pads = []
            for k, d in zip(w.shape[2:], dilation):
                total = d * (k - 1)
                pads.append((total // 2, total - total // 2))
    else:
        pads = [(p, p) for p in _pair(padding)]
    return layers.conv2d(c.b, x, w, c.array("bias"), stride, dilation, pads, depthwise, c.out_shape, c.name)


def _linear(c: Call) -> Value:
    return layers.linear(c.b, c.value("input"), c.array("weight"), c.array("bias"), c.name)


def _batch_norm(c: Call) -> Value:
    if c.args.get("training") or c.args.get("running_mean") is None:
        raise UnsupportedError(f"{c.where}: batch norm needs running statistics in eval mode "
                               "(track_running_stats=True)")
    return layers.batch_norm(c.b, c.value("input"), c.array("weight"), c.array("bias"), c.array("running_mean"),
                             c.array("running_var"), float(c.args["eps"]), c.name)


def _batch_norm_tuple(c: Call) -> tuple:
    return (_batch_norm(c), None, None)


def _clamp_kind(lo: Optional[float], hi: Optional[float], where: str) -> str:
    bounds = (None if lo is None else float(lo), None if hi is None else float(hi))
    kinds = {(0.0, None): "relu", (0.0, 6.0): "relu6", (-1.0, 1.0): "relu_n1_to_1"}
    if bounds not in kinds:
        raise UnsupportedError(f"{where}: clamping to {bounds} is not supported; supported: ReLU (0, inf), "
                               "ReLU6 (0, 6) and Hardtanh (-1, 1)")
    return kinds[bounds]


def _relu(c: Call) -> Value:
    return layers.activation(c.b, c.value("self"), "relu", c.name)


def _relu6(c: Call) -> Value:
    return layers.activation(c.b, c.value("self"), "relu6", c.name)


def _hardtanh(c: Call) -> Value:
    kind = _clamp_kind(c.args["min_val"], c.args["max_val"], c.where)
    return layers.activation(c.b, c.value("self"), kind, c.name)


def _clamp(c: Call) -> Value:
    kind = _clamp_kind(c.args.get("min"), c.args.get("max"), c.where)
    return layers.activation(c.b, c.value("self"), kind, c.name)


def _pool_pads(c: Call, x: Value, kernel, stride, padding) -> list[tuple[int, int]]:
    """torch's symmetric pool padding, extended after so the window count matches torch's
    output (ceil_mode)."""
    pads = []
    for n, k, s, p, o in zip(x.torch_shape[2:], kernel, stride, padding, c.out_shape[2:]):
        pads.append((p, max(p, (o - 1) * s + k - n - p)))
    return pads


def _max_pool2d(c: Call) -> Value:
    x = c.value("self")
    kernel = _pair(c.args["kernel_size"])
    stride = _pair(c.args["stride"]) if c.args.get("stride") else kernel
    if _pair(c.args.get("dilation", 1)) != (1, 1):
        raise UnsupportedError(f"{c.where}: dilated max pooling is not supported")
    pads = _pool_pads(c, x, kernel, stride, _pair(c.args.get("padding", 0)))
    return layers.pool2d(c.b, x, "MAX_POOL_2D", kernel, stride, pads, c.out_shape, c.name)


def _max_pool2d_tuple(c: Call) -> tuple:
    return (_max_pool2d(c), None)


def _avg_pool2d(c: Call) -> Value:
    x = c.value("self")
    kernel = _pair(c.args["kernel_size"])
    stride = _pair(c.args["stride"]) if c.args.get("stride") else kernel
    padding = _pair(c.args.get("padding", 0))
    if c.args.get("divisor_override") is not None:
        raise UnsupportedError(f"{c.where}: avg_pool2d with divisor_override is not supported")
    if any(padding) and c.args.get("count_include_pad", True):
        raise UnsupportedError(f"{c.where}: padded average pooling must use count_include_pad=False "
                               "(TFLite averages over the taps inside the input only)")
    if len(x.torch_shape) == 4 and tuple(kernel) == tuple(x.torch_shape[2:]) and not any(padding):
        return _global_pool(c, x)
    pads = _pool_pads(c, x, kernel, stride, padding)
    return layers.pool2d(c.b, x, "AVERAGE_POOL_2D", kernel, stride, pads, c.out_shape, c.name)


def _global_pool(c: Call, x: Value) -> Value:
    """Global average pooling as ``MEAN`` over H and W (what TFLite's converter emits for it).

    Not ``AVERAGE_POOL_2D``: TFLM's int8 average pool needs its input and output to share one
    scale and zero point, so the (wide) range of the feature map would have to be the (narrow)
    range of its per-channel means, or the other way round. In a QAT model the means are
    fake-quantized (the classifier's input quantizer) but the feature map is not, and the shared
    range clipped it: the converted model then disagreed with PyTorch on ~10% of keyword clips.
    ``MEAN`` requantizes, so each side keeps its own range and the mean is rounded once, as
    PyTorch rounds it."""
    return _mean_op(c, x, [2, 3], True, (x.torch_shape[0], x.torch_shape[1], 1, 1))


def _adaptive_avg_pool2d(c: Call) -> Value:
    x = c.value("self")
    if len(x.torch_shape) != 4:
        raise UnsupportedError(f"{c.where}: adaptive average pooling needs an NCHW input")
    oh, ow = _pair(c.args["output_size"])
    h, w = x.torch_shape[2:]
    if (oh, ow) == (1, 1):
        return _global_pool(c, x)
    if h % oh or w % ow:
        raise UnsupportedError(f"{c.where}: adaptive average pooling from {h}x{w} to {oh}x{ow} has uneven windows; "
                               "supported: output sizes that divide the input size")
    k = (h // oh, w // ow)
    return layers.pool2d(c.b, x, "AVERAGE_POOL_2D", k, k, [(0, 0), (0, 0)], c.out_shape, c.name)


def _mean(c: Call) -> Value:
    x = c.value("self")
    rank = len(x.torch_shape)
    dims = c.args.get("dim")
    dims = sorted({(int(d) + rank) % rank for d in (range(rank) if dims in (None, []) else dims)})
    return _mean_op(c, x, dims, bool(c.args.get("keepdim", False)), c.out_shape)


def _mean_op(c: Call, x: Value, dims: list[int], keep: bool, out_shape: tuple[int, ...]) -> Value:
    """A MEAN over the torch ``dims`` of ``x``."""
    axes = [x.ir_axis(d) for d in dims]
    kept_ir = [d for d in layers_order(x) if d not in dims]
    if not keep and kept_ir != sorted(kept_ir):
        raise UnsupportedError(f"{c.where}: mean over dims {dims} without keepdim would reorder axes; "
                               "use keepdim=True or a mean over the spatial dims (2, 3)")
    out = c.b.activation(c.name, out_shape)
    ax = c.b.const(f"{c.name}/axes", np.array(axes, np.int32))
    c.b.op("MEAN", [x.name, ax], [out.name], {"keep_dims": keep})
    return out


def layers_order(x: Value) -> list[int]:
    """The torch dims in the order the IR stores them."""
    rank = len(x.torch_shape)
    return list((0, 2, 3, 1) if x.channels_last else range(rank))


def _reshape(c: Call) -> Value:
    x = c.value("self") if "self" in c.args else c.value("input")
    if tuple(c.out_shape) == tuple(x.torch_shape):
        return x
    return c.b.reshape(x, c.out_shape, c.name)


def _binary_elementwise(op_type: str) -> Callable[[Call], Value]:
    def convert(c: Call) -> Value:
        a, other = c.args["self"], c.args["other"]
        if not isinstance(a, Value) or not isinstance(other, Value):
            raise UnsupportedError(f"{c.where}: {op_type.lower()} with a constant or scalar operand is not supported; "
                                   "supported: two activations of the same shape")
        if c.args.get("alpha", 1) != 1:
            raise UnsupportedError(f"{c.where}: {op_type.lower()} with alpha != 1 is not supported")
        if a.torch_shape != other.torch_shape:
            raise UnsupportedError(f"{c.where}: {op_type.lower()} of shapes {list(a.torch_shape)} and "
                                   f"{list(other.torch_shape)}: broadcasting is not supported")
        out = c.b.activation(c.name, c.out_shape)
        attrs = {"fused_activation_function": "NONE"}
        if op_type != "MUL":
            attrs["pot_scale_int16"] = False
        c.b.op(op_type, [a.name, other.name], [out.name], attrs)
        return out
    return convert


def _cat(c: Call) -> Value:
    xs = c.args["tensors"]
    if not xs or not all(isinstance(x, Value) for x in xs):
        raise UnsupportedError(f"{c.where}: concatenation of constants is not supported")
    if len({len(x.torch_shape) for x in xs}) != 1:
        raise UnsupportedError(f"{c.where}: concatenation of tensors of different ranks")
    axis = xs[0].ir_axis(int(c.args["dim"]))
    out = c.b.activation(c.name, c.out_shape)
    c.b.op("CONCATENATION", [x.name for x in xs], [out.name], {"axis": axis, "fused_activation_function": "NONE"})
    return out


def _softmax(c: Call) -> Value:
    x = c.value("self")
    if x.ir_axis(int(c.args["dim"])) != len(x.torch_shape) - 1:
        raise UnsupportedError(f"{c.where}: softmax is supported over the last axis (the channels of a [N, C] "
                               f"tensor, or dim=1 of an NCHW tensor); got dim={c.args['dim']}")
    out = c.b.activation(c.name, c.out_shape)
    c.b.op("SOFTMAX", [x.name], [out.name], {"beta": 1.0})
    return out


def _unary(op_type: str) -> Callable[[Call], Value]:
    def convert(c: Call) -> Value:
        x = c.value("self")
        out = c.b.activation(c.name, c.out_shape)
        c.b.op(op_type, [x.name], [out.name], {})
        return out
    return convert


def _pad(c: Call) -> Value:
    x = c.value("self" if "self" in c.args else "input")
    pad = [int(p) for p in c.args["pad"]]
    if c.args.get("mode", "constant") != "constant" or float(c.args.get("value") or 0.0) != 0.0:
        raise UnsupportedError(f"{c.where}: only zero padding (mode='constant', value=0) is supported")
    rank = len(x.torch_shape)
    if len(pad) % 2 or len(pad) > 2 * rank or any(p < 0 for p in pad):
        raise UnsupportedError(f"{c.where}: padding {pad} is not supported (non-negative pairs only)")
    pairs = [[0, 0] for _ in range(rank)]
    for i in range(len(pad) // 2):  # torch lists the last dim first
        pairs[rank - 1 - i] = [pad[2 * i], pad[2 * i + 1]]
    ir_pairs = [pairs[d] for d in layers_order(x)]
    out = c.b.activation(c.name, c.out_shape)
    table = c.b.const(f"{c.name}/paddings", np.array(ir_pairs, np.int32))
    c.b.op("PAD", [x.name, table], [out.name], {})
    return out


def _identity(c: Call) -> Value:
    for key in ("self", "input"):
        if isinstance(c.args.get(key), Value):
            return c.args[key]
    raise UnsupportedError(f"{c.where}: expected an activation input")


def _to(c: Call) -> Value:
    import torch

    dtype = c.args.get("dtype")
    if dtype not in (None, torch.float32):
        raise UnsupportedError(f"{c.where}: casting an activation to {dtype} is not supported")
    return _identity(c)


CONVERTERS: dict[str, Callable[[Call], Any]] = {
    "aten::conv2d": _conv2d,
    "aten::linear": _linear,
    "aten::batch_norm": _batch_norm,
    "aten::_native_batch_norm_legit_no_training": _batch_norm_tuple,
    "aten::relu": _relu, "aten::relu_": _relu, "aten::relu6": _relu6,
    "aten::hardtanh": _hardtanh, "aten::hardtanh_": _hardtanh, "aten::clamp": _clamp,
    "aten::max_pool2d": _max_pool2d, "aten::max_pool2d_with_indices": _max_pool2d_tuple,
    "aten::avg_pool2d": _avg_pool2d, "aten::adaptive_avg_pool2d": _adaptive_avg_pool2d,
    "aten::mean": _mean,
    "aten::flatten": _reshape, "aten::view": _reshape, "aten::reshape": _reshape, "aten::_unsafe_view": _reshape,
    "aten::unflatten": _reshape, "aten::squeeze": _reshape, "aten::unsqueeze": _reshape,
    "aten::add": _binary_elementwise("ADD"), "aten::sub": _binary_elementwise("SUB"),
    "aten::mul": _binary_elementwise("MUL"),
    "aten::cat": _cat, "aten::concat": _cat,
    "aten::softmax": _softmax, "aten::_softmax": _softmax,
    "aten::sigmoid": _unary("LOGISTIC"), "aten::tanh": _unary("TANH"),
    "aten::pad": _pad, "aten::constant_pad_nd": _pad,
    "aten::dropout": _identity, "aten::clone": _identity, "aten::contiguous": _identity, "aten::alias": _identity,
    "aten::detach": _identity, "aten::feature_dropout": _identity, "aten::to": _to,
}

IGNORED = ("aten::_assert_tensor_metadata",)  # checks with no result
