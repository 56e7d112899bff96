"""Quantized layers: standard PyTorch conv / linear layers with an input quantizer, a kernel
quantizer, a kernel constraint and a padding value.

``forward`` quantizes the input, pads it (with ``pad_value``), quantizes the latent float
kernel and runs the ordinary float op on the quantized values. ``pad_value=1.0`` pads the
binarized input with +1, which is what binary convolution kernels do natively (Larq Compute
Engine reads padding taps as all-zero bit words, i.e. +1); a converter can then emit a bconv with
``pad_values=1`` and get the same numbers. ``padding="same"`` follows TFLite (the odd extra row or
column goes after), so it is also allowed with stride > 1.

The latent float weights exist for training only; :meth:`QuantLayer.quantized_weight` gives the
values the forward pass actually uses (and a converter must store).
"""
from __future__ import annotations

import warnings
from typing import Any, Callable, Optional, Union

import torch
import torch.nn.functional as F
from torch import nn

from picoml.kernels.padding import out_size, pad_before
from picoml.nn import constraints, quantizers

__all__ = ["QuantConv1d", "QuantConv2d", "QuantDepthwiseConv2d", "QuantLayer", "QuantLinear",
           "StarvedWeightsWarning"]

Padding = Union[int, tuple[int, ...], str]


class StarvedWeightsWarning(UserWarning):
    """A binary kernel quantizer without a weight constraint: latent weights may grow past the
    gradient clip and stop learning."""


