"""Building a float IR graph from PyTorch values: unique tensor names, constants, ops, and the
NCHW (torch) <-> NHWC (IR) layout of every activation.

A 4-D torch activation ``[N, C, H, W]`` is stored in the IR as ``[N, H, W, C]``; every other rank
keeps torch's axis order. :class:`Value` remembers both shapes, so an op converter can map a
torch axis (``dim=1`` of a concatenation, ``dims=(2, 3)`` of a mean) to the IR axis.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Sequence

import numpy as np

from picoml.errors import UnsupportedError
from picoml.ir import DType, Graph, Op, QuantParams, Tensor

NCHW_TO_NHWC = (0, 2, 3, 1)  # IR axis i holds torch axis NCHW_TO_NHWC[i]
NHWC_TO_NCHW = (0, 3, 1, 2)


@dataclass(frozen=True)
class Value:
    """An activation of the torch program: its IR tensor and its torch shape."""

    name: str
    torch_shape: tuple[int, ...]

    @property
    def channels_last(self) -> bool:
        """True when the IR stores this (4-D) tensor as NHWC."""
        return len(self.torch_shape) == 4

    def ir_axis(self, dim: int) -> int:
        """The IR axis that holds torch axis ``dim`` (negative dims count from the end)."""
        rank = len(self.torch_shape)
        d = dim + rank if dim < 0 else dim
        if not 0 <= d < rank:
            raise UnsupportedError(f"axis {dim} is out of range for a tensor of shape {list(self.torch_shape)}")
        return NCHW_TO_NHWC.index(d) if self.channels_last else d


def ir_shape(torch_shape: Sequence[int]) -> tuple[int, ...]:
    """The IR shape of an activation with ``torch_shape`` (NCHW becomes NHWC)."""
    s = tuple(int(d) for d in torch_shape)
    return tuple(s[i] for i in NCHW_TO_NHWC) if len(s) == 4 else s


def same_memory_order(torch_shape: Sequence[int]) -> bool:
    """True when the NHWC storage of an NCHW tensor has torch's element order (C == 1 or H*W == 1),
    so a reshape needs no transpose."""
    return len(torch_shape) != 4 or torch_shape[1] == 1 or torch_shape[2] * torch_shape[3] == 1


class Builder:
    """Accumulates the tensors and ops of one graph."""

    def __init__(self) -> None:
        self.tensors: dict[str, Tensor] = {}
        self.ops: list[Op] = []

    def _unique(self, name: str) -> str:
        base, k = name or "t", 1
        while name in self.tensors:
            name = f"{base}_{k}"
            k += 1
        return name

    def activation(self, name: str, torch_shape: Sequence[int], dtype: DType = DType.FLOAT32) -> Value:
        """A new non-constant tensor for an activation of ``torch_shape``."""
        name = self._unique(name)
        self.tensors[name] = Tensor(name, ir_shape(torch_shape), dtype)
        return Value(name, tuple(int(d) for d in torch_shape))

    def raw_tensor(self, name: str, shape: Sequence[int], dtype: DType) -> str:
        """A new non-constant tensor with an IR shape given directly."""
        name = self._unique(name)
        self.tensors[name] = Tensor(name, tuple(shape), dtype)
        return name

    def const(self, name: str, data: np.ndarray, dtype: Optional[DType] = None,
              shape: Optional[Sequence[int]] = None, quant: Optional[QuantParams] = None) -> str:
        """A constant tensor (``shape`` is the logical shape when it differs from the data's)."""
        data = np.ascontiguousarray(data)
        dtype = dtype or DType.from_numpy(data.dtype)
        name = self._unique(name)
        self.tensors[name] = Tensor(name, tuple(shape) if shape is not None else data.shape, dtype,
                                    data=data, quant=quant)
        return name

    def op(self, op_type: str, inputs: list[Optional[str]], outputs: list[str], attrs: dict[str, Any]) -> Op:
        op = Op(op_type, list(inputs), list(outputs), dict(attrs))
        op.index = len(self.ops)
        self.ops.append(op)
        return op

    def graph(self, inputs: list[str], outputs: list[str], name: str) -> Graph:
        """The finished graph (validated)."""
        return Graph(self.tensors, self.ops, inputs, outputs, name=name,
                     description="picoml PyTorch frontend").validate()

    # -- layout moves ---------------------------------------------------------------------
    def to_torch_order(self, x: Value) -> str:
        """An IR tensor holding ``x`` in torch's axis order (a TRANSPOSE only when needed)."""
        if same_memory_order(x.torch_shape):
            return x.name
        out = self.raw_tensor(f"{x.name}/nchw", x.torch_shape, self.tensors[x.name].dtype)
        perm = self.const(f"{x.name}/nchw_perm", np.array(NHWC_TO_NCHW, np.int32))
        self.op("TRANSPOSE", [x.name, perm], [out], {})
        return out

    def reshape(self, x: Value, torch_shape: Sequence[int], name: str) -> Value:
        """``x.reshape(torch_shape)`` with torch's element order, whatever the IR layouts."""
        torch_shape = tuple(int(d) for d in torch_shape)
        src = self.to_torch_order(x)
        dtype = self.tensors[x.name].dtype
        out = self.activation(name, torch_shape, dtype)
        if same_memory_order(torch_shape):
            self._reshape_op(src, out.name, ir_shape(torch_shape))
            return out
        mid = self.raw_tensor(f"{name}/nchw", torch_shape, dtype)
        self._reshape_op(src, mid, torch_shape)
        perm = self.const(f"{name}/nhwc_perm", np.array(NCHW_TO_NHWC, np.int32))
        self.op("TRANSPOSE", [mid, perm], [out.name], {})
        return out

    def _reshape_op(self, src: str, dst: str, shape: Sequence[int]) -> None:
        shape_t = self.const(f"{dst}/shape", np.array(shape, np.int32))
        self.op("RESHAPE", [src, shape_t], [dst], {"new_shape": [int(d) for d in shape]})
