"""Cross-fitting over the real images: no real image is scored by a model that trained on it."""

from __future__ import annotations

import numpy as np

from trainprint.core.errors import TrainprintError


def pool_folds(n: int, n_folds: int, random_state: int, groups: np.ndarray | None = None) -> np.ndarray:
    """(n,) int64 fold of each of ``n`` real images: a seeded random split into ``min(n_folds, n)``
    folds of near-equal size. ``groups`` (n,): sibling groups, which then share a fold (the groups
    are split, in ``min(n_folds, number of groups)`` folds), so no image is scored by a model that
    trained on its siblings. Without groups the folds are those of every image alone."""
    if int(n_folds) < 2:
        raise TrainprintError(f"cross-fitting: n_folds={n_folds} must be >= 2")
    if n < 2:
        raise TrainprintError(f"cross-fitting needs at least 2 real images, got {n}")
    rng = np.random.default_rng(np.random.SeedSequence([int(random_state), 0x4D4941]))
    if groups is None:
        k = min(int(n_folds), n)
        return (rng.permutation(n) % k).astype(np.int64)
    labels, index = np.unique(np.asarray(groups).astype(str), return_inverse=True)
    if len(labels) < 2:
        raise TrainprintError(f"cross-fitting needs real images of at least 2 sibling groups, got {n} images of one")
    k = min(int(n_folds), len(labels))
    return (rng.permutation(len(labels)) % k).astype(np.int64)[index.ravel()]


def row_keys(X: np.ndarray) -> list[bytes]:
    """One key per row of ``X`` (its exact content), to find a scored image in the fitted pool."""
    return [row.tobytes() for row in np.ascontiguousarray(X).reshape(len(X), -1)]
