"""Synthetic int8 test models built directly as IR graphs (no training, no frontend).

Random per-channel int8 weights with scales chosen so activations spread over the int8 range
rather than saturating. They exist to exercise the planner, the scheduler and patch-based
execution on realistic shapes:

* ``mobilenet_v1_like(96)``: conv 3x3/2 then depthwise-separable blocks (MobileNetV1 style);
* ``mobilenet_v2_like(144)``: inverted residual blocks (1x1 expand, 3x3 depthwise, 1x1
  project, ADD when the shape is kept);
* ``branchy_int8``: two branches of different cost joined by an ADD (a scheduling test).
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from picoml.ir import DType, Graph, Op, QuantParams, Tensor


class GraphBuilder:
    """Appends int8 ops and tensors with random weights to a graph under construction."""

    def __init__(self, input_shape: tuple[int, ...], seed: int = 0, name: str = "model") -> None:
        self.rng = np.random.default_rng(seed)
        self.tensors: dict[str, Tensor] = {}
        self.ops: list[Op] = []
        self.name = name
        self.input = self._act("input", input_shape, 0.02, -1)

    def _act(self, name: str, shape: tuple[int, ...], scale: float, zp: int) -> str:
        self.tensors[name] = Tensor(name, shape, DType.INT8, quant=QuantParams.per_tensor(scale, zp))
        return name

    def _const(self, name: str, data: np.ndarray, dtype: DType, quant: Optional[QuantParams]) -> str:
        self.tensors[name] = Tensor(name, data.shape, dtype, data=data.astype(dtype.numpy), quant=quant)
        return name

    def _fresh(self, base: str) -> str:
        return f"{base}_{len(self.ops)}"

    def _weighted(self, op_type: str, x: str, w_shape: tuple[int, ...], axis: int, out_hw: tuple[int, int],
                  cout: int, fan_in: int, attrs: dict) -> str:
        xt = self.tensors[x]
        w = self.rng.integers(-127, 128, w_shape)
        w_scale = self.rng.uniform(0.5, 1.5, cout) / (127 * np.sqrt(fan_in))
        wname = self._const(self._fresh("w"), w, DType.INT8,
                            QuantParams(w_scale.astype(np.float32), np.zeros(cout, np.int64), axis=axis))
        b_scale = (xt.scale * w_scale).astype(np.float32)
        bias = self.rng.integers(-2000, 2000, cout)
        bname = self._const(self._fresh("b"), bias, DType.INT32,
                            QuantParams(b_scale, np.zeros(cout, np.int64)))
        out_scale = xt.scale * 60.0 / 127 * 2
        y = self._act(self._fresh(op_type.lower()), (xt.shape[0], *out_hw, cout), out_scale,
                      int(self.rng.integers(-20, 20)))
        self.ops.append(Op(op_type, [x, wname, bname], [y], dict(attrs)))
        return y

    def conv(self, x: str, cout: int, k: int = 1, stride: int = 1, padding: str = "SAME",
             act: str = "RELU6", dilation: int = 1) -> str:
        """CONV_2D with OHWI weights."""
        n, h, w, cin = self.tensors[x].shape
        oh, ow = _out(h, k, stride, padding, dilation), _out(w, k, stride, padding, dilation)
        attrs = {"stride_h": stride, "stride_w": stride, "dilation_h_factor": dilation,
                 "dilation_w_factor": dilation,
                 "padding": padding, "fused_activation_function": act}
        return self._weighted("CONV_2D", x, (cout, k, k, cin), 0, (oh, ow), cout, k * k * cin, attrs)

    def dw(self, x: str, k: int = 3, stride: int = 1, padding: str = "SAME", act: str = "RELU6",
           multiplier: int = 1, dilation: int = 1) -> str:
        """DEPTHWISE_CONV_2D with 1HW(C*M) weights."""
        n, h, w, c = self.tensors[x].shape
        oh, ow = _out(h, k, stride, padding, dilation), _out(w, k, stride, padding, dilation)
        attrs = {"stride_h": stride, "stride_w": stride, "dilation_h_factor": dilation,
                 "dilation_w_factor": dilation,
                 "padding": padding, "fused_activation_function": act, "depth_multiplier": multiplier}
        return self._weighted("DEPTHWISE_CONV_2D", x, (1, k, k, c * multiplier), 3, (oh, ow), c * multiplier,
                              k * k, attrs)

    def add(self, a: str, b: str, act: str = "NONE") -> str:
        """Element-wise ADD of two same-shaped activations."""
        ta, tb = self.tensors[a], self.tensors[b]
        y = self._act(self._fresh("add"), ta.shape, max(ta.scale, tb.scale) * 1.5, 0)
        self.ops.append(Op("ADD", [a, b], [y], {"fused_activation_function": act}))
        return y

    def pool(self, x: str, op_type: str = "AVERAGE_POOL_2D", k: int = 2, stride: int = 2,
             padding: str = "VALID") -> str:
        """AVERAGE_POOL_2D or MAX_POOL_2D (output keeps the input's quantization)."""
        t = self.tensors[x]
        n, h, w, c = t.shape
        y = self._act(self._fresh("pool"), (n, _out(h, k, stride, padding), _out(w, k, stride, padding), c),
                      t.scale, t.zero_point)
        self.ops.append(Op(op_type, [x], [y], {"stride_h": stride, "stride_w": stride, "filter_height": k,
                                               "filter_width": k, "padding": padding,
                                               "fused_activation_function": "NONE"}))
        return y

    def pad(self, x: str, pads: tuple[int, int, int, int]) -> str:
        """PAD of H and W by (top, bottom, left, right)."""
        t = self.tensors[x]
        n, h, w, c = t.shape
        top, bottom, left, right = pads
        pname = self._const(self._fresh("pads"), np.array([[0, 0], [top, bottom], [left, right], [0, 0]]),
                            DType.INT32, None)
        y = self._act(self._fresh("pad"), (n, h + top + bottom, w + left + right, c), t.scale, t.zero_point)
        self.ops.append(Op("PAD", [x, pname], [y], {}))
        return y

    def build(self, outputs: list[str]) -> Graph:
        """The finished, validated graph."""
        return Graph(self.tensors, self.ops, [self.input], outputs, name=self.name).validate()


def _out(size: int, k: int, stride: int, padding: str, dilation: int = 1) -> int:
    extent = (k - 1) * dilation + 1
    return (size + stride - 1) // stride if padding == "SAME" else (size - extent + stride) // stride


def mobilenet_v1_like(resolution: int = 96, width: float = 0.5, seed: int = 0) -> Graph:
    """MobileNetV1 (depthwise-separable blocks) up to a 1x1 conv head, int8."""
    b = GraphBuilder((1, resolution, resolution, 3), seed, f"mobilenet_v1_like_{resolution}")
    x = b.conv(b.input, int(32 * width), 3, 2)
    for cout, stride in [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2), (512, 1), (512, 1),
                         (1024, 2), (1024, 1)]:
        x = b.dw(x, 3, stride)
        x = b.conv(x, int(cout * width), 1)
    x = b.pool(x, "AVERAGE_POOL_2D", b.tensors[x].shape[1], 1)
    x = b.conv(x, 10, 1, act="NONE")
    return b.build([x])


