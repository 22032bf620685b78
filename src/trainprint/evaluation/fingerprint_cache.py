"""Fitting an extractor for a fold and keeping its fingerprints in the run folder.

``fingerprints/<tag>/<extractor>.npz`` (``ids``, ``split``, ``source``, ``X``) lets a resumed run
skip the fit; ``raw`` (the pixels themselves) is recomputed, never saved.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from trainprint.core import files
from trainprint.data.imageset import ImageSet
from trainprint.extractors.registry import make_extractor, run_params

NOT_CACHED = ("raw",)  # extractors whose output is the pixels themselves: recomputed, not saved


def fingerprints(name: str, images: ImageSet, fit_pixels: np.ndarray, fit_split: np.ndarray,
                 cache: Path | None, source: np.ndarray | None = None, **params: Any) -> np.ndarray:
    """Fit extractor ``name`` on ``(fit_pixels, fit_split)``, return its output for every image of
    ``images`` ((N, D), or (N, H, W) for ``raw``), cached in ``cache`` (an .npz with ``ids``,
    ``split``, ``source`` (N,) per image, default ``images.source``, and ``X``) when given."""
    if cache is not None and cache.exists() and name not in NOT_CACHED:
        z = files.load_npz(cache)
        if np.array_equal(z["ids"], images.ids) and np.array_equal(z["split"], images.split):
            return z["X"]
    ext = make_extractor(name, **run_params(name, **params))
    X = ext.fit(fit_pixels, fit_split).transform(images.pixels)
    if cache is not None and name not in NOT_CACHED:
        source = np.full(len(images), images.source) if source is None else np.asarray(source).astype(str)
        files.save_npz(cache, ids=images.ids, split=images.split, source=source, X=np.asarray(X, dtype=np.float32))
    return X
