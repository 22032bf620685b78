"""``mia-fusion/rank`` and ``mia-fusion/features``: every label-free score of every pixel space at once.

The components (``COMPONENTS``) are the membership scores of ``trainprint.membership.scores``
(``max``, ``topk``, ``nn``, ``calibrated``) and the ``mia-*`` scores (``domias-knn``,
``gan-leaks-cal``, and ``domias-kde`` / ``domias-clf`` where the space has vectors) in the pixel,
NCC and SSIM spaces, all computed from the ``raw`` images and the unlabelled real pool.

- ``rank`` (label-free): each component turned into its rank among the pool's real images (the
  share of pool images scoring lower, ties counted half), then averaged; the decision is that mean
  minus 0.5, so ``> 0`` = above the pool's middle on average.
- ``features`` (reads labels): the standardised components as features of a class-balanced
  logistic regression fitted on the training fold's labels only (the ``features`` rule of
  ``sim-*``, generalised to every score of every pixel space).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_is_fitted

from trainprint.core.errors import TrainprintError
from trainprint.membership.mia.geometry import NO_VECTORS
from trainprint.membership.mia.method import MIA_SCORES, VECTOR_SCORES, MiaMethod
from trainprint.membership.scores import SCORE_NAMES, in_one_pass, membership_scores, union_of_reals
from trainprint.similarity import PIXEL_SPACES, check_representation

FUSION_RULES = ("rank", "features")
#: (space, score) of every component, in feature order
COMPONENTS: tuple[tuple[str, str], ...] = tuple(
    (space, score) for space in PIXEL_SPACES
    for score in SCORE_NAMES + tuple(s for s in MIA_SCORES if not (space in NO_VECTORS and s in VECTOR_SCORES))
)


class FusionMethod(BaseEstimator):
    """See the module docstring. Parameters (stored verbatim): ``rule`` (``rank | features``),
    ``k`` (the ``topk`` score's k), ``C`` (the logistic regression's inverse regularisation),
    ``device``, ``random_state``. Fitted: ``pool_``, ``G_``, ``mia_`` (the fitted ``MiaMethod`` per
    component), ``pool_scores_`` (p, n_components), ``classifier_`` (``features``), ``notes_``."""

    def __init__(self, rule: str = "rank", *, k: int = 5, C: float = 1.0, device: str = "cpu",
                 random_state: int = 0) -> None:
        self.rule = rule
        self.k = k
        self.C = C
        self.device = device
        self.random_state = random_state

    @property
    def method_id(self) -> str:
        return f"mia-fusion/{self.rule}"

    @property
    def uses_labels(self) -> bool:
        return self.rule == "features"

    @in_one_pass
    def fit(self, R: np.ndarray, y: np.ndarray | None, G: np.ndarray, R_pool: np.ndarray | None = None) -> "FusionMethod":
        """R (n, N, N), G (m, N, N), R_pool (p, N, N) images in [0, 1]; ``y`` (n,) 0/1 for ``features``."""
        if self.rule not in FUSION_RULES:
            raise TrainprintError(f"mia-fusion rule {self.rule!r}: expected one of {', '.join(FUSION_RULES)}")
        R = check_representation("pixel", R, "R")
        self.G_ = check_representation("pixel", G, "G")
        pool = None if R_pool is None else check_representation("pixel", R_pool, "R_pool")
        self.pool_, _ = union_of_reals(R, pool)
        self.mia_ = {(sp, sc): MiaMethod(sp, sc, device=self.device, random_state=self.random_state)
                     .fit(self.pool_, None, self.G_) for sp, sc in COMPONENTS if sc in MIA_SCORES}
        self.pool_scores_ = self.components(self.pool_)
        self.notes_: list[str] = [f"{self.method_id}: {len(COMPONENTS)} label-free scores of the pixel, ncc and "
                                  "ssim spaces"]
        if self.rule == "features":
            if y is None:
                raise TrainprintError(f"{self.method_id}: needs labels y")
            y_arr = np.asarray(y).astype(np.int64)
            if y_arr.shape != (len(R),) or not np.isin(y_arr, (0, 1)).all():
                raise TrainprintError(f"{self.method_id}: y must be (n,) = ({len(R)},) of 0/1")
            self.classifier_ = self._classifier(self.components(R), y_arr)
        return self

    def components(self, R: np.ndarray) -> np.ndarray:
        """(n, len(COMPONENTS)) float64: every component score of ``R`` against the fitted G and pool."""
        R = check_representation("pixel", R, "R")
        cols = []
        cache: dict[str, object] = {}
        for space, score in COMPONENTS:
            if score in MIA_SCORES:
                cols.append(self.mia_[(space, score)].decision_function(R))
                continue
            if space not in cache:
                cache[space] = membership_scores(space, R, self.G_, self.pool_, k=int(self.k), device=self.device)
            cols.append(cache[space].get(score))  # type: ignore[attr-defined]
        return np.stack(cols, axis=1).astype(np.float64)

    def _classifier(self, F: np.ndarray, y: np.ndarray):  # noqa: ANN202 - a sklearn pipeline
        if len(np.unique(y)) < 2:
            raise TrainprintError(f"{self.method_id}: the training images have one class only")
        return make_pipeline(StandardScaler(), LogisticRegression(C=self.C, class_weight="balanced", max_iter=2000,
                                                                  random_state=self.random_state)).fit(F, y)

    def _decide(self, F: np.ndarray, classifier=None) -> np.ndarray:  # noqa: ANN001
        if self.rule == "features":
            return (classifier or self.classifier_).decision_function(F).astype(np.float64)
        P = self.pool_scores_
        below = (P[None, :, :] < F[:, None, :]).mean(axis=1)  # (n, c)
        ties = (P[None, :, :] == F[:, None, :]).mean(axis=1)
        return (below + 0.5 * ties).mean(axis=1) - 0.5

    @in_one_pass
    def decision_function(self, R: np.ndarray) -> np.ndarray:
        """(n,) float64, higher = more likely used; ``> 0`` = used."""
        check_is_fitted(self, "pool_scores_")
        return self._decide(self.components(R))

    def predict(self, R: np.ndarray) -> np.ndarray:
        return (self.decision_function(R) > 0).astype(np.int64)

    @in_one_pass
    def label_refitter(self, R_train: np.ndarray, R_test: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
        """For the null test: ``refit(y)`` -> (n_test,) predictions with the logistic regression refitted
        on ``R_train`` under labels ``y``; the component scores are computed once, here."""
        check_is_fitted(self, "pool_scores_")
        F_train, F_test = self.components(R_train), self.components(R_test)

        def refit(y: np.ndarray) -> np.ndarray:
            clf = self._classifier(F_train, np.asarray(y, dtype=np.int64)) if self.rule == "features" else None
            return (self._decide(F_test, clf) > 0).astype(np.int64)

        return refit
