"""The PyTorch frontend: float conversion equals torch, zoo models convert to int8 (binary) and
compile, binary layers agree with torch exactly, QAT models agree on predictions, and
unsupported modules are named in the error."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

import picoml  # noqa: E402
import picoml.zoo as zoo  # noqa: E402
from picoml.errors import UnsupportedError  # noqa: E402
from picoml.interpreter import Interpreter, quantize_input  # noqa: E402
from picoml.ir import DType  # noqa: E402
from picoml.kernels.bitpack import unpack_bits  # noqa: E402
from picoml.nn import Int8ActivationFakeQuant, QuantConv2d, QuantLinear  # noqa: E402
from picoml.passes.binary import bit_thresholds  # noqa: E402
from picoml.quantize.ptq import activation_params, round_half_away  # noqa: E402

F32_EPS = float(np.finfo(np.float32).eps)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def random_bn(model: nn.Module, seed: int = 0, mean_std: float = 0.5) -> nn.Module:
    """Non-trivial batch-norm statistics (about a third of the gammas negative), eval mode."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            c = m.num_features
            m.running_mean.copy_(torch.randn(c, generator=g) * mean_std)
            m.running_var.copy_(torch.rand(c, generator=g) * 2 + 0.5)
            m.weight.data.copy_(torch.rand(c, generator=g) * 2 - 0.6)
            m.bias.data.copy_(torch.randn(c, generator=g) * 0.3)
    return model.eval()


def nhwc(x: torch.Tensor) -> np.ndarray:
    return np.ascontiguousarray(x.permute(0, 2, 3, 1).numpy()) if x.dim() == 4 else x.numpy()


def bconv(cin: int, cout: int, **kw) -> QuantConv2d:
    kw.setdefault("padding", "same")
    kw.setdefault("pad_value", 1.0)
    return QuantConv2d(cin, cout, 3, input_quantizer="ste_sign", kernel_quantizer="ste_sign",
                       kernel_constraint="weight_clip", bias=False, **kw)


# -- float conversion ---------------------------------------------------------------------------
class Branchy(nn.Module):
    """Residual add, concatenation, flatten of a 2x2 map (a real layout change), softmax."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.BatchNorm2d(6), nn.ReLU6())
        self.a = nn.Sequential(nn.Conv2d(6, 6, 3, padding=1, bias=False), nn.BatchNorm2d(6))
        self.b = nn.Conv2d(6, 6, 1, groups=6)
        self.dw = nn.Conv2d(12, 24, 3, stride=2, padding=1, groups=12)
        self.pool = nn.MaxPool2d(2)
        self.fc = nn.Linear(24 * 2 * 2, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        y = torch.relu(x + self.a(x))
        y = torch.cat([y, nn.functional.hardtanh(self.b(x))], dim=1)
        y = self.pool(self.dw(y))
        return torch.softmax(self.fc(torch.flatten(y, 1)), dim=-1)


@pytest.mark.parametrize("name", ["branchy", "int8_cnn", "ds_cnn", "ds_cnn_2d", "mobilenet_v1", "quicknet"])
def test_float_conversion_matches_torch(name):
    torch.manual_seed(1)
    model, shape = {
        "branchy": (Branchy(), (1, 3, 8, 8)),
        "int8_cnn": (zoo.int8_cnn(width=0.5), (1, 1, 12, 12)),
        "ds_cnn": (zoo.ds_cnn(width=0.125, blocks=2), (1, 1, 49, 10)),
        "ds_cnn_2d": (zoo.ds_cnn(width=0.125, blocks=1, input_shape=(49, 40)), (1, 49, 40)),
        "mobilenet_v1": (zoo.mobilenet_v1(width=0.25), (1, 3, 32, 32)),
        "quicknet": (zoo.quicknet(width=0.25, section_filters=(32, 64), section_blocks=(1, 1)), (1, 3, 32, 32)),
    }[name]
    model = random_bn(model)
    x = torch.randn(*shape)
    graph = picoml.from_torch(model, x)
    assert all(t.dtype in (DType.FLOAT32, DType.BITPACKED) for t in graph.tensors.values() if not t.is_const)
    assert not {"BATCH_NORM", "RELU", "RELU6", "RELU_N1_TO_1"} & {op.type for op in graph.ops}
    interp = Interpreter(graph)
    for _ in range(3):
        x = torch.randn(*shape)
        with torch.no_grad():
            ref = model(x).numpy()
        got = interp.run([nhwc(x)])[0]
        np.testing.assert_allclose(got.reshape(ref.shape), ref, rtol=1e-5, atol=1e-5)


class Elementwise(nn.Module):
    """Zero padding, sigmoid, tanh, subtraction, a channel mean kept as a 4-D tensor."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = nn.functional.pad(x, (1, 2, 0, 1))
        y = torch.sigmoid(y) - torch.tanh(y) * y
        return torch.cat([y, y.mean(1, keepdim=True)], 1)


