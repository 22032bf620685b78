"""Patient-level scores: a generator trained on a patient or it did not, so every slice of a sibling
group shares one answer. The group's score is the mean of its slices' scores (the default; the
alternatives measured are in docs/membership.md, "Patients")."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from trainprint.core.errors import TrainprintError


@dataclass(frozen=True)
class PatientScores:
    """Scores of sibling groups.

    Attributes:
        groups: (g,) str group labels, in first-appearance order of the images.
        score: (g,) float64 mean slice score of each group (NaN slices ignored; NaN if all are).
        size: (g,) int64 number of slices of each group.
        index: (n,) int64 position in ``groups`` of each image.
    """

    groups: np.ndarray
    score: np.ndarray
    size: np.ndarray
    index: np.ndarray

    def per_image(self) -> np.ndarray:
        """(n,) float64: each image's group score."""
        return self.score[self.index]


def group_index(groups: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``groups`` (n,) labels -> (labels (g,) in first-appearance order, index (n,) into them)."""
    groups = np.asarray(groups).astype(str)
    labels, first, inverse = np.unique(groups, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")  # first-appearance order
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    return labels[order], rank[inverse.ravel()].astype(np.int64)


def patient_scores(scores: np.ndarray, groups: np.ndarray | None) -> PatientScores:
    """``scores`` (n,) of images, ``groups`` (n,) their sibling groups (None: each image alone)
    -> the ``PatientScores`` of the groups (mean slice score)."""
    scores = np.asarray(scores, dtype=np.float64)
    if groups is None:
        groups = np.array([f"#{i}" for i in range(len(scores))])
    if len(groups) != len(scores):
        raise TrainprintError(f"patient scores: {len(groups)} group labels for {len(scores)} scores")
    labels, index = group_index(np.asarray(groups))
    size = np.bincount(index, minlength=len(labels)).astype(np.int64)
    ok = np.isfinite(scores)
    total = np.bincount(index[ok], weights=scores[ok], minlength=len(labels))
    count = np.bincount(index[ok], minlength=len(labels))
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(count > 0, total / np.maximum(count, 1), np.nan)
    return PatientScores(labels, mean, size, index)


def patient_calls(preds: np.ndarray, groups: np.ndarray | None) -> np.ndarray:
    """``preds`` (n,) 0/1 answers of images, ``groups`` (n,) their sibling groups -> (n,) 0/1: each
    image's patient's call, "used" when at least half of the patient's images are answered used
    (None: each image alone, the answers unchanged)."""
    preds = np.asarray(preds, dtype=np.int64)
    if groups is None:
        return preds.copy()
    labels, index = group_index(np.asarray(groups))
    return majority(preds, index, len(labels))[index]


def majority(values: np.ndarray, index: np.ndarray, n_groups: int) -> np.ndarray:
    """``values`` (n,) 0/1 of images, ``index`` (n,) their group's row -> (n_groups,) 0/1: 1 where at
    least half of the group's images are 1 (a patient's call, or its label from its slices')."""
    share = (np.bincount(index, weights=np.asarray(values, dtype=np.float64), minlength=n_groups)
             / np.bincount(index, minlength=n_groups))
    return (share >= 0.5).astype(np.int64)
