"""TFLM's micro_speech feature pipeline: int16 16 kHz audio to int8 [frames, 40] log-mel features.

Bit-exact with tflite-micro running ``audio_preprocessor_int8.tflite`` frame by frame (30 ms
windows, 20 ms stride, one interpreter per clip so that the noise estimate starts at zero):

    window (Hann, Q12) -> FFT auto-scale -> 512-point int16 RFFT -> energy of bins [5, 241)
    -> 40-channel mel filter bank (uint64) -> sqrt, undo the auto-scale
    -> spectral subtraction (noise estimate: the state) -> PCAN gain control
    -> log (scale 64) -> int8: (log * 256 + 333) / 666 - 128, clamped

The stages are :mod:`picoml.audio.signal_ops`; all but the noise filter run on every frame
at once. :class:`MicroSpeechConfig` holds the constants: ``default()`` derives them from the
preprocessor's documented parameters (tests check they equal the tables stored in the model),
``from_tflite()`` reads them from a preprocessor model. The C twin is
``c/pm_audio_frontend.c`` (one call per frame, same bits).
"""
from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field
from typing import Optional, Union

import numpy as np

from picoml.audio import signal_ops as so
from picoml.errors import InputError, UnsupportedError

SAMPLE_RATE = 16000
FRAME_SAMPLES = 480   # 30 ms
STRIDE_SAMPLES = 320  # 20 ms
NUM_CHANNELS = 40

# The op sequence of TFLM's micro_speech audio_preprocessor_int8.tflite.
PREPROCESSOR_OPS = (
    "SignalWindow", "RESHAPE", "SignalFftAutoScale", "SignalRfft", "SignalEnergy", "CAST", "STRIDED_SLICE",
    "CONCATENATION", "CAST", "SignalFilterBank", "SignalFilterBankSquareRoot",
    "SignalFilterBankSpectralSubtraction", "SignalPCAN", "SignalFilterBankLog", "CAST", "MUL", "ADD", "DIV", "ADD",
    "MINIMUM", "MAXIMUM", "CAST")


