"""The synthetic keyword dataset (espeak-ng and flite) and the Speech Commands folder loader."""
import shutil
import time
import wave

import numpy as np
import pytest

from picoml.audio import micro_speech_features
from picoml.data import speech
from picoml.data.speech import (CLIP_SAMPLES, LABELS, MICRO_SPEECH_LABELS, features, load_speech_commands,
                                make_dataset, to_micro_speech)
from picoml.errors import InputError, PicomlError

_ENGINES_MISSING = [name for name in ("espeak-ng", "flite") if shutil.which(name) is None]
needs_espeak = pytest.mark.skipif(bool(_ENGINES_MISSING),
                                  reason=f"install the speech engines: apt-get install {' '.join(_ENGINES_MISSING)}")


@pytest.fixture(scope="module")
def small():
    """10 clips per class in the default cache: generated once (about 3 s), then read back."""
    if _ENGINES_MISSING:
        pytest.skip(f"install the speech engines: apt-get install {' '.join(_ENGINES_MISSING)}")
    return make_dataset(n_per_class=10, seed=0)


@pytest.mark.parametrize("engine", ["espeak-ng", "flite"])
def test_missing_engine_is_explained(tmp_path, monkeypatch, engine):
    which = shutil.which
    monkeypatch.setattr(speech.shutil, "which", lambda name: None if name == engine else which(name))
    if engine == "flite" and which("espeak-ng") is None:
        pytest.skip("espeak-ng is missing too")
    with pytest.raises(PicomlError, match=f"apt-get install {engine}"):
        make_dataset(n_per_class=3, cache_dir=tmp_path)


def test_unknown_words_are_not_keywords_in_disguise():
    """"know" is "no"; one-consonant neighbours of a keyword would teach that the keyword is unknown."""
    assert not set(speech.UNKNOWN_WORDS) & {"know", "yet", "dawn", "top", *speech.KEYWORDS}


def test_label_mapping():
    assert LABELS[:4] == MICRO_SPEECH_LABELS and len(LABELS) == 12
    assert to_micro_speech(np.arange(12)).tolist() == [0, 1, 2, 3] + [1] * 8
    with pytest.raises(InputError):
        to_micro_speech(np.array([12]))


def test_wav_parsing_and_resampling():
    header = (b"RIFF\xff\xff\xff\x7fWAVEfmt \x10\x00\x00\x00\x01\x00\x01\x00\x22\x56\x00\x00\x44\xac\x00\x00"
              b"\x02\x00\x10\x00data\xff\xff\xff\x7f")
    samples, rate = speech.parse_wav_bytes(header + np.arange(5, dtype="<i2").tobytes())
    assert rate == 22050 and samples.tolist() == [0, 1, 2, 3, 4]
    with pytest.raises(PicomlError):
        speech.parse_wav_bytes(b"not a wav")
    t = np.arange(22050) / 22050
    y = speech.resample(1000 * np.sin(2 * np.pi * 1000 * t), 22050, 16000)
    want = 1000 * np.sin(2 * np.pi * 1000 * np.arange(16000) / 16000)
    assert y.shape == (16000,) and np.abs(y - want).max() < 1e-6


@needs_espeak
def test_generation_is_cached_deterministic_and_split_by_voice(tmp_path):
    a = make_dataset(n_per_class=3, seed=5, cache_dir=tmp_path / "a")
    assert [len(s) for s in a.splits().values()] == [12, 12, 12]
    for s in a.splits().values():
        assert s.audio.dtype == np.int16 and s.audio.shape == (len(s), CLIP_SAMPLES)
        assert sorted(s.labels.tolist()) == list(range(12))
    folder = tmp_path / "a" / a.key
    assert (folder / "manifest.json").exists() and len(a.manifest["clips"]["train"]) == 12
    voices = {k: {v.split("+")[1] for v in s.speakers if v != "noise"} for k, s in a.splits().items()}
    assert not voices["train"] & voices["test"] and not voices["train"] & voices["val"]
    assert not voices["val"] & voices["test"]
    split = speech.split_variants(5)   # the speakers of both engines are split
    flite = {k: set(v) & set(speech.FLITE_VOICES) for k, v in split.items()}
    assert len(flite["test"]) == 1 and len(flite["train"]) == len(speech.FLITE_VOICES) - 1 and not flite["val"]
    assert all(not set(split[x]) & set(split[y]) for x, y in (("train", "test"), ("train", "val"), ("val", "test")))
    t = time.perf_counter()
    again = make_dataset(n_per_class=3, seed=5, cache_dir=tmp_path / "a")
    assert time.perf_counter() - t < 1.0
    fresh = make_dataset(n_per_class=3, seed=5, cache_dir=tmp_path / "b")
    other = make_dataset(n_per_class=3, seed=6, cache_dir=tmp_path / "b")
    for name in ("train", "val", "test"):
        assert np.array_equal(getattr(again, name).audio, getattr(a, name).audio)
        assert np.array_equal(getattr(fresh, name).audio, getattr(a, name).audio)
    assert other.key != a.key and not np.array_equal(other.train.audio, a.train.audio)
    assert not list((tmp_path / "a").glob(".*"))  # no temporary folder left behind
    with pytest.raises(InputError):
        make_dataset(n_per_class=2, cache_dir=tmp_path)


