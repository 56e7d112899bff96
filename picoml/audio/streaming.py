"""Streaming keyword detection: the Python twin of ``c/pm_kws_stream.c`` (same detections,
same smoothed scores), and that C built with a generated model for the host.

Audio arrives in pieces of any size. Every 320 new samples (20 ms) a 480-sample window gives
one micro_speech feature frame (the noise estimate runs over the whole stream); the last 49
frames are the model input. Every ``stride_frames`` frames the model scores them; the scores
(int8, offset to 0..255) are averaged over the last ``average_count`` inferences, rounding
half up, and the first label with the highest average is detected when it is not ignored,
the average holds at least ``min_count`` inferences, it reaches ``threshold`` and that label
was not detected within ``suppression_ms`` (a timer per label).
"""
from __future__ import annotations

import ctypes
import functools
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, NamedTuple, Optional, Sequence, Union

import numpy as np

from picoml.audio.micro_speech import (FRAME_SAMPLES, NUM_CHANNELS, SAMPLE_RATE, STRIDE_SAMPLES,
                                       MicroSpeechFrontend, frame_count)
from picoml.errors import InputError

if TYPE_CHECKING:
    from picoml.ir import Graph, Tensor

WINDOW_FRAMES = 49
FEATURES = WINDOW_FRAMES * NUM_CHANNELS
MAX_LABELS = 16    # PM_KWS_MAX_LABELS
MAX_AVERAGE = 32   # PM_KWS_MAX_AVERAGE
NEVER_MS = 1 << 30  # PM_KWS_NEVER_MS
FRAME_MS = STRIDE_SAMPLES * 1000 // SAMPLE_RATE

Model = Callable[[np.ndarray], np.ndarray]  # int8 [1, 1960] features -> int8 [num_labels] scores


@dataclass(frozen=True)
class KwsConfig:
    """``pm_kws_config``; the defaults are ``PM_KWS_CONFIG_DEFAULT`` (micro_speech's labels)."""

    stride_frames: int = 2
    average_count: int = 8
    min_count: int = 4
    threshold: int = 200
    suppression_ms: int = 1000
    ignore_mask: int = 0x3

    def check(self, num_labels: int) -> "KwsConfig":
        """Reject what ``pm_kws_stream_init`` rejects (returns self)."""
        ok = (1 <= num_labels <= MAX_LABELS and self.stride_frames >= 1 and 1 <= self.average_count <= MAX_AVERAGE
              and 1 <= self.min_count <= self.average_count and self.suppression_ms >= 0
              and 0 <= self.ignore_mask < 1 << 32 and -(1 << 31) <= self.threshold < 1 << 31
              and self.stride_frames < 1 << 31 and self.suppression_ms < 1 << 31)
        if not ok:
            raise InputError(f"invalid keyword stream settings {self} for {num_labels} labels: need 1 <= labels <= "
                             f"{MAX_LABELS}, stride >= 1, 1 <= min_count <= average_count <= {MAX_AVERAGE}, "
                             "suppression >= 0")
        return self


class Detection(NamedTuple):
    """A detected label at ``time_ms`` (the end of the newest feature window) after ``frame`` frames."""

    label: int
    time_ms: int
    frame: int
    score: int


