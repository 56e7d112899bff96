r"""int8 fake quantization for quantization-aware training, with TFLite's arithmetic.

The forward pass computes exactly the float values a TFLite int8 model holds:

* activations are asymmetric int8: \( q = \operatorname{clamp}(\operatorname{round}(x / s) + z, -128, 127) \),
  \( \hat x = (q - z)\,s \), with ``round`` ties away from zero (TFLM's ``QUANTIZE`` uses
  ``std::round`` on the float32 quotient ``x / s``). The range comes from an observer (running
  min/max, or a moving average of per-batch min/max) and is widened to include 0 so that zero
  (padding, ReLU) is exact; \( s = (\max - \min)/255 \) stored as float32 and
  \( z = \operatorname{clamp}(\operatorname{round}(-128 - \min / s), -128, 127) \), the rule
  ``picoml.quantize.ptq`` uses for calibration;
* weights are symmetric int8 in [-127, 127], per output channel (or per tensor with ``axis=None``):
  \( s_c = \max|W_c| / 127 \) (1.0 for an all-zero channel), zero point 0.

The gradient is the straight-through estimator inside the representable range
\( [(-128 - z)s, (127 - z)s] \) and zero outside (TensorFlow's ``FakeQuantWithMinMaxVars``
gradient). :meth:`Int8ActivationFakeQuant.qparams` and :func:`weight_qparams` give the scale and
zero point a converter must write into the .tflite / IR so that deployment reproduces training.
"""
from __future__ import annotations

from typing import Any, Optional

import numpy as np
import torch
from torch import nn

from picoml.nn.quantizers import Quantizer, register, round_half_away

__all__ = ["Int8ActivationFakeQuant", "Int8WeightFakeQuant", "MinMaxObserver", "MovingAverageObserver",
           "activation_qparams", "fake_quantize", "quantize", "set_observing", "weight_qparams"]

QMIN, QMAX = -128, 127
WEIGHT_QMAX = 127  # the TFLite spec keeps -128 out of symmetric weights


class _FakeQuant(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, scale, zero_point, qmin: int, qmax: int):
        q = torch.clamp(round_half_away(x / scale) + zero_point, qmin, qmax)
        lo, hi = (qmin - zero_point) * scale, (qmax - zero_point) * scale
        ctx.save_for_backward((x >= lo) & (x <= hi))
        return (q - zero_point) * scale

    @staticmethod
    def backward(ctx, grad):
        (inside,) = ctx.saved_tensors
        return torch.where(inside, grad, torch.zeros_like(grad)), None, None, None, None


def fake_quantize(x: torch.Tensor, scale: torch.Tensor, zero_point: torch.Tensor,
                  qmin: int = QMIN, qmax: int = QMAX) -> torch.Tensor:
    """Quantize then dequantize (float32 arithmetic, ties away from zero), with an STE gradient."""
    return _FakeQuant.apply(x, scale.to(x.dtype), zero_point.to(x.dtype), qmin, qmax)


def quantize(x: torch.Tensor, scale: torch.Tensor, zero_point: torch.Tensor,
             qmin: int = QMIN, qmax: int = QMAX) -> torch.Tensor:
    """The int8 values themselves (what a converter stores), same rounding as :func:`fake_quantize`."""
    with torch.no_grad():
        q = torch.clamp(round_half_away(x / scale.to(x.dtype)) + zero_point.to(x.dtype), qmin, qmax)
    return q.to(torch.int8)


