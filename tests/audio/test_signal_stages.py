"""Each TFLM Signal stage against tflite-micro's own test vectors (signal/ops/testdata), and the
vectorised NumPy against scalar transliterations of the C reference on edge values."""
from __future__ import annotations

import math

import numpy as np
import pytest

from picoml.audio import signal_ops as so
from picoml.errors import PicomlError


def lines(real, name: str) -> list[str]:
    return (real / "tflm/signal_testdata" / name).read_text().splitlines()


def ints(line: str, dtype=np.int64) -> np.ndarray:
    return np.array([int(v) for v in line.split()], dtype)


# -- upstream test vectors (layouts as in python/tflite_micro/signal/ops/*_test.py) ----------
def test_window_vectors(real):
    text = lines(real, "window_test1.txt")
    kind, dtype, shift = text[0].split()
    assert (kind, dtype) == ("hann", "int16")
    x = np.array([ints(t) for t in text[1::2]], np.int16)
    expected = np.array([ints(t) for t in text[2::2]])
    weights = so.hann_window_weights(x.shape[1], int(shift))
    np.testing.assert_array_equal(so.window(x, weights, int(shift)), expected)
    np.testing.assert_array_equal(so.window(x[3], weights, int(shift)), expected[3])  # a single frame


def test_fft_auto_scale_vectors(real):
    text = lines(real, "fft_auto_scale_test1.txt")  # <input, output, scale bits> triplets, no header
    x = np.array([ints(t) for t in text[0::3]], np.int16)
    out, bits = so.fft_auto_scale(x)
    np.testing.assert_array_equal(out, np.array([ints(t) for t in text[1::3]]))
    np.testing.assert_array_equal(bits, [int(t) for t in text[2::3]])


def test_rfft_vectors(real):
    text = lines(real, "rfft_test1.txt")
    fft_length = int(text[0])
    x = np.array([ints(t) for t in text[1::2]], np.int16)
    expected = np.array([ints(t) for t in text[2::2]])
    out = so.rfft(x, fft_length)
    assert out.shape == (x.shape[0], fft_length + 2) and out.dtype == np.int16
    np.testing.assert_array_equal(out, expected)


def test_energy_vectors(real):
    text = lines(real, "energy_test1.txt")
    start, end = map(int, text[0].split())
    x = np.array([ints(t) for t in text[1::2]], np.int16)
    expected = np.array([ints(t) for t in text[2::2]])
    out = so.energy(x, start, end)
    np.testing.assert_array_equal(out[:, start:end], expected[:, start:end])  # upstream compares this range
    assert not out[:, :start].any() and not out[:, end:].any()


def test_filter_bank_vectors(real):
    text = lines(real, "filter_bank_test1.txt")
    rate, channels, lo, hi = text[0].split()
    x = np.array([ints(t) for t in text[1::2]], np.uint32)
    _, _, fb = so.filter_bank_tables(x.shape[1], int(rate), int(channels), float(lo), float(hi))
    out = so.filter_bank(x, fb)
    assert out.dtype == np.uint64
    np.testing.assert_array_equal(out, np.array([ints(t, np.uint64) for t in text[2::2]]))


@pytest.mark.parametrize("name,exact", [("filter_bank_accumulation_8k.txt", True),
                                        ("filter_bank_accumulation_16k.txt", True),
                                        ("filter_bank_accumulation_44k.txt", False)])
def test_filter_bank_accumulation_files(real, name, exact):
    """These files come from another (float) implementation: upstream itself only requires
    agreement within 144; the 8k and 16k ones happen to be exact."""
    text = lines(real, name)
    bins, rate, lo, hi, channels = text[0].split()[:5]
    _, _, fb = so.filter_bank_tables(int(bins), int(rate), int(channels), float(lo), float(hi))
    out = so.filter_bank(np.arange(int(bins), dtype=np.uint32), fb).astype(np.int64)
    diff = np.abs(out - np.array([int(t) for t in text[1:]]))
    assert diff.max() == 0 if exact else diff.max() <= 144


def test_filter_bank_square_root_vectors(real):
    text = lines(real, "filter_bank_square_root_test1.txt")  # <input, scale bits, output>
    for i in range(0, len(text), 3):
        out = so.filter_bank_square_root(ints(text[i], np.uint64), int(text[i + 1]))
        np.testing.assert_array_equal(out, ints(text[i + 2]))


def test_filter_bank_square_root_upstream_inline():
    x = np.array([632803382, 3322331443, 7096652410, 7915374281, 1173754459, 305980674, 2000536077, 1168558488,
                  5076475823, 15976754090, 3805664731, 613998164], np.uint64)
    np.testing.assert_array_equal(so.filter_bank_square_root(x, 7), [196, 450, 658, 695, 267, 136, 349, 267, 556,
                                                                     987, 481, 193])