def test_clips_look_like_speech_commands(small):
    """Speech clips are loud enough and never clipped throughout; silence is quieter; the
    parameters vary (every noise kind, reverb on and off, many voices)."""
    for s in small.splits().values():
        rms = np.sqrt(np.mean(s.audio.astype(np.float64) ** 2, axis=1))
        silent = s.labels == 0
        assert np.all(rms[~silent] > 30) and np.median(rms[silent]) < np.median(rms[~silent])
        assert np.mean(np.abs(s.audio) == 32767) < 1e-3
    clips = [c for split in small.manifest["clips"].values() for c in split if "word" in c]
    assert {c["noise"] for c in clips} == set(speech.NOISES)
    assert any(c["rt60"] > 0 for c in clips) and any(c["rt60"] == 0 for c in clips)
    assert len({(c["voice"], c["variant"]) for c in clips}) > 50
    assert {c["engine"] for c in clips} == {"espeak-ng", "flite"}
    for c in clips:  # flite speakers stay in their split
        if c["engine"] == "flite":
            split = next(k for k, v in small.manifest["clips"].items() if c in v)
            assert c["variant"] in small.manifest["split_variants"][split]


def test_flite_utterance():
    """flite speaks at the F0 asked for (autocorrelation pitch of the loudest 40 ms) and
    stretches durations."""
    if shutil.which("flite") is None:
        pytest.skip("install flite: apt-get install flite")
    for f0 in (90, 200):
        x = speech.synthesize_flite("no", "awb", f0, 100)
        i = int(np.argmax(np.convolve(x ** 2, np.ones(640), "same")))
        seg = x[i - 320:i + 320]
        r = np.correlate(seg, seg, "full")[639:]
        lag = int(np.argmax(r[40:400])) + 40
        assert abs(16000 / lag - f0) < 0.1 * f0
    slow, normal = speech.synthesize_flite("yes", "slt", 180, 150), speech.synthesize_flite("yes", "slt", 180, 100)
    assert slow.size > 1.3 * normal.size


def test_features_are_cached_and_exact(small):
    f = features(small)
    assert f.train.x.dtype == np.int8 and f.train.x.shape == (len(small.train), 49, 40)
    for i in (0, 17, 60):  # the C frontend (fast path) equals the NumPy twin
        assert np.array_equal(f.train.x[i], micro_speech_features(small.train.audio[i]))
    assert np.array_equal(f.test.y, small.test.labels)
    assert (small.cache_root / "features" / f"{small.key}-micro_speech.npz").exists()
    again = features(small)
    assert np.array_equal(again.val.x, f.val.x)
    m = features(small, "mfcc")
    assert m.train.x.dtype == np.float32 and m.train.x.shape == (len(small.train), 49, 10)
    with pytest.raises(InputError):
        features(small, "spectrogram")


def test_micro_speech_model_hears_the_synthetic_words(small, real):
    """TFLM's micro_speech model (trained on real recordings) recognises most synthetic yes,
    no and silence clips: the synthetic speech is close enough to people's."""
    import picoml
    from picoml.interpreter import Interpreter

    interp = Interpreter(picoml.load_tflite(real / "tflm/micro_speech/micro_speech_quantized.tflite"))
    f = features(small)
    x = np.concatenate([f.train.x, f.val.x, f.test.x])
    y = to_micro_speech(np.concatenate([f.train.y, f.val.y, f.test.y]))
    pred = np.array([np.argmax(interp.run([v.reshape(1, 1960)])[0]) for v in x])
    for label, least in ((0, 0.9), (2, 0.6), (3, 0.6)):
        assert np.mean(pred[y == label] == label) >= least, (MICRO_SPEECH_LABELS[label], pred[y == label])


def _write_wav(path, samples):
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(np.asarray(samples, "<i2").tobytes())


