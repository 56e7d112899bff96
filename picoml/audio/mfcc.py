"""The MFCC front end of the MLPerf Tiny keyword-spotting model (``kws_ref_model.tflite``).

MLPerf Tiny trains its DS-CNN on TensorFlow features (``keyword_spotting/get_dataset.py``):
the clip divided by its maximum sample, padded to 1 s, then ``tf.signal.stft`` (30 ms Hann
window, 20 ms step, FFT 512), magnitude, 40 mel bins over 20-4000 Hz
(``linear_to_mel_weight_matrix``), ``log(mel + 1e-6)``, and the first 10 coefficients of
``mfccs_from_log_mel_spectrograms`` (a DCT-II scaled by sqrt(2 / 40)): 49 x 10 floats, which
the int8 model takes quantized with its input scale and zero point. This is a float NumPy
reimplementation (results agree with TensorFlow to float32 rounding, not bit for bit).
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from picoml.errors import InputError

KWS_SAMPLE_RATE = 16000
KWS_CLIP_SAMPLES = 16000
KWS_INPUT_SHAPE = (1, 49, 10, 1)
KWS_INPUT_SCALE = np.float32(0.584702909)  # kws_ref_model.tflite's input quantization
KWS_INPUT_ZERO_POINT = 83
KWS_LABELS = ("down", "go", "left", "no", "off", "on", "right", "stop", "up", "yes", "silence", "unknown")


def hertz_to_mel(f: np.ndarray) -> np.ndarray:
    """TensorFlow's (HTK) mel scale: 1127 ln(1 + f / 700)."""
    return 1127.0 * np.log1p(np.asarray(f, np.float64) / 700.0)


def mel_weight_matrix(num_mel_bins: int, num_spectrogram_bins: int, sample_rate: float, lower_edge_hertz: float,
                      upper_edge_hertz: float) -> np.ndarray:
    """``tf.signal.linear_to_mel_weight_matrix``: triangular filters evenly spaced in mel, the
    DC bin excluded; float32 [num_spectrogram_bins, num_mel_bins]."""
    if not 0 <= lower_edge_hertz < upper_edge_hertz <= sample_rate / 2 or num_mel_bins < 1:
        raise InputError(f"mel filters: {num_mel_bins} bins over [{lower_edge_hertz}, {upper_edge_hertz}] Hz at "
                         f"{sample_rate} Hz are not valid")
    freqs = np.linspace(0.0, sample_rate / 2, num_spectrogram_bins)[1:]
    mel = hertz_to_mel(freqs)[:, None]
    edges = np.linspace(hertz_to_mel(lower_edge_hertz), hertz_to_mel(upper_edge_hertz), num_mel_bins + 2)
    lower, center, upper = edges[:-2], edges[1:-1], edges[2:]
    slopes = np.minimum((mel - lower) / (center - lower), (upper - mel) / (upper - center))
    w = np.maximum(slopes, 0.0)
    return np.concatenate([np.zeros((1, num_mel_bins)), w]).astype(np.float32)


def mfcc(audio: np.ndarray, sample_rate: int = KWS_SAMPLE_RATE, frame_length: int = 480, frame_step: int = 320,
         fft_length: int = 512, num_mel_bins: int = 40, lower_edge_hertz: float = 20.0,
         upper_edge_hertz: float = 4000.0, num_coefficients: int = 10) -> np.ndarray:
    """MFCCs of float audio as TensorFlow computes them (periodic Hann window, no padding at
    the end): float32 [frames, num_coefficients]."""
    audio = np.asarray(audio, np.float32)
    if audio.ndim != 1 or audio.shape[0] < frame_length:
        raise InputError(f"mfcc takes 1-D audio of at least {frame_length} samples, got shape {list(audio.shape)}")
    if not 1 <= num_coefficients <= num_mel_bins or fft_length < frame_length:
        raise InputError(f"mfcc: {num_coefficients} coefficients of {num_mel_bins} mel bins, FFT {fft_length} for "
                         f"{frame_length}-sample frames is not valid")
    frames = np.lib.stride_tricks.sliding_window_view(audio, frame_length)[::frame_step]
    hann = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(frame_length) / frame_length)).astype(np.float32)
    magnitude = np.abs(np.fft.rfft(frames * hann, fft_length)).astype(np.float32)
    mel = magnitude @ mel_weight_matrix(num_mel_bins, fft_length // 2 + 1, sample_rate, lower_edge_hertz,
                                        upper_edge_hertz)
    log_mel = np.log(mel + np.float32(1e-6))
    n = np.arange(num_mel_bins)
    k = np.arange(num_coefficients)[:, None]
    dct = np.cos(np.pi * k * (2 * n + 1) / (2 * num_mel_bins)) * np.sqrt(2.0 / num_mel_bins)
    return (log_mel.astype(np.float64) @ dct.T).astype(np.float32)


def kws_mfcc(samples: np.ndarray) -> np.ndarray:
    """float32 [49, 10] MLPerf KWS features of 16 kHz int16 (or float) mono samples: scaled by
    the clip's largest sample, zero-padded (or cut) to 1 s, then :func:`mfcc`. A clip whose
    largest sample is not positive is left unscaled (TensorFlow would divide by it)."""
    x = np.asarray(samples)
    if x.ndim != 1 or x.size == 0:
        raise InputError(f"kws features take 1-D audio samples, got shape {list(x.shape)}")
    x = x.astype(np.float32)
    peak = np.float32(x.max())
    if peak > 0:
        x = x / peak
    clip = np.zeros(KWS_CLIP_SAMPLES, np.float32)
    clip[:min(x.size, KWS_CLIP_SAMPLES)] = x[:KWS_CLIP_SAMPLES]
    return mfcc(clip)


def kws_mfcc_features(samples: np.ndarray, input_tensor: Optional[object] = None) -> np.ndarray:
    """int8 [1, 49, 10, 1] input of ``kws_ref_model.tflite`` for 16 kHz mono samples: the
    features of :func:`kws_mfcc` quantized with the model input's scale and zero point
    (round half away, clamp); ``input_tensor`` (an IR tensor) overrides the built-in ones."""
    from picoml.interpreter import quantize_input
    from picoml.ir import DType, QuantParams, Tensor

    t = input_tensor if input_tensor is not None else Tensor(
        "input", KWS_INPUT_SHAPE, DType.INT8, quant=QuantParams(KWS_INPUT_SCALE, KWS_INPUT_ZERO_POINT))
    feats = kws_mfcc(samples)
    if getattr(t, "size", None) != feats.size or getattr(t, "quant", None) is None:
        raise InputError(f"the kws features have {feats.size} values; the model input {t.describe()} must be a "
                         "quantized tensor of that size")
    return quantize_input(t, feats.reshape(t.shape))
