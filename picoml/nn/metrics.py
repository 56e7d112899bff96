"""Training metrics specific to binarized networks.

The flip ratio is the fraction of binary weights whose sign changed between two observations
(Larq's ``FlipRatio``). It shows whether a BNN is still learning (a healthy run flips a small,
decreasing fraction) or is frozen (starved latent weights, a Bop threshold set too high).
"""
from __future__ import annotations

from typing import Iterable, Optional, Union

import torch
from torch import nn

__all__ = ["FlipRatio", "binary_kernel_signs", "flip_ratio"]

Source = Union[nn.Module, torch.Tensor, Iterable[torch.Tensor]]


def _signs(values: Source) -> torch.Tensor:
    """One flat boolean vector: True where a value is negative (sign(0) = +1)."""
    if isinstance(values, nn.Module):
        return binary_kernel_signs(values)
    if isinstance(values, torch.Tensor):
        return (values.detach() < 0).flatten()
    parts = [(v.detach() < 0).flatten() for v in values]
    return torch.cat(parts) if parts else torch.zeros(0, dtype=torch.bool)


def binary_kernel_signs(model: nn.Module) -> torch.Tensor:
    """Signs (True = -1) of every binary kernel of ``model``, as the forward pass uses them."""
    from picoml.nn.layers import QuantLayer
    from picoml.nn.quantizers import bits_of

    parts = [(m.quantized_weight() < 0).flatten() for m in model.modules()
             if isinstance(m, QuantLayer) and bits_of(m.kernel_quantizer) == 1]
    return torch.cat(parts) if parts else torch.zeros(0, dtype=torch.bool)


def flip_ratio(before: Source, after: Source) -> float:
    """Fraction of values whose sign differs between two snapshots (0 for empty input)."""
    return _changed(_signs(before), _signs(after))


def _changed(a: torch.Tensor, b: torch.Tensor) -> float:
    if a.shape != b.shape:
        raise ValueError(f"flip_ratio: snapshots differ in size ({a.numel()} vs {b.numel()})")
    return float((a != b).float().mean()) if a.numel() else 0.0


class FlipRatio:
    """Mean flip ratio over successive observations (per step, or per epoch if observed per epoch).

    ``update()`` compares the current signs with those of the previous call and returns that
    ratio (None on the first call, which only records the baseline); ``result()`` is the mean over
    the comparisons since the last ``reset()``.

    Arguments:
        source: a model (its binary kernels are tracked), a tensor or a list of tensors; or None
            and pass the values to each ``update(values)``.
    """

    def __init__(self, source: Optional[Source] = None):
        self.source = source
        self._previous: Optional[torch.Tensor] = None
        self.total = 0.0
        self.count = 0

    def update(self, values: Optional[Source] = None) -> Optional[float]:
        """Record the current signs; return the fraction flipped since the previous update."""
        src = self.source if values is None else values
        if src is None:
            raise ValueError("FlipRatio.update needs values when no source was given")
        current = _signs(src).clone()
        ratio = None
        if self._previous is not None:
            ratio = _changed(self._previous, current)
            self.total += ratio
            self.count += 1
        self._previous = current
        return ratio

    def result(self) -> float:
        """Mean of the ratios recorded since the last reset (0 before any comparison)."""
        return self.total / self.count if self.count else 0.0

    def reset(self) -> None:
        """Forget the accumulated ratios; the last snapshot stays the baseline."""
        self.total = 0.0
        self.count = 0
