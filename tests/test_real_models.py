"""Whole real models: picoml's reference interpreter gives tflite-micro's bits.

Every model in ../shared/real that uses only supported ops is checked on its upstream inputs
and on 50 seeded random inputs; the ones with other ops must give the unsupported-op error.
"""
import glob
import os

import numpy as np
import pytest

import picoml
from picoml.errors import UnsupportedError
from picoml.interpreter import Interpreter
from picoml.testing.opmodel import assert_same, random_input
from picoml.testing.peers import TflmModel

N_RANDOM = 50


def check_model(path, inputs_list, rng=None, n_random=N_RANDOM):
    g = picoml.load_tflite(path)
    interp = Interpreter(g)
    tflm = TflmModel(path)
    cases = list(inputs_list)
    if rng is not None:
        cases += [[random_input(t, rng) for t in g.input_tensors] for _ in range(n_random)]
    for inputs in cases:
        assert_same(interp.run(inputs), tflm.run(inputs))
    return interp


def bmp_bytes(path):
    from PIL import Image

    return np.frombuffer(Image.open(path).tobytes(), np.uint8).view(np.int8).reshape(1, 96, 96, 1)


def test_person_detect(real, rng):
    d = real / "tflm/person_detection"
    person, no_person = bmp_bytes(d / "person.bmp"), bmp_bytes(d / "no_person.bmp")
    interp = check_model(d / "person_detect.tflite", [[person], [no_person]], rng)
    assert interp.run([person])[0].tolist() == [[-113, 113]]  # README's TFLM figures, fed the upstream way
    assert interp.run([no_person])[0].tolist() == [[57, -57]]


def test_micro_speech(real, rng):
    d = real / "tflm/micro_speech"
    feats = {w: np.load(d / f"derived_features_{w}_1000ms_int8.npy").reshape(1, 1960)
             for w in ("yes", "no", "silence", "noise")}
    interp = check_model(d / "micro_speech_quantized.tflite", [[f] for f in feats.values()], rng)
    labels = ["silence", "unknown", "yes", "no"]
    got = {w: labels[int(np.argmax(interp.run([f])[0]))] for w, f in feats.items()}
    assert got == {"yes": "yes", "no": "no", "silence": "silence", "noise": "silence"}


def test_hello_world(real, rng):
    d = real / "tflm/hello_world"
    q = check_model(d / "hello_world_int8.tflite", [[np.array([[v]], np.int8)] for v in (-96, -63, -34, 0)], rng)
    assert [int(q.run([np.array([[v]], np.int8)])[0][0, 0]) for v in (-96, -63, -34, 0)] == [89, 125, 93, 4]
    f = check_model(d / "hello_world_float.tflite", [[np.array([[v]], np.float32)] for v in (0, 1, 3, 5)], rng)
    out = [float(f.run([np.array([[v]], np.float32)])[0][0, 0]) for v in (0, 1, 3, 5)]
    np.testing.assert_allclose(out, [0.0264053, 0.8630436, 0.1276460, -0.9565188], rtol=1e-5)


def test_simple_add(real, rng):
    check_model(real / "tflm/misc/simple_add_model.tflite", [], rng)


def _seanet_cases(real):
    return sorted(glob.glob(os.path.join(real, "tflm/seanet/*/*.tflite")))


def _csv(path, dtype):
    return np.array([int(v) for v in open(path).read().strip().split(",")], dtype)


def test_all_seanet_models(real):
    paths = _seanet_cases(real)
    assert len(paths) == 127
    for path in paths:
        stem = path[:-len(".tflite")]
        g = picoml.load_tflite(path)
        inputs = []
        for i, t in enumerate(g.input_tensors):
            (csv,) = glob.glob(f"{stem}_input{i}_*.csv")
            inputs.append(_csv(csv, t.dtype.numpy).reshape(t.shape))
        got = Interpreter(g).run(inputs)
        assert_same(got, TflmModel(path).run(inputs))
        (golden,) = glob.glob(f"{stem}_golden_*.csv")
        want = _csv(golden, np.int64)
        assert np.abs(got[0].astype(np.int64).ravel() - want).max() <= 1, path


MLPERF = {"kws_int8": "mlperf_tiny/kws/kws_ref_model.tflite", "vww_int8": "mlperf_tiny/vww/vww_96_int8.tflite",
          "vww_float": "mlperf_tiny/vww/vww_96_float.tflite", "ic_int8": "mlperf_tiny/ic/pretrainedResnet_quant.tflite",
          "ic_float": "mlperf_tiny/ic/pretrainedResnet.tflite",
          "ic_large_int8": "mlperf_tiny/ic/pretrainedResnet_large_int8.tflite",
          "ad_int8": "mlperf_tiny/ad/ad01_int8.tflite", "ad_float": "mlperf_tiny/ad/ad01_fp32.tflite",
          "sww_int8": "mlperf_tiny/sww/str_ww_ref_model.tflite",
          "mobilenet_v2_int8": "tflm/mobilenet_v2_pytorch/mobilenet_v2_quantized_1x3x224x224.tflite"}


@pytest.mark.parametrize("name", sorted(MLPERF))
def test_mlperf_and_mobilenet_against_recorded_tflm_outputs(real, name):
    d = real / "expected_tflm" / name
    interp = Interpreter(picoml.load_tflite(real / MLPERF[name]))
    for k in range(len(glob.glob(str(d / "input_*.npy")))):
        x = np.load(d / f"input_{k}.npy")
        assert_same(interp.run([x]), [np.load(d / f"expected_{k}.npy")])


def test_kws_float_hybrid_model(real, rng):
    """Hybrid convs (int8 weights, float activations): tflite-micro refuses them ("Hybrid models are
    not supported"), so the peer is LiteRT's reference kernels, which picoml matches."""
    from ai_edge_litert.interpreter import Interpreter as LiteRT, OpResolverType

    path = real / "mlperf_tiny/kws/kws_ref_model_float32.tflite"
    g = picoml.load_tflite(path)
    assert any(op.type == "CONV_2D" and g.tensors[op.inputs[1]].dtype.value == "int8" for op in g.ops)
    ours = Interpreter(g)
    peer = LiteRT(model_path=str(path), experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
    peer.allocate_tensors()
    inp, out = peer.get_input_details()[0]["index"], peer.get_output_details()[0]["index"]
    for _ in range(10):
        x = random_input(g.input_tensors[0], rng)
        peer.set_tensor(inp, x)
        peer.invoke()
        assert_same(ours.run([x]), [peer.get_tensor(out)])


@pytest.mark.parametrize("rel, op", [
    ("tflm/mnist_lstm/trained_lstm.tflite", "UNIDIRECTIONAL_SEQUENCE_LSTM"),
    ("tflm/dtln/dtln_noise_suppression.tflite", "UNIDIRECTIONAL_SEQUENCE_LSTM"),
    ("tflm/keyword_benchmark/keyword_scrambled.tflite", "SVDF"),
    ("tflm/micro_speech/audio_preprocessor_int8.tflite", "SignalWindow"),
    ("tflm/person_detection/person_detect_vela.tflite", "ethos-u"),
    ("larq_lce/example_model_bsign.tflite", "Bsign"),
])
def test_models_with_other_ops_are_refused_clearly(real, rel, op):
    g = picoml.load_tflite(real / rel)
    with pytest.raises(UnsupportedError) as e:
        Interpreter(g)
    msg = str(e.value)
    idx = next(o.index for o in g.ops if o.type == op)
    assert f"#{idx} {op}" in msg and "picoml supports:" in msg and "CONV_2D" in msg
