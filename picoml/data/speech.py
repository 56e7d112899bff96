"""Keyword-spotting data: synthetic Speech Commands-like clips made with two speech engines
(espeak-ng and flite), and a loader for the real Speech Commands v2 folder; both give the same
:class:`SpeechDataset`.

Synthetic clips (:func:`make_dataset`): each of the 10 keywords and ~35 other ("unknown")
words is spoken either by espeak-ng with a random accent (``BASE_VOICES``), speaker variant
(``VARIANTS``), pitch and speed, or (a ``FLITE_SHARE`` of the clips) by one of flite's voices
(``FLITE_VOICES``: other synthesis methods, diphone and statistical parametric, so other
timbres) at a random F0 and duration. Each utterance is resampled to 16 kHz, trimmed, scaled to
a random peak level, optionally reverberated (a synthetic exponentially decaying impulse
response), placed at a random time in the 1 s window and mixed with background noise (white,
pink, brown or mains hum at 5-40 dB SNR, or babble made of other clips of the same split at
15-40 dB). "silence" clips are noise only. The split is by speaker: validation and test clips
come from espeak-ng variants and flite voices that training never hears. Everything follows
from the seed; results are cached under ``~/.cache/picoml/speech/<hash of the parameters>/``
(``$PICOML_CACHE`` moves the root). The default 500 clips per class (6,000 clips, 186 MB) take
about a minute on 2 cores.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import re
import shutil
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Optional, Union

import numpy as np

from picoml.errors import InputError, PicomlError

SAMPLE_RATE = 16000
CLIP_SAMPLES = 16000
LABELS = ("silence", "unknown", "yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")
KEYWORDS = LABELS[2:]
MICRO_SPEECH_LABELS = ("silence", "unknown", "yes", "no")  # TFLM micro_speech_quantized's outputs
SPLITS = ("train", "val", "test")
# Speech Commands' auxiliary words plus a few more: everything that is not a keyword.
UNKNOWN_WORDS = ("bed", "bird", "cat", "dog", "happy", "house", "marvin", "sheila", "tree", "wow", "zero", "one",
                 "two", "three", "four", "five", "six", "seven", "eight", "nine", "backward", "forward", "follow",
                 "learn", "visual", "hello", "yellow", "water", "maybe", "later", "open", "never", "table", "music",
                 "apple", "paper", "river")
# Not in UNKNOWN_WORDS on purpose: words that sound like a keyword ("know" is "no"; "yet", "dawn",
# "top" differ from "yes", "down", "stop" in one consonant), which would teach the models that
# a keyword is "unknown".
# espeak-ng accents (all splits) and speaker variants (split between train, val and test).
BASE_VOICES = ("en", "en-us", "en-gb-scotland", "en-gb-x-rp", "en-029", "en-us-nyc", "en-gb-x-gbclan",
               "en-gb-x-gbcwmd")
VARIANTS = ("m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8", "f1", "f2", "f3", "f4", "f5", "klatt", "klatt2",
            "klatt3", "klatt4", "klatt5", "adam", "Alex", "Alicia", "Andrea", "Andy", "Annie", "antonio", "aunty",
            "belinda", "benjamin", "boris", "caleb", "david", "Denis", "Diogo", "ed", "edward", "Gene", "gustave",
            "Henrique", "Hugo", "iven", "iven2", "iven3", "iven4", "Jacky", "john", "linda", "marcelo", "Marco",
            "Mario", "max", "Michael", "michel", "miguel", "Mike", "Mr", "Nguyen", "pablo", "paul", "pedro",
            "quincy", "rob", "robert", "steph", "steph2", "steph3", "Storm", "travis", "victor", "zac", "anika",
            "norbert", "sandro", "shelby", "grandma", "grandpa", "whisper", "whisperf", "croak")
# flite's built-in voices (speakers; "kal" and "kal16" are one speaker, two synthesizers) and the
# share of speech clips it speaks; its speakers are split between train, val and test like VARIANTS.
FLITE_VOICES = {"kal": ("kal", "kal16"), "awb": ("awb",), "rms": ("rms",), "slt": ("slt",)}
FLITE_SHARE = 0.3
# The held-out flite speaker is one of the men: slt, flite's only woman, always trains (without
# her the models heard no natural-sounding female voice and mislabelled TFLM's real "yes").
FLITE_TEST_SPEAKERS = ("awb", "kal", "rms")
NOISES = ("none", "white", "pink", "brown", "hum", "hiss", "babble")
SILENCE_NOISES = ("white", "pink", "brown", "hum", "hiss", "mixed", "quiet")
GENERATOR_VERSION = 3  # bump when the synthesis or augmentation changes (it is part of the cache key)
_INSTALL = "install espeak-ng: apt-get install espeak-ng"
_INSTALL_FLITE = "install flite: apt-get install flite"


@dataclass
class SpeechSplit:
    """int16 audio [N, 16000] at 16 kHz, label indices into ``LABELS`` [N] and a speaker id per clip."""

    audio: np.ndarray
    labels: np.ndarray
    speakers: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)


@dataclass
class SpeechDataset:
    """Train/val/test splits with disjoint speakers; ``key`` names the data in the feature cache."""

    train: SpeechSplit
    val: SpeechSplit
    test: SpeechSplit
    key: str
    cache_root: Path
    manifest: dict = field(default_factory=dict, repr=False)
    labels: tuple[str, ...] = LABELS

    def splits(self) -> dict[str, SpeechSplit]:
        """The splits by name, in ``SPLITS`` order."""
        return {"train": self.train, "val": self.val, "test": self.test}


@dataclass
class FeatureSplit:
    """Features ``x`` ([N, 49, 40] int8 for micro_speech, [N, 49, 10] float32 for MFCC) and labels ``y``."""

    x: np.ndarray
    y: np.ndarray

    def __len__(self) -> int:
        return len(self.y)


@dataclass
class SpeechFeatures:
    """Features of every split of a :class:`SpeechDataset`."""

    train: FeatureSplit
    val: FeatureSplit
    test: FeatureSplit
    kind: str


def to_micro_speech(labels: np.ndarray) -> np.ndarray:
    """Map ``LABELS`` indices to micro_speech's four (silence, unknown, yes, no): the other
    keywords become unknown."""
    table = np.array([MICRO_SPEECH_LABELS.index(n) if n in MICRO_SPEECH_LABELS else 1 for n in LABELS], np.int64)
    labels = np.asarray(labels)
    if labels.size and (labels.min() < 0 or labels.max() >= len(LABELS)):
        raise InputError(f"label indices must be in [0, {len(LABELS)}), got [{labels.min()}, {labels.max()}]")
    return table[labels.astype(np.int64)]


def default_cache_root() -> Path:
    """``$PICOML_CACHE/speech`` or ``~/.cache/picoml/speech``."""
    base = os.environ.get("PICOML_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "picoml")
    return Path(base) / "speech"


# -- espeak-ng ------------------------------------------------------------------------------

def espeak_version() -> str:
    """espeak-ng's version line; a PicomlError saying how to install it when it is missing."""
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise PicomlError(f"the synthetic speech dataset needs the espeak-ng program: {_INSTALL}")
    r = subprocess.run([exe, "--version"], capture_output=True, text=True)
    if r.returncode != 0:
        raise PicomlError(f"espeak-ng --version failed ({r.stderr.strip()}): {_INSTALL}")
    return r.stdout.strip()


