"""MobileNetV1 (Howard et al., 2017) for small images, e.g. 96x96 visual wake words.

A 3x3 stride-2 convolution and 13 depthwise-separable blocks (ReLU6 activations, BN after every
convolution), global average pooling and a classifier. ``width`` is the paper's width multiplier
alpha: every layer has ``int(channels * alpha)`` channels (MLPerf Tiny VWW uses 0.25 at 96x96).
"""
from __future__ import annotations

from torch import nn

from picoml.zoo._blocks import classifier, conv_bn, dw_bn, scaled

# (pointwise output channels, depthwise stride) of the 13 separable blocks
BLOCKS = ((64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2),
          (512, 1), (512, 1), (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1))


def mobilenet_v1(num_classes: int = 2, in_channels: int = 3, width: float = 0.25, qat: bool = False) -> nn.Sequential:
    """MobileNetV1 with width multiplier ``width``; any input size (96x96 gives a 3x3 last map)."""
    c = scaled(32, width)
    layers = conv_bn(in_channels, c, 3, stride=2, qat=qat, act=nn.ReLU6)
    for cout, stride in BLOCKS:
        cout = scaled(cout, width)
        layers += dw_bn(c, stride=stride, qat=qat, act=nn.ReLU6) + conv_bn(c, cout, 1, qat=qat, act=nn.ReLU6)
        c = cout
    return nn.Sequential(*layers, *classifier(c, num_classes, qat=qat))
