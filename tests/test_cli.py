"""The `picoml` command: stable JSON and npz interfaces, clear errors with exit code 2."""
import json
import subprocess
import sys

import numpy as np
import pytest

from picoml.cli import main


def picoml(*args):
    return subprocess.run([sys.executable, "-m", "picoml.cli", *map(str, args)], capture_output=True, text=True)


def test_info_json(real, capsys):
    assert main(["info", str(real / "tflm/person_detection/person_detect.tflite"), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["inputs"] == [{"name": "input", "shape": [1, 96, 96, 1], "dtype": "int8",
                               "scale": pytest.approx(0.0078431, rel=1e-4), "zero_point": -1}]
    assert info["outputs"][0]["shape"] == [1, 2]
    assert len(info["ops"]) == 31 and info["ops"][0] == "DEPTHWISE_CONV_2D"
    assert info["param_bytes"] > 200_000
    assert info["macs"] > 7_000_000  # person_detect is about 7.1 M MACs


def test_info_human_readable(real, capsys):
    assert main(["info", str(real / "tflm/hello_world/hello_world_int8.tflite")]) == 0
    out = capsys.readouterr().out
    assert "FULLY_CONNECTED" in out and "MACs" in out


def test_info_lists_unsupported_ops_without_failing(real, capsys):
    assert main(["info", str(real / "tflm/micro_speech/audio_preprocessor_int8.tflite"), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert {o["type"] for o in info["unsupported_ops"]} >= {"SignalWindow", "SignalRfft"}


def test_run_writes_npz(real, tmp_path):
    x = tmp_path / "x.npy"
    np.save(x, np.array([[-96]], np.int8))
    out = tmp_path / "out.npz"
    r = picoml("run", real / "tflm/hello_world/hello_world_int8.tflite", "--input", x, "--output", out)
    assert r.returncode == 0, r.stderr
    assert np.load(out)["output_0"].tolist() == [[89]]
    assert "89" in r.stdout


def test_run_quantizes_float_input(real, tmp_path):
    x = tmp_path / "x.npy"
    np.save(x, np.array([[0.77]], np.float32))
    out = tmp_path / "out.npz"
    assert main(["run", str(real / "tflm/hello_world/hello_world_int8.tflite"), "--input", str(x),
                 "--quantize", "--output", str(out)]) == 0
    assert np.load(out)["output_0"].dtype == np.int8


@pytest.mark.parametrize("make_input, message", [
    (lambda: np.zeros((1, 5), np.int8), "expects shape"),
    (lambda: np.zeros((1, 1), np.float32), "expects int8"),
])
def test_run_rejects_wrong_input(real, tmp_path, make_input, message):
    x = tmp_path / "x.npy"
    np.save(x, make_input())
    r = picoml("run", real / "tflm/hello_world/hello_world_int8.tflite", "--input", x)
    assert r.returncode == 2 and message in r.stderr and "Traceback" not in r.stderr


def test_errors_exit_2_without_traceback(real, tmp_path):
    junk = tmp_path / "junk.tflite"
    junk.write_bytes(b"\x00" * 64)
    for args in (["info", junk], ["info", tmp_path / "missing.tflite"],
                 ["run", real / "tflm/mnist_lstm/trained_lstm.tflite", "--input", junk],
                 ["run", real / "tflm/hello_world/hello_world_int8.tflite"]):
        r = picoml(*args)
        assert r.returncode == 2, (args, r.stderr)
        assert r.stderr.startswith("picoml: error:") and "Traceback" not in r.stderr
        assert len(r.stderr.strip().splitlines()) == 1


def test_unsupported_model_run_lists_ops(real, tmp_path):
    x = tmp_path / "x.npy"
    np.save(x, np.zeros((1, 28, 28), np.float32))
    r = picoml("run", real / "tflm/mnist_lstm/trained_lstm.tflite", "--input", x)
    assert r.returncode == 2 and "#0 UNIDIRECTIONAL_SEQUENCE_LSTM" in r.stderr


@pytest.mark.parametrize("engine", ["ref", "host", "cortex-m4"])
def test_run_lce_model_on_every_engine(real, tmp_path, engine):
    import shutil

    if engine == "cortex-m4" and shutil.which("arm-none-eabi-gcc") is None:
        pytest.skip("arm-none-eabi-gcc is not installed (.ci/run installs it)")
    ref = np.load(real / "lce/bconv3x3_pad1_int8.npz")
    x = tmp_path / "x.npy"
    np.save(x, ref["inputs"][0:1])
    out = tmp_path / "out.npz"
    assert main(["run", str(real / "lce/bconv3x3_pad1_int8.tflite"), "--engine", engine, "--input", str(x),
                 "--output", str(out)]) == 0
    assert np.array_equal(np.load(out)["output_0"], ref["outputs"][0:1])


def test_compile_with_the_streaming_keyword_detector(real, tmp_path, capsys):
    """``compile --kws-stream`` adds the audio frontend, the detector and the adapter to the
    project's sources; a model that does not take micro_speech features is refused, nothing
    written."""
    out = tmp_path / "kws"
    assert main(["compile", str(real / "tflm/micro_speech/micro_speech_quantized.tflite"), "-o", str(out),
                 "--kws-stream"]) == 0
    for name in ("pm_audio_frontend.c", "pm_kws_stream.c", "model_kws.h", "model_kws.c"):
        assert (out / name).is_file(), name
    assert "pm_kws_stream.c" in (out / "Makefile").read_text()
    capsys.readouterr()
    bad = tmp_path / "person"
    assert main(["compile", str(real / "tflm/person_detection/person_detect.tflite"), "-o", str(bad),
                 "--kws-stream"]) == 2
    assert "49 x 40 int8 micro_speech features" in capsys.readouterr().err and not bad.exists()
