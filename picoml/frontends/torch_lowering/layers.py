"""Emitting the IR of one PyTorch layer: convolutions (float, depthwise, binary), linear,
batch norm, activations and pooling, with torch's padding turned into TFLite's.

The float graph built here may hold three kinds of pseudo-ops that the passes remove:
``BATCH_NORM`` (inputs x, scale, offset: ``y = x * scale + offset`` per channel, the last IR
axis), and the activations ``RELU``, ``RELU6``, ``RELU_N1_TO_1``. Binary convolutions are
emitted as ``LceQuantize`` + ``LceBconv2d`` with float output, multiplier and bias, which the
binary pass then fuses with what follows.

QAT hints: a float constant or activation may carry ``quant``; it is not a type but the int8
parameters that quantization-aware training fixed (weights: the fake-quantized values are
exactly ``scale * q``). :mod:`picoml.quantize.ptq` uses them instead of calibrating.
"""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from picoml.errors import UnsupportedError
from picoml.frontends.torch_lowering.builder import Builder, Value
from picoml.ir import DType, QuantParams
from picoml.kernels.bitpack import pack_bits
from picoml.kernels.padding import out_size, pad_before

ACTIVATION_OPS = {"relu": "RELU", "relu6": "RELU6", "relu_n1_to_1": "RELU_N1_TO_1"}
Pads = Sequence[tuple[int, int]]


def conv_padding(in_hw: Sequence[int], kernel: Sequence[int], stride: Sequence[int], dilation: Sequence[int],
                 pads: Pads) -> tuple[str, Optional[list[tuple[int, int]]]]:
    """TFLite padding for torch's explicit (before, after) pads: ``("SAME"|"VALID", None)`` when one
    of them computes the same windows, else ``("VALID", pads)`` (an explicit PAD is needed)."""
    def torch_out(n: int, k: int, s: int, d: int, p: tuple[int, int]) -> int:
        return (n + p[0] + p[1] - (k - 1) * d - 1) // s + 1

    outs = [torch_out(*a) for a in zip(in_hw, kernel, stride, dilation, pads)]
    for padding in ("VALID", "SAME"):
        if all(p[0] == pad_before(padding, n, k, s, d) and o == out_size(padding, n, k, s, d)
               for n, k, s, d, p, o in zip(in_hw, kernel, stride, dilation, pads, outs)):
            return padding, None
    return "VALID", [tuple(int(v) for v in p) for p in pads]


def _pad(b: Builder, x: Value, pads: Pads, name: str) -> Value:
    """Zero-pad the spatial axes of an NCHW value (an IR PAD over NHWC)."""
    n, c, h, w = x.torch_shape
    (t, bo), (le, r) = pads
    out = b.activation(name, (n, c, h + t + bo, w + le + r))
    table = b.const(f"{name}/paddings", np.array([[0, 0], [t, bo], [le, r], [0, 0]], np.int32))
    b.op("PAD", [x.name, table], [out.name], {})
    return out


def _weight_quant(scales: Optional[np.ndarray], axis: int) -> Optional[QuantParams]:
    if scales is None:
        return None
    s = np.asarray(scales, np.float32).reshape(-1)
    return QuantParams(s, np.zeros(s.size, np.int64), axis if s.size > 1 else 0)


