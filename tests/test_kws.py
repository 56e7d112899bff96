"""Keyword spotting end to end (picoml.kws): a reduced pipeline run, its report files, the
frontend firmware, the feature-input contract, and (slow) the real-recording check."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from picoml.errors import InputError
from picoml.testing.real import real_dir

torch = pytest.importorskip("torch")


def _tools_or_skip() -> None:
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (synthetic speech dataset)")
    if shutil.which("arm-none-eabi-gcc") is None:
        pytest.skip("arm-none-eabi-gcc is not installed (Cortex-M target)")


def test_feature_input_contract() -> None:
    from picoml.kws.deploy import feature_input
    from picoml.kws.models import FEATURE_SCALE, dequantize_features, int8_ds_cnn

    model = int8_ds_cnn(qat=True)
    first = next(m for m in model.modules() if type(m).__name__ == "Int8ActivationFakeQuant")
    scale, zp = first.qparams()
    assert np.float32(scale) == np.float32(FEATURE_SCALE) and zp == -128
    q = np.random.default_rng(0).integers(-128, 128, (49, 40)).astype(np.int8)
    x = dequantize_features(q[None])
    assert torch.equal(first(x), x)  # the pinned quantizer reproduces every feature code exactly

    class G:  # a graph stand-in with another input quantization
        class T:
            dtype = type("D", (), {"numpy": np.int8})
            quant = type("Q", (), {"scale": np.array([FEATURE_SCALE * 2]), "zero_point": np.array([0])})
            storage_shape = (1, 1960)
        input_tensors = [T]

    got = feature_input(G, q)
    want = np.clip(np.round((q.astype(float) + 128) / 2), -128, 127).astype(np.int8)
    assert got.shape == (1, 1960) and np.array_equal(got.ravel(), want.ravel())
    with pytest.raises(InputError):
        feature_input(G, q.astype(np.int16))


def test_augment_is_seeded_and_in_range() -> None:
    from picoml.kws.train import augment

    q = np.random.default_rng(1).integers(-128, 128, (5, 49, 40)).astype(np.int8)
    a = augment(q, np.random.default_rng(3), 8)
    b = augment(q, np.random.default_rng(3), 8)
    assert torch.equal(a, b) and a.shape == (5, 49, 40)
    assert float(a.min()) >= 0 and float(a.max()) <= 255 * 0.1017157 + 1e-4


def test_frontend_firmware_matches_numpy() -> None:
    _tools_or_skip()
    from picoml.kws.cpu_load import bench_frontend, cpu_load

    audio = (np.random.default_rng(0).standard_normal(16000) * 2000).astype(np.int16)
    fe = bench_frontend(audio)
    assert fe.matches_numpy and fe.cycles_per_frame > 1000 and fe.flash_bytes > 0 and fe.sram_bytes > 32000
    load = cpu_load("m", fe, {"cycles": 1_200_000, "flash_bytes": 1, "sram_bytes": 2})
    assert load.inferences_per_s == 25
    assert load.cpu_load_percent == pytest.approx(100 * (fe.cycles_per_frame * 50 + 30e6) / 120e6)
    assert load.max_inferences_per_s == pytest.approx((120e6 - fe.cycles_per_frame * 50) / 1_200_000)


def test_reduced_pipeline_writes_report(tmp_path) -> None:
    """Tiny dataset, one epoch per phase: everything runs and the report files are complete."""
    _tools_or_skip()
    from picoml.kws import Settings, TrainSettings, run

    torch.set_num_threads(2)
    s = Settings(train=TrainSettings(clips_per_class=10, float_epochs=1, qat_epochs=1, binary_epochs=1,
                                     binary_qat_epochs=1), out=str(tmp_path), tflm_model=real_dir() is not None)
    payload = run(s)
    folder = tmp_path / "kws_report"
    md = (folder / "report.md").read_text()
    data = json.loads((folder / "report.json").read_text())
    assert "CPU load" in md and "DS-CNN binary" in md
    names = [r["model"] for r in data["accuracy"]]
    assert names[:2] == ["DS-CNN int8", "DS-CNN binary"]
    for row in data["accuracy"][:2]:
        assert 0.0 <= row["c_accuracy"] <= 1.0 and row["test_clips"] == 12
    for load in data["load"]:
        assert load["cpu_load_percent"] > 0 and load["model_flash_bytes"] > 0 and load["model_sram_bytes"] > 0
    assert data["frontend"]["matches_numpy"]
    if real_dir() is not None:
        tflm = next(r for r in data["real"] if r["model"] == "TFLM micro_speech")
        assert tflm["ok"]  # TFLM's model on picoml's features, in the compiled C and the emulator
    assert payload["folder"] == str(folder)


@pytest.mark.slow
def test_trained_model_labels_real_recordings(tmp_path) -> None:
    """The default int8 DS-CNN, trained on synthetic voices only, labels TFLM's real yes/no
    recordings right at time shifts of -4, 0 and +4 frames, in the compiled C on the host and in
    the Cortex-M4 emulator (``make demo-kws`` at its defaults, ~5 minutes on 2 cores). The
    binary model is not held to this (see the README)."""
    _tools_or_skip()
    if real_dir() is None:
        pytest.skip("../shared/real not present: TFLM's micro_speech recordings")
    from picoml.kws import Settings, run

    torch.set_num_threads(2)
    data = run(Settings(out=str(tmp_path), tflm_model=False))
    row = next(r for r in data["real"] if r["model"] == "DS-CNN int8")
    assert row["ok"], row
    for word in ("yes", "no"):
        assert row[f"{word}_shifts"] == [-4, 0, 4], row
        assert row[f"{word}_host"] == row[f"{word}_m4"] == "/".join([word] * 3), row
        assert row[f"p_{word}"] > 0.5, row


def test_real_features_are_shifted_recordings() -> None:
    from picoml.audio import micro_speech_features, read_wav
    from picoml.kws.deploy import REAL_SHIFTS, optional_real_dir, real_features

    folder = optional_real_dir()
    if folder is None:
        pytest.skip("../shared/real not present: TFLM's micro_speech recordings")
    got = real_features(folder)
    assert sorted(got) == ["no", "yes"] and tuple(got["yes"]) == REAL_SHIFTS == (-4, 0, 4)
    audio = read_wav(folder / "yes_1000ms.wav")
    assert np.array_equal(got["yes"][0], micro_speech_features(audio))
    assert np.array_equal(got["yes"][4], micro_speech_features(np.concatenate([audio[-1280:], audio[:-1280]])))


_DRIVER = r"""
#include <stdio.h>
#include "model_kws.h"
/* raw int16 audio on stdin, pushed 320 samples (at most one frame) at a time; prints "label frame" per
 * detection */
