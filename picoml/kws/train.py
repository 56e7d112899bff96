"""Training the keyword-spotting models on the synthetic speech dataset.

Data: :func:`picoml.data.speech.make_dataset` clips -> micro_speech int8 features [49, 40]
(cached) -> the 4 micro_speech labels (silence, unknown, yes, no; the other keywords are
"unknown"). "unknown" then has 9x the clips of each other class, so the loss weighs every
class by the inverse of its share (balanced classes, as the streaming detector sees them).

Augmentation: ``aug_copies`` audio-augmented copies of every training clip
(:func:`picoml.data.speech.augment_clip`: extraneous sounds and nearby speech around the word,
speed, microphone and room frequency response, level, microphone hiss; cached per seed), and on
every batch, on the int8 feature codes: a random time shift of up to ``shift`` frames (edge
frames repeated), one time mask and one frequency mask (SpecAugment, masked codes set to the
lowest feature value) and a random offset of all codes (a level change after the log).
Synthetic voices are clean and centred; real recordings are neither, and these keep the models
from relying on either.

Float training also fits an auxiliary head on all 12 dataset labels (:class:`WordHead`), which
is dropped afterwards. The defaults (width 0.5, 2 augmented copies, the word head) are the
cheapest setting measured to label TFLM's real yes/no recordings right at time shifts of -4, 0
and +4 frames (the int8 model's compiled C on the host and the Cortex-M4 emulator, seeds 0, 1
and 2): without the word head or the audio copies, or at width 0.25, "yes" falls into
"unknown" for some seeds or shifts. The binary model does not reach it (see the README).

int8: float training (Adam, cosine decay), then quantization-aware fine tuning with int8 fake
quantizers (Adam at a small rate). Binary: Bop for the binary pointwise kernels and Adam for
the rest, then the same with int8 fake quantization of the full-precision layers.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Optional

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from picoml.data.speech import (LABELS as WORDS, MICRO_SPEECH_LABELS, SpeechFeatures, augmented_features, features,
                                make_dataset, to_micro_speech)
from picoml.kws.models import binary_ds_cnn, dequantize_features, int8_ds_cnn
from picoml.nn import bop_and_adam

__all__ = ["KwsData", "TrainSettings", "WordHead", "accuracy", "augment", "fit", "load_data", "train_binary",
           "train_int8"]

LABELS = MICRO_SPEECH_LABELS


@dataclass
class TrainSettings:
    """How much the KWS pipeline trains (the tests run a reduced version)."""

    clips_per_class: int = 500      # synthetic dataset size (cached after the first run)
    float_epochs: int = 8
    qat_epochs: int = 2
    binary_epochs: int = 10
    binary_qat_epochs: int = 2
    int8_width: float = 0.5         # DS-CNN channels: 64 x width
    binary_width: float = 0.5       # rounded to a multiple of 32
    blocks: int = 3
    batch: int = 64
    shift: int = 8                  # augmentation: max time shift in frames
    train_limit: Optional[int] = None
    aug_copies: int = 2             # audio-augmented copies of the training clips (augment_clip), cached
    unknown_weight: float = 1.0     # loss weight of "unknown" relative to the balanced classes
    word_weight: float = 1.0        # float training: loss weight of the auxiliary 12-word head (0: none)
    seed: int = 0


@dataclass
class KwsData:
    """Float model inputs and 4-label targets of each split, plus the int8 codes of the test set."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    words_train: torch.Tensor       # the dataset's own 12 labels of the training clips (WordHead)
    q_train: np.ndarray
    x_val: torch.Tensor
    y_val: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    q_test: np.ndarray
    dataset_key: str

    def class_weights(self, unknown_weight: float = 1.0) -> torch.Tensor:
        """Inverse class frequency of the training labels, "unknown" times ``unknown_weight``, mean 1."""
        counts = torch.bincount(self.y_train, minlength=len(LABELS)).float().clamp(min=1)
        w = 1.0 / counts
        w[LABELS.index("unknown")] *= unknown_weight
        return w / w.mean()

    def word_weights(self) -> torch.Tensor:
        """Inverse frequency of the 12 word labels of the training clips, mean 1."""
        w = 1.0 / torch.bincount(self.words_train, minlength=len(WORDS)).float().clamp(min=1)
        return w / w.mean()


