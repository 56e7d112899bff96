"""Model architectures for microcontrollers, as plain ``nn.Module``s built from standard torch
layers and :mod:`picoml.nn` layers (so the PyTorch frontend can convert them).

* :func:`int8_cnn` -- a small int8 CNN;
* :func:`ds_cnn` -- DS-CNN for keyword spotting ((1, 49, 10) MFCC or (49, 40) micro_speech features);
* :func:`mobilenet_v1` -- MobileNetV1 with a width multiplier (96x96 visual wake words);
* :func:`quicknet` -- a QuickNet-style binary network for 96x96 inputs.

Every constructor takes ``num_classes`` and ``width``; :func:`get_model` builds one by name.
"""
from __future__ import annotations

from typing import Any, Callable

from torch import nn

from picoml.zoo.ds_cnn import ds_cnn
from picoml.zoo.int8_cnn import int8_cnn
from picoml.zoo.mobilenet_v1 import mobilenet_v1
from picoml.zoo.quicknet import BinaryResidualBlock, quicknet

MODELS: dict[str, Callable[..., nn.Module]] = {
    "int8_cnn": int8_cnn, "ds_cnn": ds_cnn, "mobilenet_v1": mobilenet_v1, "quicknet": quicknet,
}

__all__ = ["MODELS", "BinaryResidualBlock", "ds_cnn", "get_model", "int8_cnn", "mobilenet_v1", "quicknet"]


def get_model(name: str, **kwargs: Any) -> nn.Module:
    """Build the zoo model ``name`` (one of :data:`MODELS`) with constructor ``kwargs``."""
    if name not in MODELS:
        raise ValueError(f"unknown zoo model '{name}'; available: {', '.join(sorted(MODELS))}")
    return MODELS[name](**kwargs)
