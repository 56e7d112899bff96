"""Keyword-spotting feature frontends: TFLM's micro_speech pipeline (bit-exact, in NumPy and
in C: ``c/pm_audio_frontend.c``) and the MFCC front end of the MLPerf Tiny KWS model."""
from __future__ import annotations

import os
import wave
from typing import Union

import numpy as np

from picoml.audio.mfcc import kws_mfcc, kws_mfcc_features, mfcc
from picoml.audio.micro_speech import MicroSpeechConfig, MicroSpeechFrontend, micro_speech_features
from picoml.errors import InputError

__all__ = ["MicroSpeechConfig", "MicroSpeechFrontend", "kws_mfcc", "kws_mfcc_features", "mfcc",
           "micro_speech_features", "read_wav"]


def read_wav(path: Union[str, os.PathLike], sample_rate: int = 16000) -> np.ndarray:
    """The int16 samples of a mono 16-bit PCM wav at ``sample_rate``; anything else (another
    rate, stereo, 8/24/32-bit or float samples, an unreadable file) is an InputError."""
    try:
        with wave.open(os.fspath(path), "rb") as w:
            channels, width, rate, n = w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getnframes()
            data = w.readframes(n)
    except (OSError, EOFError, wave.Error) as e:
        raise InputError(f"cannot read '{path}' as a PCM wav file: {e}") from None
    if rate != sample_rate:
        raise InputError(f"'{path}' is sampled at {rate} Hz; the keyword-spotting features need {sample_rate} Hz "
                         "(resample it first)")
    if channels != 1:
        raise InputError(f"'{path}' has {channels} channels; the features need mono audio")
    if width != 2:
        raise InputError(f"'{path}' has {8 * width}-bit samples; the features need 16-bit PCM")
    if len(data) != 2 * n:
        raise InputError(f"'{path}' is truncated: {len(data) // 2} of {n} samples")
    return np.frombuffer(data, "<i2").astype(np.int16)
