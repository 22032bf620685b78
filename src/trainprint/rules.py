"""Decision rules over membership scores: the ``sim-<space>/<rule>`` methods of ``evaluate`` / ``submit``.

Label-free rules (``fit`` reads no label; real-real statistics come from ``R_pool`` and ``R``):

    realmax     used when max_g s(r, g) beats the largest similarity between two distinct reals (VCMI)
    meanstd     used when max_g s(r, g) beats mean + std_k * std of real-real similarities (VCMI, k=3)
    nn          used when r is the most similar real image of at least one generated image (VCMI)
    calibrated  used when r's best match in G beats its best match among the other reals
    fraction    the top ``q`` fraction of the images scored (by ``score``) are called used

Rules fitted on labels (the training folds only):

    threshold   a threshold on ``score`` maximising balanced accuracy (or MCC) on the training images
    features    the four membership scores as features of a logistic regression

Every method follows the estimator contract of docs/CONTRACT.md: ``fit(R, y, G, R_pool=None)``,
``decision_function(R)`` (higher = more likely used; ``> 0`` means used, except for ``fraction``),
``predict(R)``, ``notes_``.
"""

from __future__ import annotations

import hashlib
import math
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_is_fitted

from trainprint.errors import TrainprintError
from trainprint.membership import SCORE_NAMES, MembershipScores, membership_scores, real_real_similarities, union_of_reals
from trainprint.similarity import PIXEL_SPACES, check_representation

LABEL_FREE_RULES = ("realmax", "meanstd", "nn", "calibrated", "fraction")
LABELLED_RULES = ("threshold", "features")
RULES = LABEL_FREE_RULES + LABELLED_RULES
OBJECTIVES = ("balanced_accuracy", "mcc")


def spaces() -> tuple[str, ...]:
    """Pixel spaces, then every registered extractor except ``raw`` (its pixels are the pixel spaces)."""
    from trainprint.extractors import EXTRACTORS

    return PIXEL_SPACES + tuple(n for n in EXTRACTORS if n != "raw")


SPACES = spaces()


def method_ids(spaces_: tuple[str, ...] | None = None, rules: tuple[str, ...] = RULES) -> list[str]:
    """Every ``sim-<space>/<rule>`` id (for the method registry)."""
    return [f"sim-{s}/{r}" for s in (spaces_ or SPACES) for r in rules]


def parse_method_id(method_id: str) -> tuple[str, str]:
    """``"sim-ssim/realmax"`` -> ``("ssim", "realmax")``; a TrainprintError for anything else."""
    if not method_id.startswith("sim-") or method_id.count("/") != 1:
        raise TrainprintError(f"method {method_id!r}: expected sim-<space>/<rule>")
    space, rule = method_id[4:].split("/")
    _check_space_rule(space, rule)
    return space, rule


def _check_space_rule(space: str, rule: str) -> None:
    if space not in spaces():
        raise TrainprintError(f"similarity space {space!r}: expected one of {', '.join(spaces())}")
    if rule not in RULES:
        raise TrainprintError(f"similarity rule {rule!r}: expected one of {', '.join(RULES)}")


