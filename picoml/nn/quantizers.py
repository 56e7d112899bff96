r"""Quantizers: a forward function q(x) and a pseudo-gradient for the backward pass.

Each quantizer is a small :class:`Quantizer` module (``bits``, ``get_config()``, an alias in a
registry) around a ``torch.autograd.Function`` that holds the forward function and its
straight-through gradient. The definitions follow Larq (larq/larq ``larq/quantizers.py``) so that
a network trained here behaves like the same network trained with Larq, and so that the binary
kernels (Larq Compute Engine semantics: 0 maps to +1) reproduce its forward pass bit for bit.

Quantizers are usable by alias, as objects, or as plain callables::

    QuantConv2d(16, 16, 3, input_quantizer="ste_sign", kernel_quantizer=SteSign(clip_value=1.0))
    get("ste_sign")                 # -> SteSign()
    get({"class_name": "ste_tern", "config": {"threshold_value": 0.1}})
    get(torch.tanh)                 # any callable is returned unchanged (precision 32)
"""
from __future__ import annotations

from typing import Any, Callable, Optional, Union

import torch
from torch import nn

__all__ = [
    "ApproxSign", "DoReFa", "MagnitudeAwareSign", "NoOp", "Quantizer", "SteHeaviside", "SteSign",
    "SteTern", "SwishSign", "bits_of", "deserialize", "get", "is_binary", "register", "round_half_away",
    "serialize",
]

QuantizerLike = Union[None, str, dict, "Quantizer", Callable[[torch.Tensor], torch.Tensor]]

_REGISTRY: dict[str, type["Quantizer"]] = {}


def register(alias: str) -> Callable[[type["Quantizer"]], type["Quantizer"]]:
    """Class decorator: make a quantizer reachable by ``alias`` (strings and serialized configs)."""

    def deco(cls: type["Quantizer"]) -> type["Quantizer"]:
        if alias in _REGISTRY and _REGISTRY[alias] is not cls:
            raise ValueError(f"quantizer alias '{alias}' is already registered to {_REGISTRY[alias].__name__}")
        _REGISTRY[alias] = cls
        cls.alias = alias
        return cls

    return deco


class Quantizer(nn.Module):
    """Base class: an element-wise quantizer with a known output precision.

    ``bits`` is the number of bits one output value needs (1 for binary, 2 for ternary, 8 for
    int8); ``summary()`` and the optimizers read it, so it must be right. ``None`` means unknown.
    """

    alias: str = ""
    bits: Optional[int] = None

    @property
    def precision(self) -> Optional[int]:
        """Larq's name for ``bits``."""
        return self.bits

    def get_config(self) -> dict[str, Any]:
        """The constructor arguments, as plain Python values (JSON-serializable)."""
        return {}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "Quantizer":
        """Rebuild a quantizer from :meth:`get_config` output."""
        return cls(**config)

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())


# ---------------------------------------------------------------------------------------------
# shared arithmetic


def sign_pm1(x: torch.Tensor) -> torch.Tensor:
    """sign with sign(0) = +1 (also for -0.0): the binary convention of Larq and LCE."""
    return torch.where(x >= 0, torch.ones_like(x), -torch.ones_like(x))


def round_half_away(x: torch.Tensor) -> torch.Tensor:
    """Round to nearest, ties away from zero (C's ``round``/``std::round``, which TFLite uses).

    ``floor(|x| + 0.5)`` is wrong just below a tie (0.49999997 + 0.5 rounds up to 1.0 in
    float32), so the tie is detected on the exact fractional part instead."""
    t = torch.trunc(x)
    frac = x - t  # exact in binary floating point
    return torch.where(frac.abs() >= 0.5, t + torch.sign(x), t)


def _clip_mask(x: torch.Tensor, clip_value: Optional[float]) -> Optional[torch.Tensor]:
    """Where the straight-through gradient passes: |x| <= clip_value (None: everywhere)."""
    if clip_value is None:
        return None
    return x.abs() <= clip_value


