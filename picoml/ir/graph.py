"""The IR: a graph of ops over named tensors, in a valid execution order.

Conventions (the contract between frontends, passes, kernels, planner and codegen):

* Activations are NHWC. Conv weights are OHWI, depthwise weights 1HW(C*M), FC weights [out, in].
* ``Op.attrs`` uses the TFLite builtin option names in snake_case (``stride_h``, ``padding``
  = "SAME"/"VALID", ``fused_activation_function`` = "NONE"/"RELU"/"RELU6"/"RELU_N1_TO_1", ...),
  so a graph from any frontend reads the same.
* Optional op inputs that are absent are ``None``.
* Constants carry ``data`` (stored in flash by codegen); everything else lives in the arena.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Optional

import numpy as np

from picoml.errors import GraphError
from picoml.ir.dtype import DType


@dataclass
class QuantParams:
    """Affine quantization: ``real = scale * (q - zero_point)``.

    Per-tensor when ``scale`` has one element, otherwise per channel along ``axis``.
    """

    scale: np.ndarray
    zero_point: np.ndarray
    axis: int = 0

    def __post_init__(self) -> None:
        self.scale = np.atleast_1d(np.asarray(self.scale, dtype=np.float32))
        self.zero_point = np.atleast_1d(np.asarray(self.zero_point, dtype=np.int64))

    @property
    def per_channel(self) -> bool:
        return self.scale.size > 1

    @classmethod
    def per_tensor(cls, scale: float, zero_point: int = 0) -> "QuantParams":
        return cls(np.array([scale], np.float32), np.array([zero_point], np.int64))

    def describe(self) -> str:
        if self.per_channel:
            return f"per-channel[{self.scale.size}] axis={self.axis}"
        return f"scale={float(self.scale[0]):.6g} zp={int(self.zero_point[0])}"


@dataclass
class Tensor:
    name: str
    shape: tuple[int, ...]
    dtype: DType
    data: Optional[np.ndarray] = None
    quant: Optional[QuantParams] = None
    variable: bool = False
    shape_signature: Optional[tuple[int, ...]] = None

    def __post_init__(self) -> None:
        self.shape = tuple(int(d) for d in self.shape)

    @property
    def is_const(self) -> bool:
        return self.data is not None

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def storage_shape(self) -> tuple[int, ...]:
        """Shape of the stored array: for BITPACKED tensors ``shape`` is logical (true channel
        count) and storage packs the last axis into ceil(C/32) int32 words."""
        if self.dtype is DType.BITPACKED and self.shape:
            return (*self.shape[:-1], (self.shape[-1] + 31) // 32)
        return self.shape

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.storage_shape, dtype=np.int64)) * self.dtype.itemsize

    @property
    def scale(self) -> float:
        """The per-tensor scale (raises for per-channel or unquantized tensors)."""
        if self.quant is None or self.quant.per_channel:
            raise GraphError(f"tensor '{self.name}' has no per-tensor quantization scale")
        return float(self.quant.scale[0])

    @property
    def zero_point(self) -> int:
        if self.quant is None:
            return 0
        if self.quant.per_channel and np.any(self.quant.zero_point != self.quant.zero_point[0]):
            raise GraphError(f"tensor '{self.name}' has per-channel zero points")
        return int(self.quant.zero_point[0])

    def describe(self) -> str:
        q = f" {self.quant.describe()}" if self.quant is not None else ""
        return f"'{self.name}' {self.dtype.value}{list(self.shape)}{q}"


@dataclass
class Op:
    type: str
    inputs: list[Optional[str]]
    outputs: list[str]
    attrs: dict[str, Any] = field(default_factory=dict)
    version: int = 1
    custom_options: Optional[bytes] = None
    index: int = -1

    def describe(self) -> str:
        return f"op #{self.index} {self.type}"


@dataclass
class Graph:
    tensors: dict[str, Tensor]
    ops: list[Op]
    inputs: list[str]
    outputs: list[str]
    name: str = "model"
    description: str = ""

    def __post_init__(self) -> None:
        for i, op in enumerate(self.ops):
            op.index = i

    # -- access -----------------------------------------------------------------------
    def tensor(self, name: Optional[str]) -> Optional[Tensor]:
        return None if name is None else self.tensors[name]

    @property
    def input_tensors(self) -> list[Tensor]:
        return [self.tensors[n] for n in self.inputs]

    @property
    def output_tensors(self) -> list[Tensor]:
        return [self.tensors[n] for n in self.outputs]

    def consumers(self, name: str) -> list[Op]:
        return [op for op in self.ops if name in op.inputs]

    def producer(self, name: str) -> Optional[Op]:
        for op in self.ops:
            if name in op.outputs:
                return op
        return None

    def constants(self) -> Iterable[Tensor]:
        return (t for t in self.tensors.values() if t.is_const)

    # -- validation -------------------------------------------------------------------
    def validate(self, allow_unproduced: bool = False) -> "Graph":
        """Check the structure: every reference resolves, ops are in a valid order,
        constants match their declared shape and dtype, and quantization fits the shape.
        Op-specific checks (e.g. conv shapes) happen when a kernel prepares the op.
        ``allow_unproduced`` accepts op inputs that nothing writes (scratch of custom ops)."""
        for t in self.tensors.values():
            _check_tensor(t)
        available = {n for n, t in self.tensors.items() if t.is_const or t.variable}
        for n in self.inputs:
            if n not in self.tensors:
                raise GraphError(f"graph input '{n}' is not a tensor of the graph")
            available.add(n)
        produced: dict[str, int] = {}
        for i, op in enumerate(self.ops):
            op.index = i
            for n in op.inputs:
                if n is None:
                    continue
                if n not in self.tensors:
                    raise GraphError(f"{op.describe()}: input tensor '{n}' does not exist")
                if n not in available and not allow_unproduced:
                    raise GraphError(
                        f"{op.describe()}: input {self.tensors[n].describe()} is used before any op "
                        "produces it (ops are not in a valid execution order, or a graph input is missing)")
            for n in op.outputs:
                if n not in self.tensors:
                    raise GraphError(f"{op.describe()}: output tensor '{n}' does not exist")
                t = self.tensors[n]
                if t.is_const:
                    raise GraphError(f"{op.describe()}: output {t.describe()} is a constant")
                if n in produced:
                    raise GraphError(f"{op.describe()}: output '{n}' is also written by op #{produced[n]}")
                produced[n] = i
                available.add(n)
        for n in self.outputs:
            if n not in self.tensors:
                raise GraphError(f"graph output '{n}' is not a tensor of the graph")
            if n not in available:
                raise GraphError(f"graph output {self.tensors[n].describe()} is never produced")
        return self


def _check_tensor(t: Tensor) -> None:
    if any(d < 0 for d in t.shape):
        raise GraphError(f"tensor {t.describe()} has a negative dimension")
    if t.data is not None:
        if t.data.dtype != t.dtype.numpy:
            raise GraphError(f"constant {t.describe()} holds {t.data.dtype} data")
        if tuple(t.data.shape) != t.storage_shape:
            raise GraphError(f"constant {t.describe()} holds data of shape {list(t.data.shape)}")
    q = t.quant
    if q is None:
        return
    if q.scale.size != q.zero_point.size and q.zero_point.size != 1:
        raise GraphError(f"tensor {t.describe()}: {q.scale.size} scales but {q.zero_point.size} zero points")
    if not np.all(np.isfinite(q.scale)) or np.any(q.scale < 0):
        raise GraphError(f"tensor {t.describe()}: quantization scales must be finite and non-negative")
    if q.per_channel:
        if not t.shape:
            raise GraphError(f"tensor {t.describe()}: per-channel quantization on a scalar")
        if not 0 <= q.axis < len(t.shape) or t.shape[q.axis] != q.scale.size:
            raise GraphError(
                f"tensor {t.describe()}: {q.scale.size} per-channel scales do not match "
                f"axis {q.axis} of shape {list(t.shape)}")