def parse_wav_bytes(data: bytes) -> tuple[np.ndarray, int]:
    """int16 mono samples and rate of a 16-bit PCM RIFF stream from a speech engine; tolerates
    the unknown (0x7fff...) chunk sizes espeak-ng writes to a pipe by reading the data chunk to the end."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise PicomlError("the speech engine did not produce a RIFF/WAVE stream")
    pos, rate, fmt = 12, 0, None
    while pos + 8 <= len(data):
        cid, size = data[pos:pos + 4], int.from_bytes(data[pos + 4:pos + 8], "little")
        body = data[pos + 8:pos + 8 + size]
        if cid == b"fmt ":
            fmt = (int.from_bytes(body[0:2], "little"), int.from_bytes(body[2:4], "little"),
                   int.from_bytes(body[14:16], "little"))
            rate = int.from_bytes(body[4:8], "little")
        elif cid == b"data":
            if fmt != (1, 1, 16):
                raise PicomlError(f"the speech engine wrote (format, channels, bits) = {fmt}; expected 16-bit mono PCM")
            raw = data[pos + 8:]
            return np.frombuffer(raw[:len(raw) // 2 * 2], "<i2").astype(np.int16), rate
        pos += 8 + size + (size & 1)
    raise PicomlError("the speech engine's wav stream has no data chunk")


def resample(x: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    """Band-limited resampling through the FFT (float64): zero-pad to a whole number of
    ``rate_in / gcd`` blocks, keep the spectrum below the lower Nyquist frequency, inverse
    FFT at the new length. The padding is silence, so the implied periodicity is harmless."""
    x = np.asarray(x, np.float64)
    if rate_in == rate_out or x.size == 0:
        return x.copy()
    g = math.gcd(rate_in, rate_out)
    up, down = rate_out // g, rate_in // g
    n = -(-x.size // down) * down
    m = n // down * up
    spec = np.fft.rfft(x, n)[:min(n, m) // 2 + 1]
    return np.fft.irfft(spec, m)[:x.size * up // down] * (m / n)


def trim(x: np.ndarray, floor_db: float = -40.0, pad: int = 320) -> np.ndarray:
    """Cut leading and trailing quiet: keep 10 ms blocks within ``floor_db`` of the loudest, plus ``pad``."""
    if x.size == 0:
        return x
    blocks = np.sqrt(np.mean(np.pad(x, (0, -x.size % 160)).reshape(-1, 160) ** 2, axis=1))
    loud = np.flatnonzero(blocks > blocks.max() * 10 ** (floor_db / 20))
    if loud.size == 0:
        return x[:0]
    return x[max(0, loud[0] * 160 - pad):min(x.size, (loud[-1] + 1) * 160 + pad)]


def synthesize(word: str, voice: str, variant: str, pitch: int, speed: int) -> np.ndarray:
    """One trimmed utterance at 16 kHz (float64, int16 scale) from espeak-ng."""
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise PicomlError(f"the synthetic speech dataset needs the espeak-ng program: {_INSTALL}")
    cmd = [exe, "-v", f"{voice}+{variant}", "-p", str(pitch), "-s", str(speed), "-a", "60", "--stdout", word]
    r = subprocess.run(cmd, capture_output=True)
    if r.returncode != 0:
        raise PicomlError(f"espeak-ng failed ({' '.join(cmd)}): {r.stderr.decode(errors='replace').strip()}")
    samples, rate = parse_wav_bytes(r.stdout)
    return trim(resample(samples, rate, SAMPLE_RATE))


def flite_version() -> str:
    """flite's version line; a PicomlError saying how to install it when it is missing."""
    exe = shutil.which("flite")
    if exe is None:
        raise PicomlError(f"the synthetic speech dataset needs the flite program: {_INSTALL_FLITE}")
    r = subprocess.run([exe, "--version"], capture_output=True, text=True)   # exits 1 after printing it
    found = re.search(r"version:\s*(\S+)", r.stdout + r.stderr)
    if found is None:
        raise PicomlError(f"flite --version printed no version ({(r.stdout + r.stderr).strip()}): {_INSTALL_FLITE}")
    return found.group(1)


