"""Distances and vectors of a similarity space, for the membership-inference scores.

Every space of ``trainprint.similarity`` gives similarities (higher = more alike). The density
scores need distances, and the KDE / classifier scores need vectors:

    space          distance d(a, b)                    vectors (``vectors``)
    pixel          RMS difference (= -similarity)      flattened pixels
    ncc            sqrt(2 - 2 ncc): Euclidean distance of the z-scored, unit-norm images
                                                       those unit vectors
    ssim           1 - SSIM (a pseudo-distance)        none: SSIM has no vector form
    <extractor>    Euclidean distance (= -similarity)  the fingerprints
"""

from __future__ import annotations

import numpy as np

from trainprint.core.errors import TrainprintError
from trainprint.membership.scores import cached_pairwise

#: spaces with no vector form (KDE and the classifier need vectors)
NO_VECTORS = ("ssim",)


def to_distance(space: str, S: np.ndarray) -> np.ndarray:
    """Similarities ``S`` (any shape) of ``space`` -> float64 distances >= 0 (see the module table)."""
    S = np.asarray(S, dtype=np.float64)
    if space == "ncc":
        return np.sqrt(np.clip(2.0 - 2.0 * S, 0.0, None))
    if space == "ssim":
        return np.clip(1.0 - S, 0.0, None)
    return np.clip(-S, 0.0, None)


def distances(space: str, A: np.ndarray, B: np.ndarray, *, device: str = "cpu") -> np.ndarray:
    """(n, m) float64 distances of ``A`` (n, ...) to ``B`` (m, ...) in ``space`` (cached)."""
    return to_distance(space, cached_pairwise(space, A, B, device=device))


def vectors(space: str, X: np.ndarray) -> np.ndarray:
    """(N, D) float32 vectors of ``X`` in ``space`` whose Euclidean distances are the space's
    distances up to a constant factor; a TrainprintError for ``ssim``."""
    if space in NO_VECTORS:
        raise TrainprintError(f"space {space!r} has no vector form; the KDE and classifier scores need one "
                              "(use pixel, ncc or an extractor's fingerprints)")
    V = np.asarray(X, dtype=np.float32).reshape(len(X), -1)
    if space == "ncc":
        V = V - V.mean(axis=1, keepdims=True)
        V = V / np.maximum(np.linalg.norm(V, axis=1, keepdims=True), 1e-12)
    return V
