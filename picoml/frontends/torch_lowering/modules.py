"""picoml's own layers and quantizers, converted as whole modules.

torch.export traces a :class:`picoml.nn.layers.QuantLayer` into dozens of aten ops (the
quantizers' arithmetic, the padding, the convolution). Rather than pattern-match those, the
frontend collapses every node a QuantLayer (or a standalone Quantizer) produced into one call
and converts the module from its attributes: what its quantizers do, its padding and its
weights as the forward pass uses them (:meth:`QuantLayer.quantized_weight`).
"""
from __future__ import annotations

from typing import Any, Optional

import numpy as np

from picoml.errors import UnsupportedError
from picoml.frontends.torch_lowering import layers
from picoml.frontends.torch_lowering.builder import Builder, Value
from picoml.ir import DType, QuantParams

SUPPORTED = ("QuantConv2d, QuantDepthwiseConv2d and QuantLinear with input quantizers None, "
             "Int8ActivationFakeQuant, ste_sign/approx_sign/swish_sign (binary conv only) and any kernel quantizer "
             "(binary convolutions: a +-1 kernel, optionally scaled per channel); standalone "
             "Int8ActivationFakeQuant, NoOp and sign quantizers")


def describe(path: str, module: Any) -> str:
    """``features.3.conv (QuantConv2d)``: how errors name a module."""
    return f"{path or '<root>'} ({type(module).__name__})"


def is_converted_whole(module: Any) -> bool:
    """True for the modules this file converts as one unit."""
    from picoml.nn.layers import QuantLayer
    from picoml.nn.quantizers import Quantizer

    return isinstance(module, (QuantLayer, Quantizer))


def _sign_quantizer(q: Any) -> bool:
    from picoml.nn import quantizers as Q

    return isinstance(q, (Q.SteSign, Q.ApproxSign, Q.SwishSign))


def _int8_activation(q: Any) -> bool:
    from picoml.nn.fake_quant import Int8ActivationFakeQuant

    return isinstance(q, Int8ActivationFakeQuant)


def hint_activation(b: Builder, x: Value, quantizer: Any, where: str) -> None:
    """Record the int8 parameters an observed ``Int8ActivationFakeQuant`` gives ``x``."""
    if not quantizer.observer.seen:
        return  # never observed: the fake quantizer is the identity, nothing to keep
    scale, zp = quantizer.qparams()
    t = b.tensors[x.name]
    new = QuantParams.per_tensor(scale, zp)
    if t.quant is not None and (float(t.quant.scale[0]) != float(new.scale[0])
                                or int(t.quant.zero_point[0]) != int(new.zero_point[0])):
        raise UnsupportedError(f"{where}: this tensor already has int8 parameters {t.quant.describe()} from another "
                               f"fake quantizer; two fake quantizers with different ranges on one tensor are not "
                               "supported")
    t.quant = new


def _input_kind(b: Builder, m: Any, x: Value, where: str) -> str:
    """'float' or 'binary', recording int8 fake-quant parameters on ``x``."""
    from picoml.nn.quantizers import NoOp

    q = m.input_quantizer
    if q is None or isinstance(q, NoOp):
        return "float"
    if _int8_activation(q):
        hint_activation(b, x, q, where)
        return "float"
    if _sign_quantizer(q):
        return "binary"
    raise UnsupportedError(f"{where}: input quantizer {type(q).__name__} is not supported; supported: {SUPPORTED}")


def _kernel(m: Any) -> tuple[np.ndarray, Optional[np.ndarray]]:
    """The weights the forward pass uses, and the int8 scales when QAT fixed them."""
    from picoml.nn.fake_quant import Int8WeightFakeQuant

    kq = m.kernel_quantizer
    if isinstance(kq, Int8WeightFakeQuant):
        import torch

        with torch.no_grad():
            scale, _ = kq.quant_params(m.weight)
            q = kq.quantize(m.weight)
            w = (q.float() * scale).numpy().astype(np.float32)
        return w, scale.numpy().reshape(-1).astype(np.float32)
    return m.quantized_weight().numpy().astype(np.float32), None