def synthesize_flite(word: str, voice: str, f0: int, stretch: int) -> np.ndarray:
    """One trimmed utterance at 16 kHz (float64, int16 scale) from flite's ``voice`` with its
    mean F0 at ``f0`` Hz and durations stretched by ``stretch`` percent."""
    exe = shutil.which("flite")
    if exe is None:
        raise PicomlError(f"the synthetic speech dataset needs the flite program: {_INSTALL_FLITE}")
    with tempfile.TemporaryDirectory(prefix="picoml-flite-") as d:
        path = os.path.join(d, "u.wav")
        cmd = [exe, "-voice", voice, "--setf", f"int_f0_target_mean={int(f0)}", "--setf",
               f"duration_stretch={int(stretch) / 100:.2f}", "-t", word, "-o", path]
        r = subprocess.run(cmd, capture_output=True)
        if r.returncode != 0 or not os.path.exists(path):
            raise PicomlError(f"flite failed ({' '.join(cmd)}): {r.stderr.decode(errors='replace').strip()}")
        with open(path, "rb") as f:
            samples, rate = parse_wav_bytes(f.read())
    return trim(resample(samples, rate, SAMPLE_RATE))


# -- augmentation ---------------------------------------------------------------------------

def colored_noise(kind: str, n: int, rng: np.random.Generator) -> np.ndarray:
    """Unit-RMS noise: white, pink (1/f power), brown (1/f^2), hiss (white through a 4th-order
    high-pass at 3-6 kHz: the self-noise of a cheap microphone, which in TFLM's recordings shows
    in the top filter-bank channels only) or mains hum (50/60 Hz and harmonics)."""
    if kind == "hum":
        t = np.arange(n) / SAMPLE_RATE
        f0 = 50.0 if rng.random() < 0.5 else 60.0
        x = sum(rng.uniform(0.1, 1.0) / h * np.sin(2 * np.pi * f0 * h * t + rng.uniform(0, 2 * np.pi))
                for h in range(1, 6)) + 0.05 * rng.standard_normal(n)
    elif kind == "hiss":
        f = np.fft.rfftfreq(n, 1 / SAMPLE_RATE)
        fc = rng.uniform(3000, 6000)
        x = np.fft.irfft(np.fft.rfft(rng.standard_normal(n)) / np.sqrt(1 + (fc / np.maximum(f, 1.0)) ** 8), n)
    else:
        x = rng.standard_normal(n)
        power = {"white": 0.0, "pink": 1.0, "brown": 2.0}.get(kind)
        if power is None:
            raise InputError(f"unknown noise kind '{kind}'")
        if power:
            spec = np.fft.rfft(x)
            f = np.maximum(np.fft.rfftfreq(n, 1 / SAMPLE_RATE), 20.0)
            x = np.fft.irfft(spec / f ** (power / 2), n)
    return x / max(np.sqrt(np.mean(x ** 2)), 1e-12)


def reverb(x: np.ndarray, rt60: float, wet: float, rng: np.random.Generator) -> np.ndarray:
    """``x`` convolved with a synthetic room: noise decaying by 60 dB in ``rt60`` s, mixed ``wet``
    with the dry signal; the result keeps the reverberant tail (longer than ``x``)."""
    n = max(1, int(rt60 * SAMPLE_RATE))
    ir = rng.standard_normal(n) * 10 ** (-3 * np.arange(n) / n)
    ir /= np.sqrt(np.sum(ir ** 2))
    size = x.size + n - 1
    wet_x = np.fft.irfft(np.fft.rfft(x, size) * np.fft.rfft(ir, size), size)
    dry = np.pad(x, (0, n - 1))
    return (1 - wet) * dry + wet * wet_x * (np.max(np.abs(x)) / max(np.max(np.abs(wet_x)), 1e-12))