def test_pad_sigmoid_tanh_and_channel_mean():
    x = torch.randn(1, 3, 5, 4)
    graph = picoml.from_torch(Elementwise(), x)
    assert {"PAD", "LOGISTIC", "TANH", "SUB", "MUL", "MEAN", "CONCATENATION"} <= {op.type for op in graph.ops}
    got = Interpreter(graph).run([nhwc(x)])[0]
    np.testing.assert_allclose(np.transpose(got, (0, 3, 1, 2)), Elementwise()(x).numpy(), rtol=1e-5, atol=1e-6)


def test_batch_norm_folds_and_activation_fuses():
    model = random_bn(nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(),
                                    nn.Linear(4 * 4 * 4, 3), nn.ReLU()))
    graph = picoml.from_torch(model, torch.randn(1, 1, 6, 6))
    assert [(op.type, op.attrs.get("fused_activation_function")) for op in graph.ops] == [
        ("CONV_2D", "RELU"), ("TRANSPOSE", None), ("RESHAPE", None), ("FULLY_CONNECTED", "RELU")]


def test_standalone_batch_norm_and_relu():
    """A BN after a pool (nothing to fold into) becomes a 1x1 depthwise conv; a ReLU after a
    concatenation becomes LEAKY_RELU(alpha=0)."""
    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.pool, self.bn = nn.MaxPool2d(2), nn.BatchNorm2d(2)

        def forward(self, x):
            return torch.relu(torch.cat([self.bn(self.pool(x)), self.pool(x)], 1))

    model = random_bn(M())
    graph = picoml.from_torch(model, torch.randn(1, 2, 4, 4))
    assert sorted(op.type for op in graph.ops) == ["CONCATENATION", "DEPTHWISE_CONV_2D", "LEAKY_RELU",
                                                   "MAX_POOL_2D", "MAX_POOL_2D"]
    x = torch.randn(1, 2, 4, 4)
    with torch.no_grad():
        ref = model(x).numpy()
    got = Interpreter(graph).run([nhwc(x)])[0]
    np.testing.assert_allclose(np.transpose(got, (0, 3, 1, 2)), ref, rtol=1e-6, atol=1e-6)


# -- zoo models: int8 (and binary) conversion, host C equals the reference bit for bit -----------------
ZOO_INT8 = {
    "int8_cnn": (lambda: zoo.int8_cnn(width=0.5), (1, 1, 12, 12)),
    "ds_cnn": (lambda: zoo.ds_cnn(width=0.125, blocks=2), (1, 1, 49, 10)),
    "mobilenet_v1": (lambda: zoo.mobilenet_v1(width=0.25), (1, 3, 32, 32)),
    "quicknet": (lambda: zoo.quicknet(width=0.25, section_filters=(32, 64), section_blocks=(1, 1)), (1, 3, 32, 32)),
}


@pytest.mark.parametrize("name", sorted(ZOO_INT8))
def test_zoo_model_converts_to_int8_and_compiles(name):
    torch.manual_seed(2)
    build, shape = ZOO_INT8[name]
    model = random_bn(build())
    calibration = [torch.randn(8, *shape[1:]) for _ in range(2)]
    graph = picoml.from_torch(model, calibration[0], calibration_data=calibration)
    assert graph.input_tensors[0].dtype is DType.INT8 and graph.output_tensors[0].dtype is DType.INT8
    assert all(t.dtype in (DType.INT8, DType.BITPACKED) for t in graph.tensors.values() if not t.is_const)
    if name == "quicknet":
        assert {"LceQuantize", "LceBconv2d"} <= {op.type for op in graph.ops}
    compiled = picoml.compile(graph, target="host")
    ref = Interpreter(graph)
    rng = np.random.default_rng(0)
    for _ in range(3):
        x = quantize_input(graph.input_tensors[0], nhwc(torch.randn(*shape)))
        np.testing.assert_array_equal(compiled.run([x])[0], ref.run([x])[0])
    x = rng.integers(-128, 128, graph.input_tensors[0].shape, dtype=np.int8)
    np.testing.assert_array_equal(compiled.run([x])[0], ref.run([x])[0])
    if name != "quicknet":  # tflite-micro has no LCE ops; the int8 models must run there bit for bit too
        tflm = pytest.importorskip("picoml.testing.peers")
        got = np.asarray(tflm.run_tflm(picoml.export_tflite(graph), [x])[0])
        np.testing.assert_array_equal(got.reshape(-1), ref.run([x])[0].reshape(-1))
    # and the int8 model still computes what the float model does, to int8 precision
    x = torch.randn(*shape)
    with torch.no_grad():
        want = model(x).numpy().ravel()
    out = graph.output_tensors[0]
    got = (ref.run([quantize_input(graph.input_tensors[0], nhwc(x))])[0].astype(np.float32).ravel()
           - out.zero_point) * out.scale
    assert np.abs(got - want).max() < 0.25 * np.abs(want).max() + 4 * out.scale


