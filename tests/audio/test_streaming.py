"""The streaming keyword detector: Python (picoml.audio.streaming) and C (pm_kws_stream.c)
agree exactly, and with TFLM's micro_speech model they find "yes" and "no" in a 10 s clip."""
import subprocess
from pathlib import Path

import numpy as np
import pytest

import picoml
from picoml.audio import read_wav
from picoml.audio.native import C_DIR, integer_only_flags
from picoml.audio.streaming import (FEATURES, KwsConfig, KwsStream, NativeKwsStream, WINDOW_FRAMES,
                                    graph_model)
from picoml.errors import InputError

YES, NO = 2, 3
# (word, start in s): each word is a whole TFLM test wav; background: noise_1000ms.wav looped at 1/4 level.
LAYOUT = (("no", 1.2), ("yes", 3.7), ("no", 6.1), ("yes", 8.4))


@pytest.fixture(scope="module")
def speech(real_dir_or_skip):
    d = real_dir_or_skip / "tflm" / "micro_speech"
    wav = {n: read_wav(d / f"{n}_1000ms.wav") for n in ("yes", "no", "noise")}
    clip = np.tile(wav["noise"].astype(np.float64), 10) * 0.25
    for word, start in LAYOUT:
        at = int(start * 16000)
        clip[at:at + 16000] += wav[word]
    clip = np.clip(np.rint(clip), -32768, 32767).astype(np.int16)
    graph = picoml.load_tflite(d / "micro_speech_quantized.tflite")
    return clip, graph


@pytest.fixture(scope="module")
def real_dir_or_skip():
    from picoml.testing.real import real_dir

    d = real_dir()
    if d is None:
        pytest.skip("../shared/real not present: the micro_speech model and wavs are needed")
    return d


def check_detections(detections):
    """The four words, in order, each found within 300 ms of the end of its 1 s clip (when
    the model's window is exactly that clip), and nothing else."""
    assert [d[0] for d in detections] == [YES if w == "yes" else NO for w, _ in LAYOUT], detections
    for (label, time_ms), (_, start) in zip(detections, LAYOUT):
        assert abs(time_ms - (start * 1000 + 1000)) <= 300, (label, time_ms, start)


def push_chunks(stream, clip, sizes):
    """Push ``clip`` in pieces of the given sizes; per push: (returned label, smoothed, frames, inferences)."""
    out, at = [], 0
    for n in sizes:
        label = stream.push(clip[at:at + n])
        out.append((label, stream.smoothed.tolist(), stream.frames, stream.inferences))
        at += n
    assert at == clip.size
    return out


def chunk_sizes(total, rng, high):
    sizes = []
    while sum(sizes) < total:
        sizes.append(int(min(rng.integers(0, high + 1), total - sum(sizes))))
    return sizes


def test_python_detector_finds_yes_and_no(speech):
    clip, graph = speech
    s = KwsStream(graph_model(graph))
    s.push(clip)
    check_detections([(d.label, d.time_ms) for d in s.detections])
    assert s.frames == 1 + (clip.size - 480) // 320
    assert s.inferences == len(s.trace) == (s.frames - WINDOW_FRAMES) // 2 + 1
    assert all(d.score >= s.config.threshold for d in s.detections)


def test_c_detector_finds_yes_and_no_and_matches_python(speech):
    """C end to end (frontend, ring, generated model, smoothing) against the Python twin on the
    same random pushes: same return value, smoothed scores and counters after every push.
    Pushes of at most 640 samples run the model at most once (stride 2), so every
    inference's smoothed scores are compared."""
    from tests.conftest import require_c_kernels

    clip, graph = speech
    require_c_kernels(graph)
    sizes = chunk_sizes(clip.size, np.random.default_rng(7), 640)
    c, p = NativeKwsStream(graph), KwsStream(graph_model(graph))
    got, want = push_chunks(c, clip, sizes), push_chunks(p, clip, sizes)
    assert got == want
    assert [g[0] for g in got if g[0] >= 0] == [d.label for d in p.detections]
    check_detections([(d.label, d.time_ms) for d in p.detections])
    # every inference seen through C equals the Python trace
    seen = [s for (_, s, _, inf), prev in zip(got, [(0, 0, 0, 0)] + got) if inf != prev[3]]
    assert seen == [t[1].tolist() for t in p.trace]
    c.reset()
    assert (c.frames, c.inferences, c.push(clip[:16000])) == (0, 0, -1)


