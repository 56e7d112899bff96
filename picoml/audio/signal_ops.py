"""TFLM's "Signal" audio ops in NumPy, bit for bit (``signal/src/*.cc`` of tflite-micro).

Each stage is a plain function of its inputs (state goes in and comes back out), vectorised
over the values of a frame; most also accept leading batch axes (one row per frame). The
integer semantics follow the C reference exactly: uint32/uint64 wrap-around, int16 truncation
where C stores into an ``int16_t``, arithmetic right shifts, and GCC's ``MostSignificantBit``
(which returns the full width for 0). The C twin is ``c/pm_audio_frontend.c``.

Also here: the generators of the stages' constant tables (Hann window, mel filter bank
weights, PCAN gain LUT) from their float parameters, written after tflite-micro's Python
helpers in float32, so that tests can reproduce the upstream test vectors and cross-check the
constants stored in ``audio_preprocessor_int8.tflite``.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

from picoml.errors import InputError, UnsupportedError

U32 = np.uint64(0xFFFFFFFF)
INT16_MIN, INT16_MAX = -32768, 32767


# -- integer helpers -------------------------------------------------------------------------
def wrap_int16(x: np.ndarray) -> np.ndarray:
    """Store into ``int16_t`` (two's-complement truncation, as every C target does)."""
    return np.asarray(x, np.int64).astype(np.int16)


def msb32(x: np.ndarray) -> np.ndarray:
    """``MostSignificantBit32``: the bit length of a uint32, and 32 for 0 (the GCC build's
    ``32 - __builtin_clz`` branch, which is what the tflite-micro wheel runs)."""
    x = np.asarray(x, np.uint64) & U32
    _, e = np.frexp(x.astype(np.float64))  # exact: a uint32 fits a double
    return np.where(x == 0, 32, e).astype(np.int64)


def msb64(x: np.ndarray) -> np.ndarray:
    """``MostSignificantBit64``: the bit length of a uint64, 64 for 0."""
    x = np.asarray(x, np.uint64)
    hi = x >> np.uint64(32)
    lo = x & U32
    n = np.where(hi != 0, 32 + msb32(hi), msb32(lo))
    return np.where(x == 0, 64, n).astype(np.int64)


def _isqrt_u64(n: np.ndarray) -> np.ndarray:
    """floor(sqrt(n)) of uint64 values, exactly (float estimate, then integer correction)."""
    n = np.asarray(n, np.uint64)
    r = np.floor(np.sqrt(n.astype(np.float64)))
    r = np.minimum(r, float(0xFFFFFFFF)).astype(np.uint64)
    for _ in range(2):  # the estimate is off by at most one
        r = np.where(r * r > n, r - np.uint64(1), r)
    for _ in range(2):
        up = (r < np.uint64(0xFFFFFFFF)) & ((r + np.uint64(1)) * (r + np.uint64(1)) <= n)
        r = np.where(up, r + np.uint64(1), r)
    return r


def sqrt32(x: np.ndarray) -> np.ndarray:
    """``Sqrt32``: the digit-by-digit integer square root, rounded up when the remainder
    exceeds the root, except at the uint16 ceiling 0xFFFF."""
    n = np.asarray(x, np.uint64) & U32
    r = _isqrt_u64(n)
    up = (n - r * r > r) & (r != np.uint64(0xFFFF))
    return (r + up.astype(np.uint64)).astype(np.uint64)


def sqrt64(x: np.ndarray) -> np.ndarray:
    """``Sqrt64``: :func:`sqrt32` when the high word is clear (TFLM's shortcut, slightly off
    just below 2**32), else the 64-bit digit-by-digit root rounded as in ``sqrt32`` with the
    uint32 ceiling; returns uint32 values in uint64."""
    n = np.asarray(x, np.uint64)
    r = _isqrt_u64(n)
    up = (n - r * r > r) & (r != U32)
    wide = r + up.astype(np.uint64)
    return np.where((n >> np.uint64(32)) == 0, sqrt32(n), wide).astype(np.uint64)


def _check_1d(name: str, x: np.ndarray, dtype: Optional[type] = None) -> np.ndarray:
    x = np.asarray(x)
    if dtype is not None and x.dtype != dtype:
        raise InputError(f"{name} must be {np.dtype(dtype).name}, got {x.dtype}")
    if x.ndim < 1 or x.shape[-1] == 0:
        raise InputError(f"{name} must have a non-empty last axis, got shape {x.shape}")
    return x


def _check_shift(name: str, value: int, limit: int) -> int:
    if not isinstance(value, (int, np.integer)) or not 0 <= int(value) < limit:
        raise InputError(f"{name} must be an integer in [0, {limit}), got {value!r}")
    return int(value)


# -- SignalWindow ----------------------------------------------------------------------------
def window(x: np.ndarray, weights: np.ndarray, shift: int) -> np.ndarray:
    """``ApplyWindow``: ``(x * w) >> shift`` per sample, saturated to int16 (over the last axis)."""
    x = _check_1d("window input", x, np.int16)
    weights = _check_1d("window weights", weights, np.int16)
    if weights.ndim != 1 or weights.shape[0] != x.shape[-1]:
        raise InputError(f"window weights have shape {weights.shape}; the frame has {x.shape[-1]} samples")
    shift = _check_shift("window shift", shift, 32)
    raw = (x.astype(np.int64) * weights.astype(np.int64)) >> shift
    return np.clip(raw, INT16_MIN, INT16_MAX).astype(np.int16)


def hann_window_weights(length: int, shift: int) -> np.ndarray:
    """The Hann window of tflite-micro's ``window_op.hann_window_weights``: sampled at the
    half-integer points ``0.5 - 0.5 cos(2 pi (i + 0.5) / length)``, scaled by 2**shift, rounded."""
    if length < 1 or not 0 <= shift < 16:
        raise InputError(f"hann window: length {length} and shift {shift} must be >= 1 and in [0, 16)")
    w = 0.5 - 0.5 * np.cos(np.pi * 2 / length * (np.arange(length) + 0.5))
    return np.round(w * (1 << shift)).astype(np.int16)


# -- SignalFftAutoScale ----------------------------------------------------------------------
def max_abs16(x: np.ndarray) -> np.ndarray:
    """``MaxAbs16`` over the last axis, including its int16 quirk: ``-(-32768)`` stored into
    the int16 maximum wraps back to -32768, after which the scan restarts from the next value
    (which may leave a negative "maximum"). Returns int64 values in int16 range."""
    x = np.asarray(x, np.int64)
    a = np.abs(x)
    n = x.shape[-1]
    idx = np.arange(n)
    is_min = x == INT16_MIN
    plain = np.max(a, axis=-1)  # no -32768 in the frame: the ordinary max(|x|), floored at 0
    last = np.max(np.where(is_min, idx, -1), axis=-1)  # last -32768, or -1
    # After the last -32768 at j the maximum is x[j+1], and stays "x[k]" while the values keep
    # rising below zero; the first k after j with x[k] >= 0 or x[k] <= x[k-1] sets it to |x[k]|,
    # from where the ordinary maximum of |x| takes over.
    prev = np.concatenate([np.full(x.shape[:-1] + (1,), INT16_MIN, np.int64), x[..., :-1]], axis=-1)
    breaks = (idx > last[..., None]) & ((x >= 0) | (x <= prev))
    k = np.min(np.where(breaks, idx, n), axis=-1)
    tail = np.max(np.where(idx >= k[..., None], a, 0), axis=-1)
    rising = np.take_along_axis(x, np.full(x.shape[:-1] + (1,), n - 1), axis=-1)[..., 0]
    wrapped = np.where(last == n - 1, INT16_MIN, np.where(k < n, tail, rising))
    return np.where(last < 0, plain, wrapped)


def fft_auto_scale(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``FftAutoScale``: shift the frame left so its largest magnitude uses all 15 bits.
    Returns (int16 frame, int32 scale bits) per frame of the last axis."""
    x = _check_1d("fft_auto_scale input", x, np.int16)
    mx = max_abs16(x)
    bits = 16 - msb32(mx & 0xFFFFFFFF) - 1  # an int16 maximum converted to uint32, as in C
    bits = np.maximum(bits, 0)
    return wrap_int16(x.astype(np.int64) << bits[..., None]), bits.astype(np.int32)


# -- SignalRfft (kiss_fft, FIXED_POINT=16) ---------------------------------------------------
def _kiss_cexp(phase: float) -> tuple[int, int]:
    """kiss_fft's fixed-point twiddle: ``floor(0.5 + 32767 * cos/sin(phase))`` in double."""
    return int(math.floor(0.5 + 32767 * math.cos(phase))), int(math.floor(0.5 + 32767 * math.sin(phase)))


def _kiss_factors(n: int) -> list[tuple[int, int]]:
    """``kf_factor`` for a power of two: radix 4 while possible, then one radix 2."""
    out = []
    while n > 1:
        p = 4 if n % 4 == 0 else 2
        n //= p
        out.append((p, n))
    return out


@dataclass(frozen=True)
class KissPlan:
    """The constants of one ``kiss_fftr`` of length ``2 * n`` (computed once per length)."""
    n: int                       # complex FFT length (half the real length)
    factors: tuple               # ((radix, m), ...) outermost first
    perm: np.ndarray             # input index of each leaf position (kf_work's decimation)
    twiddles: np.ndarray         # int16 [n, 2]
    super_twiddles: np.ndarray   # int16 [n // 2, 2]


@functools.lru_cache(maxsize=None)
def kiss_plan(fft_length: int) -> KissPlan:
    """The kiss_fftr state for a real FFT of ``fft_length`` (an even length whose half is a
    power of two >= 2: the radix-4/radix-2 paths; other radices are not implemented)."""
    if not isinstance(fft_length, (int, np.integer)) or fft_length < 4 or fft_length % 2:
        raise InputError(f"rfft length must be an even integer >= 4, got {fft_length!r}")
    n = int(fft_length) // 2
    if n & (n - 1):
        raise UnsupportedError(f"rfft length {fft_length}: only lengths 2 * 2**k are implemented (radix 4 and 2)")
    factors = _kiss_factors(n)
    perm = _kiss_leaf_order(n, factors)
    tw = np.array([_kiss_cexp(-2 * math.pi * i / n) for i in range(n)], np.int16).reshape(n, 2)
    stw = np.array([_kiss_cexp(-math.pi * ((i + 1) / n + 0.5)) for i in range(n // 2)], np.int16).reshape(-1, 2)
    return KissPlan(n, tuple(factors), perm, tw, stw)


def _kiss_leaf_order(n: int, factors: Sequence[tuple[int, int]]) -> np.ndarray:
    """Which input index kf_work copies to each output position before the butterflies."""
    def work(offset: int, fstride: int, level: int) -> list[int]:
        p, m = factors[level]
        if m == 1:
            return [offset + q * fstride for q in range(p)]
        out: list[int] = []
        for q in range(p):
            out += work(offset + q * fstride, fstride * p, level + 1)
        return out
    return np.array(work(0, 1, 0), np.int64)


def _fixdiv(x: np.ndarray, k: int) -> np.ndarray:
    """``C_FIXDIV``: multiply by ``32767 / k`` in Q15 with rounding, store as int16."""
    return wrap_int16((x * (32767 // k) + (1 << 14)) >> 15).astype(np.int64)


def _cmul(ar: np.ndarray, ai: np.ndarray, br: np.ndarray, bi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``C_MUL`` in Q15: each int32 sum of products rounded, shifted and stored as int16."""
    r = wrap_int16((ar * br - ai * bi + (1 << 14)) >> 15).astype(np.int64)
    i = wrap_int16((ar * bi + ai * br + (1 << 14)) >> 15).astype(np.int64)
    return r, i


def _w16(x: np.ndarray) -> np.ndarray:
    return wrap_int16(x).astype(np.int64)


def _bfly2(R: np.ndarray, I: np.ndarray, tw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``kf_bfly2`` on [..., 2, m] (inputs already divided): F0 + t, F0 - t with t = F1 * tw."""
    tr, ti = _cmul(R[..., 1, :], I[..., 1, :], tw[:, 0], tw[:, 1])
    return (np.stack([_w16(R[..., 0, :] + tr), _w16(R[..., 0, :] - tr)], axis=-2),
            np.stack([_w16(I[..., 0, :] + ti), _w16(I[..., 0, :] - ti)], axis=-2))


def _bfly4(R: np.ndarray, I: np.ndarray, tw: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Forward ``kf_bfly4`` on [..., 4, m] (inputs already divided), every intermediate stored
    as int16 in the same order as the C."""
    s0 = _cmul(R[..., 1, :], I[..., 1, :], tw[0][:, 0], tw[0][:, 1])
    s1 = _cmul(R[..., 2, :], I[..., 2, :], tw[1][:, 0], tw[1][:, 1])
    s2 = _cmul(R[..., 3, :], I[..., 3, :], tw[2][:, 0], tw[2][:, 1])
    s5r, s5i = _w16(R[..., 0, :] - s1[0]), _w16(I[..., 0, :] - s1[1])
    f0r, f0i = _w16(R[..., 0, :] + s1[0]), _w16(I[..., 0, :] + s1[1])
    s3r, s3i = _w16(s0[0] + s2[0]), _w16(s0[1] + s2[1])
    s4r, s4i = _w16(s0[0] - s2[0]), _w16(s0[1] - s2[1])
    out_r = [_w16(f0r + s3r), _w16(s5r + s4i), _w16(f0r - s3r), _w16(s5r - s4i)]
    out_i = [_w16(f0i + s3i), _w16(s5i - s4r), _w16(f0i - s3i), _w16(s5i + s4r)]
    return np.stack(out_r, axis=-2), np.stack(out_i, axis=-2)


def kiss_fft_fixed16(re: np.ndarray, im: np.ndarray, plan: KissPlan) -> tuple[np.ndarray, np.ndarray]:
    """The forward complex ``kiss_fft`` of ``plan.n`` points (int16 values held in int64),
    over the last axis. kf_work's recursion is run iteratively: the leaf permutation, then the
    stages from the innermost out (their blocks are independent, so the order is immaterial),
    each dividing by its radix (``C_FIXDIV``) before the butterflies."""
    re, im = re[..., plan.perm], im[..., plan.perm]
    batch = re.shape[:-1]
    fstrides = np.cumprod([1] + [p for p, _ in plan.factors[:-1]])
    for (p, m), fstride in reversed(list(zip(plan.factors, fstrides))):
        shape = batch + (plan.n // (p * m), p, m)  # blocks of p * m, butterflies across the p rows
        R, I = _fixdiv(re.reshape(shape), p), _fixdiv(im.reshape(shape), p)
        k = np.arange(m) * int(fstride)
        tw = [plan.twiddles[(q * k) % plan.n].astype(np.int64) for q in range(1, p)]
        R, I = _bfly2(R, I, tw[0]) if p == 2 else _bfly4(R, I, tw)
        re, im = R.reshape(batch + (plan.n,)), I.reshape(batch + (plan.n,))
    return re, im


def rfft(x: np.ndarray, fft_length: int) -> np.ndarray:
    """``SignalRfft`` on int16 frames (last axis, zero-padded to ``fft_length``): kiss_fftr in
    fixed point, scaled by 1/fft_length. Returns int16 ``[..., fft_length + 2]``: (re, im) of
    bins 0 .. fft_length/2, interleaved."""
    x = _check_1d("rfft input", x, np.int16)
    plan = kiss_plan(fft_length)
    if x.shape[-1] > fft_length:
        raise InputError(f"rfft input has {x.shape[-1]} samples, more than fft_length {fft_length}")
    pad = np.zeros(x.shape[:-1] + (fft_length,), np.int64)
    pad[..., :x.shape[-1]] = x
    re, im = kiss_fft_fixed16(pad[..., 0::2], pad[..., 1::2], plan)  # even/odd samples as (re, im)
    n = plan.n
    out_r = np.zeros(x.shape[:-1] + (n + 1,), np.int64)
    out_i = np.zeros_like(out_r)
    dc_r, dc_i = _fixdiv(re[..., 0], 2), _fixdiv(im[..., 0], 2)
    out_r[..., 0] = _w16(dc_r + dc_i)
    out_r[..., n] = _w16(dc_r - dc_i)
    k = np.arange(1, n // 2 + 1)
    fpk_r, fpk_i = _fixdiv(re[..., k], 2), _fixdiv(im[..., k], 2)
    fpnk_r, fpnk_i = _fixdiv(re[..., n - k], 2), _fixdiv(_w16(-im[..., n - k]), 2)
    f1_r, f1_i = _w16(fpk_r + fpnk_r), _w16(fpk_i + fpnk_i)
    f2_r, f2_i = _w16(fpk_r - fpnk_r), _w16(fpk_i - fpnk_i)
    st = plan.super_twiddles[k - 1].astype(np.int64)
    tw_r, tw_i = _cmul(f2_r, f2_i, st[:, 0], st[:, 1])
    out_r[..., k] = (f1_r + tw_r) >> 1  # HALF_OF on the int sum: always fits int16
    out_i[..., k] = (f1_i + tw_i) >> 1
    out_r[..., n - k] = (f1_r - tw_r) >> 1  # for k = n/2 this second write wins, as in C
    out_i[..., n - k] = (tw_i - f1_i) >> 1
    return np.stack([out_r, out_i], axis=-1).reshape(x.shape[:-1] + (2 * (n + 1),)).astype(np.int16)


# -- SignalEnergy ----------------------------------------------------------------------------
def energy(spectrum: np.ndarray, start_index: int, end_index: int) -> np.ndarray:
    """``SpectrumToEnergy``: re**2 + im**2 (int32 arithmetic stored as uint32) for bins in
    [start_index, end_index); the other bins are 0. ``spectrum`` interleaves (re, im) int16."""
    spectrum = _check_1d("energy input", spectrum, np.int16)
    if spectrum.shape[-1] % 2:
        raise InputError(f"energy input must hold (re, im) pairs, got {spectrum.shape[-1]} values")
    bins = spectrum.shape[-1] // 2
    if not 0 <= start_index <= end_index <= bins:
        raise InputError(f"energy range [{start_index}, {end_index}) must lie within the {bins} bins")
    c = spectrum.reshape(spectrum.shape[:-1] + (bins, 2)).astype(np.int64)
    e = (c[..., 0] * c[..., 0] + c[..., 1] * c[..., 1]) & 0xFFFFFFFF
    e[..., :start_index] = 0
    e[..., end_index:] = 0
    return e.astype(np.uint32)


# -- SignalFilterBank ------------------------------------------------------------------------
@dataclass(frozen=True)
class FilterBank:
    """The constant tensors of ``SignalFilterBank`` (num_channels + 1 entries per table:
    entry 0 only collects channel 0's "unweights")."""
    weights: np.ndarray                   # int16 [num_weights]
    unweights: np.ndarray                 # int16 [num_weights]
    channel_frequency_starts: np.ndarray  # int16 [num_channels + 1]
    channel_weight_starts: np.ndarray     # int16 [num_channels + 1]
    channel_widths: np.ndarray            # int16 [num_channels + 1]

    @property
    def num_channels(self) -> int:
        """Output channels (the tables hold one more: channel 0 is scratch)."""
        return len(self.channel_widths) - 1

    def matrices(self, spectrum_size: int) -> tuple[np.ndarray, np.ndarray]:
        """Dense uint64 [num_channels + 1, spectrum_size] weight and unweight matrices (int16
        converted to uint64 as the C does), checked against the tables' bounds."""
        return _fb_matrices(self, spectrum_size)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FilterBank) and all(
            np.array_equal(getattr(self, f), getattr(other, f)) for f in
            ("weights", "unweights", "channel_frequency_starts", "channel_weight_starts", "channel_widths"))

    __hash__ = None  # type: ignore[assignment]


def _fb_matrices(fb: FilterBank, spectrum_size: int) -> tuple[np.ndarray, np.ndarray]:
    starts = np.asarray(fb.channel_frequency_starts, np.int64)
    wstarts = np.asarray(fb.channel_weight_starts, np.int64)
    widths = np.asarray(fb.channel_widths, np.int64)
    if not (len(starts) == len(wstarts) == len(widths) >= 2):
        raise InputError(f"filter bank tables must have num_channels + 1 >= 2 equal lengths, got "
                         f"{len(starts)}, {len(wstarts)}, {len(widths)}")
    if len(fb.weights) != len(fb.unweights):
        raise InputError(f"filter bank weights ({len(fb.weights)}) and unweights ({len(fb.unweights)}) "
                         "differ in length")
    if (widths < 0).any() or (starts < 0).any() or (wstarts < 0).any():
        raise InputError("filter bank starts and widths must be non-negative")
    if (starts + widths > spectrum_size).any() or (wstarts + widths > len(fb.weights)).any():
        raise InputError(f"filter bank channels reach past the {spectrum_size}-bin spectrum or the "
                         f"{len(fb.weights)} weights")
    rows = np.repeat(np.arange(len(widths)), widths)
    offs = np.arange(rows.size) - np.repeat(np.cumsum(widths) - widths, widths)
    cols = starts[rows] + offs
    w_idx = wstarts[rows] + offs
    W = np.zeros((len(widths), spectrum_size), np.uint64)
    U = np.zeros_like(W)
    np.add.at(W, (rows, cols), np.asarray(fb.weights, np.int64)[w_idx].astype(np.uint64))
    np.add.at(U, (rows, cols), np.asarray(fb.unweights, np.int64)[w_idx].astype(np.uint64))
    return W, U


def filter_bank(x: np.ndarray, fb: FilterBank, matrices: Optional[tuple[np.ndarray, np.ndarray]] = None
                ) -> np.ndarray:
    """``FilterbankAccumulateChannels``: each channel sums its bins' energy times the weights,
    plus the previous channel's bins times the unweights (uint64 sums). Returns uint64
    ``[..., num_channels]``. ``matrices`` caches :meth:`FilterBank.matrices`."""
    x = _check_1d("filter bank input", x, np.uint32)
    W, U = matrices if matrices is not None else fb.matrices(x.shape[-1])
    if W.shape[1] != x.shape[-1]:
        raise InputError(f"filter bank built for {W.shape[1]} bins, input has {x.shape[-1]}")
    e = x.astype(np.uint64)
    acc_w = e @ W.T  # uint64 matmul wraps like the C accumulators
    acc_u = e @ U.T
    return (acc_w[..., 1:] + acc_u[..., :-1]).astype(np.uint64)


def freq_to_mel(freq: np.ndarray) -> np.ndarray:
    """``FreqToMel`` in float32: ``1127 * log1p(f / 700)``."""
    f = np.asarray(freq, np.float32)
    return (np.float32(1127.0) * np.log1p(f / np.float32(700.0))).astype(np.float32)


def filter_bank_tables(spectrum_size: int, sample_rate: float, num_channels: int, lower_band_limit: float,
                       upper_band_limit: float, alignment: int = 1, channel_block_size: int = 1
                       ) -> tuple[int, int, FilterBank]:
    """The mel filter bank of tflite-micro's ``_init_filter_bank_weights`` (12 weight bits), in
    float32 as upstream. ``alignment`` (bytes) and ``channel_block_size`` pad each channel's
    span so that it starts aligned and covers whole blocks (upstream's test vectors use 1 and 1;
    micro_speech's preprocessor 4 and 4). Returns (start_index, end_index, tables)."""
    if alignment < 1 or channel_block_size < 1:
        raise InputError(f"filter bank: alignment {alignment} and block size {channel_block_size} must be >= 1")
    index_alignment = 1 if alignment < 2 else alignment // 2  # in int16 items
    if num_channels < 1 or spectrum_size < 2 or not 0 <= lower_band_limit < upper_band_limit:
        raise InputError(f"filter bank: {num_channels} channels, {spectrum_size} bins, band "
                         f"[{lower_band_limit}, {upper_band_limit}] are not a valid configuration")
    mel_lo = np.float32(freq_to_mel(lower_band_limit))
    mel_hi = np.float32(freq_to_mel(upper_band_limit))
    spacing = (mel_hi - mel_lo) / np.float32(num_channels + 1)
    centers = mel_lo + spacing * np.arange(1, num_channels + 2, dtype=np.float32)
    hz_per_bin = (sample_rate / 2) / (spectrum_size - 1)
    start_index = round(1 + lower_band_limit / hz_per_bin)

    def mel_of_bin(i: int) -> np.float32:
        return np.float32(freq_to_mel(np.float32(i * hz_per_bin)))

    n = num_channels + 1
    freq_starts = np.zeros(n, np.int64)
    weight_starts = np.zeros(n, np.int64)
    widths = np.zeros(n, np.int64)
    actual_starts = np.zeros(n, np.int64)
    actual_widths = np.zeros(n, np.int64)
    chan_start, weight_index, needs_zeros = start_index, 0, False
    for chan in range(n):
        freq = chan_start
        while mel_of_bin(freq) <= centers[chan]:
            freq += 1
            if freq > spectrum_size + 1:
                raise InputError("filter bank: the upper band limit lies beyond the spectrum")
        width = freq - chan_start
        actual_starts[chan], actual_widths[chan] = chan_start, width
        if width == 0:  # an empty channel reads one block of zero weights at the front of the tables
            freq_starts[chan], weight_starts[chan], widths[chan] = 0, 0, channel_block_size
            if not needs_zeros:
                needs_zeros = True
                weight_starts[:chan] += channel_block_size
                weight_index += channel_block_size
        else:
            aligned = chan_start // index_alignment * index_alignment
            padded = ((chan_start - aligned + width - 1) // channel_block_size + 1) * channel_block_size
            freq_starts[chan], weight_starts[chan], widths[chan] = aligned, weight_index, padded
            weight_index += padded
        chan_start = freq
    weights = np.zeros(weight_index, np.int64)
    unweights = np.zeros(weight_index, np.int64)
    end_index = 0
    for chan in range(n):
        lo = mel_lo if chan == 0 else centers[chan - 1]
        den = np.float32(centers[chan] - np.float32(lo))
        for j in range(actual_widths[chan]):
            f = actual_starts[chan] + j
            w = np.float32(np.float32(centers[chan] - mel_of_bin(f)) / den)
            k = weight_starts[chan] + (actual_starts[chan] - freq_starts[chan]) + j
            weights[k] = int(w * np.float32(4096))
            unweights[k] = int((np.float32(1) - w) * np.float32(4096))
        end_index = max(end_index, actual_starts[chan] + actual_widths[chan])
    if end_index >= spectrum_size:
        raise InputError("filter bank: the upper band limit lies beyond the spectrum")
    fb = FilterBank(weights.astype(np.int16), unweights.astype(np.int16), freq_starts.astype(np.int16),
                    weight_starts.astype(np.int16), widths.astype(np.int16))
    return start_index, end_index, fb


# -- SignalFilterBankSquareRoot --------------------------------------------------------------
def filter_bank_square_root(x: np.ndarray, scale_bits: np.ndarray) -> np.ndarray:
    """``FilterbankSqrt``: ``Sqrt64(x) >> scale_bits`` (uint32 out); ``scale_bits`` is a
    scalar or one value per frame (the leading axes)."""
    x = _check_1d("filter bank square root input", x, np.uint64)
    bits = np.asarray(scale_bits, np.int64)
    if (bits < 0).any() or (bits > 31).any():
        raise InputError(f"filter bank square root: scale bits must be in [0, 31], got {scale_bits}")
    return (sqrt64(x) >> bits[..., None].astype(np.uint64)).astype(np.uint32)


# -- SignalFilterBankSpectralSubtraction -----------------------------------------------------
@dataclass(frozen=True)
class SpectralSubtraction:
    """``SpectralSubtractionConfig`` (integers already scaled by 2**spectral_subtraction_bits)."""
    num_channels: int
    smoothing: int
    one_minus_smoothing: int
    alternate_smoothing: int
    alternate_one_minus_smoothing: int
    smoothing_bits: int
    min_signal_remaining: int
    clamping: bool
    spectral_subtraction_bits: int = 14

    def check(self) -> "SpectralSubtraction":
        """Reject values the C would turn into undefined shifts or nonsense (returns self)."""
        if self.num_channels < 1:
            raise InputError(f"spectral subtraction: num_channels {self.num_channels} must be >= 1")
        _check_shift("spectral subtraction smoothing_bits", self.smoothing_bits, 32)
        _check_shift("spectral_subtraction_bits", self.spectral_subtraction_bits, 64)
        for name in ("smoothing", "one_minus_smoothing", "alternate_smoothing", "alternate_one_minus_smoothing",
                     "min_signal_remaining"):
            v = getattr(self, name)
            if not -(1 << 31) <= v < (1 << 32):
                raise InputError(f"spectral subtraction: {name} {v} does not fit 32 bits")
        return self

    @classmethod
    def from_floats(cls, num_channels: int, smoothing: float, alternate_smoothing: float, smoothing_bits: int,
                    min_signal_remaining: float, clamping: bool, spectral_subtraction_bits: int = 14
                    ) -> "SpectralSubtraction":
        """The integer config tflite-micro's ``filter_bank_spectral_subtraction`` wrapper
        derives from float parameters (alternate_smoothing 0 means "same as smoothing")."""
        one = 1 << spectral_subtraction_bits
        if alternate_smoothing == 0:
            alternate_smoothing = smoothing
        s, a = int(smoothing * one), int(alternate_smoothing * one)
        return cls(num_channels, s, one - s, a, one - a, smoothing_bits, int(min_signal_remaining * one),
                   bool(clamping), spectral_subtraction_bits).check()


def spectral_subtraction(x: np.ndarray, noise_estimate: np.ndarray, cfg: SpectralSubtraction
                         ) -> tuple[np.ndarray, np.ndarray]:
    """``FilterbankSpectralSubtraction`` on one frame: update the per-channel noise estimate
    (a low-pass filter, alternate coefficients on odd channels) and subtract it, keeping at
    least ``min_signal_remaining`` of the signal. Returns (uint32 output, uint32 new estimate)."""
    x = _check_1d("spectral subtraction input", x, np.uint32)
    if x.ndim != 1 or x.shape[0] != cfg.num_channels or np.shape(noise_estimate) != x.shape:
        raise InputError(f"spectral subtraction takes one frame of {cfg.num_channels} channels and a noise "
                         f"estimate of the same shape, got {x.shape} and {np.shape(noise_estimate)}")
    odd = (np.arange(cfg.num_channels) & 1).astype(bool)
    smooth = np.where(odd, cfg.alternate_smoothing, cfg.smoothing).astype(np.int64).astype(np.uint64) & U32
    one_minus = np.where(odd, cfg.alternate_one_minus_smoothing, cfg.one_minus_smoothing
                         ).astype(np.int64).astype(np.uint64) & U32
    sb = np.uint64(cfg.smoothing_bits)
    ssb = np.uint64(cfg.spectral_subtraction_bits)
    xin = x.astype(np.uint64)
    scaled = (xin << sb) & U32
    noise = ((scaled * smooth + np.asarray(noise_estimate, np.uint64) * one_minus) >> ssb) & U32
    estimate = np.minimum(noise, scaled)
    if cfg.clamping:
        noise = estimate
    floor = ((xin * (np.uint64(cfg.min_signal_remaining & 0xFFFFFFFF))) >> ssb) & U32
    subtracted = (scaled - estimate) >> sb
    return np.maximum(subtracted, floor).astype(np.uint32), noise.astype(np.uint32)


# -- SignalPCAN ------------------------------------------------------------------------------
PCAN_SNR_BITS, PCAN_OUTPUT_BITS = 12, 6


def wide_dynamic_function(x: np.ndarray, lut: np.ndarray) -> np.ndarray:
    """``WideDynamicFunction``: the PCAN gain of a noise estimate, a piecewise quadratic read
    from ``lut`` (4 entries per octave). Returns int16 values (int64 array)."""
    x = np.asarray(x, np.uint64) & U32
    lut = np.asarray(lut, np.int64)
    interval = msb32(x)
    base = np.clip(4 * interval - 6, 0, len(lut) - 3)
    shift_up = np.maximum(11 - interval, 0).astype(np.uint64)
    shift_dn = np.maximum(interval - 11, 0).astype(np.uint64)
    frac = np.where(interval < 11, (x << shift_up) & U32, x >> shift_dn).astype(np.int64) & 0x3FF
    result = (lut[base + 2] * frac) >> 5
    result = result + lut[base + 1] * 32  # (int32)((uint32)lut[1] << 5)
    result = _wrap32(_wrap32(result) * frac)
    result = (_wrap32(result + (1 << 14)) >> 15) + lut[base]
    small = lut[np.minimum(x, 2).astype(np.int64)]
    return np.where(x <= 2, small, wrap_int16(result).astype(np.int64))


def _wrap32(x: np.ndarray) -> np.ndarray:
    return ((np.asarray(x, np.int64) + (1 << 31)) & 0xFFFFFFFF) - (1 << 31)


def pcan_shrink(x: np.ndarray) -> np.ndarray:
    """``PcanShrink``: x**2/4 below 2 and x - 1 above, from 12 to 6 fractional bits (uint32)."""
    x = np.asarray(x, np.uint64)
    small = (x * x) >> np.uint64(2 + 2 * PCAN_SNR_BITS - PCAN_OUTPUT_BITS)
    big = ((x >> np.uint64(PCAN_SNR_BITS - PCAN_OUTPUT_BITS)) - np.uint64(1 << PCAN_OUTPUT_BITS)) & U32
    return np.where(x < (2 << PCAN_SNR_BITS), small & U32, big).astype(np.uint64)


def pcan(x: np.ndarray, noise_estimate: np.ndarray, lut: np.ndarray, snr_shift: int) -> np.ndarray:
    """``ApplyPcanAutoGainControlFixed``: per-channel energy normalisation by a gain read off
    the noise estimate, then the shrink curve. Returns uint32 like the input."""
    x = _check_1d("pcan input", x, np.uint32)
    if np.shape(noise_estimate) != x.shape:
        raise InputError(f"pcan: noise estimate shape {np.shape(noise_estimate)} differs from input {x.shape}")
    if np.ndim(lut) != 1 or len(lut) < 125:
        raise InputError(f"pcan: the gain LUT needs 125 int16 entries (32-bit inputs), got {np.shape(lut)}")
    snr_shift = _check_shift("pcan snr_shift", snr_shift, 64)
    gain = wide_dynamic_function(noise_estimate, lut).astype(np.uint64) & U32  # int16 -> uint32
    snr = ((x.astype(np.uint64) * gain) >> np.uint64(snr_shift)) & U32
    return pcan_shrink(snr).astype(np.uint32)


def pcan_gain_lut(strength: float, offset: float, input_bits: int, gain_bits: int) -> np.ndarray:
    """tflite-micro's ``WideDynamicFuncLut`` (float32, ``powf``): 125 int16 entries giving, per
    octave of the noise estimate, a quadratic through the gain at x0, 1.5 x0 and 2 x0, with
    gain(x) = 2**gain_bits * (x / 2**input_bits + offset) ** -strength."""
    if not 0 <= input_bits < 32 or not 0 <= gain_bits < 32:
        raise InputError(f"pcan LUT: input_bits {input_bits} and gain_bits {gain_bits} must be in [0, 32)")

    def gain(x: np.ndarray) -> np.ndarray:
        xf = np.asarray(x, np.uint64).astype(np.float32) / np.float32(1 << input_bits)
        g = np.float32(1 << gain_bits) * np.power(xf + np.float32(offset), np.float32(-strength))
        g = g.astype(np.float32)
        return np.where(g > 32767, 32767, (g + np.float32(0.5)).astype(np.float32).astype(np.int64)).astype(np.int64)

    lut = np.zeros(128, np.int64)
    lut[0], lut[1] = gain(np.array([0, 1]))
    intervals = np.arange(2, 33)
    x0 = np.left_shift(np.uint64(1), (intervals - 1).astype(np.uint64))
    x1 = x0 + (x0 >> np.uint64(1))
    x2 = np.where(intervals == 32, x0 + (x0 - np.uint64(1)), 2 * x0)
    y0, y1, y2 = gain(x0), gain(x1), gain(x2)
    a1 = 4 * (y1 - y0) - (y2 - y0)
    a2 = (y2 - y0) - a1
    base = 4 * intervals - 6
    lut[base], lut[base + 1], lut[base + 2], lut[base + 3] = y0, wrap_int16(a1), wrap_int16(a2), 0
    return lut[:125].astype(np.int16)


# -- SignalFilterBankLog ---------------------------------------------------------------------
LOG_LUT = np.array([
    0, 224, 442, 654, 861, 1063, 1259, 1450, 1636, 1817, 1992, 2163, 2329, 2490, 2646, 2797, 2944, 3087, 3224,
    3358, 3487, 3611, 3732, 3848, 3960, 4068, 4172, 4272, 4368, 4460, 4549, 4633, 4714, 4791, 4864, 4934, 5001,
    5063, 5123, 5178, 5231, 5280, 5326, 5368, 5408, 5444, 5477, 5507, 5533, 5557, 5578, 5595, 5610, 5622, 5631,
    5637, 5640, 5641, 5638, 5633, 5626, 5615, 5602, 5586, 5568, 5547, 5524, 5498, 5470, 5439, 5406, 5370, 5332,
    5291, 5249, 5203, 5156, 5106, 5054, 5000, 4944, 4885, 4825, 4762, 4697, 4630, 4561, 4490, 4416, 4341, 4264,
    4184, 4103, 4020, 3935, 3848, 3759, 3668, 3575, 3481, 3384, 3286, 3186, 3084, 2981, 2875, 2768, 2659, 2549,
    2437, 2323, 2207, 2090, 1971, 1851, 1729, 1605, 1480, 1353, 1224, 1094, 963, 830, 695, 559, 421, 282, 142,
    0, 0], np.int64)
"""Correction of log2(1 + f) over a linear interpolation, 128 segments in Q16 (``kLogLut``)."""
LOG_COEFF = 45426  # ln(2) in Q16


def log32(x: np.ndarray, out_scale: int) -> np.ndarray:
    """``Log32``: ln(x) * out_scale for uint32 x > 1, from the integer part of log2 plus a
    table-corrected fraction, in Q16 with rounding. Returns uint32 values (uint64 array)."""
    x = np.asarray(x, np.uint64) & U32
    integer = msb32(x) - 1
    frac = x.astype(np.int64) - (np.int64(1) << np.maximum(integer, 0))
    frac = np.where(integer < 16, frac << np.maximum(16 - integer, 0), frac >> np.maximum(integer - 16, 0))
    seg = np.clip(frac >> 9, 0, 128)
    c0, c1 = LOG_LUT[seg], LOG_LUT[seg + 1]
    rel = ((c1 - c0) * (frac - (seg << 9))) >> 16
    fraction = (frac + c0 + rel) & 0xFFFFFFFF
    log2 = ((integer.astype(np.uint64) << np.uint64(16)) + fraction.astype(np.uint64)) & U32
    loge = ((np.uint64(LOG_COEFF) * log2 + np.uint64(1 << 15)) >> np.uint64(16)) & U32
    return (((np.uint64(out_scale & 0xFFFFFFFF) * loge + np.uint64(1 << 15)) & U32) >> np.uint64(16)).astype(np.uint64)


def filter_bank_log(x: np.ndarray, output_scale: int, input_correction_bits: int) -> np.ndarray:
    """``FilterbankLog``: ``min(Log32(x << bits, scale), 32767)`` for values above 1, else 0 (int16)."""
    x = _check_1d("filter bank log input", x, np.uint32)
    bits = _check_shift("filter bank log input_correction_bits", input_correction_bits, 32)
    scaled = (x.astype(np.uint64) << np.uint64(bits)) & U32
    out = np.minimum(log32(np.maximum(scaled, 2), int(output_scale)), np.uint64(INT16_MAX))
    return np.where(scaled > 1, out, 0).astype(np.int16)
