"""Fingerprint files: the ``(N, D)`` vectors of every image with its id, split and source.

``RUN_DIR/fingerprints.npz`` (loads with ``allow_pickle=False``):

    ids     (N,) unicode   image id (file name without extension)
    split   (N,) unicode   generated | real_used | real_not_used | real_unknown
    source  (N,) unicode   dev | test
    X       (N, D) float32 one fingerprint per row
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from trainprint.core.errors import TrainprintError
from trainprint.data.imageset import ALL_SPLITS, ImageSet
from trainprint.core.files import load_npz, save_npz
from trainprint.extractors.base import FingerprintExtractor

FINGERPRINTS = "fingerprints.npz"


@dataclass(frozen=True, eq=False)
class Fingerprints:
    """The arrays of ``fingerprints.npz`` (see the module docstring for shapes)."""

    ids: np.ndarray
    split: np.ndarray
    source: np.ndarray
    X: np.ndarray

    def __post_init__(self) -> None:
        n = len(self.ids)
        if self.split.shape != (n,) or self.source.shape != (n,) or self.X.ndim != 2 or len(self.X) != n:
            raise TrainprintError(
                f"fingerprints: ids {self.ids.shape}, split {self.split.shape}, source {self.source.shape} "
                f"and X {self.X.shape} must be (N,), (N,), (N,) and (N, D)"
            )
        bad = sorted(set(np.unique(self.split).tolist()) - set(ALL_SPLITS))
        if bad:
            raise TrainprintError(f"fingerprints: unknown split names {bad}; expected {ALL_SPLITS}")

    def __len__(self) -> int:
        return len(self.ids)


def save_fingerprints(path: str | Path, fp: Fingerprints) -> Path:
    """Write ``fp`` atomically as unicode arrays and float32 ``X``."""
    return save_npz(
        path, ids=fp.ids.astype(str), split=fp.split.astype(str), source=fp.source.astype(str),
        X=np.ascontiguousarray(fp.X, dtype=np.float32),
    )


def load_fingerprints(path: str | Path) -> Fingerprints:
    """Read and check a ``fingerprints.npz``; a missing or malformed file is a TrainprintError."""
    path = Path(path)
    if path.is_dir():
        path = path / FINGERPRINTS
    if not path.is_file():
        raise TrainprintError(f"{path}: no fingerprints file (run `trainprint fit` first)")
    try:
        arrays = load_npz(path)
    except Exception as e:  # numpy raises several types for a damaged file
        raise TrainprintError(f"{path}: not a readable .npz file ({type(e).__name__}: {e})") from e
    missing = sorted({"ids", "split", "source", "X"} - set(arrays))
    if missing:
        raise TrainprintError(f"{path}: missing arrays {missing}; expected ids, split, source, X")
    return Fingerprints(arrays["ids"], arrays["split"], arrays["source"], arrays["X"].astype(np.float32))


def fingerprints_of(extractor: FingerprintExtractor, images: ImageSet) -> Fingerprints:
    """Embed an ImageSet with a fitted extractor: ``(N, D)`` float32 rows in the set's order."""
    X = np.asarray(extractor.transform(images.pixels), dtype=np.float32)
    X = X.reshape(len(X), -1)
    return Fingerprints(images.ids, images.split, np.full(len(images), images.source or "dev"), X)