class KwsStream:
    """The detector; ``model`` maps int8 [1, 1960] features to ``num_labels`` int8 scores."""

    def __init__(self, model: Model, num_labels: int = 4, config: Optional[KwsConfig] = None,
                 frontend: Optional[MicroSpeechFrontend] = None) -> None:
        self.config = (config or KwsConfig()).check(num_labels)
        self.num_labels = num_labels
        self.model = model
        self.frontend = frontend or MicroSpeechFrontend()
        self.trace: list[tuple[int, np.ndarray]] = []  # (frame, smoothed scores) after every inference
        self.reset()

    def reset(self) -> None:
        """Forget all audio, features, scores and detections."""
        self.frontend.reset()
        self._pending = np.zeros(0, np.int16)
        self._ring = np.zeros((WINDOW_FRAMES, NUM_CHANNELS), np.int8)
        self._next = 0
        self._count = 0
        self._countdown = 0
        self._history: deque[np.ndarray] = deque(maxlen=self.config.average_count)
        self.smoothed = np.zeros(self.num_labels, np.uint8)
        self.last_label = -1
        self._since_ms = np.full(self.num_labels, NEVER_MS, np.int64)
        self.frames = 0
        self.inferences = 0
        self.detections: list[Detection] = []
        self.trace.clear()

    def push(self, samples: np.ndarray) -> int:
        """Feed int16 samples; the label of the last detection they caused, or -1."""
        samples = np.asarray(samples)
        if samples.dtype != np.int16 or samples.ndim != 1:
            raise InputError(f"the keyword stream takes 1-D int16 samples, got {samples.dtype} {list(samples.shape)}")
        buf = np.concatenate([self._pending, samples])
        n = frame_count(buf.size)
        detected = -1
        if n:
            windows = np.lib.stride_tricks.sliding_window_view(buf, FRAME_SAMPLES)[::STRIDE_SAMPLES][:n]
            for feats in self.frontend.frames(np.ascontiguousarray(windows)):
                label = self._frame(feats)
                if label >= 0:
                    detected = label
        self._pending = buf[n * STRIDE_SAMPLES:].copy()
        return detected

    def _frame(self, feats: np.ndarray) -> int:
        self._ring[self._next] = feats
        self._next = (self._next + 1) % WINDOW_FRAMES
        self._count = min(self._count + 1, WINDOW_FRAMES)
        self.frames += 1
        self._since_ms[self._since_ms < NEVER_MS] += FRAME_MS
        if self._count < WINDOW_FRAMES:
            return -1
        if self._countdown > 0:
            self._countdown -= 1
            return -1
        self._countdown = self.config.stride_frames - 1
        return self._infer()

    def _infer(self) -> int:
        c = self.config
        window = np.concatenate([self._ring[self._next:], self._ring[:self._next]]).reshape(1, FEATURES)
        scores = np.asarray(self.model(window))
        if scores.dtype != np.int8 or scores.size != self.num_labels:
            raise InputError(f"the keyword model must return {self.num_labels} int8 scores, got {scores.dtype} "
                             f"{list(scores.shape)}")
        self._history.append(scores.reshape(-1).astype(np.int32) + 128)
        self.inferences += 1
        count = len(self._history)
        self.smoothed = ((np.sum(self._history, axis=0) + count // 2) // count).astype(np.uint8)
        self.trace.append((self.frames, self.smoothed.copy()))
        top = int(np.argmax(self.smoothed))
        if (count < c.min_count or (c.ignore_mask >> top) & 1 or int(self.smoothed[top]) < c.threshold
                or self._since_ms[top] < c.suppression_ms):
            return -1
        self.last_label = top
        self._since_ms[top] = 0
        time_ms = ((self.frames - 1) * STRIDE_SAMPLES + FRAME_SAMPLES) * 1000 // SAMPLE_RATE
        self.detections.append(Detection(top, time_ms, self.frames, int(self.smoothed[top])))
        return top


def graph_model(graph: "Graph") -> Model:
    """A :data:`Model` running ``graph`` (one int8 input of 1960 values, one int8 output) on
    picoml's reference interpreter."""
    from picoml.interpreter import Interpreter

    inp, out = _check_kws_graph(graph)
    interp = Interpreter(graph)
    return lambda features: interp.run([features.reshape(inp.storage_shape)])[0].reshape(-1)


def _check_kws_graph(graph: "Graph") -> tuple["Tensor", "Tensor"]:
    if len(graph.inputs) != 1 or len(graph.outputs) != 1:
        raise InputError(f"a keyword model has one input and one output, got {len(graph.inputs)} and "
                         f"{len(graph.outputs)}")
    inp, out = graph.input_tensors[0], graph.output_tensors[0]
    if inp.dtype.numpy != np.int8 or inp.size != FEATURES or out.dtype.numpy != np.int8 or out.size > MAX_LABELS:
        raise InputError(f"a keyword model takes int8 [{FEATURES}] features and gives at most {MAX_LABELS} int8 "
                         f"scores; got {inp.describe()} -> {out.describe()}")
    return inp, out


# -- the C detector on the host ---------------------------------------------------------------

_GLUE = """/* ctypes glue: the state size and counters of pm_kws_stream. */
#include <stddef.h>
#include <stdint.h>
#include "pm_kws_stream.h"

size_t pm_kws_glue_state_bytes(void) { return sizeof(pm_kws_stream); }
uint32_t pm_kws_glue_frames(const pm_kws_stream *s) { return s->frames; }
uint32_t pm_kws_glue_inferences(const pm_kws_stream *s) { return s->inferences; }
"""

_GLUE_MODEL = """/* ctypes glue: pm_kws_stream driven by the generated @P@_*() API. */
#include <stddef.h>
#include <stdint.h>
#include "@P@.h"
#include "pm_kws_stream.h"

static int8_t *glue_input(void *user) { (void)user; return (int8_t *)@P@_input(0); }
static const int8_t *glue_invoke(void *user) { (void)user; @P@_invoke(); return (const int8_t *)@P@_output(0); }

void pm_kws_glue_model(pm_kws_model *m, int32_t num_labels) {
  m->input = glue_input;
  m->invoke = glue_invoke;
  m->user = NULL;
  m->num_labels = num_labels;
  @P@_init();
}
"""

_INPUT_FN = ctypes.CFUNCTYPE(ctypes.c_void_p, ctypes.c_void_p)
_INVOKE_FN = ctypes.CFUNCTYPE(ctypes.c_void_p, ctypes.c_void_p)


class _Model(ctypes.Structure):
    _fields_ = [("input", _INPUT_FN), ("invoke", _INVOKE_FN), ("user", ctypes.c_void_p),
                ("num_labels", ctypes.c_int32)]


class _Config(ctypes.Structure):
    _fields_ = [("stride_frames", ctypes.c_int32), ("average_count", ctypes.c_int32),
                ("min_count", ctypes.c_int32), ("threshold", ctypes.c_int32), ("suppression_ms", ctypes.c_int32),
                ("ignore_mask", ctypes.c_uint32)]


@functools.lru_cache(maxsize=None)
def _load(path: str) -> ctypes.CDLL:
    lib = ctypes.CDLL(path)
    lib.pm_kws_glue_state_bytes.restype = ctypes.c_size_t
    lib.pm_kws_stream_init.argtypes = [ctypes.c_void_p, ctypes.POINTER(_Model), ctypes.POINTER(_Config)]
    lib.pm_kws_stream_init.restype = ctypes.c_int
    lib.pm_kws_stream_reset.argtypes = [ctypes.c_void_p]
    lib.pm_kws_stream_reset.restype = None
    lib.pm_kws_stream_push.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int32]
    lib.pm_kws_stream_push.restype = ctypes.c_int32
    lib.pm_kws_stream_smoothed.argtypes = [ctypes.c_void_p]
    lib.pm_kws_stream_smoothed.restype = ctypes.c_void_p
    for name in ("pm_kws_glue_frames", "pm_kws_glue_inferences"):
        getattr(lib, name).argtypes = [ctypes.c_void_p]
        getattr(lib, name).restype = ctypes.c_uint32
    if hasattr(lib, "pm_kws_glue_model"):
        lib.pm_kws_glue_model.argtypes = [ctypes.POINTER(_Model), ctypes.c_int32]
        lib.pm_kws_glue_model.restype = None
    return lib


def build_stream_library(graph: Optional["Graph"] = None, extra_flags: Sequence[str] = ()) -> Path:
    """The host library of ``pm_kws_stream.c`` and ``pm_audio_frontend.c`` (plus ``graph``'s
    generated C and its glue when given); its path. Cached like every host build."""
    from picoml.audio.native import C_DIR
    from picoml.codegen.emitter import CProject
    from picoml.targets.host import build_shared

    files = {name: (C_DIR / name).read_text()
             for name in ("pm_audio_frontend.h", "pm_audio_frontend.c", "pm_kws_stream.h", "pm_kws_stream.c")}
    files["pm_kws_glue.c"] = _GLUE
    figures = (0, 0, 0)
    if graph is not None:
        from picoml.codegen import generate

        model = generate(graph, prefix="model")
        files.update({k: v for k, v in model.files.items() if k not in ("main.c", "Makefile", "CMakeLists.txt")})
        files["pm_kws_glue_model.c"] = _GLUE_MODEL.replace("@P@", model.prefix)
        figures = (model.arena_bytes, model.weight_bytes, model.macs)
    return build_shared(CProject(files, "kws_stream", *figures), extra_flags)


class NativeKwsStream:
    """``pm_kws_stream.c`` on the host through ctypes, with the same interface as
    :class:`KwsStream`. ``model`` is an IR graph (its generated C is built into the library:
    C end to end; the generated model has one static arena, so run one instance per graph at a
    time) or a Python :data:`Model` that the C calls back (to test the C logic on any scores)."""

    def __init__(self, model: Union["Graph", Model], num_labels: Optional[int] = None,
                 config: Optional[KwsConfig] = None, extra_flags: Sequence[str] = ()) -> None:
        graph = model if hasattr(model, "ops") else None
        if graph is not None:
            num_labels = _check_kws_graph(graph)[1].size
        elif num_labels is None:
            raise InputError("NativeKwsStream with a Python model needs num_labels")
        self.num_labels = int(num_labels)
        self.config = (config or KwsConfig()).check(self.num_labels)
        self.library_path = build_stream_library(graph, extra_flags)
        self._lib = _load(str(self.library_path))
        self._state = ctypes.create_string_buffer(int(self._lib.pm_kws_glue_state_bytes()))
        self._model = _Model()
        if graph is not None:
            self._lib.pm_kws_glue_model(ctypes.byref(self._model), self.num_labels)
        else:
            self._callbacks(model)
        c = self.config
        self._config = _Config(c.stride_frames, c.average_count, c.min_count, c.threshold, c.suppression_ms,
                               c.ignore_mask)
        if self._lib.pm_kws_stream_init(self._state, ctypes.byref(self._model), ctypes.byref(self._config)) != 0:
            raise InputError(f"pm_kws_stream_init rejected {self.config}")

    def _callbacks(self, model: Model) -> None:
        features = np.zeros((1, FEATURES), np.int8)
        scores = np.zeros(self.num_labels, np.int8)

        def invoke(user):
            try:  # an exception cannot cross the C frames: keep it for push() to raise
                out = np.asarray(model(features.copy()))
                if out.dtype != np.int8 or out.size != self.num_labels:
                    raise InputError(f"the keyword model must return {self.num_labels} int8 scores, got "
                                     f"{out.dtype} {list(out.shape)}")
                scores[:] = out.reshape(-1)
            except BaseException as e:  # noqa: BLE001 - re-raised by push()
                self._error = self._error or e
            return scores.ctypes.data

        self._buffers = (features, scores)
        self._error: Optional[BaseException] = None
        self._model.input = _INPUT_FN(lambda user: features.ctypes.data)
        self._model.invoke = _INVOKE_FN(invoke)
        self._model.num_labels = self.num_labels

    def reset(self) -> None:
        """``pm_kws_stream_reset``."""
        self._lib.pm_kws_stream_reset(self._state)

    def push(self, samples: np.ndarray) -> int:
        """``pm_kws_stream_push``: the last detected label or -1."""
        x = np.ascontiguousarray(samples)
        if x.dtype != np.int16 or x.ndim != 1:
            raise InputError(f"the keyword stream takes 1-D int16 samples, got {x.dtype} {list(x.shape)}")
        label = int(self._lib.pm_kws_stream_push(self._state, x.ctypes.data, x.size))
        error, self._error = getattr(self, "_error", None), None
        if error is not None:
            raise error
        return label

    @property
    def smoothed(self) -> np.ndarray:
        """The smoothed scores after the latest inference (uint8 [num_labels])."""
        raw = ctypes.string_at(self._lib.pm_kws_stream_smoothed(self._state), self.num_labels)
        return np.frombuffer(raw, np.uint8).copy()

    @property
    def frames(self) -> int:
        """Feature frames computed since init or reset."""
        return int(self._lib.pm_kws_glue_frames(self._state))

    @property
    def inferences(self) -> int:
        """Model runs since init or reset."""
        return int(self._lib.pm_kws_glue_inferences(self._state))
