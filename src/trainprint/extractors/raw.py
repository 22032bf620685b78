"""``raw``: no training; the pixels themselves, scaled to [0, 1], for the pixel-space similarities."""

from __future__ import annotations

import numpy as np

from trainprint.extractors.base import FingerprintExtractor


class RawExtractor(FingerprintExtractor):
    """Identity extractor: ``transform`` returns (N, H, W) float32 pixels in [0, 1]."""

    uses_labels = False

    def _fit(self, X: np.ndarray, y: np.ndarray) -> None:
        pass

    def _transform(self, X: np.ndarray) -> np.ndarray:
        return X.astype(np.float32) / 255.0