def activation_qparams(lo: torch.Tensor, hi: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Asymmetric int8 (scale float32, zero point int64) for the range [lo, hi] widened to hold 0.

    Plain tensor arithmetic (no ``.item()``), so a traced or exported model keeps it symbolic."""
    lo = torch.clamp(lo.double(), max=0.0)
    hi = torch.clamp(hi.double(), min=0.0)
    scale64 = torch.where(hi > lo, (hi - lo) / (QMAX - QMIN), torch.ones_like(hi))
    zp = torch.clamp(round_half_away(QMIN - lo / scale64), QMIN, QMAX)
    return scale64.float(), zp.long()


def weight_qparams(w: torch.Tensor, axis: Optional[int] = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Symmetric int8 scales (float32, shaped to broadcast against ``w``) and zero points (0)."""
    a = w.detach().abs()
    if axis is None:
        amax = a.max()
    else:
        axis = axis % w.dim()
        dims = [d for d in range(w.dim()) if d != axis]
        amax = a.amax(dim=dims, keepdim=True) if dims else a
    scale = torch.where(amax > 0, amax / WEIGHT_QMAX, torch.ones_like(amax)).float()
    return scale, torch.zeros_like(scale, dtype=torch.int64)


class MinMaxObserver(nn.Module):
    """Running minimum and maximum over every batch observed (the calibration-style range)."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("min_val", torch.tensor(0.0))
        self.register_buffer("max_val", torch.tensor(0.0))
        self.register_buffer("initialized", torch.tensor(False))
        self.seen = False  # mirror of `initialized` that forward() can branch on without a sync

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        lo, hi = x.detach().min().float(), x.detach().max().float()
        if not self.seen:
            self.min_val.copy_(lo)
            self.max_val.copy_(hi)
        else:
            self._combine(lo, hi)
        self.initialized.fill_(True)
        self.seen = True
        return x

    def _combine(self, lo: torch.Tensor, hi: torch.Tensor) -> None:
        torch.minimum(self.min_val, lo, out=self.min_val)
        torch.maximum(self.max_val, hi, out=self.max_val)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
        self.seen = bool(self.initialized)


class MovingAverageObserver(MinMaxObserver):
    r"""Exponential moving average of per-batch min and max: \( m \leftarrow m + c\,(b - m) \)."""

    def __init__(self, momentum: float = 0.01) -> None:
        super().__init__()
        if not 0.0 < momentum <= 1.0:
            raise ValueError(f"observer momentum must be in (0, 1], got {momentum}")
        self.momentum = float(momentum)

    def _combine(self, lo: torch.Tensor, hi: torch.Tensor) -> None:
        self.min_val.add_(self.momentum * (lo - self.min_val))
        self.max_val.add_(self.momentum * (hi - self.max_val))


_OBSERVERS = {"minmax": MinMaxObserver, "moving_average": MovingAverageObserver}


@register("int8_activation")
class Int8ActivationFakeQuant(Quantizer):
    r"""Asymmetric int8 fake quantization of activations (TFLite int8 scheme).

    \[ q(x) = s\,\big(\operatorname{clamp}(\operatorname{round}(x/s) + z, -128, 127) - z\big), \qquad
       \frac{\partial q}{\partial x} = \begin{cases} 1 & (-128 - z)s \leq x \leq (127 - z)s \\
       0 & \text{else} \end{cases} \]

    In training mode the observer updates the range from each batch (unless ``observe`` is False);
    in eval mode the stored range is used. Before any batch has been observed the module is the
    identity.

    Arguments:
        observer: ``"moving_average"`` (default) or ``"minmax"``.
        momentum: averaging constant of the moving-average observer.

    References:
        Jacob et al., *Quantization and Training of Neural Networks for Efficient
        Integer-Arithmetic-Only Inference*, 2018. https://arxiv.org/abs/1712.05877
    """

    bits = 8

    def __init__(self, observer: str = "moving_average", momentum: float = 0.01):
        super().__init__()
        if observer not in _OBSERVERS:
            raise ValueError(f"unknown observer {observer!r}; use one of {', '.join(_OBSERVERS)}")
        self.observer_name = observer
        self.momentum = float(momentum)
        self.observer = MovingAverageObserver(momentum) if observer == "moving_average" else MinMaxObserver()
        self.observe = True

    def quant_params(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(scale float32, zero point int64) as 0-d tensors, from the observed range."""
        return activation_qparams(self.observer.min_val, self.observer.max_val)

    def qparams(self) -> tuple[float, int]:
        """The scale and zero point as Python numbers, for a converter."""
        scale, zp = self.quant_params()
        return float(np.float32(scale.item())), int(zp.item())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training and self.observe:
            self.observer(x)
        if not self.observer.seen:
            return x
        scale, zp = self.quant_params()
        return fake_quantize(x, scale, zp)

    def get_config(self) -> dict[str, Any]:
        return {"observer": self.observer_name, "momentum": self.momentum}


@register("int8_weight")
class Int8WeightFakeQuant(Quantizer):
    r"""Symmetric int8 fake quantization of weights, per output channel (TFLite int8 scheme).

    \[ q(W)_c = s_c \operatorname{clamp}(\operatorname{round}(W_c / s_c), -127, 127), \quad
       s_c = \frac{\max |W_c|}{127}, \qquad \frac{\partial q}{\partial W} = 1 \]

    (every weight lies inside the representable range, so the straight-through gradient is the
    identity).

    Arguments:
        axis: the channel axis with its own scale (0 = output channel of PyTorch conv, depthwise
            and linear kernels); ``None`` for one scale per tensor.
    """

    bits = 8

    def __init__(self, axis: Optional[int] = 0):
        super().__init__()
        self.axis = None if axis is None else int(axis)

    def quant_params(self, w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(scales, zero points) for ``w``, shaped to broadcast against it."""
        return weight_qparams(w, self.axis)

    def quantize(self, w: torch.Tensor) -> torch.Tensor:
        """The int8 weights a converter stores."""
        scale, zp = self.quant_params(w)
        return quantize(w, scale, zp, -WEIGHT_QMAX, WEIGHT_QMAX)

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        scale, zp = self.quant_params(w)
        return fake_quantize(w, scale, zp, -WEIGHT_QMAX, WEIGHT_QMAX)

    def get_config(self) -> dict[str, Any]:
        return {"axis": self.axis}


def set_observing(model: nn.Module, observe: bool) -> None:
    """Freeze (False) or resume (True) the range observers of every activation fake-quantizer."""
    for m in model.modules():
        if isinstance(m, Int8ActivationFakeQuant):
            m.observe = bool(observe)