def test_speech_commands_loader(tmp_path):
    root = tmp_path / "speech_commands_v0.02"
    rng = np.random.default_rng(0)
    for word in ("yes", "no", "cat", "dog"):
        for speaker in ("aa11", "bb22", "cc33"):
            for n in range(2):
                _write_wav(root / word / f"{speaker}_nohash_{n}.wav", rng.integers(-1000, 1000, 16000))
    _write_wav(root / "yes" / "dd44_nohash_0.wav", np.full(8000, 7))    # short: padded with zeros
    _write_wav(root / "no" / "dd44_nohash_0.wav", np.full(20000, 9))    # long: cut to 1 s
    _write_wav(root / "_background_noise_" / "white.wav", rng.integers(-3000, 3000, 24000))
    for name, speaker in (("validation_list.txt", "bb22"), ("testing_list.txt", "cc33")):
        (root / name).write_text("".join(f"{w}/{speaker}_nohash_{n}.wav\n" for w in ("yes", "no", "cat", "dog")
                                         for n in range(2)))
    d = load_speech_commands(root, unknown_percentage=50, silence_percentage=50, cache_dir=tmp_path / "cache")
    names = {k: sorted(LABELS[i] for i in s.labels) for k, s in d.splits().items()}
    # train: yes/no of aa11 and dd44 (6 clips), 3 unknown, 3 silence
    assert names["train"] == sorted(["yes"] * 3 + ["no"] * 3 + ["unknown"] * 3 + ["silence"] * 3)
    assert names["val"] == sorted(["yes", "yes", "no", "no", "unknown", "unknown", "silence", "silence"])
    assert names["test"] == sorted(["yes", "yes", "no", "no", "unknown", "unknown", "silence", "silence"])
    for s in d.splits().values():
        assert s.audio.dtype == np.int16 and s.audio.shape == (len(s), 16000)
    assert set(d.train.speakers) - {"noise"} == {"aa11", "dd44"}
    assert set(d.val.speakers) - {"noise"} == {"bb22"}
    assert set(d.test.speakers) - {"noise"} == {"cc33"}
    short = d.train.audio[(d.train.speakers == "dd44") & (d.train.labels == LABELS.index("yes"))][0]
    assert np.all(short[:8000] == 7) and np.all(short[8000:] == 0)
    long = d.train.audio[(d.train.speakers == "dd44") & (d.train.labels == LABELS.index("no"))][0]
    assert np.all(long == 9)
    silence = d.train.audio[d.train.labels == 0]
    assert np.all(np.abs(silence.astype(np.int64)).max(axis=1) <= 3000)
    again = load_speech_commands(root, unknown_percentage=50, silence_percentage=50, cache_dir=tmp_path / "cache")
    assert again.key == d.key and np.array_equal(again.train.audio, d.train.audio)
    f = features(d, "mfcc")
    assert f.train.x.shape == (len(d.train), 49, 10)
    assert (tmp_path / "cache" / "features" / f"{d.key}-mfcc.npz").exists()
    with pytest.raises(InputError):
        load_speech_commands(tmp_path / "missing")
    with pytest.raises(InputError):
        load_speech_commands(root / "_background_noise_")


def test_augment_clip_is_seeded_and_changes_the_recording(small):
    """Audio augmentation: same seed -> same clip; it changes the clip (speed, EQ, level, hiss,
    extraneous sounds) but keeps it int16 [16000]; speed changes keep the word's energy centre."""
    a = small.train.audio[small.train.labels == LABELS.index("yes")][0]
    x = speech.augment_clip(a, np.random.default_rng(1))
    assert x.dtype == np.int16 and x.shape == (CLIP_SAMPLES,)
    assert np.array_equal(x, speech.augment_clip(a, np.random.default_rng(1)))
    assert not np.array_equal(x, speech.augment_clip(a, np.random.default_rng(2))) and not np.array_equal(x, a)
    t = np.arange(CLIP_SAMPLES)
    centre = lambda v: float(np.sum(t * v.astype(float) ** 2) / np.sum(v.astype(float) ** 2))
    s = speech._stretch(a.astype(np.float64), 1.3)
    assert s.shape == (CLIP_SAMPLES,) and abs(centre(s) - centre(a)) < 400


def test_nearby_speech_sits_next_to_the_word():
    """The donor's piece lands outside the word's loud part, 8-30 dB below its peak."""
    rng = np.random.default_rng(0)
    x = np.zeros(CLIP_SAMPLES)
    x[7000:10000] = 8000 * np.sin(np.arange(3000) * 0.3)
    donor = rng.standard_normal(CLIP_SAMPLES) * 1000
    for seed in range(20):
        piece = speech._nearby_speech(x, donor, np.random.default_rng(seed))
        where = np.flatnonzero(piece)
        assert where.size >= 1000 and (where[-1] < 7000 or where[0] >= 10000)
        assert 8000 * 10 ** (-30 / 20) * 0.99 <= np.abs(piece).max() <= 8000 * 10 ** (-8 / 20) * 1.01
    assert not np.any(speech._nearby_speech(np.zeros(CLIP_SAMPLES), donor, rng))


def test_augmented_features_are_cached(small):
    f = speech.augmented_features(small, copies=2, seed=3)
    n = len(small.train)
    assert f.x.shape == (2 * n, 49, 40) and f.x.dtype == np.int8 and np.array_equal(f.y, np.tile(small.train.labels, 2))
    i = 5  # copy 1 of clip 5 = the frontend on augment_clip with that clip's seed and donor
    unknown = np.flatnonzero(small.train.labels == LABELS.index("unknown"))
    donor = small.train.audio[np.random.default_rng([3, 6, 1]).choice(unknown, n)[i]]
    want = micro_speech_features(speech.augment_clip(small.train.audio[i], np.random.default_rng([3, 4, 1, i]), donor))
    assert np.array_equal(f.x[n + i], want)
    assert np.array_equal(speech.augmented_features(small, copies=2, seed=3).x, f.x)
    with pytest.raises(InputError):
        speech.augmented_features(small, copies=0)
    with pytest.raises(InputError):
        speech.augmented_features(small, split="dev")