def load_data(s: TrainSettings) -> KwsData:
    """The synthetic dataset's micro_speech features with 4-label targets (generated and cached
    on first use; needs espeak-ng and flite then), plus ``s.aug_copies`` audio-augmented copies
    of the training clips."""
    ds = make_dataset(s.clips_per_class, seed=s.seed)
    f: SpeechFeatures = features(ds, "micro_speech")
    q_train, words = f.train.x, f.train.y
    if s.train_limit:
        pick = np.random.default_rng(s.seed).permutation(len(words))[:s.train_limit]
        q_train, words = q_train[pick], words[pick]
    if s.aug_copies:  # another microphone, room and speaker (picoml.data.speech.augment_clip), cached
        aug = augmented_features(ds, s.aug_copies, s.seed)
        q_train, words = np.concatenate([q_train, aug.x]), np.concatenate([words, aug.y])
    return KwsData(dequantize_features(q_train), torch.from_numpy(to_micro_speech(words)),
                   torch.from_numpy(np.asarray(words, np.int64)), q_train,
                   dequantize_features(f.val.x), torch.from_numpy(to_micro_speech(f.val.y)),
                   dequantize_features(f.test.x), torch.from_numpy(to_micro_speech(f.test.y)), f.test.x, ds.key)


def augment(q: np.ndarray, rng: np.random.Generator, shift: int) -> torch.Tensor:
    """A randomly shifted, masked and offset copy of int8 feature codes [N, 49, 40], as model input."""
    n, t, c = q.shape
    codes = q.astype(np.int16) + 128                      # 0..255
    k = rng.integers(-shift, shift + 1, n) if shift else np.zeros(n, np.int64)
    idx = np.clip(np.arange(t)[None, :] - k[:, None], 0, t - 1)   # edge frames repeated
    codes = np.take_along_axis(codes, idx[:, :, None], axis=1)
    t0, tw = rng.integers(0, t, n), rng.integers(0, 5, n)
    f0, fw = rng.integers(0, c, n), rng.integers(0, 5, n)
    tmask = (np.arange(t)[None, :] >= t0[:, None]) & (np.arange(t)[None, :] < (t0 + tw)[:, None])
    fmask = (np.arange(c)[None, :] >= f0[:, None]) & (np.arange(c)[None, :] < (f0 + fw)[:, None])
    codes = np.where(tmask[:, :, None] | fmask[:, None, :], 0, codes)
    codes = np.clip(codes + rng.integers(-6, 7, n)[:, None, None] * (codes > 0), 0, 255)
    return dequantize_features((codes - 128).astype(np.int8))


