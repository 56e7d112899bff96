"""Small building blocks shared by the zoo architectures (conv + batch norm + activation)."""
from __future__ import annotations

from typing import Any, Optional

from torch import nn

from picoml.nn.fake_quant import Int8ActivationFakeQuant, Int8WeightFakeQuant
from picoml.nn.layers import QuantConv2d, QuantDepthwiseConv2d, QuantLinear


def int8_args(qat: bool, per_channel: bool = True) -> dict[str, Any]:
    """Quantizer arguments of an int8 layer: fake-quantized input and kernel when ``qat``, else none
    (a float layer, to be quantized after training)."""
    if not qat:
        return {}
    return {"input_quantizer": Int8ActivationFakeQuant(),
            "kernel_quantizer": Int8WeightFakeQuant(axis=0 if per_channel else None)}


def scaled(channels: int, width: float, divisor: int = 1) -> int:
    """``channels * width`` rounded down to a multiple of ``divisor`` (at least ``divisor``)."""
    return max(divisor, int(channels * width) // divisor * divisor)


def conv_bn(cin: int, cout: int, kernel, stride=1, qat: bool = False,
            act: Optional[type[nn.Module]] = nn.ReLU) -> list[nn.Module]:
    """A SAME-padded convolution without bias, batch norm and (optionally) an activation."""
    layers: list[nn.Module] = [QuantConv2d(cin, cout, kernel, stride=stride, padding="same", bias=False,
                                           **int8_args(qat)), nn.BatchNorm2d(cout)]
    return layers + ([act()] if act else [])


def dw_bn(channels: int, stride=1, qat: bool = False,
          act: Optional[type[nn.Module]] = nn.ReLU) -> list[nn.Module]:
    """A SAME-padded 3x3 depthwise convolution without bias, batch norm and an activation."""
    layers: list[nn.Module] = [QuantDepthwiseConv2d(channels, channels, 3, stride=stride, padding="same",
                                                    bias=False, **int8_args(qat)), nn.BatchNorm2d(channels)]
    return layers + ([act()] if act else [])


def classifier(cin: int, num_classes: int, qat: bool = False) -> list[nn.Module]:
    """Global average pooling, flatten and a fully connected layer (per-tensor int8 weights).

    With ``qat`` the feature map before the pooling and the logits are fake-quantized too: the
    deployed int8 graph holds both as int8, so the QAT forward must see their rounding and
    clipping to predict what the device predicts (int8 logits tie where float ones do not).
    The float model has an ``nn.Identity`` in the first place so both share state_dict keys."""
    head: list[nn.Module] = [Int8ActivationFakeQuant() if qat else nn.Identity(), nn.AdaptiveAvgPool2d(1),
                             nn.Flatten(), QuantLinear(cin, num_classes, **int8_args(qat, per_channel=False))]
    return head + ([Int8ActivationFakeQuant()] if qat else [])
