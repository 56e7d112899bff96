"""DS-CNN for keyword spotting (the MLPerf Tiny KWS reference architecture).

A 10x4 stride-2 convolution, then ``blocks`` depthwise-separable blocks (3x3 depthwise + 1x1
pointwise, each followed by BN and ReLU), global average pooling and a classifier. Inputs are
spectrogram-like: ``(1, 49, 10)`` MFCC (channels, frames, coefficients, as the MLPerf model), or
``(49, 40)`` micro_speech features, which get a channel axis added by an ``nn.Unflatten``.
"""
from __future__ import annotations

from typing import Sequence

from torch import nn

from picoml.zoo._blocks import classifier, conv_bn, dw_bn, scaled


def ds_cnn(num_classes: int = 12, input_shape: Sequence[int] = (1, 49, 10), width: float = 1.0,
           blocks: int = 4, qat: bool = False) -> nn.Sequential:
    """The MLPerf DS-CNN (64 channels at ``width=1``); ``qat`` as in :func:`picoml.zoo.int8_cnn`."""
    shape = tuple(int(d) for d in input_shape)
    if len(shape) not in (2, 3) or (len(shape) == 3 and shape[0] != 1):
        raise ValueError(f"ds_cnn: input_shape must be (frames, features) or (1, frames, features), got {shape}")
    c = scaled(64, width)
    layers: list[nn.Module] = [nn.Unflatten(1, (1, shape[0]))] if len(shape) == 2 else []
    layers += conv_bn(1, c, (10, 4), stride=2, qat=qat)
    for _ in range(blocks):
        layers += dw_bn(c, qat=qat) + conv_bn(c, c, 1, qat=qat)
    return nn.Sequential(*layers, *classifier(c, num_classes, qat=qat))
