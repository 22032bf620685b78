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

#: method kinds that get ``R_pool`` (every real image, unlabelled) besides their training images
POOLED_KINDS = ("similarity", "mia")


def run_method(spec: MethodSpec, X: np.ndarray, real_idx: np.ndarray, y: np.ndarray, train: np.ndarray,
               test: np.ndarray, gen_idx: np.ndarray, seed: int, device: str,
               options: MethodOptions = MethodOptions()) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Fit ``spec`` on the training reals of a fold and score the held-out ones.

    ``X`` (N, ...) is the method's representation of every image, in image order; ``real_idx``
    (n_real,) maps real positions to image rows; ``train`` / ``test`` index ``real_idx``;
    ``y`` (n_real,) 0/1; ``seed`` seeds the method (evaluate passes seed + fold).
    Similarity and membership-inference methods also get ``R_pool`` = every real image, unlabelled.
    Returns (scores (n_test,), preds (n_test,), notes)."""
    if spec.kind == "classifier":
        X = X.reshape(len(X), -1)  # raw (N, H, W) -> (N, H*W)
    est = spec.factory(seed, device, options)
    R_pool = X[real_idx] if spec.kind in POOLED_KINDS else None
    est.fit(X[real_idx[train]], y[train], X[gen_idx], R_pool)
    R_test = X[real_idx[test]]
    scores = np.asarray(est.decision_function(R_test), dtype=np.float64)
    preds = np.asarray(est.predict(R_test), dtype=np.int64)
    return scores, preds, list(est.notes_)


def evaluate_fold(specs: Sequence[MethodSpec], reps: Mapping[str, np.ndarray], *, k: int, ids: np.ndarray,
                  split: np.ndarray, real_idx: np.ndarray, y: np.ndarray, train: np.ndarray, test: np.ndarray,
                  gen_idx: np.ndarray, seed: int, device: str, options: MethodOptions = MethodOptions()
                  ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Every method of ``specs`` on fold ``k``: ``(fold rows, score rows)`` for folds.csv / scores.csv.

    ``reps[extractor]`` (N, ...) is that extractor's representation of every image (image order);
    ``ids``, ``split`` (N,) name the images; ``real_idx`` (n_real,) maps real positions to image
    rows, ``y`` (n_real,) their 0/1 labels; ``train`` / ``test`` index ``real_idx``; ``gen_idx``
    the generated images. Each method is seeded with ``seed``.
    """
    held_out = real_idx[test]
    folds: list[dict[str, Any]] = []
    scored: list[dict[str, Any]] = []
    for spec in specs:
        X = reps[spec.extractor] if spec.extractor else np.zeros((len(ids), 1), np.float32)
        scores, preds, notes = run_method(spec, X, real_idx, y, train, test, gen_idx, seed, device, options)
        folds.append(fold_row(spec.id, k, len(train), y[test], preds, scores, notes))
        scored += score_rows(spec.id, k, ids[held_out], split[held_out], y[test], scores, preds)
    return folds, scored


def fold_refit(spec: MethodSpec, X: np.ndarray, real_idx: np.ndarray, y: np.ndarray, train: np.ndarray,
               test: np.ndarray, gen_idx: np.ndarray, seed: int, device: str,
               options: MethodOptions = MethodOptions()) -> FoldRefit:
    """How ``spec`` answers this fold's held-out images when fitted on other labels of its training
    images (the null test). The method is fitted once here; each refit then reruns only the part
    that reads labels (a rule on cached scores, or the classifier)."""
    if spec.kind == "classifier":
        X = X.reshape(len(X), -1)
    est = spec.factory(seed, device, options)
    R_train, R_test = X[real_idx[train]], X[real_idx[test]]
    if spec.kind in POOLED_KINDS:
        est.fit(R_train, y[train], X[gen_idx], X[real_idx])
        refit = est.label_refitter(R_train, R_test)
    else:
        refit = est.label_refitter(R_train, R_test, X[gen_idx] if spec.strategy == "full" else None)
    return FoldRefit(train, test, refit)