def mobilenet_v2_like(resolution: int = 144, width: float = 1.0, seed: int = 0) -> Graph:
    """MobileNetV2 (inverted residual blocks with ADD), int8."""
    b = GraphBuilder((1, resolution, resolution, 3), seed, f"mobilenet_v2_like_{resolution}")

    def ch(c: int) -> int:  # torchvision's _make_divisible(c * width, 8)
        v = c * width
        r = max(8, int(v + 4) // 8 * 8)
        return r + 8 if r < 0.9 * v else r

    x = b.conv(b.input, ch(32), 3, 2)
    cin = ch(32)
    for t, c, n, s in [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
                       (6, 160, 3, 2), (6, 320, 1, 1)]:
        for i in range(n):
            stride = s if i == 0 else 1
            y = b.conv(x, cin * t, 1) if t != 1 else x
            y = b.dw(y, 3, stride)
            y = b.conv(y, ch(c), 1, act="NONE")
            x = b.add(x, y) if stride == 1 and cin == ch(c) else y
            cin = ch(c)
    x = b.conv(x, 1280, 1)
    x = b.pool(x, "AVERAGE_POOL_2D", b.tensors[x].shape[1], 1)
    x = b.conv(x, 10, 1, act="NONE")
    return b.build([x])


def branchy_int8(seed: int = 0) -> Graph:
    """x -> two branches (1x1 expand to 64 channels, 1x1 project to 8), ADDed. The given order
    runs both expansions before either projection, so both wide tensors are alive at once; a
    scheduler finishes one branch first."""
    b = GraphBuilder((1, 8, 8, 8), seed, "branchy")
    wide1 = b.conv(b.input, 64, 1)
    wide2 = b.conv(b.input, 64, 1)
    narrow1 = b.conv(wide1, 8, 1, act="NONE")
    narrow2 = b.conv(wide2, 8, 1, act="NONE")
    return b.build([b.add(narrow1, narrow2)])
