"""``score_images``: fit one method on what it may see, score images with it. The only place where
``evaluate`` (one fold), ``submit`` (the test folder) and ``audit`` (a bare folder) fit a membership
method and read its answers (``tests/test_scoring_path.py`` checks that they all come here).

What a method may see is a ``FitView`` of rows of one representation ``X`` (N, ...): the labelled
(or, label-free, unlabelled) real images it is fitted on, the generated images, the pool of every
real image known without labels, and the sibling group of every row. Which rows those are is the
caller's business (a protocol: a CV fold, a test folder, an audit); how a method is fitted on them
is this module's, once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from trainprint.core.errors import TrainprintError
from trainprint.methods import MethodOptions, MethodSpec

#: method kinds that get the pool (every real image known, unlabelled) and its sibling groups
POOLED_KINDS = ("similarity", "mia")


@dataclass(frozen=True)
class FitView:
    """Rows of ``X`` a method is fitted on.

    Attributes:
        real: (n,) rows of the real images the method is fitted on.
        y: (n,) 0/1 labels of ``real`` (1 = used), or None: a label-free fit.
        gen: (m,) rows of the generated images (ignored when ``score_images`` is given ``G``).
        pool: (p,) rows of every real image known, unlabelled (similarity and ``mia-`` methods), or None.
        groups: (N,) sibling group of every row of ``X`` (str), or None: every image its own group.
            A pooled method leaves an image's own group out wherever it compares it with other
            real images (docs/membership.md, "Siblings").
    """

    real: np.ndarray
    y: np.ndarray | None
    gen: np.ndarray
    pool: np.ndarray | None = None
    groups: np.ndarray | None = None

    def check(self, n_rows: int) -> "FitView":
        if self.y is not None and len(self.y) != len(self.real):
            raise TrainprintError(f"fit view: {len(self.y)} labels for {len(self.real)} real images")
        if self.groups is not None and len(self.groups) != n_rows:
            raise TrainprintError(f"fit view: {len(self.groups)} group labels for {n_rows} rows")
        return self


@dataclass(frozen=True)
class Scored:
    """A fitted method's answers: ``scores[i]`` (n_i,) float64 (higher = more likely used) and
    ``preds[i]`` (n_i,) int64 0/1 for the i-th row set given to ``score_images``; its ``notes``."""

    scores: list[np.ndarray]
    preds: list[np.ndarray]
    notes: list[str] = field(default_factory=list)


def representation(spec: MethodSpec, X: np.ndarray) -> np.ndarray:
    """What ``spec``'s estimator reads: classifiers a flat (N, D) matrix (raw pixels flattened)."""
    return X.reshape(len(X), -1) if spec.kind == "classifier" else X


def fit_method(spec: MethodSpec, X: np.ndarray, view: FitView, *, seed: int, device: str,
               options: MethodOptions = MethodOptions(), G: Any = None) -> Any:
    """``spec``'s estimator fitted on ``view`` (rows of ``X`` (N, ...)); ``G``: the generated images'
    representations when they are not rows of ``X`` (a ``GeneratedSet`` when streaming)."""
    X = representation(spec, X)
    view.check(len(X))
    if view.y is None and spec.uses_labels:
        raise TrainprintError(f"{spec.id} reads labels; a label-free view has none")
    est = spec.factory(seed, device, options)
    G_fit = G if G is not None else X[view.gen]
    if spec.kind in POOLED_KINDS:
        R = X[view.real]
        # a label-free view fits on the pool itself: one copy of its rows, not two (73 MB each for 280
        # images of 256 px)
        pool = None if view.pool is None else R if view.pool is view.real else X[view.pool]
        pool_groups = None if view.pool is None or view.groups is None else np.asarray(view.groups)[view.pool]
        est.fit(R, view.y, G_fit, pool, pool_groups=pool_groups)
    else:
        est.fit(X[view.real], view.y, G_fit, None)
    return est


def score_images(spec: MethodSpec, X: np.ndarray, view: FitView, rows: Sequence[np.ndarray], *, seed: int,
                 device: str, options: MethodOptions = MethodOptions(), G: Any = None) -> Scored:
    """Fit ``spec`` on ``view`` (``fit_method``) and score each row set of ``rows`` (rows of ``X``)."""
    est = fit_method(spec, X, view, seed=seed, device=device, options=options, G=G)
    X = representation(spec, X)
    scores = [np.asarray(est.decision_function(X[r]), dtype=np.float64) for r in rows]
    preds = [np.asarray(est.predict(X[r]), dtype=np.int64) for r in rows]
    return Scored(scores, preds, list(est.notes_))


def label_refitter(spec: MethodSpec, X: np.ndarray, view: FitView, test: np.ndarray, *, seed: int, device: str,
                   options: MethodOptions = MethodOptions()) -> Callable[[np.ndarray], np.ndarray]:
    """For the null test: ``refit(y)`` -> (len(test),) answers for rows ``test`` of ``spec`` fitted on
    ``view`` with labels ``y`` in place of ``view.y``. A pooled method is fitted once (its costly,
    label-free part); each refit reruns only what reads labels (a rule, a classifier)."""
    if spec.kind in POOLED_KINDS:
        est = fit_method(spec, X, view, seed=seed, device=device, options=options)
        return est.label_refitter(X[view.real], X[test])
    X = representation(spec, X)
    est = spec.factory(seed, device, options)
    return est.label_refitter(X[view.real], X[test], X[view.gen] if spec.strategy == "full" else None)
