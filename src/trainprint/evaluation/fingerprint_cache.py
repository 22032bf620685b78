"""Fitting an extractor for a fold and keeping its fingerprints in the run folder.

``fingerprints/<tag>/<extractor>.npz`` (``ids``, ``split``, ``source``, ``X``) lets a resumed run
skip the fit; ``raw`` (the pixels themselves) is recomputed, never saved.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np

from trainprint.core import files
from trainprint.data.imageset import ImageSet
from trainprint.extractors.registry import make_extractor, run_params

NOT_CACHED = ("raw",)  # extractors whose output is the pixels themselves: recomputed, not saved


#: run parameters that do not change an extractor's output (where it writes logs, progress bars)
NOT_IN_KEY = ("run_dir", "progress")


def cache_key(name: str, images: ImageSet, fit_pixels: np.ndarray, fit_split: np.ndarray,
              params: dict[str, Any]) -> str:
    """What a cached fingerprint file must have been made from: the extractor, its parameters, the
    images it was fitted on (pixels and split names, so the labels it saw) and the images it
    embedded (ids, split, pixels). Any change gives another key."""
    h = hashlib.sha256()
    settings = {k: v for k, v in run_params(name, **params).items() if k not in NOT_IN_KEY}
    h.update(json.dumps([name, sorted(settings.items())], default=str).encode())
    for arr in (fit_pixels, fit_split.astype(str), images.ids, images.split, images.pixels):
        a = np.ascontiguousarray(arr)
        h.update(str((a.shape, a.dtype.str)).encode())
        h.update(a.tobytes())
    return h.hexdigest()


def fingerprints(name: str, images: ImageSet, fit_pixels: np.ndarray, fit_split: np.ndarray,
                 cache: Path | None, source: np.ndarray | None = None, **params: Any) -> np.ndarray:
    """Fit extractor ``name`` on ``(fit_pixels, fit_split)``, return its output for every image of
    ``images`` ((N, D), or (N, H, W) for ``raw``), cached in ``cache`` (an .npz with ``ids``,
    ``split``, ``source`` (N,) per image, default ``images.source``, ``X`` and ``key``) when given.

    A cached file is used only when its ``key`` (``cache_key``) is this call's: a changed setting,
    other training images or other labels never reuse stale fingerprints."""
    key = cache_key(name, images, fit_pixels, fit_split, params)
    if cache is not None and cache.exists() and name not in NOT_CACHED:
        z = files.load_npz(cache)
        if "key" in z and str(z["key"]) == key:
            return z["X"]
    ext = make_extractor(name, **run_params(name, **params))
    X = ext.fit(fit_pixels, fit_split).transform(images.pixels)
    if cache is not None and name not in NOT_CACHED:
        source = np.full(len(images), images.source) if source is None else np.asarray(source).astype(str)
        files.save_npz(cache, ids=images.ids, split=images.split, source=source, X=np.asarray(X, dtype=np.float32),
                       key=np.array(key))
    return X
