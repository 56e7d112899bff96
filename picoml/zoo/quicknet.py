"""A QuickNet-style binary network for 96x96 inputs (after Larq Zoo's QuickNet, Bannink et al. 2021).

* stem (full precision): 3x3 stride-2 conv + BN + ReLU, 3x3 stride-2 depthwise conv + BN,
  1x1 conv + BN;
* sections of binary residual blocks: ``x + BN(ReLU(bconv(x)))`` where ``bconv`` is a 3x3 SAME
  convolution with ``ste_sign`` input and kernel quantizers, a weight-clip constraint and
  one-padding (``pad_value=1.0``, what binary kernels do natively);
* full-precision transitions between sections: ReLU, 3x3 stride-2 depthwise conv + BN, 1x1 conv + BN;
* head (full precision): ReLU, global average pooling, fully connected classifier.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from picoml.nn.layers import QuantConv2d, QuantDepthwiseConv2d, QuantLinear
from picoml.zoo._blocks import scaled


class BinaryResidualBlock(nn.Module):
    """``x + bn(relu(bconv(x)))`` with a binary 3x3 one-padded convolution (channels unchanged)."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv = QuantConv2d(channels, channels, 3, padding="same", input_quantizer="ste_sign",
                                kernel_quantizer="ste_sign", kernel_constraint="weight_clip",
                                pad_value=1.0, bias=False)
        self.relu = nn.ReLU()
        self.bn = nn.BatchNorm2d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.bn(self.relu(self.conv(x)))


def _downsample(cin: int, cout: int, stride: int) -> list[nn.Module]:
    """Full-precision depthwise (stride) + pointwise convolution, each with BN."""
    return [QuantDepthwiseConv2d(cin, cin, 3, stride=stride, padding="same", bias=False), nn.BatchNorm2d(cin),
            QuantConv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout)]


def quicknet(num_classes: int = 2, in_channels: int = 3, width: float = 1.0,
             section_filters: Sequence[int] = (32, 64, 128, 256),
             section_blocks: Sequence[int] = (2, 2, 2, 2)) -> nn.Sequential:
    """QuickNet-style BNN; channels are ``section_filters`` times ``width`` (rounded down to a
    multiple of 8)."""
    if len(section_filters) != len(section_blocks) or not section_filters:
        raise ValueError("quicknet: section_filters and section_blocks need the same, non-zero length")
    filters = [scaled(f, width, 8) for f in section_filters]
    stem = max(8, filters[0] // 4)
    layers: list[nn.Module] = [QuantConv2d(in_channels, stem, 3, stride=2, padding="same", bias=False),
                               nn.BatchNorm2d(stem), nn.ReLU(), *_downsample(stem, filters[0], 2)]
    for i, (f, n) in enumerate(zip(filters, section_blocks)):
        if i > 0:
            layers += [nn.ReLU(), *_downsample(filters[i - 1], f, 2)]
        layers += [BinaryResidualBlock(f) for _ in range(n)]
    layers += [nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), QuantLinear(filters[-1], num_classes)]
    return nn.Sequential(*layers)
