"""Fitting an extractor for a fold and keeping its fingerprints in the run folder.

``fingerprints/<tag>/<extractor>.npz`` (``ids``, ``split``, ``source``, ``X``, ``key``) lets a
resumed run skip the fit; ``raw`` (the pixels themselves) is recomputed, never saved.

The key is what the fit read. An extractor that reads labels is keyed on the split names it is
fitted on (so another fold, other labels or a permutation refit it). An extractor that reads no
label (``uses_labels = False``: ``contrastive``) is shown only ``generated`` / ``real_unknown``
(``label_free_view``) and keyed on that, the pixels and its parameters: its fit is the same in every
fold and under every permutation of the labels, so one fit, found in any ``fingerprints/*/`` folder
of the run, serves them all (and is copied to the fold's own file).

Each file also holds ``checksum``, the SHA-256 of its other arrays (``payload_checksum``). A file
that cannot be read or whose checksum differs is damaged: one warning line names it, it is deleted
and the fingerprints are computed again (tests/test_faults.py flips its bytes).
"""

from __future__ import annotations

import hashlib
import json
import logging
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from trainprint.core import files
from trainprint.data.imageset import ImageSet
from trainprint.evaluation.protocol import label_free_view
from trainprint.extractors.registry import make_extractor, run_params

log = logging.getLogger("trainprint.evaluation.fingerprint_cache")

NOT_CACHED = ("raw",)  # extractors whose output is the pixels themselves: recomputed, not saved


#: run parameters that do not change an extractor's output (where it writes logs, progress bars)
NOT_IN_KEY = ("run_dir", "progress")


def cache_key(name: str, images: ImageSet, fit_pixels: np.ndarray, fit_split: np.ndarray,
              params: dict[str, Any], *, label_free: bool = False) -> str:
    """What a cached fingerprint file must have been made from: the extractor, its parameters, the
    images it was fitted on (pixels and split names, so the labels it saw) and the images it
    embedded (ids, split, pixels). Any change gives another key. ``label_free``: the split names
    (fitted and embedded) enter as ``label_free_view``, since that is all such an extractor reads."""
    h = hashlib.sha256()
    settings = {k: v for k, v in run_params(name, **params).items() if k not in NOT_IN_KEY}
    h.update(json.dumps([name, sorted(settings.items())], default=str).encode())
    split = images.split
    if label_free:
        h.update(b"label-free")
        fit_split, split = label_free_view(fit_split), label_free_view(split)
    for arr in (fit_pixels, np.asarray(fit_split).astype(str), images.ids, split, images.pixels):
        a = np.ascontiguousarray(arr)
        h.update(str((a.shape, a.dtype.str)).encode())
        h.update(a.data)  # the buffer itself: no copy (the generated set can be GBs)
    return h.hexdigest()


PAYLOAD = ("ids", "split", "source", "X", "key")  # the arrays under ``checksum``, in this order


def payload_checksum(arrays: dict[str, np.ndarray]) -> str:
    """SHA-256 over the shape, dtype and bytes of each ``PAYLOAD`` array of a fingerprint file."""
    h = hashlib.sha256()
    for name in PAYLOAD:
        a = np.ascontiguousarray(arrays[name])
        h.update(f"{name}{a.shape}{a.dtype.str}".encode())
        h.update(a.data)  # the buffer itself: no copy (the generated set can be GBs)
    return h.hexdigest()


def _load_checked(path: Path) -> dict[str, np.ndarray] | None:
    """The arrays of the fingerprint file ``path``, or None: when it is damaged (unreadable, an array
    missing, or its checksum not its payload's; deleted, one warning line), or holds no checksum."""
    try:
        z = files.load_npz(path)
        if "checksum" not in z and all(k in z for k in ("ids", "X")):
            return None  # fingerprints without a key (an older version's, or submit's streaming copy): recomputed
        why = "" if payload_checksum(z) == str(z["checksum"]) else "checksum mismatch"
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as e:
        why = " ".join(f"{type(e).__name__}: {e}".split())
    if not why:
        return z
    log.warning("warning: fingerprint cache %s is damaged (%s); dropped, the fingerprints are computed again",
                path, why[:200])
    path.unlink(missing_ok=True)
    return None


def _cached(cache: Path, key: str, anywhere: bool) -> tuple[np.ndarray | None, Path | None]:
    """``(X, path)`` of the file ``cache`` when its key is ``key``; with ``anywhere``, else of the
    first file of the same name in a sibling folder (``fingerprints/*/``) with that key; else
    ``(None, None)``."""
    paths = [cache] + (sorted(p for p in cache.parent.parent.glob(f"*/{cache.name}") if p != cache)
                       if anywhere else [])
    for p in paths:
        z = _load_checked(p) if p.exists() else None
        if z is not None and str(z["key"]) == key:
            return z["X"], p
    return None, None


def fingerprints(name: str, images: ImageSet, fit_pixels: np.ndarray, fit_split: np.ndarray,
                 cache: Path | None, source: np.ndarray | None = None, **params: Any) -> np.ndarray:
    """Fit extractor ``name`` on ``(fit_pixels, fit_split)``, return its output for every image of
    ``images`` ((N, D), or (N, H, W) for ``raw``), cached in ``cache`` (an .npz with ``ids``,
    ``split``, ``source`` (N,) per image, default ``images.source``, ``X`` and ``key``) when given.

    A label-free extractor is fitted on ``label_free_view(fit_split)``. A cached file is used only
    when its ``key`` (``cache_key``) is this call's: a changed setting, other training images or,
    for an extractor that reads labels, other labels never reuse stale fingerprints."""
    ext = make_extractor(name, **run_params(name, **params))
    label_free = not ext.uses_labels
    if label_free:
        fit_split = label_free_view(fit_split)
    if cache is None or name in NOT_CACHED:
        return ext.fit(fit_pixels, fit_split).transform(images.pixels)
    key = cache_key(name, images, fit_pixels, fit_split, params, label_free=label_free)
    X, found = _cached(cache, key, anywhere=label_free)
    if found == cache:
        return X
    if X is None:  # else another fold's fit serves; this fold still gets its own file (the report reads them)
        X = ext.fit(fit_pixels, fit_split).transform(images.pixels)
    source = np.full(len(images), images.source) if source is None else np.asarray(source).astype(str)
    arrays = dict(ids=images.ids, split=images.split, source=source, X=np.asarray(X, dtype=np.float32),
                  key=np.array(key))
    files.save_npz(cache, **arrays, checksum=np.array(payload_checksum(arrays)))
    return X