def test_spectral_subtraction_vectors(real):
    text = lines(real, "filter_bank_spectral_subtraction_test1.txt")
    a = text[0].split()
    cfg = so.SpectralSubtraction.from_floats(int(a[0]), float(a[1]), float(a[2]), int(a[3]), float(a[4]),
                                             bool(int(a[5])))
    noise = np.zeros(cfg.num_channels, np.uint32)
    for i in range(1, len(text), 3):  # <input, output, noise estimate>: the state carries over
        out, noise = so.spectral_subtraction(ints(text[i], np.uint32), noise, cfg)
        np.testing.assert_array_equal(out, ints(text[i + 1]))
        np.testing.assert_array_equal(noise, ints(text[i + 2]))


@pytest.mark.parametrize("clamping,smoothing_bits", [(True, 0), (True, 10), (False, 10)])
def test_spectral_subtraction_matches_scalar_reference(rng, clamping, smoothing_bits):
    cfg = so.SpectralSubtraction.from_floats(7, 0.04, 0.07, smoothing_bits, 0.05, clamping)
    noise = np.zeros(7, np.uint32)
    ref_noise = [0] * 7
    for _ in range(30):
        x = rng.integers(0, 1 << rng.integers(1, 32), 7, dtype=np.uint64).astype(np.uint32)
        out, noise = so.spectral_subtraction(x, noise, cfg)
        ref_out = []
        for i, v in enumerate(int(t) for t in x):
            s, oms = (cfg.smoothing, cfg.one_minus_smoothing) if i % 2 == 0 else \
                (cfg.alternate_smoothing, cfg.alternate_one_minus_smoothing)
            up = (v << cfg.smoothing_bits) & 0xFFFFFFFF
            ref_noise[i] = ((up * s + ref_noise[i] * oms) >> 14) & 0xFFFFFFFF
            est = min(ref_noise[i], up)
            if clamping:
                ref_noise[i] = est
            floor = (v * cfg.min_signal_remaining) >> 14 & 0xFFFFFFFF
            ref_out.append(max((up - est) >> cfg.smoothing_bits, floor))
        assert out.tolist() == ref_out and noise.tolist() == ref_noise


def test_pcan_vectors(real):
    text = lines(real, "pcan_op_test1.txt")
    strength, offset, gain_bits, smoothing_bits, correction_bits = text[0].split()
    lut = so.pcan_gain_lut(float(strength), float(offset), int(smoothing_bits) - int(correction_bits),
                           int(gain_bits))
    snr_shift = int(gain_bits) - int(correction_bits) - so.PCAN_SNR_BITS
    x = np.array([ints(t) for t in text[1::3]], np.uint32)  # <input, noise estimate, output>
    noise = np.array([ints(t) for t in text[2::3]], np.uint32)
    np.testing.assert_array_equal(so.pcan(x, noise, lut, snr_shift), np.array([ints(t) for t in text[3::3]]))


def test_filter_bank_log_upstream_inline():
    x = np.array([29, 21, 29, 40, 19, 11, 13, 23, 13, 11, 25, 17, 5, 4, 46, 14, 17, 14, 20, 14, 10, 10, 15, 11, 17,
                  12, 15, 16, 19, 18, 6, 2], np.uint32)
    expected = [8715, 8198, 8715, 9229, 8038, 7164, 7431, 8344, 7431, 7164, 8477, 7860, 5902, 5545, 9453, 7550, 7860,
                7550, 8120, 7550, 7011, 7011, 7660, 7164, 7860, 7303, 7660, 7763, 8038, 7952, 6194, 4436]
    np.testing.assert_array_equal(so.filter_bank_log(x, 1600, 3), expected)


# -- constant generators --------------------------------------------------------------------
def test_filter_bank_tables_match_upstream_expectations():
    """From filter_bank_ops_test.testFilterBankInitWeight (257 bins, 16 kHz, 32 channels, 125-3800 Hz)."""
    start, end, fb = so.filter_bank_tables(257, 16000, 32, 125, 3800)
    assert (start, end, fb.weights.size) == (5, 122, 117)
    assert fb.channel_frequency_starts.tolist() == [
        5, 6, 7, 9, 11, 12, 14, 16, 18, 20, 22, 25, 27, 30, 32, 35, 38, 41, 45, 48, 52, 56, 60, 64, 69, 74, 79, 84, 89,
        95, 102, 108, 115]
    assert fb.channel_widths.tolist() == [1, 1, 2, 2, 1, 2, 2, 2, 2, 2, 3, 2, 3, 2, 3, 3, 3, 4, 3, 4, 4, 4, 4, 5, 5, 5,
                                          5, 5, 6, 7, 6, 7, 7]
    assert fb.weights[:8].tolist() == [1133, 2373, 3712, 1047, 2564, 66, 1740, 3486]
    assert fb.unweights[-3:].tolist() == [2644, 3205, 3763]
    assert fb.unweights[:4].tolist() == [2962, 1722, 383, 3048]


