"""Deploying the keyword models: convert, compile, evaluate, and label real recordings.

A compiled model takes the frontend's int8 features as they are (:func:`feature_input` checks
that the graph input has the features' scale and zero point, and requantizes exactly when a
foreign model's input differs). Scores are the int8 outputs dequantized and, for models that
end in logits, put through a softmax, so every model reports probabilities.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Optional, Union

import numpy as np

from picoml.audio import micro_speech_features, read_wav
from picoml.errors import InputError
from picoml.ir import Graph
from picoml.kws.models import CHANNELS, FEATURE_SCALE, FEATURE_ZERO_POINT, FRAMES

__all__ = ["REAL_CLIPS", "REAL_SHIFTS", "accuracy", "convert", "feature_input", "label_clip", "probabilities",
           "real_features"]

REAL_CLIPS = {"yes": "yes_1000ms.wav", "no": "no_1000ms.wav"}  # TFLM's micro_speech test recordings
Runner = Callable[[list[np.ndarray]], list[np.ndarray]]


def convert(model: Any, x_train: Any, name: str, calibration: int = 256) -> Graph:
    """``picoml.from_torch`` with the first ``calibration`` training inputs as calibration data
    (for tensors the fake quantizers do not cover)."""
    import picoml

    calib = [x_train[i:i + 32] for i in range(0, min(len(x_train), calibration), 32)]
    return picoml.from_torch(model, x_train[:1], calibration_data=calib, name=name)


def feature_input(graph: Graph, q: np.ndarray) -> np.ndarray:
    """One [49, 40] int8 feature window as the graph's input array (its shape and dtype)."""
    q = np.asarray(q)
    if q.dtype != np.int8 or q.shape != (FRAMES, CHANNELS):
        raise InputError(f"feature_input takes int8 [{FRAMES}, {CHANNELS}] features, got {q.dtype} {list(q.shape)}")
    t = graph.input_tensors[0]
    if t.quant is None or t.dtype.numpy != np.int8:
        raise InputError(f"{t.describe()}: a keyword model must take int8 features")
    scale, zp = float(np.asarray(t.quant.scale).ravel()[0]), int(np.asarray(t.quant.zero_point).ravel()[0])
    if np.float32(scale) == np.float32(FEATURE_SCALE) and zp == FEATURE_ZERO_POINT:
        x = q
    else:  # exact requantization of the codes' values to the model's input
        real = (q.astype(np.float64) - FEATURE_ZERO_POINT) * FEATURE_SCALE
        x = np.clip(np.round(real / scale) + zp, -128, 127).astype(np.int8)
    return np.ascontiguousarray(x).reshape(t.storage_shape)


def probabilities(graph: Graph, out: np.ndarray) -> np.ndarray:
    """Class probabilities from the int8 output: dequantized, and softmaxed unless the graph
    ends in a SOFTMAX already."""
    t = graph.output_tensors[0]
    scale, zp = float(np.asarray(t.quant.scale).ravel()[0]), int(np.asarray(t.quant.zero_point).ravel()[0])
    v = (np.asarray(out, np.float64).ravel() - zp) * scale
    if graph.ops and graph.ops[-1].type == "SOFTMAX":
        return v
    e = np.exp(v - v.max())
    return e / e.sum()


def accuracy(run: Runner, graph: Graph, q: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """(top-1 accuracy, predictions) of a compiled model on int8 feature windows."""
    pred = np.array([int(np.argmax(run([feature_input(graph, w)])[0])) for w in q])
    return float(np.mean(pred == np.asarray(y))), pred


REAL_SHIFTS = (-4, 0, 4)  # frames (20 ms) the recordings are moved by in the check


def real_features(folder: Union[str, Path], shifts: tuple[int, ...] = REAL_SHIFTS) -> dict[str, dict[int, np.ndarray]]:
    """picoml's frontend features of TFLM's yes/no recordings in ``folder``, each recording
    rotated by ``shifts`` frames (``np.roll`` of the audio by 320 samples a frame: the word
    moves and the clip's own background fills the gap; the frontend starts fresh each time),
    ``{word: {shift: [49, 40] int8}}``. One good window position could be luck; three are not."""
    out = {}
    for word, f in REAL_CLIPS.items():
        audio = read_wav(Path(folder) / f)
        out[word] = {int(k): micro_speech_features(np.roll(audio, int(k) * 320)) for k in shifts}
    return out


def label_clip(run: Runner, graph: Graph, q: np.ndarray, labels: tuple[str, ...]) -> dict[str, Any]:
    """The label and the per-label probabilities a compiled model gives one clip."""
    out = run([feature_input(graph, q)])[0]
    p = probabilities(graph, out)
    return {"label": labels[int(np.argmax(out))], "scores": {n: round(float(v), 4) for n, v in zip(labels, p)},
            "raw": np.asarray(out).ravel().astype(int).tolist()}


def optional_real_dir() -> Optional[Path]:
    """``<shared real>/tflm/micro_speech`` when the real-model folder is present."""
    from picoml.testing.real import real_dir

    root = real_dir()
    return None if root is None else Path(root) / "tflm" / "micro_speech"
