"""The C micro_speech frontend (``c/pm_audio_frontend.c``) built for this machine and called
through ctypes, to check it against the NumPy twin and to use it as a fast path.

The library is compiled once per source and flags (cached under picoml's host cache, like
:mod:`picoml.targets.host`) with the strict flags of the generated projects plus
``-mgeneral-regs-only`` where the compiler has it, which proves the frontend uses no
floating point.
"""
from __future__ import annotations

import ctypes
import functools
import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Sequence

import numpy as np

from picoml.audio.micro_speech import FRAME_SAMPLES, NUM_CHANNELS, STRIDE_SAMPLES, frame_count
from picoml.errors import InputError, PicomlError

C_DIR = Path(__file__).resolve().parent / "c"
SOURCES = ("pm_audio_frontend.c",)
HEADERS = ("pm_audio_frontend.h",)
CFLAGS = ("-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-pedantic", "-fPIC")


@functools.lru_cache(maxsize=None)
def integer_only_flags(cc: str) -> tuple[str, ...]:
    """``-mgeneral-regs-only`` (no FPU/SIMD registers: any float use fails to compile) when
    the compiler accepts it for this machine, else nothing."""
    with tempfile.TemporaryDirectory() as d:
        src = Path(d) / "probe.c"
        src.write_text("int probe(int x) { return x + 1; }\n")
        r = subprocess.run([cc, "-mgeneral-regs-only", "-c", "-o", str(Path(d) / "probe.o"), str(src)],
                           capture_output=True)
    return ("-mgeneral-regs-only",) if r.returncode == 0 else ()


def build_library(extra_flags: Sequence[str] = ()) -> Path:
    """Compile the frontend into a shared library (cached by source and flags); its path."""
    from picoml.targets.host import cache_dir, compiler

    cc = compiler()
    flags = [*CFLAGS, *integer_only_flags(cc), *extra_flags]
    digest = hashlib.sha256(repr((cc, flags)).encode())
    for name in (*SOURCES, *HEADERS):
        digest.update((C_DIR / name).read_bytes())
    out = cache_dir().parent / "audio" / digest.hexdigest()[:16] / "libpm_audio_frontend.so"
    if out.exists():
        return out
    out.parent.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent.parent, prefix=".build-"))
    try:
        cmd = [cc, *flags, "-shared", "-o", str(tmp / out.name), *(str(C_DIR / s) for s in SOURCES)]
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            raise PicomlError(f"the audio frontend C failed to compile (a picoml bug; please report it):\n"
                              f"{' '.join(cmd)}\n{r.stderr[-4000:]}")
        try:
            os.replace(tmp, out.parent)
        except OSError:  # another process built it first
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


class _State(ctypes.Structure):
    _fields_ = [("noise_estimate", ctypes.c_uint32 * NUM_CHANNELS)]


@functools.lru_cache(maxsize=None)
def _library(path: str) -> ctypes.CDLL:
    lib = ctypes.CDLL(path)
    lib.pm_micro_speech_reset.argtypes = [ctypes.POINTER(_State)]
    lib.pm_micro_speech_reset.restype = None
    lib.pm_micro_speech_frame.argtypes = [ctypes.POINTER(_State), ctypes.c_void_p, ctypes.c_void_p]
    lib.pm_micro_speech_frame.restype = None
    return lib


class NativeMicroSpeech:
    """``pm_micro_speech_frame`` with its state, mirroring :class:`MicroSpeechFrontend`."""

    def __init__(self, extra_flags: Sequence[str] = ()) -> None:
        self.library_path = build_library(extra_flags)
        self._lib = _library(str(self.library_path))
        self._state = _State()
        self.reset()

    @property
    def noise_estimate(self) -> np.ndarray:
        """A copy of the C state's noise estimate (uint32 per channel)."""
        return np.array(self._state.noise_estimate, np.uint32)

    def reset(self) -> None:
        self._lib.pm_micro_speech_reset(ctypes.byref(self._state))

    def frame(self, samples: np.ndarray) -> np.ndarray:
        """int8 [40] features of one int16 [480] frame (updates the state)."""
        x = np.ascontiguousarray(samples)
        if x.dtype != np.int16 or x.shape != (FRAME_SAMPLES,):
            raise InputError(f"a micro_speech frame is int16 [{FRAME_SAMPLES}], got {x.dtype} {list(x.shape)}")
        out = np.zeros(NUM_CHANNELS, np.int8)
        self._lib.pm_micro_speech_frame(ctypes.byref(self._state), x.ctypes.data, out.ctypes.data)
        return out


def native_micro_speech_features(samples: np.ndarray) -> np.ndarray:
    """:func:`picoml.audio.micro_speech_features` computed by the C frontend."""
    samples = np.asarray(samples)
    if samples.dtype != np.int16 or samples.ndim != 1 or frame_count(samples.shape[0]) == 0:
        raise InputError(f"native_micro_speech_features takes 1-D int16 samples (at least {FRAME_SAMPLES}), "
                         f"got {samples.dtype} {list(samples.shape)}")
    fe = NativeMicroSpeech()
    return np.stack([fe.frame(samples[i * STRIDE_SAMPLES:i * STRIDE_SAMPLES + FRAME_SAMPLES])
                     for i in range(frame_count(samples.shape[0]))])