class QuantLayer:
    """Mixin holding the quantization settings shared by every quantized layer."""

    input_quantizer: Optional[Callable[[torch.Tensor], torch.Tensor]]
    kernel_quantizer: Optional[Callable[[torch.Tensor], torch.Tensor]]
    kernel_constraint: Optional[Callable[[torch.Tensor], torch.Tensor]]

    def _setup_quant(self, input_quantizer: Any, kernel_quantizer: Any, kernel_constraint: Any) -> None:
        self.input_quantizer = quantizers.get(input_quantizer)
        self.kernel_quantizer = quantizers.get(kernel_quantizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        if quantizers.is_binary(self.kernel_quantizer) and self.kernel_constraint is None:
            warnings.warn(
                f"{type(self).__name__}: a binary kernel quantizer without `kernel_constraint` may result "
                "in starved weights (latent weights grow past the gradient clip and the gradient is "
                "always zero); use kernel_constraint='weight_clip' or train them with Bop",
                StarvedWeightsWarning, stacklevel=3)

    @property
    def input_bits(self) -> Optional[int]:
        """Precision of the input after quantization (None when the input stays float)."""
        return quantizers.bits_of(self.input_quantizer)

    @property
    def kernel_bits(self) -> int:
        """Precision of the kernel after quantization (32 when it stays float)."""
        return quantizers.bits_of(self.kernel_quantizer) or 32

    def _quantize_input(self, x: torch.Tensor) -> torch.Tensor:
        return x if self.input_quantizer is None else self.input_quantizer(x)

    def _kernel(self) -> torch.Tensor:
        return self.weight if self.kernel_quantizer is None else self.kernel_quantizer(self.weight)

    @torch.no_grad()
    def quantized_weight(self) -> torch.Tensor:
        """The kernel the forward pass uses (e.g. exactly +-1 for a binary kernel), detached."""
        return self._kernel().detach().clone()

    def _quant_config(self) -> dict[str, Any]:
        return {"input_quantizer": quantizers.serialize(self.input_quantizer),
                "kernel_quantizer": quantizers.serialize(self.kernel_quantizer),
                "kernel_constraint": constraints.serialize(self.kernel_constraint)}

    @classmethod
    def from_config(cls, config: dict[str, Any]):
        """Rebuild the layer (fresh weights) from :meth:`get_config` output."""
        return cls(**config)


def _check_positive(name: str, values: tuple[int, ...], layer: str) -> None:
    if any(int(v) <= 0 for v in values):
        raise ValueError(f"{layer}: {name} must be positive, got {values}")


def _normalize_padding(padding: Padding, ndim: int, layer: str) -> Union[str, tuple[int, ...]]:
    if isinstance(padding, str):
        p = padding.lower()
        if p not in ("same", "valid"):
            raise ValueError(f"{layer}: padding must be an int, a tuple, 'same' or 'valid', got {padding!r}")
        return p
    pads = (int(padding),) * ndim if isinstance(padding, int) else tuple(int(p) for p in padding)
    if len(pads) != ndim or any(p < 0 for p in pads):
        raise ValueError(f"{layer}: padding needs {ndim} non-negative values, got {padding!r}")
    return pads


class _QuantConv(QuantLayer):
    """Padding and forward pass shared by the quantized convolutions (any spatial rank)."""

    padding: Union[str, tuple[int, ...]]
    pad_value: float

    def _setup_conv(self, padding: Padding, pad_value: float) -> None:
        nd = len(self.kernel_size)
        _check_positive("stride", self.stride, type(self).__name__)
        _check_positive("dilation", self.dilation, type(self).__name__)
        self.padding = _normalize_padding(padding, nd, type(self).__name__)
        self.pad_value = float(pad_value)

    def spatial_pads(self, sizes: tuple[int, ...]) -> list[tuple[int, int]]:
        """(before, after) padding of each spatial axis for an input of spatial ``sizes``."""
        if self.padding == "valid":
            return [(0, 0)] * len(sizes)
        if self.padding == "same":
            pads = []
            for n, k, s, d in zip(sizes, self.kernel_size, self.stride, self.dilation):
                before = pad_before("SAME", n, k, s, d)
                total = max((out_size("SAME", n, k, s, d) - 1) * s + (k - 1) * d + 1 - n, 0)
                pads.append((before, total - before))
            return pads
        return [(p, p) for p in self.padding]

    def _conv(self, x: torch.Tensor, w: torch.Tensor, padding: tuple[int, ...]) -> torch.Tensor:
        raise NotImplementedError  # each concrete layer binds its F.convNd

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Quantize the input, pad it with ``pad_value``, convolve with the quantized kernel."""
        x = self._quantize_input(x)
        pads = self.spatial_pads(tuple(x.shape[-len(self.kernel_size):]))
        native = tuple(0 for _ in pads)
        if any(b or a for b, a in pads):
            if self.pad_value == 0.0 and all(b == a for b, a in pads):
                native = tuple(b for b, _ in pads)
            else:
                flat = [v for b, a in reversed(pads) for v in (b, a)]
                x = F.pad(x, flat, mode="constant", value=self.pad_value)
        return self._conv(x, self._kernel(), native)

    def extra_repr(self) -> str:
        return super().extra_repr() + f", pad_value={self.pad_value}"

    def _conv_config(self) -> dict[str, Any]:
        padding = self.padding if isinstance(self.padding, str) else list(self.padding)
        return {"in_channels": self.in_channels, "out_channels": self.out_channels,
                "kernel_size": list(self.kernel_size), "stride": list(self.stride), "padding": padding,
                **self._quant_config(), "pad_value": self.pad_value, "bias": self.bias is not None,
                "dilation": list(self.dilation)}


class QuantConv2d(_QuantConv, nn.Conv2d):
    """2-D convolution (NCHW) with quantized input and kernel.

    Arguments:
        in_channels, out_channels, kernel_size, stride, dilation, groups, bias: as ``nn.Conv2d``.
        padding: an int, a pair, ``"same"`` (TFLite rule, any stride) or ``"valid"``.
        input_quantizer, kernel_quantizer: anything :func:`picoml.nn.quantizers.get` accepts.
        pad_value: the value padded around the *quantized* input (1.0: one-padding of binary layers).
        kernel_constraint: e.g. ``"weight_clip"``; applied after optimizer steps.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Union[int, tuple[int, int]],
                 stride: Union[int, tuple[int, int]] = 1, padding: Padding = 0, input_quantizer: Any = None,
                 kernel_quantizer: Any = None, pad_value: float = 0.0, bias: bool = True,
                 dilation: Union[int, tuple[int, int]] = 1, groups: int = 1, kernel_constraint: Any = None):
        nn.Conv2d.__init__(self, in_channels, out_channels, kernel_size, stride=stride, padding=0,
                           dilation=dilation, groups=groups, bias=bias)
        self._setup_conv(padding, pad_value)
        self._setup_quant(input_quantizer, kernel_quantizer, kernel_constraint)

    def _conv(self, x: torch.Tensor, w: torch.Tensor, padding: tuple[int, ...]) -> torch.Tensor:
        return F.conv2d(x, w, self.bias, self.stride, padding, self.dilation, self.groups)

    def get_config(self) -> dict[str, Any]:
        """Constructor arguments with quantizers and constraint serialized (JSON-friendly)."""
        return {**self._conv_config(), "groups": self.groups}


