"""The C micro_speech frontend (picoml/audio/c/pm_audio_frontend.c) against its NumPy twin:
same tables, same bits on the test wavs and on seeded audio from silence to clipping; built
with the strict flags and -mgeneral-regs-only (no floating point), and free of undefined
behaviour under UBSan."""
from __future__ import annotations

import re
import shutil
import subprocess

import numpy as np
import pytest

from picoml.audio import MicroSpeechConfig, micro_speech_features, read_wav
from picoml.audio import signal_ops as so
from picoml.audio.native import C_DIR, NativeMicroSpeech, build_library, integer_only_flags, \
    native_micro_speech_features

MS = "tflm/micro_speech"
WAVS = ["yes_30ms", "no_30ms", "yes_1000ms", "no_1000ms", "silence_1000ms", "noise_1000ms"]


def c_tables() -> dict[str, np.ndarray]:
    text = (C_DIR / "pm_audio_frontend.c").read_text()
    found = re.findall(r"static const u?int16_t (k\w+)\[[^\]]*\] = \{([^}]*)\};", text)
    return {name: np.array([int(v) for v in body.replace("\n", " ").split(",")], np.int64) for name, body in found}


def seeded_clips(seed: int = 11) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    t = np.arange(4800)
    clips = [np.zeros(1120, np.int16), np.full(1120, -32768, np.int16), np.full(1120, 32767, np.int16),
             rng.integers(-32768, 32768, 4800).astype(np.int16),
             np.clip(rng.normal(0, 80000, 4800), -32768, 32767).astype(np.int16),
             np.where(t % 2 == 0, -32768, 32767).astype(np.int16),
             np.where(t % 41 < 20, -32768, 32767).astype(np.int16),
             np.where(t % 300 == 0, -32768, 0).astype(np.int16),
             rng.integers(-1, 2, 4800).astype(np.int16)]
    for _ in range(12):
        amp = 10 ** rng.uniform(0, 5.2)
        clips.append(np.clip(rng.normal(0, amp, 4800) * np.sin(t * rng.uniform(0, 3)), -32768, 32767).astype(np.int16))
    return clips


def test_c_tables_equal_the_model_and_kiss_fft(real):
    tables = c_tables()
    model = MicroSpeechConfig.from_tflite(real / MS / "audio_preprocessor_int8.tflite")
    plan = so.kiss_plan(model.fft_length)
    expected = {
        "kWindow": model.window, "kTwiddles": plan.twiddles.reshape(-1),
        "kSuperTwiddles": plan.super_twiddles.reshape(-1),
        "kFbWeights": model.filter_bank.weights, "kFbUnweights": model.filter_bank.unweights,
        "kFbFrequencyStarts": model.filter_bank.channel_frequency_starts,
        "kFbWeightStarts": model.filter_bank.channel_weight_starts, "kFbWidths": model.filter_bank.channel_widths,
        "kPcanLut": model.pcan_lut, "kLogLut": so.LOG_LUT}
    assert set(tables) == set(expected)
    for name, values in expected.items():
        np.testing.assert_array_equal(tables[name], np.asarray(values, np.int64), err_msg=name)


def test_c_scalar_constants_equal_the_model(real):
    text = (C_DIR / "pm_audio_frontend.c").read_text()
    defines = dict(re.findall(r"#define (\w+) \(?(-?\d+)u?\)?", text))
    m = MicroSpeechConfig.from_tflite(real / MS / "audio_preprocessor_int8.tflite")
    ss = m.spectral_subtraction
    assert not ss.clamping  # the C hard-codes the non-clamping branch
    expected = {"FFT_LENGTH": m.fft_length, "WINDOW_SHIFT": m.window_shift, "ENERGY_START": m.energy_start,
                "ENERGY_END": m.energy_end, "SS_SMOOTHING": ss.smoothing,
                "SS_ONE_MINUS_SMOOTHING": ss.one_minus_smoothing,
                "SS_ALT_SMOOTHING": ss.alternate_smoothing,
                "SS_ALT_ONE_MINUS_SMOOTHING": ss.alternate_one_minus_smoothing,
                "SS_MIN_SIGNAL_REMAINING": ss.min_signal_remaining, "SS_SMOOTHING_BITS": ss.smoothing_bits,
                "SS_BITS": ss.spectral_subtraction_bits, "PCAN_SNR_SHIFT": m.pcan_snr_shift, "LOG_SCALE": m.log_scale,
                "LOG_CORRECTION_BITS": m.log_correction_bits, "INT8_MUL": m.int8_mul, "INT8_ADD": m.int8_add,
                "INT8_DIV": m.int8_div, "INT8_OFFSET": m.int8_offset}
    assert {k: int(defines[k]) for k in expected} == expected
    assert (m.int8_min, m.int8_max) == (-128, 127)


