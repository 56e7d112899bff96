"""Zoo models: forward shapes, parameter counts worked out by hand (MobileNetV1 also against the
published Keras count), only standard torch / picoml.nn leaf layers, and summary() on each."""
import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

import picoml  # noqa: E402
from picoml import zoo  # noqa: E402
from picoml.nn.fake_quant import Int8ActivationFakeQuant  # noqa: E402
from picoml.nn.layers import QuantConv2d, QuantLayer  # noqa: E402

torch.set_num_threads(1)


def n_params(model):
    return sum(p.numel() for p in model.parameters())


def test_int8_cnn():
    model = zoo.int8_cnn(num_classes=10, in_channels=1)
    assert model(torch.randn(2, 1, 28, 28)).shape == (2, 10)
    # convs without bias + BN (2 per channel) + classifier
    expected = (1 * 8 * 9 + 16) + (8 * 16 * 9 + 32) + (16 * 32 * 9 + 64) + (32 * 10 + 10)
    assert n_params(model) == expected == 6274
    assert n_params(zoo.int8_cnn(width=2.0)) == (1 * 16 * 9 + 32) + (16 * 32 * 9 + 64) + (32 * 64 * 9 + 128) + 650


def test_int8_cnn_qat_observes_then_quantizes():
    torch.manual_seed(0)
    model = zoo.int8_cnn(qat=True)
    fqs = [m for m in model.modules() if isinstance(m, Int8ActivationFakeQuant)]
    assert len(fqs) == 6  # 4 layer inputs, the feature map before pooling, the logits
    model.train()
    model(torch.randn(4, 1, 12, 12))
    assert all(fq.observer.seen for fq in fqs)
    model.eval()
    y1 = model(torch.randn(1, 1, 12, 12))
    assert y1.shape == (1, 10)
    res = picoml.summary(model, (1, 12, 12), print_fn=None)
    assert set(res["macs_by_bits"]) == {8}


@pytest.mark.parametrize("shape", [(1, 49, 10), (49, 40)])
def test_ds_cnn(shape):
    model = zoo.ds_cnn(num_classes=12, input_shape=shape)
    assert model(torch.randn(2, *shape)).shape == (2, 12)
    c = 64
    per_block = (c * 9 + 2 * c) + (c * c + 2 * c)  # depthwise + BN, pointwise + BN
    expected = (1 * c * 10 * 4 + 2 * c) + 4 * per_block + (c * 12 + 12)
    assert n_params(model) == expected == 23180
    first = next(m for m in model.modules() if isinstance(m, QuantConv2d))
    assert first.kernel_size == (10, 4) and first.stride == (2, 2) and first.padding == "same"


def test_ds_cnn_rejects_bad_shape():
    with pytest.raises(ValueError):
        zoo.ds_cnn(input_shape=(2, 49, 10))


def test_mobilenet_v1():
    model = zoo.mobilenet_v1(num_classes=2, width=0.25)
    assert model(torch.randn(1, 3, 96, 96)).shape == (1, 2)
    # Keras' MobileNet(alpha=1.0, classes=1000) has 4,231,976 trainable parameters (same layers,
    # BN gamma/beta trainable, classifier with bias)
    assert n_params(zoo.mobilenet_v1(num_classes=1000, width=1.0)) == 4_231_976
    chans = [8, 16, 32, 32, 64, 64, 128, 128, 128, 128, 128, 128, 256, 256]
    expected = 3 * 8 * 9 + 2 * 8
    for cin, cout in zip(chans, chans[1:]):
        expected += cin * 9 + 2 * cin + cin * cout + 2 * cout
    assert n_params(model) == expected + 256 * 2 + 2


def test_quicknet():
    model = zoo.quicknet(num_classes=2, width=0.5, section_blocks=(1, 1, 1, 1))
    assert model(torch.randn(2, 3, 96, 96)).shape == (2, 2)
    f = [16, 32, 64, 128]
    stem = 8
    expected = 3 * stem * 9 + 2 * stem + stem * 9 + 2 * stem + stem * f[0] + 2 * f[0]
    for i, c in enumerate(f):
        if i:
            expected += f[i - 1] * 9 + 2 * f[i - 1] + f[i - 1] * c + 2 * c
        expected += c * c * 9 + 2 * c  # one binary block: bconv (no bias) + BN
    expected += f[-1] * 2 + 2
    assert n_params(model) == expected
    res = picoml.summary(model, (3, 96, 96), print_fn=None)
    assert res["params_by_bits"][1] == sum(c * c * 9 for c in f)
    assert res["binarized_mac_ratio"] > 0.5
    bconvs = [m for m in model.modules() if isinstance(m, QuantLayer) and m.kernel_bits == 1]
    assert len(bconvs) == 4 and all(m.pad_value == 1.0 and m.input_bits == 1 for m in bconvs)


def test_residual_block_adds_shortcut():
    block = zoo.BinaryResidualBlock(8).eval()
    x = torch.randn(1, 8, 5, 5)
    torch.testing.assert_close(block(x), x + block.bn(block.relu(block.conv(x))))


ALLOWED_MODULES = ("torch.nn.modules.", "picoml.nn.", "picoml.zoo.")


@pytest.mark.parametrize("name", sorted(zoo.MODELS))
def test_built_from_standard_and_picoml_layers(name):
    model = zoo.get_model(name)
    for m in model.modules():
        assert type(m).__module__.startswith(ALLOWED_MODULES), type(m)
        if next(m.children(), None) is None:  # leaf layers are torch or picoml.nn classes
            assert type(m).__module__.startswith(("torch.nn.modules.", "picoml.nn.")), type(m)
    assert isinstance(model, nn.Module)
    with pytest.raises(ValueError, match="unknown zoo model"):
        zoo.get_model("resnet9000")