def _binary_kernel(m: Any, where: str) -> tuple[np.ndarray, np.ndarray]:
    """(+-1 signs, per-output-channel scale) of a binary kernel; refuses any other kernel."""
    w = m.quantized_weight().numpy().astype(np.float32)
    mag = np.abs(w.reshape(w.shape[0], -1))
    alpha = mag[:, 0]
    if not (np.all(mag == alpha[:, None]) and np.all(alpha > 0)):
        raise UnsupportedError(f"{where}: a binarized input needs a binary kernel (+-1, or +-alpha per output "
                               f"channel such as magnitude_aware_sign); kernel quantizer "
                               f"{type(m.kernel_quantizer).__name__} gives other values")
    return np.where(w < 0, -1.0, 1.0).astype(np.float32), alpha.astype(np.float32)


def _bias(m: Any) -> Optional[np.ndarray]:
    return None if m.bias is None else m.bias.detach().numpy().astype(np.float32)


def convert(b: Builder, m: Any, path: str, x: Value, out_shape: tuple[int, ...], name: str) -> Value:
    """The IR of one call of a QuantLayer or standalone Quantizer ``m`` on ``x``."""
    from picoml.nn.layers import QuantConv1d, QuantConv2d, QuantDepthwiseConv2d, QuantLinear
    from picoml.nn.quantizers import NoOp, Quantizer

    where = describe(path, m)
    if isinstance(m, Quantizer):
        if isinstance(m, NoOp):
            return x
        if _int8_activation(m):
            hint_activation(b, x, m, where)
            return x
        if _sign_quantizer(m):
            packed = b.activation(f"{name}/bits", x.torch_shape, DType.BITPACKED)
            b.op("LceQuantize", [x.name], [packed.name], {})
            out = b.activation(name, x.torch_shape)
            b.op("LceDequantize", [packed.name], [out.name], {})
            return out
        raise UnsupportedError(f"{where}: quantizer {type(m).__name__} is not supported as a module; "
                               f"supported: {SUPPORTED}")
    if isinstance(m, QuantConv1d):
        raise UnsupportedError(f"{where}: 1-D convolutions are not supported; supported: {SUPPORTED}")
    if isinstance(m, (QuantConv2d, QuantDepthwiseConv2d)):
        return _conv(b, m, where, x, out_shape, name)
    if isinstance(m, QuantLinear):
        if _input_kind(b, m, x, where) == "binary":
            raise UnsupportedError(f"{where}: binarized inputs are supported for convolutions only (Larq Compute "
                                   "Engine has no binary fully connected op); use a float or int8 input quantizer")
        w, scales = _kernel(m)
        return layers.linear(b, x, w, _bias(m), name, scales)
    raise UnsupportedError(f"{where}: layer {type(m).__name__} is not supported; supported: {SUPPORTED}")


def _conv(b: Builder, m: Any, where: str, x: Value, out_shape: tuple[int, ...], name: str) -> Value:
    if len(x.torch_shape) != 4:
        raise UnsupportedError(f"{where}: needs an NCHW input, got shape {list(x.torch_shape)}")
    cin, cout, groups = m.in_channels, m.out_channels, m.groups
    depthwise = groups > 1
    if depthwise and (groups != cin or cout % cin):
        raise UnsupportedError(f"{where}: grouped convolutions are supported only as depthwise (groups = in_channels"
                               f" and out_channels a multiple of it); got groups={groups}, {cin} -> {cout} channels")
    pads = m.spatial_pads(tuple(x.torch_shape[2:]))
    kind = _input_kind(b, m, x, where)
    if kind == "binary":
        if depthwise:
            raise UnsupportedError(f"{where}: binary depthwise convolutions are not supported (Larq Compute Engine "
                                   "has none); use a float or int8 depthwise convolution")
        signs, alpha = _binary_kernel(m, where)
        try:
            return layers.binary_conv2d(b, x, signs, alpha, _bias(m), m.stride, m.dilation, pads, m.pad_value,
                                        out_shape, name)
        except UnsupportedError as e:
            raise UnsupportedError(f"{where}: {e}") from None
    if m.pad_value != 0.0 and any(p for pair in pads for p in pair):
        raise UnsupportedError(f"{where}: pad_value={m.pad_value} is supported only for binary convolutions "
                               "(LCE one-padding); float and int8 convolutions pad with 0")
    w, scales = _kernel(m)
    return layers.conv2d(b, x, w, _bias(m), m.stride, m.dilation, pads, depthwise, out_shape, name, scales)
