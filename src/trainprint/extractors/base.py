"""The one contract every fingerprint extractor follows (scikit-learn transformer style).

    extractor.fit(X, y)      X: (N, H, W) uint8 images, y: (N,) split names
                             ("generated", "real_used", "real_not_used", "real_unknown")
    extractor.transform(X)   -> (N, D) float32 fingerprints (for ``raw``: (N, H, W) float32)

Parameters are keyword arguments stored verbatim in ``__init__``; learned state ends in ``_``;
randomness comes from ``random_state``. Subclasses implement ``_fit`` and ``_transform``; the
public methods do the checks, so every extractor reports bad input the same way.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from trainprint.core.errors import TrainprintError
from trainprint.data.imageset import ALL_SPLITS


class FingerprintExtractor(TransformerMixin, BaseEstimator):
    """Base class: validates inputs, then calls ``_fit`` / ``_transform``."""

    #: whether ``fit`` reads the used / not-used labels (then strict CV must refit it per fold)
    uses_labels: bool = True

    def fit(self, X: np.ndarray, y: np.ndarray | None = None) -> "FingerprintExtractor":
        X = check_images(X)
        if y is None:
            raise TrainprintError(f"{type(self).__name__}.fit: y (split names per image) is required")
        y = np.asarray(y).astype(str)
        if y.shape != (X.shape[0],):
            raise TrainprintError(f"{type(self).__name__}.fit: y has shape {y.shape}, expected ({X.shape[0]},)")
        bad = sorted(set(np.unique(y).tolist()) - set(ALL_SPLITS))
        if bad:
            raise TrainprintError(f"{type(self).__name__}.fit: unknown split names {bad}; expected {ALL_SPLITS}")
        self.image_size_ = int(X.shape[1])
        self._fit(X, y)
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        check_is_fitted(self, "image_size_")
        X = check_images(X)
        if X.shape[1] != self.image_size_:
            raise TrainprintError(
                f"{type(self).__name__}.transform: images are {X.shape[1]} px, "
                f"the extractor was fitted on {self.image_size_} px"
            )
        return self._transform(X)

    def _fit(self, X: np.ndarray, y: np.ndarray) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _transform(self, X: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError


def check_images(X: np.ndarray) -> np.ndarray:
    """``X`` must be (N, H, W) uint8 with H == W >= 64 and N >= 1."""
    X = np.asarray(X)
    if X.ndim != 3:
        raise TrainprintError(f"images: expected an (N, H, W) array, got shape {X.shape}")
    if X.dtype != np.uint8:
        raise TrainprintError(f"images: expected uint8 pixels, got {X.dtype}")
    if X.shape[0] == 0:
        raise TrainprintError("images: got 0 images")
    if X.shape[1] != X.shape[2] or X.shape[1] < 64:
        raise TrainprintError(f"images: expected square images of at least 64 px, got {X.shape[1]}x{X.shape[2]}")
    return X