def render(clip: dict, speech: Optional[np.ndarray], babble: list[np.ndarray], rng: np.random.Generator
           ) -> np.ndarray:
    """The int16 [16000] clip described by a manifest entry (see :func:`plan`)."""
    out = np.zeros(CLIP_SAMPLES)
    if speech is None:  # silence: background only, at an absolute level
        kinds = (rng.choice(["white", "pink", "brown", "hum", "hiss"], 2, replace=False) if clip["noise"] == "mixed"
                 else ["white"] if clip["noise"] == "quiet" else [clip["noise"]])
        noise = sum(colored_noise(str(k), CLIP_SAMPLES, rng) for k in kinds)
        level = (clip["level_db"] if clip["noise"] not in ("quiet", "hiss") else
                 -85.0 if clip["noise"] == "quiet" else clip["level_db"] - 25)   # hiss: -90..-50 dBFS
        out += noise / np.sqrt(np.mean(noise ** 2)) * 32767 * 10 ** (level / 20)
    else:
        s = speech[:CLIP_SAMPLES]
        s = s / max(np.max(np.abs(s)), 1e-12) * 32767 * 10 ** (clip["peak_db"] / 20)
        dry_rms = np.sqrt(np.mean(s ** 2))
        offset = int(round(clip["shift"] * (CLIP_SAMPLES - s.size)))
        if clip["rt60"] > 0:
            s = reverb(s, clip["rt60"], clip["wet"], rng)
        s = s[:CLIP_SAMPLES - offset]
        out[offset:offset + s.size] += s
        if clip["noise"] != "none":
            if clip["noise"] == "babble":
                noise = np.zeros(CLIP_SAMPLES)
                for i in rng.choice(len(babble), size=min(3, len(babble)), replace=False):
                    b = babble[i][:CLIP_SAMPLES]
                    at = int(rng.integers(0, CLIP_SAMPLES - b.size + 1))
                    noise[at:at + b.size] += b
            else:
                noise = colored_noise(clip["noise"], CLIP_SAMPLES, rng)
            noise_rms = np.sqrt(np.mean(noise ** 2))
            if noise_rms > 0:
                out += noise * (dry_rms / noise_rms) * 10 ** (-clip["snr_db"] / 20)
    return np.clip(np.rint(out), -32768, 32767).astype(np.int16)


# -- the synthetic dataset ------------------------------------------------------------------

def split_counts(n_per_class: int) -> dict[str, int]:
    """Clips per class in each split: 10% val, 10% test (at least one each), the rest train."""
    if n_per_class < 3:
        raise InputError(f"n_per_class must be >= 3 (one clip per split at least), got {n_per_class}")
    held = max(1, int(round(0.1 * n_per_class)))
    return {"train": n_per_class - 2 * held, "val": held, "test": held}


def split_variants(seed: int) -> dict[str, tuple[str, ...]]:
    """Speakers of each split, disjoint and fixed by the seed: espeak-ng variants (15% val,
    15% test, the rest train) followed by flite speakers (one of ``FLITE_TEST_SPEAKERS`` for
    test, the rest for train: there are only four)."""
    order = [VARIANTS[i] for i in np.random.default_rng([seed, 1]).permutation(len(VARIANTS))]
    k = int(round(0.15 * len(VARIANTS)))
    held = FLITE_TEST_SPEAKERS[int(np.random.default_rng([seed, 5]).integers(len(FLITE_TEST_SPEAKERS)))]
    fl = [held] + [v for v in sorted(FLITE_VOICES) if v != held]
    return {"test": tuple(order[:k] + fl[:1]), "val": tuple(order[k:2 * k]), "train": tuple(order[2 * k:] + fl[1:])}


# F0 ranges (Hz) of flite's speakers: slt is a woman, the others are men.
_FLITE_F0 = {"kal": (80, 170), "awb": (80, 170), "rms": (75, 160), "slt": (140, 260)}


def _voice(rng: np.random.Generator, speakers: tuple[str, ...]) -> dict:
    """Engine, voice, speaker, pitch and speed of one utterance by a speaker of ``speakers``:
    flite (with probability ``FLITE_SHARE`` when the split has flite speakers: ``pitch`` is the
    mean F0 in Hz, ``speed`` the duration stretch in percent) or espeak-ng (``pitch`` and
    ``speed`` are espeak-ng's ``-p`` and ``-s``)."""
    flite = [v for v in speakers if v in FLITE_VOICES]
    espeak = [v for v in speakers if v not in FLITE_VOICES]
    if flite and rng.random() < FLITE_SHARE:
        speaker = str(rng.choice(flite))
        lo, hi = _FLITE_F0[speaker]
        return {"engine": "flite", "voice": "flite-" + str(rng.choice(FLITE_VOICES[speaker])), "variant": speaker,
                "pitch": int(rng.integers(lo, hi + 1)), "speed": int(rng.integers(80, 161))}
    return {"engine": "espeak-ng", "voice": str(rng.choice(BASE_VOICES)), "variant": str(rng.choice(espeak)),
            "pitch": int(rng.integers(20, 81)), "speed": int(rng.integers(120, 201))}


def plan(n_per_class: int, seed: int) -> dict[str, list[dict]]:
    """Every clip's parameters (the manifest entries), drawn from ``seed``: word, engine,
    voice, speaker variant, pitch, speed, peak level, time shift, noise and SNR, reverb."""
    rng = np.random.default_rng([seed, 2])
    variants, counts = split_variants(seed), split_counts(n_per_class)
    out = {}
    for split in SPLITS:
        clips = []
        for label in LABELS:
            for _ in range(counts[split]):
                if label == "silence":
                    clips.append({"label": label, "noise": str(rng.choice(SILENCE_NOISES)),
                                  "level_db": round(float(rng.uniform(-65, -25)), 2)})
                    continue
                rt60 = round(float(rng.uniform(0.1, 0.6)), 3) if rng.random() < 0.5 else 0.0
                noise = str(rng.choice(NOISES))
                snr = rng.uniform(15, 40) if noise == "babble" else rng.uniform(5, 40)  # babble stays in the back
                clips.append({
                    "label": label, "word": label if label in KEYWORDS else str(rng.choice(UNKNOWN_WORDS)),
                    **_voice(rng, variants[split]),
                    "peak_db": round(float(rng.uniform(-24, -1)), 2), "shift": round(float(rng.random()), 4),
                    "noise": noise, "snr_db": round(float(snr), 2),
                    "rt60": rt60, "wet": round(float(rng.uniform(0.2, 0.6)), 3) if rt60 else 0.0})
        out[split] = clips
    return out