class SimilarityMethod(BaseEstimator):
    """A membership method from similarities in one space and one decision rule.

    Parameters (stored verbatim):
        space: ``pixel | ncc | ssim`` (inputs (N, H, W) in [0, 1]) or an extractor name ((N, D)).
        rule: one of ``RULES``.
        score: the membership score the rule reads, one of ``max | topk | nn | calibrated``;
            ``None`` = the rule's own: ``calibrated`` for calibrated (and as the tie-breaker of
            nn), ``max`` for realmax/meanstd/fraction/threshold.
        k: how many best generated matches ``topk`` averages.
        std_k: k of the ``meanstd`` rule (mean + k std).
        q: fraction of images the ``fraction`` rule calls used.
        objective: what ``threshold`` maximises on the training images (``OBJECTIVES``).
        C: inverse regularisation of the ``features`` logistic regression.
        device: ``auto | cpu | cuda`` for the similarity computations.
        backend: ``auto | torch | faiss`` for top-k search in fingerprint spaces.
        random_state: seed of the ``features`` classifier.
    """

    def __init__(self, space: str = "pixel", rule: str = "realmax", *, score: str | None = None, k: int = 5,
                 std_k: float = 3.0, q: float = 0.5, objective: str = "balanced_accuracy", C: float = 1.0,
                 device: str = "cpu", backend: str = "auto", random_state: int = 0) -> None:
        self.space = space
        self.rule = rule
        self.score = score
        self.k = k
        self.std_k = std_k
        self.q = q
        self.objective = objective
        self.C = C
        self.device = device
        self.backend = backend
        self.random_state = random_state

    # ----------------------------------------------------------------- public, checked
    def fit(self, R: np.ndarray, y: np.ndarray | None, G: np.ndarray, R_pool: np.ndarray | None = None) -> "SimilarityMethod":
        """R (n, ...) labelled reals, y (n,) 0/1 (may be None for label-free rules), G (m, ...)
        generated, R_pool (p, ...) every real image known without labels."""
        self._check_params()
        R = check_representation(self.space, R, "R")
        self.G_ = check_representation(self.space, G, "G")
        if R_pool is not None:
            R_pool = check_representation(self.space, R_pool, "R_pool")
        self.pool_, _ = union_of_reals(R, R_pool)
        self.notes_: list[str] = []
        self._cache: tuple[bytes, MembershipScores] | None = None
        y_arr = None
        if y is not None:
            y_arr = np.asarray(y).astype(np.int64)
            if y_arr.shape != (R.shape[0],) or not np.isin(y_arr, (0, 1)).all():
                raise TrainprintError(f"{self.method_id}: y must be (n,) = ({R.shape[0]},) of 0/1, got {np.asarray(y)!r:.80}")
        if self.rule in LABELLED_RULES and y_arr is None:
            raise TrainprintError(f"{self.method_id}: rule {self.rule!r} needs labels y")
        self._fit(R, y_arr)
        return self

    def decision_function(self, R: np.ndarray) -> np.ndarray:
        """(n,) float64, higher = more likely used."""
        check_is_fitted(self, "G_")
        R = check_representation(self.space, R, "R")
        return self._decision(self._scores(R))

    def predict(self, R: np.ndarray) -> np.ndarray:
        """(n,) int64, 1 = used."""
        d = self.decision_function(R)
        if self.rule == "fraction":
            n_used = int(math.floor(self.q * len(d) + 0.5))
            pred = np.zeros(len(d), dtype=np.int64)
            pred[np.argsort(-d, kind="stable")[:n_used]] = 1
            return pred
        return (d > 0).astype(np.int64)

    def membership(self, R: np.ndarray) -> MembershipScores:
        """All membership scores of ``R`` against the fitted G and pool (for reports)."""
        check_is_fitted(self, "G_")
        return self._scores(check_representation(self.space, R, "R"))

    @property
    def method_id(self) -> str:
        return f"sim-{self.space}/{self.rule}"

    # ----------------------------------------------------------------- private hooks
    def _check_params(self) -> None:
        _check_space_rule(self.space, self.rule)
        if self.score is not None and self.score not in SCORE_NAMES:
            raise TrainprintError(f"{self.method_id}: score {self.score!r}; expected one of {', '.join(SCORE_NAMES)}")
        if not 0.0 <= self.q <= 1.0:
            raise TrainprintError(f"{self.method_id}: q={self.q} must be in [0, 1]")
        if self.objective not in OBJECTIVES:
            raise TrainprintError(f"{self.method_id}: objective {self.objective!r}; expected one of {', '.join(OBJECTIVES)}")
        if int(self.k) < 1:
            raise TrainprintError(f"{self.method_id}: k={self.k} must be >= 1")

    @property
    def _score_name(self) -> str:
        return self.score or ("calibrated" if self.rule in ("nn", "calibrated") else "max")

    def _scores(self, R: np.ndarray) -> MembershipScores:
        """Membership scores of R, cached for the last R (predict after decision_function is free)."""
        key = hashlib.sha1(np.ascontiguousarray(R).tobytes()).digest() + str(R.shape).encode()
        if self._cache is not None and self._cache[0] == key:
            return self._cache[1]
        ms = membership_scores(self.space, R, self.G_, self.pool_, k=int(self.k), device=self.device,
                               backend=self.backend)
        self._cache = (key, ms)
        return ms

    def _fit(self, R: np.ndarray, y: np.ndarray | None) -> None:
        rule = self.rule
        if rule in ("realmax", "meanstd"):
            rr = real_real_similarities(self.space, self.pool_, device=self.device)
            if rule == "realmax":
                self.threshold_ = float(rr.max())
                what = "max real-real similarity"
            else:
                self.threshold_ = float(rr.mean() + self.std_k * rr.std())
                what = f"mean + {self.std_k:g} std of real-real similarities"
            self.notes_.append(f"{self.method_id}: threshold {self.threshold_:.6g} = {what} over {rr.size} pairs")
        elif rule == "threshold":
            s = self._scores(R).get(self._score_name)
            self.threshold_ = best_threshold(s, y, self.objective)
            self.notes_.append(f"{self.method_id}: threshold {self.threshold_:.6g} on score "
                               f"{self._score_name!r} maximising {self.objective} on {len(y)} images")
        elif rule == "features":
            X = self._scores(R).features()
            if len(np.unique(y)) < 2:
                raise TrainprintError(f"{self.method_id}: the training images have one class only")
            self.classifier_ = make_pipeline(
                StandardScaler(),
                LogisticRegression(C=self.C, class_weight="balanced", random_state=self.random_state, max_iter=1000),
            ).fit(X, y)

    def _decision(self, ms: MembershipScores) -> np.ndarray:
        rule = self.rule
        if rule == "features":
            return self.classifier_.decision_function(ms.features()).astype(np.float64)
        if rule == "nn":
            # count - 1 plus a tie-breaker in (0, 1): > 0 exactly when the count is >= 1
            tie = ms.get(self._score_name)
            rank = np.argsort(np.argsort(tie, kind="stable"), kind="stable")
            return ms.nn.astype(np.float64) - 1.0 + (rank + 1.0) / (len(rank) + 1.0)
        s = ms.get(self._score_name)
        if rule in ("realmax", "meanstd", "threshold"):
            return s - self.threshold_
        return s  # calibrated (> 0: beats its best real match) and fraction (ranked in predict)