@dataclass(frozen=True)
class MicroSpeechConfig:
    """Every constant of the pipeline (shapes are fixed by micro_speech: 480-sample frames)."""
    window: np.ndarray = field(repr=False)           # int16 [480], Q(window_shift)
    window_shift: int
    fft_length: int
    energy_start: int                                # bins outside [start, end) count as 0
    energy_end: int
    filter_bank: so.FilterBank = field(repr=False)
    spectral_subtraction: so.SpectralSubtraction
    pcan_lut: np.ndarray = field(repr=False)         # int16 [125]
    pcan_snr_shift: int
    log_scale: int
    log_correction_bits: int
    int8_mul: int = 256                              # int8 = clamp((log * mul + add) / div + offset)
    int8_add: int = 333
    int8_div: int = 666
    int8_offset: int = -128
    int8_min: int = -128
    int8_max: int = 127

    @staticmethod
    def default() -> "MicroSpeechConfig":
        """micro_speech's parameters (``examples/micro_speech/audio_preprocessor.py``): Hann
        window in Q12; FFT 512; 40 mel channels over 125-7500 Hz with 4-byte aligned, 4-wide
        blocks; noise smoothing 0.025 (odd channels 0.06) with 10 extra bits, keeping 5% of
        the signal; PCAN strength 0.95, offset 80, 21 gain bits; log scale 64 after 3
        correction bits."""
        fft_length = 512
        start, end, fb = so.filter_bank_tables(fft_length // 2 + 1, SAMPLE_RATE, NUM_CHANNELS, 125.0, 7500.0, 4, 4)
        smoothing_bits, correction_bits, gain_bits = 10, 3, 21
        return MicroSpeechConfig(
            window=so.hann_window_weights(FRAME_SAMPLES, 12), window_shift=12, fft_length=fft_length,
            energy_start=start, energy_end=end, filter_bank=fb,
            spectral_subtraction=so.SpectralSubtraction.from_floats(NUM_CHANNELS, 0.025, 0.06, smoothing_bits, 0.05,
                                                                    False),
            pcan_lut=so.pcan_gain_lut(0.95, 80.0, smoothing_bits - correction_bits, gain_bits),
            pcan_snr_shift=gain_bits - correction_bits - so.PCAN_SNR_BITS,
            log_scale=64, log_correction_bits=correction_bits)

    @staticmethod
    def from_tflite(model: Union[str, os.PathLike, bytes]) -> "MicroSpeechConfig":
        """The constants of a micro_speech ``audio_preprocessor_int8.tflite`` (op options and
        constant tensors); any other graph structure is rejected."""
        from picoml.frontends.tflite import load_tflite

        g = load_tflite(model)
        types = tuple(op.type for op in g.ops)
        if types != PREPROCESSOR_OPS:
            raise UnsupportedError(f"not a micro_speech int8 audio preprocessor: ops {', '.join(types)}; expected "
                                   f"{', '.join(PREPROCESSOR_OPS)}")
        ops = {}
        for op in g.ops:
            ops.setdefault(op.type, []).append(op)

        def const(op, i: int) -> np.ndarray:
            t = g.tensors[op.inputs[i]] if op.inputs[i] else None
            if t is None or t.data is None:
                raise UnsupportedError(f"{op.describe()}: input {i} must be a constant tensor")
            return np.asarray(t.data)

        def scalar(op, i: int) -> int:
            v = const(op, i)
            if v.size != 1:
                raise UnsupportedError(f"{op.describe()}: input {i} must be a scalar constant, got shape {v.shape}")
            return int(v.reshape(-1)[0])

        try:
            win, en, fb_op = ops["SignalWindow"][0], ops["SignalEnergy"][0], ops["SignalFilterBank"][0]
            ss, pc, lg = (ops["SignalFilterBankSpectralSubtraction"][0], ops["SignalPCAN"][0],
                          ops["SignalFilterBankLog"][0])
            a = ss.attrs
            cfg = MicroSpeechConfig(
                window=const(win, 1).astype(np.int16), window_shift=int(win.attrs["shift"]),
                fft_length=int(ops["SignalRfft"][0].attrs["fft_length"]),
                energy_start=int(en.attrs["start_index"]), energy_end=int(en.attrs["end_index"]),
                filter_bank=so.FilterBank(*(const(fb_op, i).astype(np.int16) for i in range(1, 6))),
                spectral_subtraction=so.SpectralSubtraction(
                    int(a["num_channels"]), int(a["smoothing"]), int(a["one_minus_smoothing"]),
                    int(a["alternate_smoothing"]), int(a["alternate_one_minus_smoothing"]), int(a["smoothing_bits"]),
                    int(a["min_signal_remaining"]), bool(a["clamping"]), int(a["spectral_subtraction_bits"])),
                pcan_lut=const(pc, 2).astype(np.int16), pcan_snr_shift=int(pc.attrs["snr_shift"]),
                log_scale=int(lg.attrs["output_scale"]), log_correction_bits=int(lg.attrs["input_correction_bits"]),
                int8_mul=scalar(ops["MUL"][0], 1), int8_add=scalar(ops["ADD"][0], 1),
                int8_div=scalar(ops["DIV"][0], 1), int8_offset=scalar(ops["ADD"][1], 1),
                int8_max=scalar(ops["MINIMUM"][0], 1), int8_min=scalar(ops["MAXIMUM"][0], 1))
            _check_slice(g, ops["STRIDED_SLICE"][0], ops["CONCATENATION"][0], cfg)
        except (KeyError, IndexError, AttributeError, TypeError, ValueError) as e:
            raise UnsupportedError(f"micro_speech preprocessor: missing or malformed op option or constant "
                                   f"({type(e).__name__}: {e})") from None
        return cfg.check()

    def check(self) -> "MicroSpeechConfig":
        """Reject constants the pipeline cannot run (returns self)."""
        if np.shape(self.window) != (FRAME_SAMPLES,):
            raise InputError(f"micro_speech window must have {FRAME_SAMPLES} weights, got {np.shape(self.window)}")
        so.kiss_plan(self.fft_length)
        bins = self.fft_length // 2 + 1
        if not 0 <= self.energy_start <= self.energy_end <= bins:
            raise InputError(f"energy range [{self.energy_start}, {self.energy_end}) outside the {bins} bins")
        self.filter_bank.matrices(bins)
        if self.filter_bank.num_channels != self.spectral_subtraction.num_channels:
            raise InputError(f"filter bank has {self.filter_bank.num_channels} channels, spectral subtraction "
                             f"{self.spectral_subtraction.num_channels}")
        self.spectral_subtraction.check()
        if self.int8_div == 0:
            raise InputError("micro_speech int8 conversion divides by zero")
        return self

    @property
    def num_channels(self) -> int:
        """Mel channels, i.e. features per frame."""
        return self.filter_bank.num_channels

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, MicroSpeechConfig):
            return NotImplemented
        return all(np.array_equal(getattr(self, f), getattr(other, f)) if isinstance(getattr(self, f), np.ndarray)
                   else getattr(self, f) == getattr(other, f) for f in self.__dataclass_fields__)

    __hash__ = None  # type: ignore[assignment]


