r"""Optimizers for binarized networks: Bop, and one ``step()`` for Bop plus Adam.

A BNN has binary kernels (trained best by flipping signs) and float parameters (first and last
layers, batch norm, biases: trained by Adam). :class:`CaseOptimizer` steps several ordinary
``torch.optim`` optimizers that own disjoint parameter sets, then enforces the layers' weight
constraints; :func:`bop_and_adam` builds the usual combination from a model by selecting the
binary kernels through their layer's kernel quantizer (Larq: ``CaseOptimizer`` with
``Bop.is_binary_variable``).

Nothing here is process-local: wrapped in ``DistributedDataParallel`` every replica receives the
same averaged gradients, so Bop's moving averages and flips stay identical across replicas.
"""
from __future__ import annotations

from typing import Any, Callable, Iterable, Optional

import torch
from torch import nn

from picoml.nn import quantizers
from picoml.nn.constraints import apply_constraints

__all__ = ["Bop", "CaseOptimizer", "binary_parameters", "bop_and_adam"]


class Bop(torch.optim.Optimizer):
    r"""Binary optimizer (Bop): latent-free training of binary weights by sign flips.

    For every weight \(w \in \{-1, +1\}\) with gradient \(g_t\), Bop keeps an exponential moving
    average of the gradient and flips the weight when that average is strong enough and points
    the same way as the weight (a gradient step would push it through zero):

    \[ m_t = m_{t-1} + \gamma\,(g_t - m_{t-1}), \qquad
       w_t = \begin{cases} -w_{t-1} & w_{t-1} m_t > \tau \\ w_{t-1} & \text{else} \end{cases} \]

    i.e. flip exactly when \(|m_t| > \tau\) and \(\operatorname{sign}(m_t) = \operatorname{sign}(w_{t-1})\)
    (for \(\tau \ge 0\)). Weights that are not exactly +-1 are first replaced by their sign
    (sign(0) = +1), as Larq's update does. Larq maps the measure-zero tie \(w m_t = \tau\) to +1;
    here a tie never flips, as in the paper.

    Arguments:
        params: the binary weights (e.g. :func:`binary_parameters`).
        threshold: \(\tau\), the average gradient magnitude needed to flip.
        gamma: \(\gamma\), the adaptivity rate of the moving average.

    After each ``step()``, ``last_flips`` and ``last_flip_ratio`` hold the number and the fraction
    of weights that flipped.

    References:
        Helwegen et al., *Latent Weights Do Not Exist: Rethinking Binarized Neural Network
        Optimization*, NeurIPS 2019. https://arxiv.org/abs/1906.02107
    """

    def __init__(self, params: Iterable, threshold: float = 1e-8, gamma: float = 1e-4):
        if threshold < 0:
            raise ValueError(f"Bop threshold must be >= 0, got {threshold}")
        if not 0.0 < gamma <= 1.0:
            raise ValueError(f"Bop gamma must be in (0, 1], got {gamma}")
        super().__init__(params, {"threshold": float(threshold), "gamma": float(gamma)})
        self.last_flips = 0
        self.last_flip_ratio = 0.0

    @torch.no_grad()
    def step(self, closure: Optional[Callable[[], Any]] = None):
        """Update the moving averages and flip the weights that cross the threshold."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        flips, total = 0, 0
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if "m" not in state:
                    state["m"] = torch.zeros_like(p)
                m = state["m"]
                m.add_(group["gamma"] * (p.grad - m))
                w = quantizers.sign_pm1(p)
                flip = w * m > group["threshold"]
                p.copy_(torch.where(flip, -w, w))
                flips += int(flip.sum())
                total += p.numel()
        self.last_flips = flips
        self.last_flip_ratio = flips / total if total else 0.0
        return loss


def binary_parameters(model: nn.Module) -> list[nn.Parameter]:
    """The kernels of ``model`` whose layer quantizes them to 1 bit (including ``NoOp(bits=1)``)."""
    found: dict[int, nn.Parameter] = {}
    for m in model.modules():
        w = getattr(m, "weight", None)
        if isinstance(w, nn.Parameter) and quantizers.bits_of(getattr(m, "kernel_quantizer", None)) == 1:
            found.setdefault(id(w), w)
    return list(found.values())


class CaseOptimizer:
    """Several optimizers over disjoint parameter sets, stepped together.

    ``step()`` steps each optimizer in order, then (if ``model`` is given) applies every layer's
    ``kernel_constraint``. ``zero_grad()``, ``state_dict()`` and ``load_state_dict()`` cover all of
    them; attach learning-rate schedulers to the entries of ``optimizers``.

    Arguments:
        *optimizers: ``torch.optim.Optimizer`` instances; a parameter may belong to only one.
        model: the model whose constraints to enforce after each step (optional).
    """

    def __init__(self, *optimizers: torch.optim.Optimizer, model: Optional[nn.Module] = None):
        if not optimizers:
            raise ValueError("CaseOptimizer needs at least one optimizer")
        seen: set[int] = set()
        for opt in optimizers:
            if not isinstance(opt, torch.optim.Optimizer):
                raise TypeError(f"CaseOptimizer expects torch.optim.Optimizer instances, got {type(opt).__name__}")
            for group in opt.param_groups:
                for p in group["params"]:
                    if id(p) in seen:
                        raise ValueError(f"a parameter of shape {tuple(p.shape)} is claimed by more than one optimizer")
                    seen.add(id(p))
        self.optimizers = list(optimizers)
        self.model = model

    @property
    def param_groups(self) -> list[dict[str, Any]]:
        """All parameter groups of all optimizers (read-only view)."""
        return [g for opt in self.optimizers for g in opt.param_groups]

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clear the gradients of every parameter."""
        for opt in self.optimizers:
            opt.zero_grad(set_to_none=set_to_none)

    def step(self, closure: Optional[Callable[[], Any]] = None):
        """One step of every optimizer (the closure, if any, is evaluated once), then constraints."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for opt in self.optimizers:
            opt.step()
        if self.model is not None:
            apply_constraints(self.model)
        return loss

    def state_dict(self) -> dict[str, Any]:
        """The state of every optimizer, in order."""
        return {"optimizers": [opt.state_dict() for opt in self.optimizers]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""
        states = state["optimizers"]
        if len(states) != len(self.optimizers):
            raise ValueError(f"state has {len(states)} optimizers, this CaseOptimizer has {len(self.optimizers)}")
        for opt, s in zip(self.optimizers, states):
            opt.load_state_dict(s)

    def __repr__(self) -> str:
        return "CaseOptimizer(" + ", ".join(type(o).__name__ for o in self.optimizers) + ")"


def bop_and_adam(model: nn.Module, threshold: float = 1e-8, gamma: float = 1e-4, lr: float = 1e-3,
                 **adam_kwargs: Any) -> CaseOptimizer:
    """Bop for the binary kernels of ``model``, Adam(lr, **adam_kwargs) for everything else.

    Pass the DDP-wrapped model or the plain one: the same parameters are found either way."""
    binary = binary_parameters(model)
    if not binary:
        raise ValueError("bop_and_adam: the model has no binary kernels (no layer with a 1-bit kernel_quantizer)")
    ids = {id(p) for p in binary}
    rest = [p for p in model.parameters() if p.requires_grad and id(p) not in ids]
    opts: list[torch.optim.Optimizer] = [Bop(binary, threshold=threshold, gamma=gamma)]
    if rest:
        opts.append(torch.optim.Adam(rest, lr=lr, **adam_kwargs))
    return CaseOptimizer(*opts, model=model)
