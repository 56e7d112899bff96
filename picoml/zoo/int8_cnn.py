"""A small int8 CNN: three SAME 3x3 conv + BN + ReLU stages, two max pools, global average
pooling and a fully connected classifier. Sized for MNIST-like or keyword-spotting inputs."""
from __future__ import annotations

from torch import nn

from picoml.zoo._blocks import classifier, conv_bn, scaled


def int8_cnn(num_classes: int = 10, in_channels: int = 1, width: float = 1.0, qat: bool = False) -> nn.Sequential:
    """Channels 8, 16, 32 times ``width``; any input size of at least 4x4.

    ``qat=True`` fake-quantizes every conv and the classifier to int8 (per-channel conv weights,
    per-tensor classifier weights); otherwise the model is float, for post-training quantization."""
    c1, c2, c3 = scaled(8, width), scaled(16, width), scaled(32, width)
    return nn.Sequential(
        *conv_bn(in_channels, c1, 3, qat=qat), nn.MaxPool2d(2),
        *conv_bn(c1, c2, 3, qat=qat), nn.MaxPool2d(2),
        *conv_bn(c2, c3, 3, qat=qat),
        *classifier(c3, num_classes, qat=qat),
    )
