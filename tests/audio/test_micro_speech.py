"""The micro_speech pipeline against TFLM (frame by frame, a fresh interpreter per clip), the
published first frames, the keyword model's labels; the MFCC front end; the `features` CLI."""
from __future__ import annotations

import wave

import numpy as np
import pytest

from picoml.audio import (MicroSpeechConfig, MicroSpeechFrontend, kws_mfcc_features, micro_speech_features,
                          read_wav)
from picoml.audio.micro_speech import frame_count
from picoml.errors import InputError, PicomlError, UnsupportedError
from picoml.testing.peers import tflm_available

MS = "tflm/micro_speech"
NO_30MS = [126, 103, 124, 102, 124, 102, 123, 100, 118, 97, 118, 100, 118, 98, 121, 100, 121, 98, 117, 91, 96, 74, 54,
           87, 100, 87, 109, 92, 91, 80, 64, 55, 83, 74, 74, 78, 114, 95, 101, 81]
YES_30MS = [124, 105, 126, 103, 125, 101, 123, 100, 116, 98, 115, 97, 113, 90, 91, 82, 104, 96, 117, 97, 121, 103, 126,
            101, 125, 104, 126, 104, 125, 101, 116, 90, 81, 74, 80, 71, 83, 76, 82, 71]
CLIPS = ["yes", "no", "silence", "noise"]
needs_tflm = pytest.mark.skipif(not tflm_available(), reason="tflite-micro is not installed")


def tflm_features(model_path, samples: np.ndarray) -> np.ndarray:
    """audio_preprocessor_int8 in tflite-micro, one frame per invoke, one interpreter per clip."""
    from tflite_micro.python.tflite_micro import runtime

    interp = runtime.Interpreter.from_file(str(model_path))
    out = []
    for i in range(frame_count(len(samples))):
        interp.set_input(np.ascontiguousarray(samples[i * 320:i * 320 + 480]).reshape(1, 480), 0)
        interp.invoke()
        out.append(np.array(interp.get_output(0)))
    return np.stack(out)


def random_clips(seed: int = 7) -> dict[str, np.ndarray]:
    """Seeded audio from silence to full-scale clipping, including -32768 runs."""
    rng = np.random.default_rng(seed)
    t = np.arange(6400)
    clips = {
        "silence": np.zeros(3200, np.int16),
        "lsb_noise": rng.integers(-2, 3, 6400).astype(np.int16),
        "white_full_scale": rng.integers(-32768, 32768, 6400).astype(np.int16),
        "clipping": np.clip(rng.normal(0, 60000, 6400), -32768, 32767).astype(np.int16),
        "dc_min": np.full(1760, -32768, np.int16),
        "dc_max": np.full(1760, 32767, np.int16),
        "square_full_scale": np.where(t % 37 < 18, -32768, 32767).astype(np.int16),
        "nyquist_full_scale": np.where(t % 2 == 0, -32768, 32767).astype(np.int16),
        "clicks": np.where(t % 500 == 0, -32768, 0).astype(np.int16),
        "loud_then_silent": np.concatenate([np.clip(rng.normal(0, 30000, 3200), -32768, 32767),
                                            np.zeros(3200)]).astype(np.int16),
    }
    for k in range(8):
        amp = 10 ** rng.uniform(0, 5)
        clips[f"tone_{k}"] = np.clip(rng.normal(0, amp, 4800) * np.sin(t[:4800] * rng.uniform(0, 3)),
                                     -32768, 32767).astype(np.int16)
    return clips


def test_first_frames_equal_published_values(real):
    assert micro_speech_features(read_wav(real / MS / "yes_30ms.wav")).tolist() == [YES_30MS]
    assert micro_speech_features(read_wav(real / MS / "no_30ms.wav")).tolist() == [NO_30MS]


def test_default_config_equals_the_model_constants(real):
    assert MicroSpeechConfig.default() == MicroSpeechConfig.from_tflite(real / MS / "audio_preprocessor_int8.tflite")


@pytest.mark.parametrize("clip", CLIPS)
def test_one_second_clips_equal_derived_features(real, clip):
    f = micro_speech_features(read_wav(real / MS / f"{clip}_1000ms.wav"))
    assert f.shape == (49, 40) and f.dtype == np.int8
    np.testing.assert_array_equal(f, np.load(real / MS / f"derived_features_{clip}_1000ms_int8.npy"))