def test_builds_with_strict_flags_and_no_float_registers():
    from picoml.targets.host import compiler

    assert integer_only_flags(compiler()) == ("-mgeneral-regs-only",)  # gcc/clang on x86-64 and arm64 have it
    assert build_library().exists()


@pytest.mark.parametrize("wav", WAVS)
def test_c_equals_numpy_on_the_test_wavs(real, wav):
    samples = read_wav(real / MS / f"{wav}.wav")
    np.testing.assert_array_equal(native_micro_speech_features(samples), micro_speech_features(samples))


def test_c_equals_numpy_on_seeded_audio():
    for i, samples in enumerate(seeded_clips()):
        np.testing.assert_array_equal(native_micro_speech_features(samples), micro_speech_features(samples),
                                      err_msg=f"clip {i}")


def test_c_state_matches_numpy_across_frames(real):
    from picoml.audio import MicroSpeechFrontend

    samples = read_wav(real / MS / "noise_1000ms.wav")
    c, py = NativeMicroSpeech(), MicroSpeechFrontend()
    for i in range(10):
        frame = samples[i * 320:i * 320 + 480]
        np.testing.assert_array_equal(c.frame(frame), py.frame(frame))
        np.testing.assert_array_equal(c.noise_estimate, py.noise_estimate)
    c.reset()
    assert not c.noise_estimate.any()


@pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc is not installed")
def test_no_undefined_behaviour_under_ubsan(tmp_path):
    """A standalone driver built with -fsanitize=undefined aborts on any signed overflow,
    bad shift or out-of-range conversion; its output must still equal NumPy."""
    driver = tmp_path / "driver.c"
    driver.write_text(
        '#include <stdio.h>\n#include "pm_audio_frontend.h"\n'
        "int main(void) {\n  pm_micro_speech_state st; int16_t x[480]; int8_t y[40];\n"
        "  pm_micro_speech_reset(&st);\n"
        "  while (fread(x, sizeof x, 1, stdin) == 1) { pm_micro_speech_frame(&st, x, y); fwrite(y, 1, 40, stdout); }\n"
        "  return 0;\n}\n")
    exe = tmp_path / "driver"
    build = subprocess.run(["gcc", "-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-O1",
                            "-fsanitize=undefined", "-fno-sanitize-recover=all", f"-I{C_DIR}", str(driver),
                            str(C_DIR / "pm_audio_frontend.c"), "-o", str(exe)], capture_output=True, text=True)
    if build.returncode != 0 and "sanitize" in build.stderr:
        pytest.skip(f"no UBSan runtime: {build.stderr[-300:]}")
    assert build.returncode == 0, build.stderr
    for samples in seeded_clips(5)[:8]:
        frames = np.stack([samples[i * 320:i * 320 + 480] for i in range((len(samples) - 480) // 320 + 1)])
        run = subprocess.run([str(exe)], input=frames.astype("<i2").tobytes(), capture_output=True)
        assert run.returncode == 0, run.stderr.decode()[-500:]
        out = np.frombuffer(run.stdout, np.int8).reshape(len(frames), 40)
        np.testing.assert_array_equal(out, micro_speech_features(samples))


@pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None, reason="arm-none-eabi-gcc is not installed")
@pytest.mark.parametrize("cpu", ["cortex-m0plus", "cortex-m4"])
def test_cross_compiles_for_cortex_m_without_float(tmp_path, cpu):
    r = subprocess.run(["arm-none-eabi-gcc", "-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", f"-mcpu={cpu}",
                        "-mthumb", "-mfloat-abi=soft", "-O2", "-c", str(C_DIR / "pm_audio_frontend.c"),
                        "-o", str(tmp_path / "fe.o")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    symbols = subprocess.run(["arm-none-eabi-nm", str(tmp_path / "fe.o")], capture_output=True, text=True).stdout
    assert not re.search(r"__aeabi_[fd]|__(add|mul|div|sub)[sd]f3", symbols)  # no soft-float helpers
