"""The two keyword-spotting models: the zoo's DS-CNN (int8) and a binary DS-CNN.

Both take micro_speech features as the float values their int8 codes stand for,
\\( x = (q + 128) \\cdot 0.1017157 \\) (``FEATURE_SCALE``, ``FEATURE_ZERO_POINT``: the input
quantization of TFLM's ``micro_speech_quantized``), shaped [N, 49, 40]. The int8 model pins
its input quantizer to exactly that range, so the converted model's int8 input *is* the
frontend's output and the firmware needs no requantization between the two.

The binary DS-CNN keeps the zoo layout but makes every pointwise convolution binary
(``ste_sign`` inputs and kernels, as Larq Compute Engine runs them); the first 10x4
convolution, the depthwise convolutions and the classifier stay int8 (full precision during
float training). Channels are a multiple of 32 so that the bitpacked words are full.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from picoml.nn import Int8ActivationFakeQuant, QuantConv2d
from picoml.zoo import ds_cnn
from picoml.zoo._blocks import classifier, conv_bn, dw_bn, scaled

FEATURE_SCALE = float(np.float32(0.101715684))  # micro_speech_quantized's input scale
FEATURE_ZERO_POINT = -128
FRAMES, CHANNELS = 49, 40

__all__ = ["CHANNELS", "FEATURE_SCALE", "FEATURE_ZERO_POINT", "FRAMES", "binary_ds_cnn", "dequantize_features",
           "int8_ds_cnn", "pin_input_range"]


def dequantize_features(q: np.ndarray) -> torch.Tensor:
    """int8 micro_speech features [N, 49, 40] -> the float32 tensor the models train on."""
    return torch.from_numpy((np.asarray(q, np.float32) - FEATURE_ZERO_POINT) * np.float32(FEATURE_SCALE))


def pin_input_range(model: nn.Module) -> nn.Module:
    """Fix the first int8 activation quantizer to the features' own range [0, 255 * scale] and
    stop it observing: the converted graph's int8 input then has the frontend's scale and zero
    point (checked by :func:`picoml.kws.deploy.feature_input`). Returns ``model``."""
    first = next((m for m in model.modules() if isinstance(m, Int8ActivationFakeQuant)), None)
    if first is None:
        raise ValueError("pin_input_range: the model has no int8 activation quantizer (not a QAT model?)")
    with torch.no_grad():
        first.observer.min_val.fill_(0.0)
        first.observer.max_val.fill_(float(np.float64(FEATURE_SCALE) * 255.0))
        first.observer.initialized.fill_(True)
    first.observer.seen = True
    first.observe = False
    return model


def int8_ds_cnn(num_classes: int = 4, width: float = 0.25, blocks: int = 3, qat: bool = False) -> nn.Sequential:
    """The zoo's DS-CNN for [49, 40] micro_speech features (``width`` scales its 64 channels);
    ``qat`` adds int8 fake quantizers, with the input range pinned to the features'."""
    model = ds_cnn(num_classes, (FRAMES, CHANNELS), width=width, blocks=blocks, qat=qat)
    return pin_input_range(model) if qat else model


def _binary_pointwise(channels: int) -> QuantConv2d:
    """A binary 1x1 convolution (LCE's bconv: sign of the input and of the kernel)."""
    return QuantConv2d(channels, channels, 1, input_quantizer="ste_sign", kernel_quantizer="ste_sign",
                       kernel_constraint="weight_clip", bias=False)


def binary_ds_cnn(num_classes: int = 4, width: float = 0.5, blocks: int = 3, qat: bool = False) -> nn.Sequential:
    """DS-CNN with binary pointwise convolutions: int8 10x4/2 convolution + BN + ReLU, then per
    block an int8 3x3 depthwise convolution + BN (no ReLU: the sign that follows needs both
    signs) and a binary 1x1 convolution + BN; average pooling and an int8 classifier. Bop
    starts from kernels of exactly +-1."""
    c = scaled(64, width, divisor=32)
    layers: list[nn.Module] = [nn.Unflatten(1, (1, FRAMES))]
    layers += conv_bn(1, c, (10, 4), stride=2, qat=qat)
    for _ in range(blocks):
        layers += dw_bn(c, qat=qat, act=None)
        # the binarized activation is the int8 value the device binarizes (Identity keeps the
        # float and QAT models' state_dict keys aligned)
        layers.append(Int8ActivationFakeQuant() if qat else nn.Identity())
        layers += [_binary_pointwise(c), nn.BatchNorm2d(c)]
    model = nn.Sequential(*layers, *classifier(c, num_classes, qat=qat))
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, QuantConv2d) and m.input_bits == 1:
                m.weight.copy_(torch.where(m.weight >= 0, 1.0, -1.0))
    return pin_input_range(model) if qat else model