@needs_tflm
@pytest.mark.parametrize("clip", CLIPS)
def test_one_second_clips_equal_tflm(real, clip):
    model = real / MS / "audio_preprocessor_int8.tflite"
    samples = read_wav(real / MS / f"{clip}_1000ms.wav")
    config = MicroSpeechConfig.from_tflite(model)  # the model's own tables
    np.testing.assert_array_equal(micro_speech_features(samples, config), tflm_features(model, samples))


@needs_tflm
def test_random_audio_equals_tflm(real):
    model = real / MS / "audio_preprocessor_int8.tflite"
    for name, samples in random_clips().items():
        np.testing.assert_array_equal(micro_speech_features(samples), tflm_features(model, samples), err_msg=name)


def test_keyword_model_labels_picoml_features(real):
    """micro_speech_quantized on picoml's Interpreter: yes, no, silence, and noise -> silence."""
    import picoml
    from picoml.interpreter import Interpreter

    interp = Interpreter(picoml.load_tflite(real / MS / "micro_speech_quantized.tflite"))
    labels = ["silence", "unknown", "yes", "no"]
    expected = {"yes": ("yes", [-128, -128, 127, -128]), "no": ("no", [-128, -114, -128, 114]),
                "silence": ("silence", [-42, -68, -68, -78]), "noise": ("silence", [120, -125, -126, -125])}
    for clip, (label, scores) in expected.items():
        feats = micro_speech_features(read_wav(real / MS / f"{clip}_1000ms.wav")).reshape(1, 1960)
        out = interp.run([feats])[0].reshape(-1)
        assert labels[int(np.argmax(out))] == label, clip
        assert out.tolist() == scores, clip  # TFLM's outputs on these features (real/README)


def test_streaming_frames_equal_the_batch(real):
    samples = read_wav(real / MS / "no_1000ms.wav")
    batch = micro_speech_features(samples)
    fe = MicroSpeechFrontend()
    streamed = np.stack([fe.frame(samples[i * 320:i * 320 + 480]) for i in range(49)])
    np.testing.assert_array_equal(streamed, batch)
    fe.reset()
    np.testing.assert_array_equal(fe.frames(np.stack([samples[i * 320:i * 320 + 480] for i in range(3)])), batch[:3])


def test_noise_state_carries_over_and_resets(real):
    samples = read_wav(real / MS / "noise_1000ms.wav")
    fe = MicroSpeechFrontend()
    first = fe.frame(samples[:480])
    after_one = fe.noise_estimate.copy()
    assert after_one.any()
    fe.frame(samples[:480])
    assert (fe.noise_estimate > after_one).any()  # the low-pass estimate keeps rising towards the level
    fe.reset()
    assert not fe.noise_estimate.any()
    np.testing.assert_array_equal(fe.frame(samples[:480]), first)


def test_inputs_are_checked():
    with pytest.raises(InputError):
        micro_speech_features(np.zeros(479, np.int16))
    with pytest.raises(InputError):
        micro_speech_features(np.zeros(1000, np.float32))
    with pytest.raises(InputError):
        MicroSpeechFrontend().frame(np.zeros(320, np.int16))


def test_from_tflite_rejects_other_graphs(real):
    with pytest.raises(UnsupportedError):
        MicroSpeechConfig.from_tflite(real / MS / "micro_speech_quantized.tflite")
    with pytest.raises(UnsupportedError):
        MicroSpeechConfig.from_tflite(real / MS / "audio_preprocessor_float.tflite")


def test_corrupted_models_raise_only_picoml_errors(real):
    """Mutated preprocessor bytes: reading the config and running it fail only with PicomlError."""
    data = bytearray((real / MS / "audio_preprocessor_int8.tflite").read_bytes())
    rng = np.random.default_rng(3)
    samples = rng.integers(-3000, 3000, 1120).astype(np.int16)
    for _ in range(200):
        bad = bytearray(data)
        for i in rng.integers(0, len(bad), rng.integers(1, 4)):
            bad[i] = int(rng.integers(0, 256))
        try:
            micro_speech_features(samples, MicroSpeechConfig.from_tflite(bytes(bad)))
        except PicomlError:
            pass


@pytest.mark.parametrize("change", [dict(window_shift=40), dict(fft_length=500), dict(energy_end=300),
                                    dict(int8_div=0), dict(window=np.zeros(400, np.int16))])
def test_inconsistent_configs_are_rejected(change):
    import dataclasses

    with pytest.raises(PicomlError):
        MicroSpeechFrontend(dataclasses.replace(MicroSpeechConfig.default(), **change)).frame(np.zeros(480, np.int16))


