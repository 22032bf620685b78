"""Folds of the real images: stratified K-fold, or grouped so one patient's images share a fold."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

from trainprint.core import files
from trainprint.core.errors import TrainprintError


def make_folds(y: np.ndarray, n_folds: int, seed: int,
               groups: np.ndarray | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
    """Stratified folds of the real images: ``(train_idx, test_idx)`` into ``y`` (n,) 0/1.

    With ``groups`` ((n,) labels, e.g. patient ids) no group is split across folds
    (``StratifiedGroupKFold``): sibling slices of one patient never sit on both sides of a fold.
    """
    y = np.asarray(y, dtype=np.int64)
    if groups is None:
        counts = np.bincount(y, minlength=2)
        unit = "images"
    else:
        counts = np.array([len(np.unique(groups[y == c])) for c in (0, 1)])
        unit = "groups"
    if counts.min() < n_folds:
        raise TrainprintError(
            f"{n_folds}-fold CV needs at least {n_folds} {unit} of each class; "
            f"got {counts[1]} real_used and {counts[0]} real_not_used (use --folds)"
        )
    if groups is None:
        skf = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed)
        return [(tr, te) for tr, te in skf.split(np.zeros((len(y), 1)), y)]
    sgkf = StratifiedGroupKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    return [(tr, te) for tr, te in sgkf.split(np.zeros((len(y), 1)), y, groups)]


def read_groups(path: str | Path, ids: np.ndarray) -> np.ndarray:
    """The group of each of ``ids`` from a CSV with an ``id`` column and a ``group`` (or
    ``patient``) column, as an (n,) unicode array. Every id must have a group."""
    path = Path(path)
    if not path.is_file():
        raise TrainprintError(f"--groups {path}: file not found")
    rows = files.read_csv(path)
    column = next((c for c in ("group", "patient") if rows and c in rows[0]), None)
    if not rows or "id" not in rows[0] or column is None:
        raise TrainprintError(f"--groups {path}: expected a CSV header with columns id and group (or patient)")
    table = {r["id"]: r[column] for r in rows}
    missing = [i for i in ids if i not in table]
    if missing:
        raise TrainprintError(f"--groups {path}: no group for {len(missing)} image(s), e.g. {str(missing[0])!r}")
    return np.array([table[i] for i in ids])