def conv2d(b: Builder, x: Value, weight: np.ndarray, bias: Optional[np.ndarray], stride: Sequence[int],
           dilation: Sequence[int], pads: Pads, depthwise: bool, out_shape: Sequence[int], name: str,
           weight_scales: Optional[np.ndarray] = None) -> Value:
    """A float CONV_2D (OIHW weights) or DEPTHWISE_CONV_2D ([C*M, 1, kh, kw] weights)."""
    if len(x.torch_shape) != 4:
        raise UnsupportedError(f"{name}: a 2-D convolution needs an NCHW input, got shape {list(x.torch_shape)}")
    w = np.asarray(weight, np.float32)
    kernel = w.shape[2:]
    padding, explicit = conv_padding(x.torch_shape[2:], kernel, stride, dilation, pads)
    if explicit is not None:
        x = _pad(b, x, explicit, f"{name}/pad")
    cout = w.shape[0]
    if depthwise:
        cin = x.torch_shape[1]
        w_ir = np.transpose(w, (1, 2, 3, 0))  # [1, kh, kw, C*M]
        op_type, extra, axis = "DEPTHWISE_CONV_2D", {"depth_multiplier": cout // cin}, 3
    else:
        w_ir = np.transpose(w, (0, 2, 3, 1))  # OHWI
        op_type, extra, axis = "CONV_2D", {}, 0
    w_name = b.const(f"{name}/weight", w_ir, quant=_weight_quant(weight_scales, axis))
    b_name = b.const(f"{name}/bias", np.zeros(cout, np.float32) if bias is None else np.asarray(bias, np.float32))
    out = b.activation(name, out_shape)
    b.op(op_type, [x.name, w_name, b_name], [out.name],
         {"padding": padding, "stride_h": int(stride[0]), "stride_w": int(stride[1]),
          "dilation_h_factor": int(dilation[0]), "dilation_w_factor": int(dilation[1]), **extra,
          "fused_activation_function": "NONE"})
    return out


def linear(b: Builder, x: Value, weight: np.ndarray, bias: Optional[np.ndarray], name: str,
           weight_scales: Optional[np.ndarray] = None) -> Value:
    """A float FULLY_CONNECTED over a 2-D input ([out, in] weights)."""
    if len(x.torch_shape) != 2:
        raise UnsupportedError(f"{name}: a linear layer needs a 2-D [batch, features] input here, got shape "
                               f"{list(x.torch_shape)} (flatten it first)")
    w = np.asarray(weight, np.float32)
    w_name = b.const(f"{name}/weight", w, quant=_weight_quant(weight_scales, 0))
    b_name = b.const(f"{name}/bias", np.zeros(w.shape[0], np.float32) if bias is None else
                     np.asarray(bias, np.float32))
    out = b.activation(name, (x.torch_shape[0], w.shape[0]))
    b.op("FULLY_CONNECTED", [x.name, w_name, b_name], [out.name],
         {"fused_activation_function": "NONE", "keep_num_dims": False, "weights_format": 0,
          "asymmetric_quantize_inputs": False})
    return out


def binary_conv2d(b: Builder, x: Value, signs: np.ndarray, alpha: np.ndarray, bias: Optional[np.ndarray],
                  stride: Sequence[int], dilation: Sequence[int], pads: Pads, pad_value: float,
                  out_shape: Sequence[int], name: str) -> Value:
    """``LceQuantize`` + ``LceBconv2d`` (float output ``alpha * (+-1 dot product) + bias``).

    ``signs`` are the +-1 OIHW weights; ``pad_value`` is what torch pads the binarized input with
    (1: LCE's native one-padding, 0: zero padding with LCE's correction)."""
    if len(x.torch_shape) != 4:
        raise UnsupportedError(f"{name}: a binary convolution needs an NCHW input, got shape {list(x.torch_shape)}")
    kernel = signs.shape[2:]
    padding, explicit = conv_padding(x.torch_shape[2:], kernel, stride, dilation, pads)
    if explicit is not None:
        raise UnsupportedError(f"{name}: binary convolutions support 'same' (TFLite rule) or 'valid' padding; "
                               f"padding {list(pads)} is neither")
    if padding == "SAME" and pad_value not in (0.0, 1.0):
        raise UnsupportedError(f"{name}: a binary convolution pads with 1 (pad_value=1.0, native) or 0; "
                               f"got pad_value={pad_value}")
    packed = b.activation(f"{name}/input_bits", x.torch_shape, DType.BITPACKED)
    b.op("LceQuantize", [x.name], [packed.name], {})
    cout, cin = signs.shape[:2]
    w_ohwi = np.transpose(signs, (0, 2, 3, 1))
    w_name = b.const(f"{name}/weight_bits", pack_bits(w_ohwi < 0), DType.BITPACKED, shape=w_ohwi.shape)
    m = b.const(f"{name}/post_activation_multiplier", np.asarray(alpha, np.float32).reshape(cout))
    bias_arr = np.zeros(cout, np.float32) if bias is None else np.asarray(bias, np.float32)
    c = b.const(f"{name}/post_activation_bias", bias_arr)
    out = b.activation(name, out_shape)
    b.op("LceBconv2d", [packed.name, w_name, m, c, None], [out.name],
         {"channels_in": int(cin), "dilation_h_factor": int(dilation[0]), "dilation_w_factor": int(dilation[1]),
          "fused_activation_function": "NONE", "pad_values": 0 if pad_value == 0.0 and padding == "SAME" else 1,
          "padding": padding, "stride_h": int(stride[0]), "stride_w": int(stride[1])})
    return out


def batch_norm(b: Builder, x: Value, gamma: Optional[np.ndarray], beta: Optional[np.ndarray], mean: np.ndarray,
               var: np.ndarray, eps: float, name: str) -> Value:
    """A BATCH_NORM pseudo-op with the eval-mode scale and offset (computed in double)."""
    if len(x.torch_shape) not in (2, 4):
        raise UnsupportedError(f"{name}: batch norm is supported on [N, C] and [N, C, H, W] tensors, got shape "
                               f"{list(x.torch_shape)}")
    c = x.torch_shape[1]
    g = np.ones(c) if gamma is None else np.asarray(gamma, np.float64)
    be = np.zeros(c) if beta is None else np.asarray(beta, np.float64)
    scale = g / np.sqrt(np.asarray(var, np.float64) + float(eps))
    offset = be - np.asarray(mean, np.float64) * scale
    s = b.const(f"{name}/scale", scale.astype(np.float32))
    o = b.const(f"{name}/offset", offset.astype(np.float32))
    out = b.activation(name, x.torch_shape)
    b.op("BATCH_NORM", [x.name, s, o], [out.name], {})
    return out


def activation(b: Builder, x: Value, kind: str, name: str) -> Value:
    """A RELU / RELU6 / RELU_N1_TO_1 pseudo-op (fused into its producer by the activation pass)."""
    out = b.activation(name, x.torch_shape)
    b.op(ACTIVATION_OPS[kind], [x.name], [out.name], {})
    return out


def pool2d(b: Builder, x: Value, kind: str, kernel: Sequence[int], stride: Sequence[int], pads: Pads,
           out_shape: Sequence[int], name: str) -> Value:
    """MAX_POOL_2D / AVERAGE_POOL_2D; torch's padding must match TFLite's VALID or SAME windows
    (max pooling only: TFLite's average excludes padded taps, torch's includes them)."""
    if len(x.torch_shape) != 4:
        raise UnsupportedError(f"{name}: 2-D pooling needs an NCHW input, got shape {list(x.torch_shape)}")
    padding, explicit = conv_padding(x.torch_shape[2:], kernel, stride, (1, 1), pads)
    if explicit is not None or (kind == "AVERAGE_POOL_2D" and padding == "SAME" and any(map(any, pads))):
        raise UnsupportedError(f"{name}: {kind.lower()} with padding {list(pads)} has no TFLite equivalent; "
                               "use padding 0 (VALID)" + (" or TFLite's SAME windows" if kind == "MAX_POOL_2D" else ""))
    out = b.activation(name, out_shape)
    b.op(kind, [x.name], [out.name],
         {"filter_height": int(kernel[0]), "filter_width": int(kernel[1]), "padding": padding,
          "stride_h": int(stride[0]), "stride_w": int(stride[1]), "fused_activation_function": "NONE"})
    return out