# -- MFCC (MLPerf Tiny KWS) -----------------------------------------------------------------
def test_kws_example_wav_is_down(real):
    """NXP states kws_ref_model gives [0.99609375, 0, ...] ("down") for this clip."""
    import picoml
    from picoml.audio.mfcc import KWS_INPUT_SCALE, KWS_INPUT_ZERO_POINT, KWS_LABELS
    from picoml.interpreter import Interpreter

    g = picoml.load_tflite(real / "mlperf_tiny/kws/kws_ref_model.tflite")
    t = g.input_tensors[0]
    assert (np.float32(t.scale), t.zero_point) == (KWS_INPUT_SCALE, KWS_INPUT_ZERO_POINT)
    x = kws_mfcc_features(read_wav(real / "nxp_eiq/kws_example_input.wav"))
    assert x.shape == t.shape and x.dtype == np.int8
    np.testing.assert_array_equal(x, kws_mfcc_features(read_wav(real / "nxp_eiq/kws_example_input.wav"), t))
    out = Interpreter(g).run([x])[0].reshape(-1)
    assert KWS_LABELS[int(np.argmax(out))] == "down"
    assert (int(out[0]) + 128) * 0.00390625 == 0.99609375


def test_mfcc_matches_a_direct_dft_formula(rng):
    """The DCT and mel steps against an independent float64 evaluation of the same formula."""
    from picoml.audio.mfcc import mel_weight_matrix, mfcc

    audio = rng.normal(0, 0.1, 16000).astype(np.float32)
    got = mfcc(audio)
    assert got.shape == (49, 10)
    frame = audio[320 * 7:320 * 7 + 480].astype(np.float64)
    frame *= 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(480) / 480)
    spectrum = np.abs(np.exp(-2j * np.pi * np.outer(np.arange(257), np.arange(480)) / 512) @ frame)
    log_mel = np.log(spectrum @ mel_weight_matrix(40, 257, 16000, 20.0, 4000.0).astype(np.float64) + 1e-6)
    ref = [np.sqrt(2 / 40) * np.sum(log_mel * np.cos(np.pi * k * (2 * np.arange(40) + 1) / 80)) for k in range(10)]
    np.testing.assert_allclose(got[7], ref, rtol=1e-4, atol=1e-4)  # float32 vs float64 evaluation


# -- the `features` CLI ---------------------------------------------------------------------
def write_wav(path, samples: np.ndarray, rate: int = 16000, channels: int = 1, width: int = 2) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(width)
        w.setframerate(rate)
        w.writeframes(samples.tobytes())


def test_cli_micro_speech_features(real, tmp_path):
    from picoml.cli import main

    out = tmp_path / "f.npy"
    assert main(["features", str(real / MS / "yes_1000ms.wav"), "--kind", "micro_speech", "--output", str(out)]) == 0
    f = np.load(out)
    assert f.shape == (1, 1960) and f.dtype == np.int8
    np.testing.assert_array_equal(f.reshape(49, 40), np.load(real / MS / "derived_features_yes_1000ms_int8.npy"))


def test_cli_mfcc_features(real, tmp_path):
    from picoml.cli import main

    out = tmp_path / "m.npy"
    assert main(["features", str(real / "nxp_eiq/kws_example_input.wav"), "--kind", "mfcc", "--output", str(out)]) == 0
    f = np.load(out)
    assert f.shape == (1, 49, 10, 1) and f.dtype == np.int8


@pytest.mark.parametrize("kind", ["micro_speech", "mfcc"])
@pytest.mark.parametrize("bad", ["rate", "stereo", "8bit", "garbage", "missing"])
def test_cli_rejects_unusable_wavs(tmp_path, capsys, kind, bad):
    from picoml.cli import main

    path = tmp_path / "x.wav"
    tone = (1000 * np.sin(np.arange(16000) * 0.1)).astype(np.int16)
    if bad == "rate":
        write_wav(path, tone[:8000], rate=8000)
    elif bad == "stereo":
        write_wav(path, np.repeat(tone, 2), channels=2)
    elif bad == "8bit":
        write_wav(path, (tone // 256 + 128).astype(np.uint8), width=1)
    elif bad == "garbage":
        path.write_bytes(b"RIFF\x00\x00not a wave file at all")
    assert main(["features", str(path), "--kind", kind, "--output", str(tmp_path / "o.npy")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("picoml: error:") and str(path) in err
    assert not (tmp_path / "o.npy").exists()
