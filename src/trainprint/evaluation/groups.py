"""Sibling groups of the real images: which images must share a fold.

Slices of one CT volume (or frames of one study) are near-duplicates of each other. If siblings sit
on both sides of a fold, a classifier that only learns "which patient" scores well in CV and fails
on new patients. The ImageCLEF task gives no patient ids, so by default the groups are inferred
from the images alone, without any label (``--groups auto``):

1. ``S`` = similarity of every pair of real images in ``space`` (default ``pixel``: -RMS difference).
2. Each row is standardised robustly: ``z_ij = (S_ij - median_j S_ij) / (1.4826 MAD_j S_ij)``, i.e.
   how exceptional image j is among image i's similarities to the other real images.
3. Images i and j are linked when one is among the other's ``k`` most similar images (default 2) and
   the link is exceptional from both sides: ``min(z_ij, z_ji) >= z``.
4. The groups are the connected components of the links (an image with no link is its own group).

``z`` defaults to what the best of n - 1 unrelated images reaches by chance only ``alpha`` times per
image (0.5): ``z = Phi^-1(1 - alpha / (n - 1))`` for n real images (2.49 for 80, 2.73 for 160, 3.29
for 1,000), so the rule does not link more unrelated images as n grows; ``--group-z`` sets it
directly. A sibling is a near neighbour, so the top-``k`` condition keeps chance links out, which
lets ``z`` be low enough to link most siblings: a patient split across folds leaks, a false merge
only costs a unit. Measured (docs/evaluation.md) on the demo's phantoms over 10 seeds: adjusted
Rand index 0.89-1.00 against the true patients, 15 of 160 patients split, no group mixing two
patients; on cxrmem64 (one image per patient) 148 of 160 images stay singletons, no group
holds more than 2.

Where the files name the patient of every real image (DICOM series: PatientID, else
StudyInstanceUID; NIfTI volumes: the file), ``--groups auto`` uses those patients instead of
inferring (source ``patients named by the files`` in run.json and the notes); inference stays the
fallback for 2-D image files.

``--groups FILE`` reads known groups (columns ``id`` and ``group`` or ``patient``); ``--groups none``
folds by image. Either way the groups used are written to ``groups.csv`` of the run folder.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy.sparse import csr_matrix
from scipy.stats import norm
from scipy.sparse.csgraph import connected_components

from trainprint.core import files
from trainprint.core.errors import TrainprintError
from trainprint.evaluation.folds import read_groups
from trainprint.similarity import PIXEL_SPACES, pairwise

GROUPS_FILE = "groups.csv"
AUTO, NONE = "auto", "none"
#: ``--groups auto`` where the files name every image's patient (DICOM series, NIfTI volumes)
PATIENTS = "patients named by the files"
PATIENTS_RULE = ("auto: one group per patient the files name (DICOM PatientID, else StudyInstanceUID; NIfTI: "
                 "the file)")


@dataclass(frozen=True)
class GroupRule:
    """How sibling groups are inferred (``--groups auto``)."""

    space: str = "pixel"  # similarity space of the real images: pixel | ncc | ssim
    z: float | None = None  # a link needs a robust z-score >= z from both images' side; None: from alpha
    k: int = 2  # ... and one image among the other's k most similar
    alpha: float = 0.5  # with z None: chance links per image the threshold allows

    def threshold(self, n: int) -> float:
        """The z a link needs among ``n`` real images."""
        if self.z is not None:
            return float(self.z)
        return float(norm.ppf(1.0 - self.alpha / max(n - 1, 1)))

    def check(self) -> "GroupRule":
        if self.space not in PIXEL_SPACES:
            raise TrainprintError(f"--group-space {self.space!r}: expected one of {', '.join(PIXEL_SPACES)}")
        if self.z is not None and not self.z > 0:
            raise TrainprintError(f"--group-z {self.z}: expected a number > 0")
        if not 0 < self.alpha < 1:
            raise TrainprintError(f"group alpha {self.alpha}: expected a number between 0 and 1")
        if self.k < 1:
            raise TrainprintError(f"--group-k {self.k}: expected a whole number >= 1")
        return self

    def describe(self, n: int) -> str:
        how = (f"z >= {self.threshold(n):.3g}" if self.z is not None else
               f"z >= {self.threshold(n):.3g}, reached by chance {self.alpha:g} times per image among {n}")
        return (f"inferred without labels: images linked when one is among the other's {self.k} most similar "
                f"({self.space}) and the similarity is an outlier (robust {how}) among both images' "
                "similarities to the other real images; groups = connected components")


def robust_z(S: np.ndarray) -> np.ndarray:
    """(n, n) similarities -> (n, n) robust z-scores of each row (diagonal NaN)."""
    S = np.array(S, dtype=np.float64)
    np.fill_diagonal(S, np.nan)
    med = np.nanmedian(S, axis=1, keepdims=True)
    mad = 1.4826 * np.nanmedian(np.abs(S - med), axis=1, keepdims=True)
    return (S - med) / np.maximum(mad, 1e-12)


def infer_groups(pixels: np.ndarray, rule: GroupRule = GroupRule(), *, device: str = "cpu") -> np.ndarray:
    """(n,) int64 group of each of ``pixels`` (n, H, W) uint8 real images (no label is read)."""
    rule.check()
    n = len(pixels)
    if n < 3:
        return np.arange(n, dtype=np.int64)
    X = pixels.astype(np.float32) / 255.0
    z = robust_z(pairwise(rule.space, X, X, device=device))
    mutual = np.nan_to_num(np.minimum(z, z.T), nan=-np.inf)  # (n, n), diagonal -inf
    near = np.zeros((n, n), dtype=bool)
    np.put_along_axis(near, np.argsort(-mutual, axis=1, kind="stable")[:, : rule.k], True, axis=1)
    links = (near | near.T) & (mutual >= rule.threshold(n))
    _, labels = connected_components(csr_matrix(links), directed=False)
    return _renumber(labels)


def _renumber(labels: np.ndarray) -> np.ndarray:
    """Groups numbered by first appearance, 0, 1, 2, ..."""
    _, first, inverse = np.unique(labels, return_index=True, return_inverse=True)
    order = np.argsort(np.argsort(first))
    return order[inverse].astype(np.int64)


def group_summary(groups: np.ndarray) -> dict[str, Any]:
    """Counts a reader wants: how many groups, how many singletons, the largest, sizes -> count."""
    sizes = Counter(Counter(groups.tolist()).values())
    return {"n_images": int(len(groups)), "n_groups": int(len(set(groups.tolist()))),
            "singletons": int(sizes.get(1, 0)), "largest": int(max(sizes)) if sizes else 0,
            "sizes": {str(k): int(v) for k, v in sorted(sizes.items())}}


def resolve_groups(choice: str | None, ids: np.ndarray, pixels: np.ndarray, rule: GroupRule, *,
                   device: str = "cpu", patients: np.ndarray | None = None) -> tuple[np.ndarray | None, dict[str, Any]]:
    """The groups of the real images ``ids`` (n,) / ``pixels`` (n, H, W) for ``--groups choice``:
    ``auto`` (the ``patients`` (n,) the files name when given, ``data.patients_of``; else
    inferred), ``none`` (``None``: folds by image) or a CSV path. Returns the groups as (n,)
    unicode and a JSON-able description (source, rule, counts) for run.json."""
    choice = AUTO if choice is None else str(choice)
    if choice == NONE:
        return None, {"source": NONE, "rule": "none: folds by image", "n_groups": int(len(ids))}
    if choice == AUTO and patients is not None:
        groups = np.asarray(patients).astype(str)
        if groups.shape != (len(ids),) or (groups == "").any():
            raise ValueError(f"resolve_groups: patients {groups.shape} must name each of the {len(ids)} images")
        return groups, {"source": PATIENTS, "rule": PATIENTS_RULE, **group_summary(groups)}
    if choice == AUTO:
        labels = infer_groups(pixels, rule, device=device)
        groups = np.array([f"g{g:04d}" for g in labels])
        info: dict[str, Any] = {"source": AUTO, "rule": rule.describe(len(ids)), "space": rule.space,
                                "z": round(rule.threshold(len(ids)), 4), "k": rule.k}
    else:
        path = Path(choice)
        groups = read_groups(path, ids)
        info = {"source": str(path.resolve()), "rule": f"read from {path}"}
    return groups, {**info, **group_summary(groups)}


def write_groups(path: Path, ids: np.ndarray, groups: np.ndarray | None) -> None:
    """``groups.csv``: ``id,group`` for every real image (its own id as group when folding by image)."""
    values = ids if groups is None else groups
    files.write_csv(path, [{"id": i, "group": g} for i, g in zip(ids, values)], ["id", "group"])
