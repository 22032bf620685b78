"""The null test: could the recommended method's CV score have come from data without membership signal?

Statistic: ``T`` = the best mean-over-folds MCC among the candidate methods, i.e. the recommended
method's score. Null: the used / not-used labels carry no information about the images, so any
assignment of the labels to the groups is as likely as the observed one. A permutation moves the
label vectors of whole groups (sibling groups; images when folding by image) among groups of the
same size, so siblings stay together and every fold keeps its images. For each permutation every
candidate is scored again against the permuted labels and the best is re-selected, so the test
accounts for the choice among methods (Ojala & Garriga 2010, with the selection inside):

    p = (1 + #{permutations with T_perm >= T}) / (1 + permutations)

What is refitted under each permutation:
- label-free methods (``sim-*`` rules that read no label, on a label-free representation): nothing;
  their answers do not depend on labels, so keeping them is exact;
- methods that fit labels on a label-free representation (``sim-*/threshold``, ``sim-*/features``,
  classifiers on ``raw`` pixels): the rule or classifier is refitted on each fold's permuted
  training labels (cheap: the similarities are computed once);
- methods whose extractor reads labels (Vector-Net, the DAEs): the extractor is retrained on each
  fold's permuted labels, then the method refitted (``--null-refits N`` permutations, a whole CV
  each). Keeping their answers and permuting only the labels would be cheap but is not valid:
  ``benchmarks/null_level.py`` measured 5.5-9.5% rejections at alpha 0.05 on signal-free data, so
  ``trainprint.evaluation.verdict`` leaves these methods out of the recommendation unless they are
  retrained.

The verdict is ``evidence of membership`` when p < alpha (0.05), ``no evidence of membership``
otherwise.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from trainprint.evaluation.selection import HeldOut, fold_mcc

ALPHA = 0.05
PERMUTATIONS = 200
EVIDENCE, NO_EVIDENCE, NOT_TESTED = "evidence of membership", "no evidence of membership", "not tested"

#: refits answers on permuted labels: (y of the fold's training images) -> predictions of its test images
Refit = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class FoldRefit:
    """How to answer one fold again under other labels: positions (into the real images) of its
    training and test images, and the refit."""

    train: np.ndarray
    test: np.ndarray
    refit: Refit


def permute_within_sizes(y: np.ndarray, units: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``y`` (n,) with the label vectors of whole units (``units`` (n,) ints) moved among units of
    the same size."""
    out = y.copy()
    members = [np.flatnonzero(units == u) for u in range(int(units.max()) + 1)]
    by_size: dict[int, list[np.ndarray]] = {}
    for idx in members:
        by_size.setdefault(len(idx), []).append(idx)
    for same in by_size.values():
        if len(same) < 2:
            continue
        vectors = [y[idx] for idx in same]
        for idx, j in zip(same, rng.permutation(len(same))):
            out[idx] = vectors[j]
    return out


def permutation_test(held: HeldOut, groups: np.ndarray | None, refits: Mapping[int, Sequence[FoldRefit]], *,
                     permutations: int = PERMUTATIONS, seed: int = 0, alpha: float = ALPHA) -> dict[str, Any]:
    """The null test of the best candidate's mean fold MCC (see the module docstring).

    ``refits[j]``: for candidate ``j`` of ``held.methods``, how to answer each fold again under
    permuted labels; candidates without an entry keep their out-of-fold answers."""
    k = held.n_folds
    observed = float(fold_mcc(held.y, held.pred, held.fold, k).mean(1).max())
    units = np.arange(len(held.y)) if groups is None else np.unique(np.asarray(groups), return_inverse=True)[1]
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0x4E55]))
    null = np.empty(permutations)
    for p in range(permutations):
        y = permute_within_sizes(held.y, units, rng)
        pred = held.pred
        if refits:
            pred = pred.copy()
            for j, folds in refits.items():
                for f in folds:
                    pred[j, f.test] = f.refit(y[f.train])
        null[p] = fold_mcc(y, pred, held.fold, k).mean(1).max()
    p_value = (1.0 + float(np.sum(null >= observed - 1e-12))) / (1.0 + permutations) if permutations else float("nan")
    verdict = NOT_TESTED if not permutations else (EVIDENCE if p_value < alpha else NO_EVIDENCE)
    refitted = [held.methods[j] for j in sorted(refits)]
    return {
        "test": "label permutation among groups of equal size, best candidate re-selected in every permutation",
        "statistic": "best mean fold MCC among the candidates (the recommended method's)",
        "observed": round(observed, 6),
        "permutations": int(permutations),
        "null_median": round(float(np.median(null)), 6) if permutations else None,
        "null_95th": round(float(np.percentile(null, 95)), 6) if permutations else None,
        "p_value": round(p_value, 6) if permutations else None,
        "alpha": alpha,
        "verdict": verdict,
        "unit": "image" if groups is None else "group",
        "refitted": refitted,
        "kept_answers": [m for j, m in enumerate(held.methods) if j not in refits],
    }