def best_threshold(s: np.ndarray, y: np.ndarray, objective: str = "balanced_accuracy") -> float:
    """The cut t maximising ``objective`` of ``s > t`` against ``y``; midpoints between distinct
    scores (and one below the minimum), the lowest on ties."""
    s = np.asarray(s, dtype=np.float64)
    u = np.unique(s)
    cuts = np.concatenate([[u[0] - 1.0], (u[:-1] + u[1:]) / 2.0]) if u.size > 1 else np.array([u[0] - 1.0])
    pred = s[None, :] > cuts[:, None]  # (t, n)
    pos, neg = y == 1, y == 0
    tp = (pred & pos).sum(1).astype(np.float64)
    fp = (pred & neg).sum(1).astype(np.float64)
    fn = pos.sum() - tp
    tn = neg.sum() - fp
    if objective == "mcc":
        den = np.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
        value = np.where(den > 0, (tp * tn - fp * fn) / np.where(den > 0, den, 1.0), 0.0)
    else:
        tpr = tp / max(pos.sum(), 1)
        tnr = tn / max(neg.sum(), 1)
        value = (tpr + tnr) / 2.0
    return float(cuts[int(np.argmax(value))])


def make_rule_method(space: str, rule: str, **params: Any) -> SimilarityMethod:
    """A new, unfitted ``sim-<space>/<rule>`` method; ``params`` are ``SimilarityMethod`` keywords."""
    _check_space_rule(space, rule)
    try:
        return SimilarityMethod(space=space, rule=rule, **params)
    except TypeError as e:
        raise TrainprintError(f"sim-{space}/{rule}: {e}") from None
