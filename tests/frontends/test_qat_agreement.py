"""int8 QAT models: the compiled C predicts what PyTorch's quantized (fake-quant) forward predicts.

Measured cause of the old ~90% agreement on keyword spotting: global average pooling was
converted to ``AVERAGE_POOL_2D``, whose int8 input and output must share one range in TFLM, so the
feature map before the pooling got the (much narrower) range of its per-channel means -- the
classifier's input quantizer -- and was clipped on the device while PyTorch averaged it in float.
It is now a ``MEAN`` (which requantizes). The zoo's QAT classifier also fake-quantizes the feature
map and the logits, the two int8 tensors of the deployed graph its forward pass did not round, so
every int8 parameter comes from training and int8 ties in the logits happen in PyTorch too.

Data: seeded synthetic classes (a random template per class, buried in noise so that many samples
sit close to a decision boundary, where rounding differences would show).
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

import picoml  # noqa: E402
import picoml.zoo as zoo  # noqa: E402
from picoml.interpreter import Interpreter, quantize_input  # noqa: E402
from picoml.nn import Int8ActivationFakeQuant, QuantConv2d, QuantLinear  # noqa: E402

MIN_AGREEMENT = 0.99


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def noisy_classes(n: int, shape: tuple[int, ...], classes: int, signal: float, seed: int,
                  split: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` samples: the class template (fixed by ``seed``) times ``signal`` plus unit noise
    (drawn from ``split``, so train and test share the classes but not the samples)."""
    templates = torch.randn(classes, *shape, generator=torch.Generator().manual_seed(seed))
    g = torch.Generator().manual_seed(seed * 1000 + split)
    y = torch.randint(0, classes, (n,), generator=g)
    return templates[y] * signal + torch.randn(n, *shape, generator=g), y


def train(model: nn.Module, x: torch.Tensor, y: torch.Tensor, epochs: int, lr: float) -> nn.Module:
    opt = torch.optim.Adam(model.parameters(), lr)
    g = torch.Generator().manual_seed(1)
    for _ in range(epochs):
        model.train()
        order = torch.randperm(len(y), generator=g)
        for i in range(0, len(y), 64):
            idx = order[i:i + 64]
            loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return model.eval()


def float_then_qat(build, x: torch.Tensor, y: torch.Tensor, float_epochs: int = 4, qat_epochs: int = 2) -> nn.Module:
    """The KWS recipe: float training, then QAT fine tuning from the float weights."""
    torch.manual_seed(0)
    model = train(build(qat=False), x, y, float_epochs, 3e-3)
    qat = build(qat=True)
    missing, unexpected = qat.load_state_dict(model.state_dict(), strict=False)
    assert not unexpected and all("quantizer" in k or "observer" in k or k.split(".")[-1] in
                                  ("min_val", "max_val", "initialized") for k in missing)
    return train(qat, x, y, qat_epochs, 1e-4)


def nhwc(x: torch.Tensor) -> np.ndarray:
    return np.ascontiguousarray(x.permute(0, 2, 3, 1).numpy()) if x.dim() == 4 else x.numpy()


def c_predictions(graph: picoml.Graph, x: torch.Tensor) -> np.ndarray:
    """argmax of the int8 output of the host-compiled C (first index on ties, as torch.argmax)."""
    compiled = picoml.compile(graph, target="host")
    t = graph.input_tensors[0]
    xs = nhwc(x)
    return np.array([int(np.argmax(compiled.run([quantize_input(t, xs[i:i + 1])])[0])) for i in range(len(xs))])