class Scripted:
    """A model whose scores mix its input features (so the frame order matters) with a
    seeded pattern of bursts for one label, to drive thresholds, ties and suppression."""

    def __init__(self, num_labels, seed):
        self.num_labels, self.seed, self.count = num_labels, seed, 0

    def __call__(self, features):
        assert features.dtype == np.int8 and features.shape == (1, FEATURES)
        rng = np.random.default_rng([self.seed, self.count])
        self.count += 1
        f = features.astype(np.int64).reshape(-1)
        base = (f * np.arange(1, FEATURES + 1)).sum() + np.arange(self.num_labels) * 37
        scores = (base % 97 - 128).astype(np.int64)
        burst = (self.count // 5) % (self.num_labels + 1)
        if burst < self.num_labels and rng.random() < 0.8:
            scores[burst] = rng.integers(60, 128)
        if rng.random() < 0.1:  # ties between labels
            scores[:] = scores[0]
        return np.clip(scores, -128, 127).astype(np.int8)


CONFIGS = [
    (4, KwsConfig()),
    (1, KwsConfig(stride_frames=1, average_count=1, min_count=1, threshold=0, suppression_ms=0, ignore_mask=0)),
    (5, KwsConfig(stride_frames=3, average_count=5, min_count=2, threshold=150, suppression_ms=100,
                  ignore_mask=0b10)),
    (16, KwsConfig(stride_frames=1, average_count=32, min_count=32, threshold=40, suppression_ms=2000,
                   ignore_mask=0)),
    (12, KwsConfig(stride_frames=2, average_count=3, min_count=3, threshold=255, suppression_ms=60,
                   ignore_mask=0xFFFF0001)),
    (3, KwsConfig(stride_frames=1, average_count=2, min_count=1, threshold=-5, suppression_ms=20, ignore_mask=0)),
]


@pytest.mark.parametrize("num_labels,config", CONFIGS)
def test_c_logic_matches_python_on_scripted_scores(num_labels, config):
    """pm_kws_stream.c calling a Python model back gives the Python twin's results, push by push."""
    rng = np.random.default_rng(num_labels)
    t = np.arange(3 * 16000) / 16000
    audio = (3000 * np.sin(2 * np.pi * 440 * t * (1 + t)) * (np.sin(2 * np.pi * 0.7 * t) > 0)
             + rng.normal(0, 300, t.size))
    audio = np.clip(np.rint(audio), -32768, 32767).astype(np.int16)
    sizes = chunk_sizes(audio.size, rng, 700)
    c = NativeKwsStream(Scripted(num_labels, 1), num_labels=num_labels, config=config)
    p = KwsStream(Scripted(num_labels, 1), num_labels=num_labels, config=config)
    got, want = push_chunks(c, audio, sizes), push_chunks(p, audio, sizes)
    assert got == want
    assert p.inferences > 10
    if config.threshold <= 40:
        assert p.detections


def test_chunking_does_not_matter_and_warm_up():
    """Pushing sample by sample or all at once gives the same frames and scores; the first
    inference comes with the 49th frame (15,840 samples)."""
    rng = np.random.default_rng(3)
    audio = rng.normal(0, 2000, 17000).astype(np.int16)
    a = KwsStream(Scripted(4, 2), config=KwsConfig(stride_frames=1))
    b = KwsStream(Scripted(4, 2), config=KwsConfig(stride_frames=1))
    a.push(audio[:15839])
    assert (a.frames, a.inferences) == (48, 0)
    a.push(audio[15839:15840])
    assert (a.frames, a.inferences) == (49, 1)
    a.push(audio[15840:])
    for i in range(audio.size):
        b.push(audio[i:i + 1])
    assert (a.frames, a.inferences) == (b.frames, b.inferences) == (52, 4)
    assert [(f, s.tolist()) for f, s in a.trace] == [(f, s.tolist()) for f, s in b.trace]


def test_rejects_bad_settings_and_inputs():
    with pytest.raises(InputError):
        KwsStream(Scripted(4, 0), config=KwsConfig(stride_frames=0))
    for bad in (KwsConfig(average_count=33, min_count=1), KwsConfig(min_count=9), KwsConfig(suppression_ms=-1)):
        with pytest.raises(InputError):
            KwsStream(Scripted(4, 0), config=bad)
    with pytest.raises(InputError):
        KwsStream(Scripted(17, 0), num_labels=17)
    s = KwsStream(lambda f: np.zeros(3, np.int8))
    with pytest.raises(InputError):
        s.push(np.zeros(100, np.float32))
    with pytest.raises(InputError):  # the model gives 3 scores, the stream expects 4
        s.push(np.zeros(16000, np.int16))
    with pytest.raises(InputError):
        NativeKwsStream(Scripted(4, 0))
    c = NativeKwsStream(lambda f: np.zeros(3, np.int8), num_labels=4)
    with pytest.raises(InputError):  # raised by the callback, re-raised after the C returns
        c.push(np.zeros(16000, np.int16))


def test_c_detector_is_integer_only_and_strict(tmp_path):
    """pm_kws_stream.c compiles with the projects' strict flags, and with no FPU registers."""
    from picoml.targets.host import compiler

    cc = compiler()
    no_float = integer_only_flags(cc)
    if not no_float:
        pytest.skip(f"{cc} has no -mgeneral-regs-only on this machine")
    cmd = [cc, "-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-pedantic", "-Wconversion", "-Wshadow",
           *no_float, "-c", str(C_DIR / "pm_kws_stream.c"), "-o", str(Path(tmp_path) / "kws.o")]
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_python_constants_match_the_header():
    import re
    from dataclasses import astuple

    from picoml.audio import streaming

    h = (C_DIR / "pm_kws_stream.h").read_text()
    default = re.search(r"#define PM_KWS_CONFIG_DEFAULT \{([^}]*)\}", h).group(1)
    assert [int(v.strip().rstrip("u"), 0) for v in default.split(",")] == list(astuple(KwsConfig()))
    for name, value in (("MAX_LABELS", streaming.MAX_LABELS), ("MAX_AVERAGE", streaming.MAX_AVERAGE),
                        ("WINDOW_FRAMES", WINDOW_FRAMES)):
        assert int(re.search(rf"#define PM_KWS_{name} (\d+)", h).group(1)) == value
    assert "#define PM_KWS_NEVER_MS ((int32_t)1 << 30)" in h and streaming.NEVER_MS == 1 << 30