def _utterance_key(clip: dict) -> tuple:
    return clip["word"], clip["voice"], clip["variant"], clip["pitch"], clip["speed"]


def _synthesize(key: tuple) -> np.ndarray:
    """The utterance of an ``_utterance_key`` from the engine its voice names."""
    word, voice, variant, pitch, speed = key
    if voice.startswith("flite-"):
        return synthesize_flite(word, voice[len("flite-"):], pitch, speed)
    return synthesize(word, voice, variant, pitch, speed)


def _speaker(clip: dict) -> str:
    return f"{clip['voice']}+{clip['variant']}" if "variant" in clip else "noise"


def _generate(clips: dict[str, list[dict]], seed: int, workers: int) -> dict[str, SpeechSplit]:
    keys = sorted({_utterance_key(c) for split in clips.values() for c in split if "word" in c})
    with ThreadPoolExecutor(max_workers=workers) as pool:
        utterances = dict(zip(keys, pool.map(_synthesize, keys)))
    out = {}
    for si, split in enumerate(SPLITS):
        own = sorted({_utterance_key(c) for c in clips[split] if "word" in c})
        babble = [utterances[k] for k in own]
        audio = np.stack([render(c, utterances[_utterance_key(c)] if "word" in c else None, babble,
                                 np.random.default_rng([seed, 3, si, i])) for i, c in enumerate(clips[split])])
        out[split] = SpeechSplit(audio, np.array([LABELS.index(c["label"]) for c in clips[split]], np.int64),
                                 np.array([_speaker(c) for c in clips[split]]))
    return out