class WordHead(nn.Module):
    """An auxiliary classifier of the dataset's 12 labels (silence, unknown and each of the 10
    keywords) on the pooled features that feed ``model``'s last linear layer, trained alongside
    it during float training and then dropped (the deployed model keeps its 4 outputs).

    Why: "unknown" lumps 8 keywords and 37 other words into one class, 9x the size of "yes"; with
    only the 4 labels a network may learn "yes" as whatever is not one of those words, and a
    real voice unlike the synthetic ones then falls into "unknown". Telling the words apart
    makes it learn each word's own features. Measured on TFLM's real yes/no recordings (PyTorch
    QAT, width 0.5, 2 augmented copies; P(yes) at shifts -4/0/+4 frames): seed 0 0.85/0.85/0.50
    without, 0.88/0.84/0.70 with; seed 2 0.54/0.56/0.48 without, 0.87/0.88/0.71 with."""

    def __init__(self, model: nn.Module, words: int = len(WORDS)) -> None:
        super().__init__()
        last = [m for m in model.modules() if isinstance(m, nn.Linear)][-1]
        self.linear = nn.Linear(last.in_features, words)
        self._pooled: Optional[torch.Tensor] = None
        self._hook = last.register_forward_hook(self._keep)

    def _keep(self, module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        self._pooled = inputs[0]

    def loss(self, words: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        """Weighted cross-entropy of the 12 words on the features of the model's last forward."""
        if self._pooled is None:
            raise RuntimeError("WordHead.loss: run the model forward first")
        return F.cross_entropy(self.linear(self._pooled), words, weight=weight)

    def remove(self) -> None:
        """Detach from the model (its forward no longer feeds this head)."""
        self._hook.remove()
        self._pooled = None


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch: int = 512) -> float:
    """Top-1 accuracy of ``model`` in eval mode."""
    model.eval()
    with torch.no_grad():
        pred = torch.cat([model(x[i:i + batch]).argmax(1) for i in range(0, len(y), batch)])
    return float((pred == y).float().mean())


def fit(model: nn.Module, opt: Any, data: KwsData, epochs: int, s: TrainSettings, progress: Any = None,
        label: str = "", on_epoch: Optional[Callable[[int], None]] = None, words: Optional[WordHead] = None) -> None:
    """Weighted cross-entropy on augmented batches (plus ``s.word_weight`` times the
    ``words`` head's loss when given); one progress tick per batch, the validation accuracy
    (unseen voices) shown after every epoch."""
    rng = np.random.default_rng(s.seed + len(label))
    n = len(data.y_train)
    steps = (n + s.batch - 1) // s.batch
    task = progress.add_task(label, total=epochs * steps, acc="") if progress is not None else None
    weights, word_weights = data.class_weights(s.unknown_weight), data.word_weights()
    for epoch in range(epochs):
        model.train()
        order = rng.permutation(n)
        for i in range(0, n, s.batch):
            idx = order[i:i + s.batch]
            x = augment(data.q_train[idx], rng, s.shift)
            loss = F.cross_entropy(model(x), data.y_train[idx], weight=weights)
            if words is not None:
                loss = loss + s.word_weight * words.loss(data.words_train[idx], word_weights)
            opt.zero_grad()
            loss.backward()
            opt.step()
            if task is not None:
                progress.advance(task)
        if on_epoch is not None:
            on_epoch(epoch)
        if task is not None:
            progress.update(task, acc=f"val {accuracy(model, data.x_val, data.y_val):.1%}")


def _with(model: nn.Module, words: Optional[WordHead]) -> nn.Module:
    """The model, plus the word head when there is one (for the optimizer's parameters)."""
    return model if words is None else nn.ModuleList([model, words])


def train_int8(data: KwsData, s: TrainSettings, progress: Any = None) -> tuple[nn.Module, float, float]:
    """Float DS-CNN, then QAT fine tuning; (QAT model, float test acc, fake-quant test acc)."""
    torch.manual_seed(s.seed)
    model = int8_ds_cnn(len(LABELS), s.int8_width, s.blocks)
    words = WordHead(model) if s.word_weight else None
    opt = torch.optim.Adam(_with(model, words).parameters(), 3e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(1, s.float_epochs))
    fit(model, opt, data, s.float_epochs, s, progress, "DS-CNN int8: float training", lambda e: sched.step(), words)
    if words is not None:
        words.remove()
    float_acc = accuracy(model, data.x_test, data.y_test)
    qat = int8_ds_cnn(len(LABELS), s.int8_width, s.blocks, qat=True)
    qat.load_state_dict(model.state_dict(), strict=False)   # fake quantizers keep fresh observers
    fit(qat, torch.optim.Adam(qat.parameters(), 1e-4), data, s.qat_epochs, s, progress,
        "DS-CNN int8: quantization-aware")
    return qat, float_acc, accuracy(qat, data.x_test, data.y_test)


def train_binary(data: KwsData, s: TrainSettings, progress: Any = None) -> tuple[nn.Module, float, float]:
    """Binary DS-CNN with Bop + Adam, then int8 QAT of the rest; (model, float acc, QAT acc)."""
    torch.manual_seed(s.seed)
    model = binary_ds_cnn(len(LABELS), s.binary_width, s.blocks)
    words = WordHead(model) if s.word_weight else None
    opt = bop_and_adam(_with(model, words), threshold=1e-6, gamma=1e-3, lr=3e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt.optimizers[1], max(1, s.binary_epochs))
    fit(model, opt, data, s.binary_epochs, s, progress, "DS-CNN binary: Bop + Adam", lambda e: sched.step(), words)
    if words is not None:
        words.remove()
    float_acc = accuracy(model, data.x_test, data.y_test)
    qat = binary_ds_cnn(len(LABELS), s.binary_width, s.blocks, qat=True)
    qat.load_state_dict(model.state_dict(), strict=False)
    fit(qat, bop_and_adam(qat, threshold=1e-6, gamma=1e-4, lr=1e-4), data, s.binary_qat_epochs, s, progress,
        "DS-CNN binary: quantization-aware")
    return qat, float_acc, accuracy(qat, data.x_test, data.y_test)
