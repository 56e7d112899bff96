"""picoml.summary on a tiny mixed-precision model, every number checked by hand."""
import subprocess
import sys

import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

import picoml  # noqa: E402
from picoml.nn.layers import QuantConv2d, QuantLinear  # noqa: E402

torch.set_num_threads(1)


def tiny():
    return nn.Sequential(
        QuantConv2d(3, 8, 3, padding="same"),  # float: 216 weights + 8 bias
        nn.BatchNorm2d(8),  # 16 params
        QuantConv2d(8, 16, 3, stride=2, padding="same", input_quantizer="ste_sign", kernel_quantizer="ste_sign",
                    kernel_constraint="weight_clip", pad_value=1.0, bias=False),  # 1152 binary weights
        nn.Flatten(),
        QuantLinear(16 * 4 * 4, 10, input_quantizer="int8_activation", kernel_quantizer="int8_weight"),
    )


def test_summary_numbers_by_hand():
    model = tiny()
    model[1].weight.requires_grad_(False)  # 8 non-trainable parameters
    model.train()
    lines = []
    res = picoml.summary(model, (3, 8, 8), print_fn=lines.append)
    conv1, bn, bconv, flat, fc = res["layers"]
    # conv1: 8x8 output, 3*8*9 = 216 float weights -> 216 * 64 MACs at 32 bits
    assert conv1["name"] == "0" and conv1["input_bits"] is None and conv1["output_shape"] == (8, 8, 8)
    assert conv1["params"] == {32: 224} and conv1["memory_bytes"] == 224 * 4 and conv1["macs"] == {32: 13824}
    assert bn["params"] == {32: 16} and bn["macs"] == {} and bn["output_shape"] == (8, 8, 8)
    # binary conv, stride 2: 4x4 output, 8*16*9 = 1152 one-bit weights (144 bytes), 1152 * 16 binary MACs
    assert bconv["input_bits"] == 1 and bconv["output_shape"] == (16, 4, 4)
    assert bconv["params"] == {1: 1152} and bconv["memory_bytes"] == 144 and bconv["macs"] == {1: 18432}
    assert flat["output_shape"] == (256,) and flat["params"] == {}
    # int8 input and weights: 2560 8-bit weights + 10 float biases, 2560 8-bit MACs
    assert fc["input_bits"] == 8 and fc["params"] == {8: 2560, 32: 10}
    assert fc["memory_bytes"] == 2560 + 40 and fc["macs"] == {8: 2560}

    assert res["params_by_bits"] == {1: 1152, 8: 2560, 32: 250}
    assert res["total_params"] == 3962 and res["trainable_params"] == 3954 and res["non_trainable_params"] == 8
    assert res["model_size_bytes"] == 250 * 4 + 144 + 2560 == 3704
    assert res["model_size_int8_fp_bytes"] == 250 + 144 + 2560
    assert res["float32_bytes"] == 3962 * 4
    assert res["compression_ratio"] == pytest.approx(15848 / 3704)
    assert res["macs_by_bits"] == {1: 18432, 8: 2560, 32: 13824} and res["total_macs"] == 34816
    assert res["binarized_mac_ratio"] == pytest.approx(18432 / 34816)
    assert res["ternarized_mac_ratio"] == 0.0
    # the planner's arena for the model converted to int8: the peak is at LceQuantize, where
    # conv1's int8 8x8x8 output (512 B) and its bitpacked copy (8x8 pixels x one int32 word) live
    assert res["peak_sram_bytes"] == 512 + 8 * 8 * 4
    assert model.training  # the conversion for the estimate leaves the training flag alone

    text = lines[0]
    for needle in ("QuantConv2d", "1-bit", "8-bit", "32-bit", "Total", "Ratio of MACs that are binarized", "0.5294"):
        assert needle in text, needle
    # training flags restored, and the int8 observer was not fed the dummy input
    assert all(m.training for m in model.modules())
    assert not model[4].input_quantizer.observer.seen


def test_summary_silent_and_multi_input():
    class Two(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Linear(3, 2)
            self.b = nn.Linear(5, 2)
            self.scale = nn.Parameter(torch.ones(2))  # a parameter outside any layer

        def forward(self, x, y):
            return (self.a(x) + self.b(y)) * self.scale

    res = picoml.summary(Two(), [(3,), (5,)], print_fn=None)
    assert res["total_params"] == 8 + 12 + 2 and res["total_macs"] == 6 + 10
    assert res["layers"][-1]["name"] == "(other parameters)"


def test_import_picoml_does_not_need_torch():
    code = "import sys, picoml, picoml.nn; assert 'torch' not in sys.modules; assert callable(picoml.summary)"
    subprocess.run([sys.executable, "-c", code], check=True)
