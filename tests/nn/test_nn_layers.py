"""Quantized layers: shapes, TFLite SAME padding, one-padding (compared with F.pad(value=1) then
conv), starved-weight warnings, quantized_weight(), configs."""
import json
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
import torch.nn.functional as F  # noqa: E402

from picoml.nn import quantizers as q  # noqa: E402
from picoml.nn.constraints import WeightClip  # noqa: E402
from picoml.nn.layers import (QuantConv1d, QuantConv2d, QuantDepthwiseConv2d, QuantLinear,  # noqa: E402
                              StarvedWeightsWarning)

torch.set_num_threads(1)
BIN = {"input_quantizer": "ste_sign", "kernel_quantizer": "ste_sign", "kernel_constraint": "weight_clip"}


def tflite_same(n, k, s, d):
    """(before, after) of TFLite SAME padding, written out independently of picoml.kernels.padding."""
    out = -(-n // s)
    total = max((out - 1) * s + (k - 1) * d + 1 - n, 0)
    return total // 2, total - total // 2


def sign(x):
    return torch.where(x >= 0, 1.0, -1.0)


@pytest.mark.parametrize("size", [(7, 7), (8, 6), (1, 5)])
@pytest.mark.parametrize("k,stride,dilation", [(3, 1, 1), (3, 2, 1), (2, 1, 1), (2, 2, 1), (3, 1, 2), (5, 2, 1)])
def test_one_padding_same_matches_manual_pad(size, k, stride, dilation):
    torch.manual_seed(0)
    layer = QuantConv2d(5, 6, k, stride=stride, padding="same", pad_value=1.0, dilation=dilation, bias=False,
                        **BIN)
    x = torch.randn(2, 5, *size)
    (t, b), (l, r) = tflite_same(size[0], k, stride, dilation), tflite_same(size[1], k, stride, dilation)
    manual = F.conv2d(F.pad(sign(x), (l, r, t, b), value=1.0), sign(layer.weight), None, stride, 0, dilation)
    got = layer(x)
    assert got.shape == (2, 6, -(-size[0] // stride), -(-size[1] // stride))
    assert torch.equal(got, manual)  # +-1 sums are exact integers


@pytest.mark.parametrize("padding", [1, 2, (1, 2)])
def test_one_padding_explicit(padding):
    layer = QuantConv2d(3, 4, 3, padding=padding, pad_value=1.0, bias=False, **BIN)
    x = torch.randn(1, 3, 6, 5)
    ph, pw = (padding, padding) if isinstance(padding, int) else padding
    manual = F.conv2d(F.pad(sign(x), (pw, pw, ph, ph), value=1.0), sign(layer.weight))
    assert torch.equal(layer(x), manual)
    # zero padding differs at the border (the test is not vacuous) ...
    zero = F.conv2d(sign(x), sign(layer.weight), padding=(ph, pw))
    assert not torch.equal(layer(x), zero)


def test_zero_padding_matches_torch():
    torch.manual_seed(1)
    layer = QuantConv2d(3, 4, 3, padding="same")
    x = torch.randn(2, 3, 9, 8)
    torch.testing.assert_close(layer(x), F.conv2d(x, layer.weight, layer.bias, padding="same"))
    layer = QuantConv2d(3, 4, 3, padding=2, dilation=2)
    torch.testing.assert_close(layer(x), F.conv2d(x, layer.weight, layer.bias, padding=2, dilation=2))
    valid = QuantConv2d(3, 4, 3, padding="valid", stride=2)
    assert valid(x).shape == (2, 4, 4, 3)


def test_conv1d_one_padding():
    layer = QuantConv1d(4, 3, 5, stride=2, padding="same", pad_value=1.0, **BIN)
    x = torch.randn(2, 4, 11)
    before, after = tflite_same(11, 5, 2, 1)
    manual = F.conv1d(F.pad(sign(x), (before, after), value=1.0), sign(layer.weight), layer.bias, 2)
    torch.testing.assert_close(layer(x), manual, rtol=0, atol=1e-5)
    assert layer(x).shape == (2, 3, 6)


def test_depthwise():
    layer = QuantDepthwiseConv2d(4, 8, 3, stride=2, padding="same", pad_value=1.0, **BIN)
    assert layer.depth_multiplier == 2 and layer.groups == 4 and layer.weight.shape == (8, 1, 3, 3)
    x = torch.randn(1, 4, 7, 7)
    manual = F.conv2d(F.pad(sign(x), (1, 1, 1, 1), value=1.0), sign(layer.weight), layer.bias, 2, groups=4)
    torch.testing.assert_close(layer(x), manual, rtol=0, atol=1e-5)
    with pytest.raises(ValueError, match="multiple"):
        QuantDepthwiseConv2d(4, 6, 3)


def test_linear_and_quantized_weight():
    layer = QuantLinear(6, 3, **BIN)
    wq = layer.quantized_weight()
    assert set(wq.unique().tolist()) <= {-1.0, 1.0} and not wq.requires_grad
    x = torch.randn(2, 6)
    torch.testing.assert_close(layer(x), sign(x) @ wq.T + layer.bias)
    plain = QuantLinear(6, 3)
    assert torch.equal(plain.quantized_weight(), plain.weight.detach())
    assert plain.input_bits is None and plain.kernel_bits == 32 and layer.kernel_bits == 1


def test_gradients_reach_latent_weights_through_padding():
    layer = QuantConv2d(2, 2, 3, padding="same", pad_value=1.0, **BIN)
    x = (torch.rand(1, 2, 5, 5) - 0.5).requires_grad_()
    layer(x).sum().backward()
    assert layer.weight.grad is not None and layer.weight.grad.abs().sum() > 0
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_starved_weights_warning():
    with pytest.warns(StarvedWeightsWarning, match="kernel_constraint"):
        QuantConv2d(2, 2, 3, kernel_quantizer="ste_sign")
    with pytest.warns(StarvedWeightsWarning):
        QuantLinear(2, 2, kernel_quantizer=q.ApproxSign())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        QuantConv2d(2, 2, 3, kernel_quantizer="ste_sign", kernel_constraint=WeightClip(1.0))
        QuantConv2d(2, 2, 3, kernel_quantizer=q.NoOp(bits=1))  # latent-free (Bop) weights
        QuantConv2d(2, 2, 3, kernel_quantizer="int8_weight", input_quantizer="ste_sign")


@pytest.mark.parametrize("bad", [dict(padding="full"), dict(padding=-1), dict(padding=(1, 2, 3)), dict(stride=0),
                                 dict(dilation=0)])
def test_invalid_arguments(bad):
    with pytest.raises(ValueError):
        QuantConv2d(2, 2, 3, **bad)


@pytest.mark.parametrize("make", [
    lambda: QuantConv2d(3, 8, (3, 2), stride=(2, 1), padding="same", pad_value=1.0, bias=False, groups=1, **BIN),
    lambda: QuantDepthwiseConv2d(4, 8, 3, padding=(1, 0), input_quantizer="int8_activation",
                                 kernel_quantizer="int8_weight"),
    lambda: QuantConv1d(2, 4, 5, padding="valid", input_quantizer=q.DoReFa(3), kernel_quantizer="ste_tern",
                        dilation=2),
    lambda: QuantLinear(5, 2, input_quantizer=q.SteSign(clip_value=None), kernel_quantizer="magnitude_aware_sign",
                        kernel_constraint=WeightClip(2.0)),
], ids=["conv2d", "depthwise", "conv1d", "linear"])
def test_config_round_trip(make):
    layer = make()
    config = json.loads(json.dumps(layer.get_config()))
    again = type(layer).from_config(config)
    assert again.get_config() == layer.get_config()
    assert again.weight.shape == layer.weight.shape
    again.load_state_dict(layer.state_dict())
    x = torch.randn(2, *((layer.in_channels, 7, 7) if isinstance(layer, torch.nn.Conv2d) else
                         (layer.in_channels, 12) if isinstance(layer, torch.nn.Conv1d) else (layer.in_features,)))
    layer.eval()
    again.eval()
    torch.testing.assert_close(again(x), layer(x))


def test_quantizer_as_plain_callable():
    layer = QuantLinear(3, 2, input_quantizer=torch.tanh)
    x = torch.randn(4, 3)
    torch.testing.assert_close(layer(x), F.linear(torch.tanh(x), layer.weight, layer.bias))
    assert layer.input_bits is None
    with pytest.raises(ValueError, match="cannot serialize"):
        layer.get_config()
    assert np.isfinite(layer(x).detach().numpy()).all()
