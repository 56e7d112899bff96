"""The 8x8 handwritten digits (UCI ML hand-written digits, 1,797 images of 10 classes), as
shipped inside scikit-learn, upsampled for small CNNs.

scikit-learn (pinned in requirements-lock.txt) keeps the data in its package as
``sklearn/datasets/data/digits.csv.gz``: 64 pixel values (0..16) and a label per row. It is
read directly, without importing scikit-learn (and SciPy); if that file ever moves, the loader
falls back to ``sklearn.datasets.load_digits``. Nothing is downloaded.
"""
from __future__ import annotations

import gzip
import importlib.util
import os
from dataclasses import dataclass

import numpy as np

from picoml.errors import PicomlError

CLASSES = tuple(str(d) for d in range(10))


@dataclass
class Split:
    """Images ``x`` (float32 NCHW in [0, 1]) and labels ``y`` (int64)."""

    x: np.ndarray
    y: np.ndarray

    def __len__(self) -> int:
        return len(self.y)


def _raw() -> tuple[np.ndarray, np.ndarray]:
    """The 1,797 images [N, 8, 8] (0..16) and labels."""
    spec = importlib.util.find_spec("sklearn")
    if spec is None or not spec.submodule_search_locations:
        raise PicomlError("the built-in digits dataset comes with scikit-learn: pip install scikit-learn==1.9.1")
    path = os.path.join(list(spec.submodule_search_locations)[0], "datasets", "data", "digits.csv.gz")
    if os.path.exists(path):
        with gzip.open(path, "rt") as f:
            table = np.loadtxt(f, delimiter=",", dtype=np.float64)
        return table[:, :64].reshape(-1, 8, 8), table[:, 64].astype(np.int64)
    from sklearn.datasets import load_digits  # pragma: no cover - only if scikit-learn moves the file

    d = load_digits()
    return d.images.astype(np.float64), d.target.astype(np.int64)


def resize_bilinear(images: np.ndarray, size: int) -> np.ndarray:
    """Bilinear resize of [N, H, W] images to [N, size, size] (pixel centres aligned, like
    ``F.interpolate(..., align_corners=False)``)."""
    def weights(n_in: int) -> np.ndarray:
        pos = np.clip((np.arange(size) + 0.5) * n_in / size - 0.5, 0, n_in - 1)
        lo = np.floor(pos).astype(int)
        hi = np.minimum(lo + 1, n_in - 1)
        m = np.zeros((size, n_in))
        np.add.at(m, (np.arange(size), lo), 1 - (pos - lo))
        np.add.at(m, (np.arange(size), hi), pos - lo)
        return m

    wh, ww = weights(images.shape[1]), weights(images.shape[2])
    return np.einsum("ih,nhw,jw->nij", wh, images, ww)


def load_digits(size: int = 16, test_fraction: float = 0.2, seed: int = 0) -> tuple[Split, Split]:
    """(train, test) splits of the digits, upsampled to ``size`` x ``size`` and scaled to [0, 1].

    The split is stratified-free but seeded: the same ``seed`` always gives the same samples."""
    if size < 1 or not 0 < test_fraction < 1:
        raise ValueError(f"load_digits: size must be >= 1 and test_fraction in (0, 1), got {size}, {test_fraction}")
    images, labels = _raw()
    x = resize_bilinear(images / 16.0, size).astype(np.float32)[:, None]
    order = np.random.default_rng(seed).permutation(len(labels))
    n_test = int(round(len(labels) * test_fraction))
    test, train = order[:n_test], order[n_test:]
    return Split(x[train], labels[train]), Split(x[test], labels[test])