def _save(folder: Path, splits: dict[str, SpeechSplit], manifest: dict) -> None:
    """Write the splits and (last) the manifest into a temporary folder, then rename it into
    place, so a reader sees all of it or nothing."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}-"))
    try:
        for name, s in splits.items():
            np.savez(tmp / f"{name}.npz", audio=s.audio, labels=s.labels, speakers=s.speakers)
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1))
        try:
            os.replace(tmp, folder)
        except OSError:  # another process finished the same dataset first
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _load(folder: Path) -> dict[str, SpeechSplit]:
    splits = {}
    for name in SPLITS:
        with np.load(folder / f"{name}.npz") as z:
            splits[name] = SpeechSplit(z["audio"], z["labels"], z["speakers"])
    return splits


def make_dataset(n_per_class: int = 500, seed: int = 0, cache_dir: Optional[Union[str, os.PathLike]] = None,
                 workers: Optional[int] = None) -> SpeechDataset:
    """The synthetic keyword dataset: ``n_per_class`` clips of each of ``LABELS`` (80% train,
    10% val, 10% test, speakers disjoint between splits), generated once and then read from
    the cache (``cache_dir`` or :func:`default_cache_root`). Needs espeak-ng and flite to generate."""
    if not isinstance(n_per_class, (int, np.integer)) or isinstance(n_per_class, bool):
        raise InputError(f"n_per_class must be an int, got {n_per_class!r}")
    split_counts(int(n_per_class))
    root = Path(cache_dir) if cache_dir is not None else default_cache_root()
    params = {"generator": GENERATOR_VERSION, "n_per_class": int(n_per_class), "seed": int(seed),
              "labels": LABELS, "unknown_words": UNKNOWN_WORDS, "voices": BASE_VOICES, "variants": VARIANTS,
              "flite_voices": FLITE_VOICES, "flite_share": FLITE_SHARE, "flite_test": FLITE_TEST_SPEAKERS,
              "sample_rate": SAMPLE_RATE}
    folder = root / hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:16]
    if (folder / "manifest.json").exists():
        manifest = json.loads((folder / "manifest.json").read_text())
        return SpeechDataset(**_load(folder), key=folder.name, cache_root=root, manifest=manifest)
    params["espeak"], params["flite"] = espeak_version(), flite_version()
    clips = plan(int(n_per_class), int(seed))
    splits = _generate(clips, int(seed), workers or max(1, min(4, os.cpu_count() or 1)))
    manifest = {"params": params, "split_variants": split_variants(int(seed)),
                "counts": {k: len(v) for k, v in splits.items()}, "clips": clips}
    _save(folder, splits, manifest)
    return SpeechDataset(**splits, key=folder.name, cache_root=root, manifest=manifest)


# -- the real Speech Commands ---------------------------------------------------------------

_NAME = re.compile(r"^(?P<speaker>[^/]+)_nohash_(?P<n>\d+)\.wav$")


def _clip(path: Path) -> np.ndarray:
    """A wav zero-padded or cut to 1 s."""
    from picoml.audio import read_wav

    x = read_wav(path)[:CLIP_SAMPLES]
    return np.pad(x, (0, CLIP_SAMPLES - x.size))


def load_speech_commands(root: Union[str, os.PathLike], unknown_percentage: float = 10.0,
                         silence_percentage: float = 10.0, seed: int = 0, max_per_class: Optional[int] = None,
                         cache_dir: Optional[Union[str, os.PathLike]] = None) -> SpeechDataset:
    """Speech Commands v2 (``<root>/<word>/<speaker>_nohash_<n>.wav``): clips listed in
    ``validation_list.txt`` / ``testing_list.txt`` go to val / test, the rest to train (the
    official split, by speaker hash). Keywords keep their label; other words become "unknown"
    (a random ``unknown_percentage`` % of the keyword clip count per split) and "silence" clips
    are random 1 s crops of ``_background_noise_/*.wav`` at a random volume (zeros when that
    folder is absent). Clips are zero-padded or cut to 1 s; ``max_per_class`` caps each class
    per split (for quick experiments)."""
    from picoml.audio import read_wav

    root = Path(root)
    if not root.is_dir():
        raise InputError(f"Speech Commands folder '{root}' does not exist")
    lists = {}
    for split, name in (("val", "validation_list.txt"), ("test", "testing_list.txt")):
        p = root / name
        lists[split] = set(p.read_text().split()) if p.exists() else set()
    files: dict[str, dict[str, list[str]]] = {s: {} for s in SPLITS}
    for word_dir in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("_")):
        for wav in sorted(word_dir.glob("*.wav")):
            rel = f"{word_dir.name}/{wav.name}"
            split = "val" if rel in lists["val"] else "test" if rel in lists["test"] else "train"
            label = word_dir.name if word_dir.name in KEYWORDS else "unknown"
            files[split].setdefault(label, []).append(rel)
    if not any(files[s] for s in SPLITS):
        raise InputError(f"no '<word>/<speaker>_nohash_<n>.wav' files under '{root}'")
    noise = [read_wav(p) for p in sorted((root / "_background_noise_").glob("*.wav"))]
    rng = np.random.default_rng(seed)
    splits = {}
    for si, split in enumerate(SPLITS):
        chosen = []  # (label, rel path or None for silence)
        n_keyword = sum(len(v) for k, v in files[split].items() if k != "unknown")
        for label in KEYWORDS:
            chosen += [(label, r) for r in files[split].get(label, [])[:max_per_class]]
        unknown = files[split].get("unknown", [])
        n_unknown = min(len(unknown), int(round(n_keyword * unknown_percentage / 100)) if n_keyword else len(unknown))
        n_unknown = min(n_unknown, max_per_class) if max_per_class is not None else n_unknown
        if n_unknown:
            chosen += [("unknown", unknown[i]) for i in sorted(rng.choice(len(unknown), n_unknown, replace=False))]
        n_silence = int(round(n_keyword * silence_percentage / 100))
        n_silence = min(n_silence, max_per_class) if max_per_class is not None else n_silence
        chosen += [("silence", None)] * n_silence
        audio = np.zeros((len(chosen), CLIP_SAMPLES), np.int16)
        speakers = []
        for i, (label, rel) in enumerate(chosen):
            if rel is None:
                audio[i] = _background_crop(noise, rng)
                speakers.append("noise")
            else:
                audio[i] = _clip(root / rel)
                m = _NAME.match(Path(rel).name)
                speakers.append(m.group("speaker") if m else Path(rel).stem)
        splits[split] = SpeechSplit(audio, np.array([LABELS.index(c[0]) for c in chosen], np.int64),
                                    np.array(speakers, dtype=str))
    digest = hashlib.sha256()
    for s in splits.values():
        digest.update(s.audio.tobytes())
        digest.update(s.labels.tobytes())
    cache_root = Path(cache_dir) if cache_dir is not None else default_cache_root()
    return SpeechDataset(**splits, key="sc-" + digest.hexdigest()[:16], cache_root=cache_root,
                         manifest={"source": str(root), "counts": {k: len(v) for k, v in splits.items()}})


def _background_crop(noise: list[np.ndarray], rng: np.random.Generator) -> np.ndarray:
    """A random 1 s crop of a random background file at a random volume in [0, 1)."""
    usable = [n for n in noise if n.size >= CLIP_SAMPLES]
    if not usable:
        return np.zeros(CLIP_SAMPLES, np.int16)
    n = usable[int(rng.integers(len(usable)))]
    at = int(rng.integers(0, n.size - CLIP_SAMPLES + 1))
    return np.rint(n[at:at + CLIP_SAMPLES] * rng.random()).astype(np.int16)


# -- features -------------------------------------------------------------------------------

FEATURE_KINDS = ("micro_speech", "mfcc")


def clip_features(audio: np.ndarray, kind: str = "micro_speech") -> np.ndarray:
    """Features of int16 clips [N, 16000]: micro_speech int8 [N, 49, 40] (each clip with a fresh
    noise estimate, computed by the C frontend when a compiler is available, else NumPy; the
    two are bit-exact) or the MLPerf KWS MFCC float32 [N, 49, 10]."""
    from picoml.audio import kws_mfcc, micro_speech_features

    audio = np.asarray(audio)
    if audio.dtype != np.int16 or audio.ndim != 2 or audio.shape[1] != CLIP_SAMPLES:
        raise InputError(f"clip features take int16 [N, {CLIP_SAMPLES}], got {audio.dtype} {list(audio.shape)}")
    if kind == "mfcc":
        return np.stack([kws_mfcc(a) for a in audio]) if len(audio) else np.zeros((0, 49, 10), np.float32)
    if kind != "micro_speech":
        raise InputError(f"feature kind must be one of {FEATURE_KINDS}, got '{kind}'")
    if not len(audio):
        return np.zeros((0, 49, 40), np.int8)
    try:
        from picoml.audio.native import native_micro_speech_features

        fn = native_micro_speech_features
        fn(audio[0])
    except (PicomlError, OSError):  # no C compiler: the NumPy twin gives the same bits, slower
        fn = micro_speech_features
    with ThreadPoolExecutor(max_workers=max(1, min(4, os.cpu_count() or 1))) as pool:
        return np.stack(list(pool.map(fn, audio)))


def features(dataset: SpeechDataset, kind: str = "micro_speech") -> SpeechFeatures:
    """Frontend features of every split (see :func:`clip_features`), cached next to the audio
    (``<cache root>/features/<dataset key>-<kind>.npz``)."""
    if kind not in FEATURE_KINDS:
        raise InputError(f"feature kind must be one of {FEATURE_KINDS}, got '{kind}'")
    path = Path(dataset.cache_root) / "features" / f"{dataset.key}-{kind}.npz"
    if path.exists():
        with np.load(path) as z:
            return SpeechFeatures(*(FeatureSplit(z[f"{s}_x"], z[f"{s}_y"]) for s in SPLITS), kind=kind)
    splits = {s: FeatureSplit(clip_features(sp.audio, kind), sp.labels) for s, sp in dataset.splits().items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}-", suffix=".npz")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **{f"{s}_{a}": getattr(v, a) for s, v in splits.items() for a in ("x", "y")})
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return SpeechFeatures(*(splits[s] for s in SPLITS), kind=kind)


def label_names(indices: Iterable[int]) -> list[str]:
    """``LABELS`` names of label indices."""
    return [LABELS[int(i)] for i in indices]


# -- audio-level augmentation ("another microphone, room and speaker") -----------------------

AUGMENT_VERSION = 3  # bump when augment_clip changes (part of the augmented-feature cache key)


def _stretch(x: np.ndarray, factor: float) -> np.ndarray:
    """``x`` played ``factor`` times longer (and lower: a tape-speed change) by linear
    interpolation, re-centred on its energy and cut or zero-padded to the input's length."""
    n = x.size
    m = max(2, int(round(n * factor)))
    y = np.interp(np.arange(m) / factor, np.arange(n), x)
    e = y ** 2
    centre = int(np.sum(np.arange(m) * e) / max(np.sum(e), 1e-12)) if np.any(e) else m // 2
    want = int(np.sum(np.arange(n) * x ** 2) / max(np.sum(x ** 2), 1e-12)) if np.any(x) else n // 2
    start = centre - want
    out = np.zeros(n)
    lo, hi = max(0, start), min(m, start + n)
    if hi > lo:
        out[lo - start:hi - start] = y[lo:hi]
    return out


def _event(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A short extraneous sound 6-30 dB below the clip's peak at a random time: half the time
    a burst of band-passed noise (breath, lip smack, handling noise; 40-250 ms), half the time
    a voiced murmur (a glottal-like harmonic series at 80-260 Hz gliding a little, low-passed
    at 600-3000 Hz, 80-350 ms: an "uh", a hum, another voice). Both have a Hann envelope. Real
    recordings have them around the word (TFLM's yes_1000ms.wav has a voiced sound 150-300 Hz,
    22 dB below the word, 200 ms before it) and PCAN, starting from an empty noise estimate,
    makes them as bright as the word in the features."""
    if rng.random() < 0.5:
        n = int(rng.integers(640, 4000))
        burst = np.fft.rfft(rng.standard_normal(n))
        f = np.fft.rfftfreq(n, 1 / SAMPLE_RATE)
        fc = np.exp(rng.uniform(np.log(150), np.log(4000)))
        burst = np.fft.irfft(burst * np.exp(-0.5 * (np.log2(np.maximum(f, 1.0) / fc) / rng.uniform(0.5, 2.0)) ** 2),
                             n)
    else:
        n = int(rng.integers(1280, 5600))
        f0 = rng.uniform(80, 260) * np.exp(np.linspace(0, rng.uniform(-0.2, 0.2), n))
        phase = 2 * np.pi * np.cumsum(f0) / SAMPLE_RATE
        lp = rng.uniform(600, 3000)
        burst = sum(np.sin(h * phase) / h / (1 + (h * f0 / lp) ** 2) for h in range(1, int(4000 // 80) + 1))
    burst *= np.hanning(n)
    peak = np.max(np.abs(x)) if np.any(x) else 3000.0
    burst *= peak * 10 ** (-rng.uniform(6, 30) / 20) / max(np.max(np.abs(burst)), 1e-12)
    out = np.zeros(x.size)
    at = int(rng.integers(0, x.size - n))
    out[at:at + n] = burst
    return out


def _nearby_speech(x: np.ndarray, donor: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A piece (80-250 ms around its loudest point) of another clip's speech, 8-30 dB below
    ``x``'s peak, placed 40-300 ms before or after ``x``'s loud part (10 ms blocks within 15 dB
    of the peak; at the roomier edge of the clip when that does not fit): a neighbouring
    syllable, someone else talking. The label stays the word's: the keyword decides, not what
    is said around it (TFLM's real "yes" has a voiced sound 200 ms before the word, which made
    models trained without this call it "unknown")."""
    d = np.asarray(donor, np.float64)
    if not np.any(x) or not np.any(d):
        return np.zeros(x.size)
    n = int(rng.integers(1280, 4000))
    centre = int(np.argmax(np.convolve(d ** 2, np.ones(640), "same")))
    piece = d[max(0, centre - n // 2):max(0, centre - n // 2) + n]
    piece = piece * np.hanning(piece.size)
    blocks = np.sqrt(np.mean(x[:x.size // 160 * 160].reshape(-1, 160) ** 2, axis=1))
    loud = np.flatnonzero(blocks > blocks.max() * 10 ** (-15 / 20))
    gap = int(rng.integers(640, 4800))
    options = [at for at in (loud[0] * 160 - gap - piece.size, (loud[-1] + 1) * 160 + gap)
               if 0 <= at <= x.size - piece.size]
    if options:
        at = options[int(rng.integers(len(options)))]
    else:  # no room at that gap: at the edge with more room (closer to, or over, the word)
        at = 0 if loud[0] > x.size // 160 - 1 - loud[-1] else x.size - piece.size
    out = np.zeros(x.size)
    out[at:at + piece.size] = piece * np.max(np.abs(x)) * 10 ** (-rng.uniform(8, 30) / 20) / np.max(np.abs(piece))
    return out


def augment_clip(audio: np.ndarray, rng: np.random.Generator, donor: Optional[np.ndarray] = None) -> np.ndarray:
    """One int16 [16000] clip as another device might record it: with a ``donor`` clip (another
    word), half the time a piece of it next to the word (:func:`_nearby_speech`); 0-2
    extraneous sounds (:func:`_event`; at least one in 80% of the clips), a speed change (duration
    x0.8-1.35, pitch with it), a random microphone/room frequency response (spectral tilt of
    -6..+4 dB/octave around 1 kHz, a high-pass at 50-400 Hz and a low-pass at 3.4-8 kHz, two
    random +-6 dB bumps), a random level (peak -30..-1 dBFS) and a little self-noise of the
    microphone (white, pink or high-frequency hiss, -80..-50 dBFS). Espeak-ng's voices are clean, band-unlimited
    and short; real recordings are none of these (see ``picoml.kws``'s measurements)."""
    x = np.asarray(audio, np.float64)
    if donor is not None and rng.random() < 0.5:
        x = x + _nearby_speech(x, donor, rng)
    for _ in range(int(rng.choice(3, p=[0.2, 0.5, 0.3]))):
        x = x + _event(x, rng)
    if rng.random() < 0.8:
        x = _stretch(x, float(np.exp(rng.uniform(np.log(0.8), np.log(1.35)))))
    f = np.maximum(np.fft.rfftfreq(x.size, 1 / SAMPLE_RATE), 1.0)
    gain_db = rng.uniform(-6, 4) * np.log2(f / 1000.0)
    hp, lp = rng.uniform(50, 400), rng.uniform(3400, 8000)
    gain_db -= 10 * np.log10(1 + (hp / f) ** 4) + 10 * np.log10(1 + (f / lp) ** 8)   # 2nd/4th-order slopes
    for _ in range(2):
        fc, width, g = np.exp(rng.uniform(np.log(200), np.log(6000))), rng.uniform(0.3, 1.5), rng.uniform(-6, 6)
        gain_db += g * np.exp(-0.5 * (np.log2(f / fc) / width) ** 2)
    x = np.fft.irfft(np.fft.rfft(x) * 10 ** (gain_db / 20), x.size)
    peak = np.max(np.abs(x))
    if peak > 0:
        x *= 32767 * 10 ** (rng.uniform(-30, -1) / 20) / peak
    hiss = colored_noise(str(rng.choice(["white", "pink", "hiss"])), x.size, rng)
    x += hiss * 32767 * 10 ** (rng.uniform(-80, -50) / 20)
    return np.clip(np.rint(x), -32768, 32767).astype(np.int16)


def augmented_features(dataset: SpeechDataset, copies: int = 2, seed: int = 0, split: str = "train"
                       ) -> FeatureSplit:
    """micro_speech features of ``copies`` augmented versions (:func:`augment_clip`, donors of
    nearby speech drawn from the split's "unknown" clips) of every clip of ``split``,
    [copies * N, 49, 40] int8 (copy-major), labels repeated; deterministic from ``seed`` and
    cached like :func:`features`."""
    if split not in SPLITS:
        raise InputError(f"split must be one of {SPLITS}, got '{split}'")
    if not isinstance(copies, (int, np.integer)) or copies < 1:
        raise InputError(f"copies must be a positive int, got {copies!r}")
    path = (Path(dataset.cache_root) / "features" /
            f"{dataset.key}-aug{AUGMENT_VERSION}-{split}-{int(copies)}x-{int(seed)}.npz")
    if path.exists():
        with np.load(path) as z:
            return FeatureSplit(z["x"], z["y"])
    src = dataset.splits()[split]
    unknown = np.flatnonzero(src.labels == LABELS.index("unknown"))   # donors of nearby speech
    xs = []
    for c in range(int(copies)):
        rng = np.random.default_rng([seed, 6, c])
        donors = rng.choice(unknown, len(src.labels)) if unknown.size else [None] * len(src.labels)
        audio = np.stack([augment_clip(a, np.random.default_rng([seed, 4, c, i]), None if d is None else src.audio[d])
                          for i, (a, d) in enumerate(zip(src.audio, donors))])
        xs.append(clip_features(audio) if len(audio) else np.zeros((0, 49, 40), np.int8))
    out = FeatureSplit(np.concatenate(xs), np.tile(src.labels, int(copies)))
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}-", suffix=".npz")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, x=out.x, y=out.y)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return out
