"""Weight constraints, applied in place after each optimizer step (Larq's ``kernel_constraint``).

A binary kernel's latent weights must stay near the sign's clip range, otherwise they grow until
the straight-through gradient is always zero ("starved weights"). Layers take a
``kernel_constraint``; :func:`apply_constraints` enforces every layer's constraint, and
:func:`constrain_after_step` hooks that onto any ``torch.optim.Optimizer`` (the optimizers built by
:mod:`picoml.nn.optim` do it themselves when given the model).
"""
from __future__ import annotations

from typing import Any, Callable, Optional, Union

import torch
from torch import nn

__all__ = ["Constraint", "WeightClip", "apply_constraints", "constrain_after_step", "get", "serialize"]

_REGISTRY: dict[str, type["Constraint"]] = {}


class Constraint:
    """Base class: maps a weight tensor to its constrained value."""

    alias: str = ""

    def __call__(self, w: torch.Tensor) -> torch.Tensor:
        return w

    def get_config(self) -> dict[str, Any]:
        """The constructor arguments as plain Python values."""
        return {}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


def _register(alias: str):
    def deco(cls):
        _REGISTRY[alias] = cls
        cls.alias = alias
        return cls

    return deco


@_register("weight_clip")
class WeightClip(Constraint):
    """Clip every weight to [-clip_value, clip_value].

    Arguments:
        clip_value: the bound; 1.0 matches the default gradient clip of ``SteSign``.
    """

    def __init__(self, clip_value: float = 1.0):
        if not clip_value > 0:
            raise ValueError(f"WeightClip needs clip_value > 0, got {clip_value}")
        self.clip_value = float(clip_value)

    def __call__(self, w: torch.Tensor) -> torch.Tensor:
        return torch.clamp(w, -self.clip_value, self.clip_value)

    def get_config(self) -> dict[str, Any]:
        return {"clip_value": self.clip_value}


ConstraintLike = Union[None, str, dict, Constraint, Callable[[torch.Tensor], torch.Tensor]]


def get(identifier: ConstraintLike) -> Optional[Callable[[torch.Tensor], torch.Tensor]]:
    """Resolve an alias (``"weight_clip"``), a serialized config, an object or a callable."""
    if identifier is None:
        return None
    if isinstance(identifier, str):
        identifier = {"class_name": identifier, "config": {}}
    if isinstance(identifier, dict):
        name = identifier.get("class_name")
        if name not in _REGISTRY:
            raise ValueError(f"unknown constraint '{name}'; known: {', '.join(sorted(_REGISTRY))}")
        return _REGISTRY[name](**dict(identifier.get("config") or {}))
    if callable(identifier):
        return identifier
    raise ValueError(f"cannot interpret {identifier!r} as a constraint")


def serialize(constraint: Optional[Constraint]) -> Optional[dict[str, Any]]:
    """``{"class_name": alias, "config": {...}}``, or None."""
    if constraint is None:
        return None
    if not isinstance(constraint, Constraint) or not constraint.alias:
        raise ValueError(f"cannot serialize constraint {constraint!r}: it is not a registered Constraint")
    return {"class_name": constraint.alias, "config": constraint.get_config()}


@torch.no_grad()
def apply_constraints(model: nn.Module) -> None:
    """Enforce ``kernel_constraint`` (and ``bias_constraint``) of every layer of ``model``, in place."""
    for m in model.modules():
        for attr, pname in (("kernel_constraint", "weight"), ("bias_constraint", "bias")):
            c = getattr(m, attr, None)
            p = getattr(m, pname, None)
            if c is not None and isinstance(p, torch.Tensor):
                p.copy_(c(p))


def constrain_after_step(optimizer: torch.optim.Optimizer, model: nn.Module):
    """Run :func:`apply_constraints` after every ``optimizer.step()``; returns the hook handle."""
    return optimizer.register_step_post_hook(lambda *_: apply_constraints(model))