class QuantDepthwiseConv2d(_QuantConv, nn.Conv2d):
    """Depthwise 2-D convolution: ``groups = in_channels``, ``out_channels = in_channels * depth_multiplier``.

    Same signature as :class:`QuantConv2d` (without ``groups``); ``out_channels`` must be a
    multiple of ``in_channels``. The kernel has PyTorch's depthwise layout [C*M, 1, kh, kw].
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Union[int, tuple[int, int]],
                 stride: Union[int, tuple[int, int]] = 1, padding: Padding = 0, input_quantizer: Any = None,
                 kernel_quantizer: Any = None, pad_value: float = 0.0, bias: bool = True,
                 dilation: Union[int, tuple[int, int]] = 1, kernel_constraint: Any = None):
        if in_channels <= 0 or out_channels % in_channels:
            raise ValueError(f"QuantDepthwiseConv2d: out_channels ({out_channels}) must be a multiple of "
                             f"in_channels ({in_channels})")
        nn.Conv2d.__init__(self, in_channels, out_channels, kernel_size, stride=stride, padding=0,
                           dilation=dilation, groups=in_channels, bias=bias)
        self._setup_conv(padding, pad_value)
        self._setup_quant(input_quantizer, kernel_quantizer, kernel_constraint)

    @property
    def depth_multiplier(self) -> int:
        """Output channels per input channel (TFLite's ``depth_multiplier``)."""
        return self.out_channels // self.in_channels

    def _conv(self, x: torch.Tensor, w: torch.Tensor, padding: tuple[int, ...]) -> torch.Tensor:
        return F.conv2d(x, w, self.bias, self.stride, padding, self.dilation, self.groups)

    def get_config(self) -> dict[str, Any]:
        """Constructor arguments with quantizers and constraint serialized (JSON-friendly)."""
        return self._conv_config()


class QuantConv1d(_QuantConv, nn.Conv1d):
    """1-D convolution (NCL) with quantized input and kernel; arguments as :class:`QuantConv2d`."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Union[int, tuple[int]],
                 stride: Union[int, tuple[int]] = 1, padding: Padding = 0, input_quantizer: Any = None,
                 kernel_quantizer: Any = None, pad_value: float = 0.0, bias: bool = True,
                 dilation: Union[int, tuple[int]] = 1, groups: int = 1, kernel_constraint: Any = None):
        nn.Conv1d.__init__(self, in_channels, out_channels, kernel_size, stride=stride, padding=0,
                           dilation=dilation, groups=groups, bias=bias)
        self._setup_conv(padding, pad_value)
        self._setup_quant(input_quantizer, kernel_quantizer, kernel_constraint)

    def _conv(self, x: torch.Tensor, w: torch.Tensor, padding: tuple[int, ...]) -> torch.Tensor:
        return F.conv1d(x, w, self.bias, self.stride, padding, self.dilation, self.groups)

    def get_config(self) -> dict[str, Any]:
        """Constructor arguments with quantizers and constraint serialized (JSON-friendly)."""
        return {**self._conv_config(), "groups": self.groups}


class QuantLinear(QuantLayer, nn.Linear):
    """Fully connected layer with quantized input and kernel (kernel layout [out, in]).

    Arguments:
        in_features, out_features, bias: as ``nn.Linear``.
        input_quantizer, kernel_quantizer, kernel_constraint: as :class:`QuantConv2d`.
    """

    def __init__(self, in_features: int, out_features: int, input_quantizer: Any = None,
                 kernel_quantizer: Any = None, bias: bool = True, kernel_constraint: Any = None):
        nn.Linear.__init__(self, in_features, out_features, bias=bias)
        self._setup_quant(input_quantizer, kernel_quantizer, kernel_constraint)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``quantize(x) @ quantize(W).T + b``."""
        return F.linear(self._quantize_input(x), self._kernel(), self.bias)

    def get_config(self) -> dict[str, Any]:
        """Constructor arguments with quantizers and constraint serialized (JSON-friendly)."""
        return {"in_features": self.in_features, "out_features": self.out_features,
                **self._quant_config(), "bias": self.bias is not None}