def _check_slice(g, sl, cat, cfg: MicroSpeechConfig) -> None:
    """The graph keeps energy bins [begin, end) via STRIDED_SLICE + zero CONCATENATION; that
    must be the same range the energy op computes, or the pipeline here would differ."""
    begin, end, stride = (int(np.asarray(g.tensors[sl.inputs[i]].data).reshape(-1)[0]) for i in (1, 2, 3))
    pads = [g.tensors[n] for n in cat.inputs]
    if (begin, end, stride) != (cfg.energy_start, cfg.energy_end, 1) or len(pads) != 3 or \
            any(t.data is None or np.any(t.data) for t in (pads[0], pads[2])) or \
            pads[0].size != begin or pads[0].size + (end - begin) + pads[2].size != cfg.fft_length // 2 + 1:
        raise UnsupportedError("micro_speech preprocessor: the energy slice and zero padding do not match the "
                               f"energy range [{cfg.energy_start}, {cfg.energy_end})")


class MicroSpeechFrontend:
    """The pipeline with its state (the per-channel noise estimate), fed frame by frame or a
    batch of consecutive frames at a time; :meth:`reset` starts a new clip."""

    def __init__(self, config: Optional[MicroSpeechConfig] = None) -> None:
        self.config = (config or _default_config()).check()
        bins = self.config.fft_length // 2 + 1
        self._fb_matrices = self.config.filter_bank.matrices(bins)
        self.noise_estimate = np.zeros(self.config.num_channels, np.uint32)

    def reset(self) -> None:
        """Zero the noise estimate, as building a new TFLM interpreter does."""
        self.noise_estimate = np.zeros(self.config.num_channels, np.uint32)

    def frame(self, samples: np.ndarray) -> np.ndarray:
        """int8 [num_channels] features of one 480-sample int16 frame."""
        return self.frames(np.asarray(samples)[None, :])[0]

    def frames(self, frames: np.ndarray) -> np.ndarray:
        """int8 [F, num_channels] features of F consecutive int16 frames [F, 480]."""
        frames = np.asarray(frames)
        if frames.dtype != np.int16 or frames.ndim != 2 or frames.shape[1] != FRAME_SAMPLES:
            raise InputError(f"micro_speech frames must be int16 [F, {FRAME_SAMPLES}], got {frames.dtype} "
                             f"{list(frames.shape)}")
        c = self.config
        x = so.window(frames, c.window, c.window_shift)
        x, scale_bits = so.fft_auto_scale(x)
        e = so.energy(so.rfft(x, c.fft_length), c.energy_start, c.energy_end)
        fb = so.filter_bank(e, c.filter_bank, self._fb_matrices)
        mag = so.filter_bank_square_root(fb, scale_bits)
        sub = np.empty_like(mag)
        noise = np.empty_like(mag)
        for i in range(len(mag)):  # the noise filter runs through the frames in order
            sub[i], self.noise_estimate = so.spectral_subtraction(mag[i], self.noise_estimate, c.spectral_subtraction)
            noise[i] = self.noise_estimate
        logs = so.filter_bank_log(so.pcan(sub, noise, c.pcan_lut, c.pcan_snr_shift), c.log_scale,
                                  c.log_correction_bits)
        return to_int8(logs, c)


def to_int8(logs: np.ndarray, c: MicroSpeechConfig) -> np.ndarray:
    """The preprocessor's int32 tail: ``clamp(trunc((log * mul + add) / div) + offset)``."""
    from picoml.kernels.quant import divide_trunc

    v = divide_trunc(logs.astype(np.int64) * c.int8_mul + c.int8_add, c.int8_div) + c.int8_offset
    return np.clip(v, c.int8_min, c.int8_max).astype(np.int8)


@functools.lru_cache(maxsize=1)
def _default_config() -> MicroSpeechConfig:
    return MicroSpeechConfig.default().check()


def frame_count(num_samples: int) -> int:
    """Whole 30 ms windows at a 20 ms stride: 49 for a 1 s clip."""
    return 0 if num_samples < FRAME_SAMPLES else 1 + (num_samples - FRAME_SAMPLES) // STRIDE_SAMPLES


def micro_speech_features(samples: np.ndarray, config: Optional[MicroSpeechConfig] = None) -> np.ndarray:
    """int8 [frames, 40] micro_speech features of 16 kHz int16 mono audio, with a fresh noise
    estimate (frames start every 320 samples; a trailing partial window is dropped)."""
    samples = np.asarray(samples)
    if samples.dtype != np.int16 or samples.ndim != 1:
        raise InputError(f"micro_speech_features takes 1-D int16 samples, got {samples.dtype} {list(samples.shape)}")
    n = frame_count(samples.shape[0])
    if n == 0:
        raise InputError(f"micro_speech_features needs at least {FRAME_SAMPLES} samples (30 ms), got "
                         f"{samples.shape[0]}")
    frames = np.lib.stride_tricks.sliding_window_view(samples, FRAME_SAMPLES)[::STRIDE_SAMPLES][:n]
    return MicroSpeechFrontend(config).frames(np.ascontiguousarray(frames))
