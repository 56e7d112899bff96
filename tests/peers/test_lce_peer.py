"""Opt-in (`make test-peers`): binary models exported by picoml run in LCE's own interpreter with
the same outputs. Needs LCE_PYTHON (the LCE venv that `make test-peers` builds)."""
import numpy as np
import pytest

import picoml
from picoml.exporters.tflite import export_tflite
from picoml.interpreter import Interpreter
from picoml.testing.lce_peer import lce_python, run_lce
from picoml.testing.opmodel import assert_same

pytestmark = [pytest.mark.peers,
              pytest.mark.skipif(lce_python() is None, reason="LCE_PYTHON not set: run `make test-peers`")]

MODELS = ["bconv3x3_pad1", "bconv3x3_pad1_int8", "bconv1x1", "bconv_sign_out", "bnn_chain"]


@pytest.mark.parametrize("name", MODELS)
def test_exported_lce_model_runs_in_lce_with_the_same_outputs(real, name):
    ref = np.load(real / f"lce/{name}.npz")
    exported = export_tflite(picoml.load_tflite(real / f"lce/{name}.tflite"))
    got = run_lce(exported, [ref["inputs"][k:k + 1] for k in range(len(ref["inputs"]))])
    assert_same([np.concatenate(got)], [ref["outputs"]])


def test_picoml_trained_bnn_runs_in_lce(rng):
    torch = pytest.importorskip("torch")
    from picoml.nn import QuantConv2d

    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 32, 3, padding=1), torch.nn.BatchNorm2d(32),
        QuantConv2d(32, 32, 3, padding="same", input_quantizer="ste_sign", kernel_quantizer="ste_sign",
                    pad_value=1.0, bias=False), torch.nn.BatchNorm2d(32),
        QuantConv2d(32, 16, 3, padding="same", input_quantizer="ste_sign", kernel_quantizer="ste_sign",
                    pad_value=1.0, bias=False), torch.nn.BatchNorm2d(16)).eval()
    x = torch.randn(1, 3, 12, 12)
    graph = picoml.from_torch(model, x)
    inputs = [rng.standard_normal((1, 12, 12, 3)).astype(np.float32) for _ in range(4)]
    ours = [Interpreter(graph).run([a])[0] for a in inputs]
    theirs = run_lce(export_tflite(graph), inputs)
    assert_same(ours, [t.reshape(o.shape) for o, t in zip(ours, theirs)])