def test_generated_constants_equal_the_preprocessor_model(real):
    import picoml

    g = picoml.load_tflite(real / "tflm/micro_speech/audio_preprocessor_int8.tflite")
    t = {n: x.data for n, x in g.tensors.items() if x.data is not None}
    np.testing.assert_array_equal(so.hann_window_weights(480, 12), t["Const"])
    start, end, fb = so.filter_bank_tables(257, 16000, 40, 125.0, 7500.0, alignment=4, channel_block_size=4)
    assert (start, end) == (5, 241)
    for i, name in enumerate(["weights", "unweights", "channel_frequency_starts", "channel_weight_starts",
                              "channel_widths"]):
        np.testing.assert_array_equal(getattr(fb, name), t["signal_filter_bank/Const" + (f"_{i}" if i else "")])
    np.testing.assert_array_equal(so.pcan_gain_lut(0.95, 80.0, 7, 21), t["signal_pcan/Const"])


# -- vectorised NumPy against scalar transliterations of the C ------------------------------
def _max_abs16_scalar(values) -> int:
    mx = 0
    for v in values:
        if v > mx:
            mx = v
        elif -v > mx:
            mx = ((-v + 32768) & 0xFFFF) - 32768  # stored into int16_t
    return mx


def test_max_abs16_int16_quirk(rng):
    x = rng.integers(-300, 300, (400, 24)).astype(np.int16)
    x[rng.random(x.shape) < 0.08] = -32768
    x[:50] = np.sort(x[:50], axis=1)  # rising runs after a -32768 keep a negative "maximum"
    x[50:60, -1] = -32768
    got = so.max_abs16(x)
    assert got.tolist() == [_max_abs16_scalar(int(v) for v in row) for row in x]
    assert (got < 0).any()


def test_msb_and_square_roots_on_edges(rng):
    edge32 = [0, 1, 2, 3, 4, 0xFFFF, 0x10000, 65535 ** 2, 65535 ** 2 + 65535, 65535 ** 2 + 65536, 0xFFFFFFFF,
              (1 << 31) - 1, 1 << 31]
    edge64 = edge32 + [1 << 32, (1 << 32) + 1, (1 << 64) - 1, (1 << 63), (0xFFFFFFFF ** 2), 0xFFFFFFFF ** 2 + 1,
                       (1 << 62) + 12345, 10 ** 18]
    x32 = np.array(edge32 + rng.integers(0, 1 << 32, 300, dtype=np.uint64).tolist(), np.uint64)
    x64 = np.array(edge64 + rng.integers(0, 1 << 63, 300, dtype=np.uint64).tolist()
                   + (rng.integers(0, 1 << 32, 300, dtype=np.uint64) ** 2).tolist(), np.uint64)

    def msb(v, width):
        return v.bit_length() if v else width

    def root(v, cap):
        r = math.isqrt(v)
        return r + 1 if v - r * r > r and r != cap else r

    assert so.msb32(x32).tolist() == [msb(int(v), 32) for v in x32]
    assert so.msb64(x64).tolist() == [msb(int(v), 64) for v in x64]
    assert so.sqrt32(x32).tolist() == [root(int(v), 0xFFFF) for v in x32]
    assert so.sqrt64(x64).tolist() == [root(int(v), 0xFFFF) if int(v) < 1 << 32 else root(int(v), 0xFFFFFFFF)
                                       for v in x64]


def _log32_scalar(x: int, scale: int) -> int:
    lut = so.LOG_LUT.tolist()
    integer = x.bit_length() - 1
    frac = x - (1 << integer)
    frac = frac << (16 - integer) if integer < 16 else frac >> (integer - 16)
    seg = frac >> 9
    c0, c1 = lut[seg], lut[seg + 1]
    fraction = frac + c0 + (((c1 - c0) * (frac - (seg << 9))) >> 16)
    loge = (45426 * ((integer << 16) + fraction) + 32768) >> 16
    return ((scale * loge + 32768) & 0xFFFFFFFF) >> 16


@pytest.mark.parametrize("scale,bits", [(64, 3), (1600, 0), (3000, 5)])
def test_filter_bank_log_matches_scalar_reference(rng, scale, bits):
    x = np.concatenate([np.arange(6), rng.integers(0, 1 << rng.integers(1, 33, 200), dtype=np.uint64),
                        [0xFFFFFFFF, 1 << 31, (1 << 29) + 7]]).astype(np.uint32)
    expected = []
    for v in (int(t) for t in x):
        s = (v << bits) & 0xFFFFFFFF
        expected.append(min(_log32_scalar(s, scale), 32767) if s > 1 else 0)
    assert so.filter_bank_log(x, scale, bits).tolist() == expected


