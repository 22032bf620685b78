"""One fold of a cross-validation, as a pure function: representations and indices in, rows out.

Nothing here reads or writes files; ``evaluate.evaluate_images`` calls ``evaluate_fold`` once per
fold with the representations its extractors made for that fold.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from trainprint.evaluation.null import FoldRefit
from trainprint.evaluation.results import fold_row, score_rows
from trainprint.methods import MethodOptions, MethodSpec
from trainprint.scoring import POOLED_KINDS, FitView, label_refitter, score_images


def row_groups(n_rows: int, real_idx: np.ndarray, groups: np.ndarray | None) -> np.ndarray | None:
    """(N,) sibling group of every image row: ``groups`` (n_real,) at the real rows ``real_idx``, every
    other row alone; None when there are no groups (every image alone)."""
    if groups is None:
        return None
    out = np.array([f"#{i}" for i in range(n_rows)], dtype=object)
    out[real_idx] = np.asarray(groups).astype(str)
    return out.astype(str)


def fold_view(spec: MethodSpec, real_idx: np.ndarray, y: np.ndarray, train: np.ndarray, gen_idx: np.ndarray,
              groups: np.ndarray | None = None) -> FitView:
    """What ``spec`` may see in a fold: the training reals with their labels, every generated image,
    and (similarity and membership-inference methods) every real image unlabelled as the pool, with
    ``groups`` (N,) the sibling group of every image row (or None)."""
    return FitView(real=real_idx[train], y=y[train], gen=gen_idx,
                   pool=real_idx if spec.kind in POOLED_KINDS else None, groups=groups)


def run_method(spec: MethodSpec, X: np.ndarray, real_idx: np.ndarray, y: np.ndarray, train: np.ndarray,
               test: np.ndarray, gen_idx: np.ndarray, seed: int, device: str,
               options: MethodOptions = MethodOptions(), groups: np.ndarray | None = None
               ) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Fit ``spec`` on the training reals of a fold and score the held-out ones (``score_images``).

    ``X`` (N, ...) is the method's representation of every image, in image order; ``real_idx``
    (n_real,) maps real positions to image rows; ``train`` / ``test`` index ``real_idx``;
    ``y`` (n_real,) 0/1; ``seed`` seeds the method (evaluate passes seed + fold); ``groups`` (N,)
    the sibling group of every image row, or None.
    Returns (scores (n_test,), preds (n_test,), notes)."""
    scored = score_images(spec, X, fold_view(spec, real_idx, y, train, gen_idx, groups), [real_idx[test]],
                          seed=seed, device=device, options=options)
    return scored.scores[0], scored.preds[0], scored.notes


def evaluate_fold(specs: Sequence[MethodSpec], reps: Mapping[str, np.ndarray], *, k: int, ids: np.ndarray,
                  split: np.ndarray, real_idx: np.ndarray, y: np.ndarray, train: np.ndarray, test: np.ndarray,
                  gen_idx: np.ndarray, seed: int, device: str, options: MethodOptions = MethodOptions(),
                  groups: np.ndarray | None = None) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Every method of ``specs`` on fold ``k``: ``(fold rows, score rows)`` for folds.csv / scores.csv.

    ``reps[extractor]`` (N, ...) is that extractor's representation of every image (image order);
    ``ids``, ``split`` (N,) name the images; ``real_idx`` (n_real,) maps real positions to image
    rows, ``y`` (n_real,) their 0/1 labels; ``train`` / ``test`` index ``real_idx``; ``gen_idx``
    the generated images; ``groups`` (N,) the sibling group of every image row (``row_groups``) or
    None. Each method is seeded with ``seed``.
    """
    held_out = real_idx[test]
    folds: list[dict[str, Any]] = []
    scored: list[dict[str, Any]] = []
    for spec in specs:
        X = reps[spec.extractor] if spec.extractor else np.zeros((len(ids), 1), np.float32)
        scores, preds, notes = run_method(spec, X, real_idx, y, train, test, gen_idx, seed, device, options, groups)
        folds.append(fold_row(spec.id, k, len(train), y[test], preds, scores, notes))
        scored += score_rows(spec.id, k, ids[held_out], split[held_out], y[test], scores, preds)
    return folds, scored


def fold_refit(spec: MethodSpec, X: np.ndarray, real_idx: np.ndarray, y: np.ndarray, train: np.ndarray,
               test: np.ndarray, gen_idx: np.ndarray, seed: int, device: str,
               options: MethodOptions = MethodOptions(), groups: np.ndarray | None = None) -> FoldRefit:
    """How ``spec`` answers this fold's held-out images when fitted on other labels of its training
    images (the null test). The method is fitted once here; each refit then reruns only the part
    that reads labels (a rule on cached scores, or the classifier)."""
    refit = label_refitter(spec, X, fold_view(spec, real_idx, y, train, gen_idx, groups), real_idx[test], seed=seed,
                           device=device, options=options)
    return FoldRefit(train, test, refit)