def _masked(grad: torch.Tensor, mask: Optional[torch.Tensor]) -> torch.Tensor:
    return grad if mask is None else torch.where(mask, grad, torch.zeros_like(grad))


class _SignSte(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, clip_value: Optional[float]) -> torch.Tensor:
        ctx.save_for_backward(x)
        ctx.clip_value = clip_value
        return sign_pm1(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (x,) = ctx.saved_tensors
        return _masked(grad, _clip_mask(x, ctx.clip_value)), None


class _ApproxSign(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(x)
        return sign_pm1(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (x,) = ctx.saved_tensors
        ax = x.abs()
        return torch.where(ax <= 1.0, (1 - ax) * 2 * grad, torch.zeros_like(grad))


class _SwishSign(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, beta: float) -> torch.Tensor:
        ctx.save_for_backward(x)
        ctx.beta = beta
        return sign_pm1(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (x,) = ctx.saved_tensors
        bx = ctx.beta * x
        return grad * ctx.beta * (2 - bx * torch.tanh(bx * 0.5)) / (1 + torch.cosh(bx)), None


class _TernSte(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, threshold: torch.Tensor, clip_value: Optional[float]) -> torch.Tensor:
        ctx.save_for_backward(x)
        ctx.clip_value = clip_value
        return torch.sign(torch.sign(x + threshold) + torch.sign(x - threshold))

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (x,) = ctx.saved_tensors
        return _masked(grad, _clip_mask(x, ctx.clip_value)), None, None


class _HeavisideSte(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, clip_value: Optional[float]) -> torch.Tensor:
        ctx.save_for_backward(x)
        ctx.clip_value = clip_value
        return (x > 0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (x,) = ctx.saved_tensors
        return _masked(grad, _clip_mask(x, ctx.clip_value)), None


class _DoReFaActivation(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, levels: int) -> torch.Tensor:
        ctx.save_for_backward(x)
        return torch.round(x.clamp(0.0, 1.0) * levels) / levels  # torch.round: ties to even, like tf.round

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (x,) = ctx.saved_tensors
        return torch.where((x >= 0) & (x <= 1), grad, torch.zeros_like(grad)), None


class _RoundSte(torch.autograd.Function):
    """round(x * levels) / levels with an identity gradient."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, levels: int) -> torch.Tensor:
        return torch.round(x * levels) / levels

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return grad, None


# ---------------------------------------------------------------------------------------------
# the quantizers


@register("noop")
class NoOp(Quantizer):
    r"""Identity that only marks a precision.

    \[ q(x) = x, \qquad \frac{\partial q}{\partial x} = 1 \]

    Use ``NoOp(bits=1)`` on weights that an optimizer such as :class:`picoml.nn.optim.Bop` keeps at
    exactly +-1 (latent-free binary weights): the layer then counts as binary in ``summary()`` and
    in :func:`picoml.nn.optim.binary_parameters`, without a sign in the forward pass.

    Arguments:
        bits: the precision to declare.
    """

    def __init__(self, bits: int = 32):
        super().__init__()
        self.bits = int(bits)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x

    def get_config(self) -> dict[str, Any]:
        return {"bits": self.bits}


@register("ste_sign")
class SteSign(Quantizer):
    r"""Binarization with the straight-through estimator.

    \[ q(x) = \begin{cases} -1 & x < 0 \\ +1 & x \geq 0 \end{cases} \qquad
       \frac{\partial q}{\partial x} = \begin{cases} 1 & |x| \leq \texttt{clip\_value} \\
       0 & |x| > \texttt{clip\_value} \end{cases} \]

    sign(0) = +1, as in Larq and in Larq Compute Engine's bitpacking (only ``x < 0`` gives a 1 bit).

    Arguments:
        clip_value: gradients are zero where |x| exceeds it; ``None`` never clips.

    References:
        Hubara et al., *Binarized Neural Networks: Training Deep Neural Networks with Weights and
        Activations Constrained to +1 or -1*, 2016. https://arxiv.org/abs/1602.02830
    """

    bits = 1

    def __init__(self, clip_value: Optional[float] = 1.0):
        super().__init__()
        self.clip_value = None if clip_value is None else float(clip_value)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _SignSte.apply(x, self.clip_value)

    def get_config(self) -> dict[str, Any]:
        return {"clip_value": self.clip_value}


@register("approx_sign")
class ApproxSign(Quantizer):
    r"""Binarization with the ApproxSign (piecewise polynomial) gradient of Bi-Real Net.

    \[ q(x) = \begin{cases} -1 & x < 0 \\ +1 & x \geq 0 \end{cases} \qquad
       \frac{\partial q}{\partial x} = \begin{cases} 2 - 2|x| & |x| \leq 1 \\ 0 & |x| > 1 \end{cases} \]

    References:
        Liu et al., *Bi-Real Net: Enhancing the Performance of 1-bit CNNs With Improved
        Representational Capability and Advanced Training Algorithm*, 2018.
        https://arxiv.org/abs/1808.00278
    """

    bits = 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _ApproxSign.apply(x)


@register("swish_sign")
class SwishSign(Quantizer):
    r"""Binarization with the SignSwish gradient of BNN+.

    \[ q(x) = \begin{cases} -1 & x < 0 \\ +1 & x \geq 0 \end{cases} \qquad
       \frac{\partial q}{\partial x} = \frac{\beta\{2 - \beta x \tanh(\beta x / 2)\}}{1 + \cosh(\beta x)} \]

    Arguments:
        beta: larger values approximate the derivative of the sign more closely.

    References:
        Darabi et al., *BNN+: Improved Binary Network Training*, 2018. https://arxiv.org/abs/1812.11800
    """

    bits = 1

    def __init__(self, beta: float = 5.0):
        super().__init__()
        self.beta = float(beta)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _SwishSign.apply(x, self.beta)

    def get_config(self) -> dict[str, Any]:
        return {"beta": self.beta}


@register("magnitude_aware_sign")
class MagnitudeAwareSign(Quantizer):
    r"""Scaled binarization of a kernel (Bi-Real Net, section 3.3): one scale per output channel.

    \[ q(W)_c = \alpha_c \operatorname{sign}(W_c), \quad \alpha_c = \frac{1}{n}\sum_i |W_{c,i}|,
       \qquad \frac{\partial q(W)_c}{\partial W_c} = \alpha_c \cdot \begin{cases}
       1 & |W_c| \leq \texttt{clip\_value} \\ 0 & \text{else} \end{cases} \]

    The scale is treated as a constant in the backward pass (Larq's ``stop_gradient``).

    Arguments:
        clip_value: gradients are zero where |x| exceeds it; ``None`` never clips.
        axis: the channel axis that keeps its own scale. 0 is the output channel of a PyTorch
            kernel (Larq reduces every axis but the last of a Keras kernel: the same channels).
            For NCHW activations use 1.

    References:
        Liu et al., *Bi-Real Net*, 2018. https://arxiv.org/abs/1808.00278
    """

    bits = 1

    def __init__(self, clip_value: Optional[float] = 1.0, axis: int = 0):
        super().__init__()
        self.clip_value = None if clip_value is None else float(clip_value)
        self.axis = int(axis)

    def scale(self, x: torch.Tensor) -> torch.Tensor:
        """The per-channel mean magnitude, shaped to broadcast against ``x``."""
        axis = self.axis % x.dim() if x.dim() else 0
        dims = [d for d in range(x.dim()) if d != axis]
        return x.detach().abs().mean(dim=dims, keepdim=True) if dims else x.detach().abs()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.scale(x) * _SignSte.apply(x, self.clip_value)

    def get_config(self) -> dict[str, Any]:
        return {"clip_value": self.clip_value, "axis": self.axis}


@register("ste_tern")
class SteTern(Quantizer):
    r"""Ternarization with the straight-through estimator.

    \[ q(x) = \operatorname{sign}\big(\operatorname{sign}(x + \Delta) + \operatorname{sign}(x - \Delta)\big)
       = \begin{cases} +1 & x \geq \Delta \\ 0 & |x| < \Delta \\ -1 & x \leq -\Delta \end{cases} \qquad
       \frac{\partial q}{\partial x} = \begin{cases} 1 & |x| \leq \texttt{clip\_value} \\ 0 & \text{else}
       \end{cases} \]

    With ``ternary_weight_networks=True`` the threshold is computed from the tensor itself, as in
    the Ternary Weight Networks paper (assuming normally distributed weights):
    \( \Delta = \frac{0.7}{n} \sum_{i=1}^{n} |W_i| \) (no gradient flows through \(\Delta\)).

    Arguments:
        threshold_value: \(\Delta\) when it is not computed.
        ternary_weight_networks: compute \(\Delta\) from the input.
        clip_value: gradients are zero where |x| exceeds it; ``None`` never clips.

    References:
        Li et al., *Ternary Weight Networks*, 2016. https://arxiv.org/abs/1605.04711
    """

    bits = 2

    def __init__(self, threshold_value: float = 0.05, ternary_weight_networks: bool = False,
                 clip_value: Optional[float] = 1.0):
        super().__init__()
        self.threshold_value = float(threshold_value)
        self.ternary_weight_networks = bool(ternary_weight_networks)
        self.clip_value = None if clip_value is None else float(clip_value)

    def threshold(self, x: torch.Tensor) -> torch.Tensor:
        """The threshold Delta for this input (a 0-d tensor of x's dtype)."""
        if self.ternary_weight_networks:
            return 0.7 * x.detach().abs().sum() / x.numel()
        return torch.tensor(self.threshold_value, dtype=x.dtype, device=x.device)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _TernSte.apply(x, self.threshold(x), self.clip_value)

    def get_config(self) -> dict[str, Any]:
        return {"threshold_value": self.threshold_value,
                "ternary_weight_networks": self.ternary_weight_networks, "clip_value": self.clip_value}


@register("ste_heaviside")
class SteHeaviside(Quantizer):
    r"""Binarization to {0, 1} with the straight-through estimator.

    \[ q(x) = \begin{cases} 1 & x > 0 \\ 0 & x \leq 0 \end{cases} \qquad
       \frac{\partial q}{\partial x} = \begin{cases} 1 & |x| \leq \texttt{clip\_value} \\ 0 & \text{else}
       \end{cases} \]

    Arguments:
        clip_value: gradients are zero where |x| exceeds it; ``None`` never clips.

    References:
        Larq's ``SteHeaviside`` (the AND-binarization used for {0, 1} activations).
    """

    bits = 1

    def __init__(self, clip_value: Optional[float] = 1.0):
        super().__init__()
        self.clip_value = None if clip_value is None else float(clip_value)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _HeavisideSte.apply(x, self.clip_value)

    def get_config(self) -> dict[str, Any]:
        return {"clip_value": self.clip_value}


@register("dorefa")
class DoReFa(Quantizer):
    r"""k-bit quantization of DoReFa-Net, for activations or for weights.

    With \(n = 2^k - 1\) and \(\operatorname{round}\) rounding ties to even (as ``tf.round``):

    * ``mode="activations"``:
      \[ q(x) = \frac{\operatorname{round}(n \cdot \operatorname{clip}(x, 0, 1))}{n}, \qquad
         \frac{\partial q}{\partial x} = \begin{cases} 1 & 0 \leq x \leq 1 \\ 0 & \text{else} \end{cases} \]
    * ``mode="weights"``:
      \[ q(w) = 2\,\frac{\operatorname{round}(n u)}{n} - 1, \quad
         u = \frac{\tanh w}{2 \max_j |\tanh w_j|} + \frac{1}{2}, \qquad
         \frac{\partial q}{\partial w} = \frac{1 - \tanh^2 w}{\max_j |\tanh w_j|} \]
      (the rounding has an identity gradient; the maximum is a constant in the backward pass, as
      in Larq).

    Arguments:
        k_bit: number of bits of the output.
        mode: ``"activations"`` or ``"weights"``.

    References:
        Zhou et al., *DoReFa-Net: Training Low Bitwidth Convolutional Neural Networks with Low
        Bitwidth Gradients*, 2016. https://arxiv.org/abs/1606.06160
    """

    def __init__(self, k_bit: int = 2, mode: str = "activations"):
        super().__init__()
        if int(k_bit) < 1:
            raise ValueError(f"DoReFa k_bit must be >= 1, got {k_bit}")
        if mode not in ("activations", "weights"):
            raise ValueError(f"DoReFa mode must be 'activations' or 'weights', got {mode!r}")
        self.bits = int(k_bit)
        self.mode = mode

    @property
    def k_bit(self) -> int:
        return self.bits

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        levels = 2 ** self.bits - 1
        if self.mode == "activations":
            return _DoReFaActivation.apply(x, levels)
        t = torch.tanh(x)
        m = t.detach().abs().max()
        m = torch.where(m > 0, m, torch.ones_like(m))
        u = t / m / 2 + 0.5
        return 2 * _RoundSte.apply(u, levels) - 1

    def get_config(self) -> dict[str, Any]:
        return {"k_bit": self.bits, "mode": self.mode}


# ---------------------------------------------------------------------------------------------
# lookup and serialization


def _load_builtin() -> None:
    """Register the quantizers defined outside this module (int8 fake quantization)."""
    import picoml.nn.fake_quant  # noqa: F401  (registers "int8_weight", "int8_activation")


def aliases() -> list[str]:
    """Every registered alias."""
    _load_builtin()
    return sorted(_REGISTRY)


def serialize(quantizer: Optional[Quantizer]) -> Optional[dict[str, Any]]:
    """``{"class_name": alias, "config": {...}}``; ``None`` stays ``None``.

    Plain callables have no config; they cannot be serialized and raise ``ValueError``."""
    if quantizer is None:
        return None
    if not isinstance(quantizer, Quantizer) or not quantizer.alias:
        raise ValueError(f"cannot serialize quantizer {quantizer!r}: it is not a registered Quantizer")
    return {"class_name": quantizer.alias, "config": quantizer.get_config()}


def deserialize(config: Union[str, dict[str, Any]]) -> Quantizer:
    """The quantizer named by an alias or described by :func:`serialize` output."""
    _load_builtin()
    if isinstance(config, str):
        name, kwargs = config, {}
    else:
        name, kwargs = config.get("class_name"), dict(config.get("config") or {})
    if name not in _REGISTRY:
        raise ValueError(f"unknown quantizer '{name}'; known: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name].from_config(kwargs)


def get(identifier: QuantizerLike) -> Optional[Callable[[torch.Tensor], torch.Tensor]]:
    """Resolve an alias, a serialized config, a Quantizer class or object, or any callable."""
    if identifier is None:
        return None
    if isinstance(identifier, (str, dict)):
        return deserialize(identifier)
    if isinstance(identifier, type) and issubclass(identifier, Quantizer):
        return identifier()
    if callable(identifier):
        return identifier
    raise ValueError(f"cannot interpret {identifier!r} as a quantizer")


def bits_of(quantizer: Any) -> Optional[int]:
    """The output precision of a quantizer (``bits``, or Larq's ``precision``); None if unknown."""
    if quantizer is None:
        return None
    bits = getattr(quantizer, "bits", None)
    if bits is None:
        bits = getattr(quantizer, "precision", None)
    return None if bits is None else int(bits)


def is_binary(quantizer: Any) -> bool:
    """True for 1-bit quantizers that binarize (``NoOp(bits=1)`` only marks, so it is excluded)."""
    return bits_of(quantizer) == 1 and not isinstance(quantizer, NoOp)