def _wdf_scalar(x: int, lut: list[int]) -> int:
    if x <= 2:
        return lut[x]
    interval = x.bit_length()
    base = 4 * interval - 6
    frac = ((x << (11 - interval)) if interval < 11 else (x >> (interval - 11))) & 0x3FF
    r = ((lut[base + 2] * frac) >> 5) + lut[base + 1] * 32
    r = (((r * frac) + (1 << 31)) & 0xFFFFFFFF) - (1 << 31)
    r = ((r + (1 << 14)) >> 15) + lut[base]
    return ((r + 32768) & 0xFFFF) - 32768


def test_wide_dynamic_function_every_octave(rng):
    lut = so.pcan_gain_lut(0.95, 80.0, 7, 21).astype(np.int64).tolist()
    x = np.concatenate([np.arange(20), [(1 << k) + d for k in range(2, 32) for d in (-1, 0, 1, 3)],
                        rng.integers(0, 1 << 32, 500, dtype=np.uint64)]).astype(np.uint64) & np.uint64(0xFFFFFFFF)
    assert so.wide_dynamic_function(x, np.array(lut)).tolist() == [_wdf_scalar(int(v), lut) for v in x]


# -- rejection ------------------------------------------------------------------------------
@pytest.mark.parametrize("call", [
    lambda: so.window(np.zeros(8, np.int16), np.zeros(7, np.int16), 12),
    lambda: so.window(np.zeros(8, np.int16), np.zeros(8, np.int16), 40),
    lambda: so.window(np.zeros(8, np.int32), np.zeros(8, np.int16), 1),
    lambda: so.rfft(np.zeros(16, np.int16), 96),   # 48 complex points: radix 3 not implemented
    lambda: so.rfft(np.zeros(16, np.int16), 15),
    lambda: so.rfft(np.zeros(40, np.int16), 32),   # longer than the FFT
    lambda: so.energy(np.zeros(10, np.int16), 3, 9),
    lambda: so.filter_bank(np.zeros(10, np.uint32), so.FilterBank(*(np.array(v, np.int16) for v in
                           ([1, 2], [1, 2], [0, 10], [0, 1], [1, 1])))),
    lambda: so.filter_bank_square_root(np.zeros(4, np.uint64), 40),
    lambda: so.SpectralSubtraction(4, 1, 1, 1, 1, 40, 1, False).check(),
    lambda: so.pcan(np.zeros(4, np.uint32), np.zeros(3, np.uint32), np.zeros(125, np.int16), 6),
    lambda: so.pcan(np.zeros(4, np.uint32), np.zeros(4, np.uint32), np.zeros(20, np.int16), 6),
    lambda: so.filter_bank_log(np.zeros(4, np.uint32), 64, -1),
    lambda: so.filter_bank_tables(257, 16000, 40, 125.0, 9000.0),
])
def test_bad_arguments_raise_picoml_errors(call):
    with pytest.raises(PicomlError):
        call()


# -- upstream's analytic RFFT checks, over every length (radix-2 stages included) ------------
@pytest.mark.parametrize("fft_length", [64, 128, 256, 512, 1024, 2048])
def test_rfft_impulse_and_full_scale(fft_length):
    """fft_ops_test: an impulse of 32767 gives round(32767 / fft_length) in every bin; a
    constant +-full-scale input gives only DC (within upstream's 21/22) and exact zeros."""
    impulse = np.zeros(fft_length, np.int16)
    impulse[0] = 32767
    out = so.rfft(impulse, fft_length)
    assert (out[0::2] == round(32767 / fft_length)).all() and (out[1::2] == 0).all()
    for value, delta in ((32767, 21), (-32768, 22)):
        out = so.rfft(np.full(fft_length, value, np.int16), fft_length).astype(np.int64)
        assert abs(out[0] - value) <= delta and out[1] == 0 and not out[2:].any()


@pytest.mark.parametrize("fft_length", [64, 128, 256, 512, 1024, 2048])
def test_rfft_sine(fft_length):
    """fft_ops_test.testRfftSineTest: a 10000-amplitude sine lands in its bin as -5000j (+-2)."""
    x = np.int16(np.round(np.float32(10000 * np.sin(np.pi * 2 / 64 * np.arange(fft_length)))))
    out = so.rfft(x.astype(np.int16), fft_length).astype(np.int64)
    expected_imag = np.zeros(fft_length // 2 + 1)
    expected_imag[fft_length // 64] = -5000
    assert np.abs(out[0::2]).max() <= 2 and np.abs(out[1::2] - expected_imag).max() <= 2