def convert_from_fake_quant(model: nn.Module, example: torch.Tensor) -> picoml.Graph:
    """``from_torch`` without calibration data; fails if any tensor had to be calibrated."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        graph = picoml.from_torch(model, example)
    calibrated = [str(w.message) for w in caught if "calibrated on example_input" in str(w.message)]
    assert not calibrated, calibrated
    return graph


def fake_quant_params(q: Int8ActivationFakeQuant) -> tuple[float, int]:
    s, z = q.qparams()
    return float(np.float32(s)), z


def tensor_params(t) -> tuple[float, int]:
    return float(t.quant.scale[0]), int(t.quant.zero_point[0])


def check_agreement(model: nn.Module, graph: picoml.Graph, x_test: torch.Tensor, record_property) -> float:
    with torch.no_grad():
        want = model(x_test).argmax(1).numpy()
    got = c_predictions(graph, x_test)
    agreement = float(np.mean(got == want))
    record_property("agreement", agreement)
    print(f"{graph.name}: compiled C = PyTorch QAT on {agreement:.2%} of {len(want)} samples "
          f"({int(np.sum(got != want))} differ)")
    assert agreement >= MIN_AGREEMENT
    return agreement


# -- the cause: the feature map before global pooling keeps its own range ------------------------
def pooled_head(qat_pool_input: bool) -> nn.Sequential:
    """conv + BN + ReLU, global average pooling, an int8 classifier; the feature map before the
    pooling is fake-quantized only when ``qat_pool_input``."""
    return nn.Sequential(
        QuantConv2d(1, 8, 3, padding="same", bias=False, input_quantizer=Int8ActivationFakeQuant(),
                    kernel_quantizer="int8_weight"), nn.BatchNorm2d(8), nn.ReLU(),
        Int8ActivationFakeQuant() if qat_pool_input else nn.Identity(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        QuantLinear(8, 4, input_quantizer=Int8ActivationFakeQuant(), kernel_quantizer="int8_weight"))


@pytest.mark.parametrize("qat_pool_input", [False, True])
def test_global_pool_keeps_the_feature_map_range(qat_pool_input):
    """The means the C computes are PyTorch's fake-quantized means within 1 LSB, on every sample.

    Fails with the old conversion (AVERAGE_POOL_2D sharing the classifier input's range with the
    feature map: the map is clipped at the largest *mean*, the means come out many LSB low)."""
    torch.manual_seed(0)
    model = pooled_head(qat_pool_input)
    x, _ = noisy_classes(256, (1, 12, 12), 4, 1.0, seed=3, split=0)
    model.train()
    with torch.no_grad():
        for i in range(0, 256, 32):
            model(x[i:i + 32])
    model.eval()
    graph = picoml.from_torch(model, x[:1], calibration_data=[x[:128]])
    (pool,) = [op for op in graph.ops if op.type in ("MEAN", "AVERAGE_POOL_2D")]
    feature_map, means = (graph.tensors[n] for n in (pool.inputs[0], pool.outputs[0]))
    fc = model[-1].input_quantizer
    seen = {}
    fc.register_forward_hook(lambda m, i, o: seen.__setitem__("means", o.detach()))
    x_test, _ = noisy_classes(64, (1, 12, 12), 4, 1.0, seed=3, split=1)
    with torch.no_grad():
        model(x_test)
    s, z = tensor_params(means)
    want = np.round(seen["means"].numpy() / s) + z  # PyTorch's int8 codes of the means
    interp = Interpreter(graph)
    t = graph.input_tensors[0]
    got = []
    for i in range(len(x_test)):
        interp.run([quantize_input(t, nhwc(x_test[i:i + 1]))], keep=True)
        got.append(interp.values[means.name].reshape(-1))
    diff = np.abs(np.array(got, np.int64) - want.astype(np.int64))
    assert diff.max() <= 1, f"means differ by up to {diff.max()} LSB"
    assert pool.type == "MEAN"
    assert tensor_params(means) == fake_quant_params(fc)
    if qat_pool_input:
        assert tensor_params(feature_map) == fake_quant_params(model[3])


# -- agreement after training -------------------------------------------------------------------
def test_qat_ds_cnn_agrees_with_torch(record_property):
    """The zoo DS-CNN (keyword spotting), float then QAT training; converted from its fake-quant
    parameters alone (no calibration), compiled for the host."""
    shape = (1, 49, 10)
    x, y = noisy_classes(1200, shape, 4, 0.5, seed=7, split=0)
    x_test, _ = noisy_classes(600, shape, 4, 0.5, seed=7, split=1)
    model = float_then_qat(lambda qat: zoo.ds_cnn(4, shape, width=0.25, blocks=2, qat=qat), x, y)
    graph = convert_from_fake_quant(model, x[:1])
    ops = [op.type for op in graph.ops]
    assert "MEAN" in ops and "AVERAGE_POOL_2D" not in ops
    fqs = [m for m in model.modules() if isinstance(m, Int8ActivationFakeQuant)]
    assert tensor_params(graph.input_tensors[0]) == fake_quant_params(fqs[0])
    assert tensor_params(graph.output_tensors[0]) == fake_quant_params(fqs[-1])
    check_agreement(model, graph, x_test, record_property)


def test_qat_cnn_with_batch_norm_agrees_with_torch(record_property):
    """The zoo's int8 CNN (conv + BN + ReLU stages, max pools), float then QAT training."""
    shape = (1, 16, 16)
    x, y = noisy_classes(1200, shape, 10, 0.5, seed=11, split=0)
    x_test, _ = noisy_classes(600, shape, 10, 0.5, seed=11, split=1)
    model = float_then_qat(lambda qat: zoo.int8_cnn(10, width=1.0, qat=qat), x, y)
    graph = convert_from_fake_quant(model, x[:1])
    assert sum(isinstance(m, nn.BatchNorm2d) for m in model.modules()) == 3
    assert not any(op.type == "BATCH_NORM" for op in graph.ops)  # folded into the convolutions
    check_agreement(model, graph, x_test, record_property)
