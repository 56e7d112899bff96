"""Training of binarized and int8 networks in PyTorch: quantizers, quantized layers, Bop,
constraints, the flip-ratio metric and int8 fake quantization.

Names are imported on first use (PEP 562), so ``import picoml.nn`` does not load torch until a
layer or quantizer is actually touched::

    from picoml.nn import QuantConv2d, bop_and_adam
    conv = QuantConv2d(32, 32, 3, padding="same", input_quantizer="ste_sign",
                       kernel_quantizer="ste_sign", kernel_constraint="weight_clip", pad_value=1.0)
"""
from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "QuantConv1d": "layers", "QuantConv2d": "layers", "QuantDepthwiseConv2d": "layers",
    "QuantLayer": "layers", "QuantLinear": "layers", "StarvedWeightsWarning": "layers",
    "ApproxSign": "quantizers", "DoReFa": "quantizers", "MagnitudeAwareSign": "quantizers",
    "NoOp": "quantizers", "Quantizer": "quantizers", "SteHeaviside": "quantizers",
    "SteSign": "quantizers", "SteTern": "quantizers", "SwishSign": "quantizers",
    "Int8ActivationFakeQuant": "fake_quant", "Int8WeightFakeQuant": "fake_quant",
    "Bop": "optim", "CaseOptimizer": "optim", "binary_parameters": "optim", "bop_and_adam": "optim",
    "WeightClip": "constraints", "apply_constraints": "constraints", "constrain_after_step": "constraints",
    "FlipRatio": "metrics", "flip_ratio": "metrics",
}
_SUBMODULES = ("constraints", "fake_quant", "layers", "metrics", "optim", "quantizers", "summary")

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    """Import the submodule that defines ``name`` on first access."""
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS) | set(_SUBMODULES))
