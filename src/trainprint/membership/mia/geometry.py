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

from trainprint.membership.scores import cached_pairwise
from trainprint.similarity.spaces import SPACES, space_of

#: spaces with no vector form (KDE and the classifier need vectors)
NO_VECTORS: tuple[str, ...] = tuple(name for name, sp in SPACES.items() if not sp.has_vectors)


def to_distance(space: str, S: np.ndarray) -> np.ndarray:
    """Similarities ``S`` (any shape) of ``space`` -> float64 distances >= 0 (see the module table)."""
    return space_of(space).distance(S)


def distances(space: str, A: np.ndarray, B: np.ndarray, *, device: str = "cpu") -> np.ndarray:
    """(n, m) float64 distances of ``A`` (n, ...) to ``B`` (m, ...) in ``space`` (cached)."""
    return to_distance(space, cached_pairwise(space, A, B, device=device))


def vectors(space: str, X: np.ndarray) -> np.ndarray:
    """(N, D) float32 vectors of ``X`` (N, ...) in ``space`` whose Euclidean distances are the
    space's distances up to a constant factor; a TrainprintError for ``ssim``."""
    return space_of(space).vectors(X)