# -- binary layers: exact agreement with torch ---------------------------------------------------
class SmallBnn(nn.Module):
    """float conv -> BN -> bconv -> BN -> maxpool -> bconv(stride 2) -> ReLU -> BN -> bconv -> BN."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16))
        self.b1 = nn.Sequential(bconv(16, 40), nn.BatchNorm2d(40), nn.MaxPool2d(2))
        self.b2 = nn.Sequential(bconv(40, 33, stride=2), nn.ReLU(), nn.BatchNorm2d(33))
        self.b3 = nn.Sequential(bconv(33, 24), nn.BatchNorm2d(24))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.b3(self.b2(self.b1(self.stem(x))))


def test_binary_network_agrees_with_torch_exactly():
    torch.manual_seed(3)
    model = random_bn(SmallBnn(), seed=3, mean_std=3.0)
    graph = picoml.from_torch(model, torch.randn(1, 3, 16, 16))
    ops = [(op.type, graph.tensors[op.outputs[0]].dtype) for op in graph.ops]
    assert ops == [("CONV_2D", DType.FLOAT32), ("LceQuantize", DType.BITPACKED), ("LceBconv2d", DType.BITPACKED),
                   ("LceBMaxPool2d", DType.BITPACKED), ("LceBconv2d", DType.BITPACKED),
                   ("LceBconv2d", DType.FLOAT32)]
    assert graph.ops[4].attrs["fused_activation_function"] == "RELU"
    compiled = picoml.compile(graph, target="host")
    interp = Interpreter(graph)
    seen = {}
    hooks = [m.register_forward_hook(lambda _m, _i, out, k=k: seen.__setitem__(k, out.detach()))
             for k, m in (("pool", model.b1), ("b2", model.b2))]
    x = torch.randn(40, 3, 16, 16)
    with torch.no_grad():
        want = model(x)
    for h in hooks:
        h.remove()
    bconv3 = graph.ops[-1]
    k = 9 * 33
    m = np.abs(graph.tensors[bconv3.inputs[2]].data.astype(np.float64))
    b = np.abs(graph.tensors[bconv3.inputs[3]].data.astype(np.float64))
    bound = 4 * F32_EPS * (k * m + b)  # LCE computes (2 accum) * (-m) + (b + K m) in float32
    assert np.any(model.b2[2].weight.detach().numpy() < 0)  # negative multipliers: inverted filter bits
    for i in range(len(x)):
        got = compiled.run([nhwc(x[i:i + 1])])[0]
        ref = nhwc(want[i:i + 1])
        assert np.all(np.abs(got - ref) <= bound), f"sample {i}: {np.abs(got - ref).max()}"
        interp.run([nhwc(x[i:i + 1])], keep=True)
        for op, key in ((graph.ops[3], "pool"), (graph.ops[4], "b2")):
            t = graph.tensors[op.outputs[0]]
            bits = unpack_bits(interp.values[t.name], t.shape[-1])
            np.testing.assert_array_equal(bits, nhwc(seen[key][i:i + 1]) < 0)


@pytest.mark.parametrize("act", ["NONE", "RELU", "RELU6", "RELU_N1_TO_1"])
def test_bit_thresholds_reproduce_the_sign(act):
    rng = np.random.default_rng(0)
    k = 27
    m = rng.normal(size=64).astype(np.float32)
    m[:4] = 0
    b = (rng.normal(size=64) * 10).astype(np.float32)
    b[::7] = 0
    thresholds, flip = bit_thresholds(m, b, act, k, None)
    accum = np.arange(k + 1)
    lo, hi = {"NONE": (-k, k), "RELU": (0, k), "RELU6": (0, 6), "RELU_N1_TO_1": (-1, 1)}[act]
    y = np.clip(k - 2 * accum, lo, hi)[None, :] * m[:, None].astype(np.float64) + b[:, None]
    effective = np.where(flip[:, None], k - accum[None, :], accum[None, :])
    np.testing.assert_array_equal(effective > thresholds[:, None].astype(np.int64), y < 0)


# -- QAT: int8 from fake-quant parameters ----------------------------------------------------
def test_qat_model_keeps_fake_quant_parameters_and_agrees():
    digits = pytest.importorskip("picoml.data.digits")
    try:
        train, test = digits.load_digits(12)
    except picoml.PicomlError as e:
        pytest.skip(str(e))
    torch.manual_seed(4)
    model = zoo.int8_cnn(width=1, qat=True)
    x, y = torch.tensor(train.x) * 2 - 1, torch.tensor(train.y)
    opt = torch.optim.Adam(model.parameters(), 3e-3)
    for _ in range(2):
        model.train()
        for i in range(0, len(y), 64):
            loss = nn.functional.cross_entropy(model(x[i:i + 64]), y[i:i + 64])
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval()
    graph = picoml.from_torch(model, x[:1], calibration_data=[x[:64]])
    first_fq = model[0].input_quantizer.qparams()
    q = graph.input_tensors[0].quant
    assert (float(q.scale[0]), int(q.zero_point[0])) == (float(np.float32(first_fq[0])), first_fq[1])
    w0 = graph.tensors[graph.ops[0].inputs[1]]
    assert w0.quant.per_channel and w0.quant.scale.size == model[0].out_channels
    xt = torch.tensor(test.x) * 2 - 1
    with torch.no_grad():
        want = model(xt).argmax(1).numpy()
    compiled = picoml.compile(graph, target="host")
    got = np.array([int(np.argmax(compiled.run([quantize_input(graph.input_tensors[0], nhwc(xt[i:i + 1]))])[0]))
                    for i in range(len(xt))])
    assert np.mean(got == want) >= 0.99


def test_binary_layer_after_int8_fake_quant_reads_int8():
    model = nn.Sequential(
        QuantConv2d(1, 8, 3, padding="same", input_quantizer=Int8ActivationFakeQuant(),
                    kernel_quantizer="int8_weight"), nn.BatchNorm2d(8), Int8ActivationFakeQuant(),
        bconv(8, 8), nn.BatchNorm2d(8), nn.Flatten(), QuantLinear(8 * 6 * 6, 3, input_quantizer=Int8ActivationFakeQuant(),
                                                                  kernel_quantizer="int8_weight"))
    model.train()
    for _ in range(3):
        model(torch.randn(16, 1, 6, 6))
    random_bn(model)
    graph = picoml.from_torch(model, torch.randn(1, 1, 6, 6), calibration_data=[torch.randn(4, 1, 6, 6)])
    types = [op.type for op in graph.ops]
    assert types[:3] == ["CONV_2D", "LceQuantize", "LceBconv2d"]
    assert graph.tensors[graph.ops[1].inputs[0]].dtype is DType.INT8
    assert graph.tensors[graph.ops[2].outputs[0]].dtype is DType.INT8


# -- quantization rounding ------------------------------------------------------------------------
def test_rounding_is_half_away_from_zero():
    np.testing.assert_array_equal(round_half_away(np.array([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5])),
                                  [-3, -2, -1, 1, 2, 3])
    # lo = -127.5 * scale puts the zero point exactly on a tie: -128 + 127.5 = -0.5 -> -1 (ties to even: 0)
    assert activation_params(-127.5, 127.5).zero_point[0] == -1


# -- errors ------------------------------------------------------------------------------------------
def _raises(model: nn.Module, shape, *fragments: str) -> None:
    with pytest.raises(UnsupportedError) as info:
        picoml.from_torch(model.eval(), torch.randn(*shape))
    for f in fragments:
        assert f in str(info.value), str(info.value)


def test_unsupported_module_is_named():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Sequential(nn.Identity(), nn.GELU()))
    _raises(model, (1, 1, 5, 5), "1.1 (GELU)", "supported:")


def test_unsupported_picoml_layers_are_named():
    grouped = nn.Sequential(nn.Identity(), nn.Sequential(QuantConv2d(4, 4, 3, groups=2)))
    _raises(grouped, (1, 4, 5, 5), "1.0 (QuantConv2d)", "depthwise")
    binary_dense = nn.Sequential(nn.Flatten(), QuantLinear(4, 2, input_quantizer="ste_sign",
                                                           kernel_quantizer="ste_sign", kernel_constraint="weight_clip"))
    _raises(binary_dense, (1, 4), "1 (QuantLinear)", "binary")
    odd_pad = nn.Sequential(bconv(4, 4, pad_value=-1.0))
    _raises(odd_pad, (1, 4, 5, 5), "0 (QuantConv2d)", "pad_value")
    tern = nn.Sequential(QuantConv2d(4, 4, 3, input_quantizer="ste_tern"))
    _raises(tern, (1, 4, 5, 5), "0 (QuantConv2d)", "SteTern")


def test_unconvertible_activation_is_refused():
    class M(nn.Module):
        def forward(self, x):
            return nn.functional.relu6(torch.cat([x, x], 1))

    _raises(M(), (1, 2, 3, 3), "RELU6", "cannot be fused")