int main(void) {
  static pm_kws_stream stream;
  static int16_t buf[320];
  pm_kws_config config = PM_KWS_CONFIG_DEFAULT;
  size_t n;
  if (model_kws_init(&stream, &config) != 0) return 2;
  while ((n = fread(buf, sizeof(buf[0]), 320, stdin)) > 0) {
    int32_t label = pm_kws_stream_push(&stream, buf, (int32_t)n);
    if (label >= 0) printf("%ld %ld\n", (long)label, (long)stream.frames);
  }
  return 0;
}
"""


def test_generated_project_includes_the_streaming_detector(tmp_path) -> None:
    """``add_kws_stream``: frontend + detector + adapter in the project's own Makefile, built with
    the generated projects' strict flags (and no FPU registers: TFLM's int8 model); the built
    program detects the same words at the same frames as the Python detector."""
    import subprocess

    import picoml
    from picoml.audio import read_wav
    from picoml.audio.native import integer_only_flags
    from picoml.audio.streaming import KwsStream, graph_model
    from picoml.codegen import generate
    from picoml.kws.stream import STREAM_FILES, add_kws_stream
    from picoml.targets.host import compiler

    if real_dir() is None:
        pytest.skip("../shared/real not present: TFLM's micro_speech model and recordings")
    d = real_dir() / "tflm" / "micro_speech"
    graph = picoml.load_tflite(d / "micro_speech_quantized.tflite")
    project = add_kws_stream(generate(graph), graph)
    for name in (*STREAM_FILES, "model_kws.h", "model_kws.c"):
        assert name in project.files
        if name.endswith(".c"):
            assert name in project.files["Makefile"] and name in project.files["CMakeLists.txt"]
    out = project.write(tmp_path / "proj")
    (out / "kws_main.c").write_text(_DRIVER)
    cc = compiler()
    flags = "-std=c99 -O2 -Wall -Wextra -Werror -pedantic " + " ".join(integer_only_flags(cc))
    r = subprocess.run(["make", "-C", str(out), f"CC={cc}", f"CFLAGS={flags}", "all"], capture_output=True,
                       text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    srcs = project.files["Makefile"].split("SRCS := ")[1].split("\n")[0].split()
    exe = out / "kws_main"
    r = subprocess.run([cc, *flags.split(), "-o", str(exe), str(out / "kws_main.c"), *[str(out / s) for s in srcs],
                        "-lm"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    noise = read_wav(d / "noise_1000ms.wav").astype(np.float64) * 0.25
    clip = np.tile(noise, 5)
    for word, at in (("yes", 0.8), ("no", 3.0)):
        clip[int(at * 16000):int(at * 16000) + 16000] += read_wav(d / f"{word}_1000ms.wav")
    clip = np.clip(np.rint(clip), -32768, 32767).astype(np.int16)
    r = subprocess.run([str(exe)], input=clip.tobytes(), capture_output=True)
    assert r.returncode == 0
    got = [tuple(int(v) for v in line.split()) for line in r.stdout.decode().split("\n") if line]
    py = KwsStream(graph_model(graph))
    for i in range(0, clip.size, 320):
        py.push(clip[i:i + 320])
    assert got == [(det.label, det.frame) for det in py.detections] and [g[0] for g in got] == [2, 3]


def test_stream_rejects_a_model_with_foreign_input() -> None:
    from picoml.kws.stream import check_stream_model

    class T:
        def __init__(self, shape, scale):
            self.shape, self.dtype = shape, type("D", (), {"numpy": np.int8})
            self.quant = type("Q", (), {"scale": np.array([scale]), "zero_point": np.array([-128])})

        def describe(self) -> str:
            return "tensor"

    class G:
        input_tensors = [T((1, 1960), 0.5)]
        output_tensors = [T((1, 4), 0.1)]

    with pytest.raises(InputError, match="quantization"):
        check_stream_model(G)
    G.input_tensors = [T((1, 49, 10), 0.101715684)]
    with pytest.raises(InputError, match="1960|49 x 40"):
        check_stream_model(G)


def test_word_head_trains_the_shared_features_and_detaches() -> None:
    """The auxiliary 12-word head's loss reaches the model's own layers; after ``remove`` the
    model's forward no longer feeds it."""
    from picoml.kws.models import int8_ds_cnn
    from picoml.kws.train import WordHead

    torch.manual_seed(0)
    model = int8_ds_cnn(4, 0.25)
    head = WordHead(model)
    x = torch.rand(3, 49, 40) * 10
    model(x)
    loss = head.loss(torch.tensor([0, 5, 11]), torch.ones(12))
    loss.backward()
    first = next(model.parameters())
    assert torch.isfinite(loss) and first.grad is not None and float(first.grad.abs().sum()) > 0
    assert head.linear.weight.grad is not None
    head.remove()
    model(x)
    with pytest.raises(RuntimeError, match="forward first"):
        head.loss(torch.tensor([0, 5, 11]), torch.ones(12))
