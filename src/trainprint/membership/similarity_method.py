"""``SimilarityMethod``: the ``sim-<space>/<rule>`` methods of ``evaluate`` / ``submit``.

A method is one similarity space (``trainprint.similarity``: pixel, NCC, SSIM, or an extractor's
fingerprints), the membership scores of ``trainprint.membership.scores`` in that space, and one
decision rule of ``trainprint.membership.rules``. It follows the method contract of
docs/CONTRACT.md: ``fit(R, y, G, R_pool=None)``, ``decision_function(R)`` (higher = more likely
used; ``> 0`` means used, except for ``fraction``), ``predict(R)``, ``notes_``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from trainprint.core.errors import TrainprintError
from trainprint.extractors.registry import EXTRACTORS
from trainprint.membership.rules import OBJECTIVES, RULES, Rule, RuleContext
from trainprint.membership.scores import (SCORE_NAMES, MembershipScores, cached_pairwise, in_one_pass, membership_scores,
                                         real_real_matrix, union_groups, union_of_reals)
from trainprint.similarity import PIXEL_SPACES, check_representation


def spaces() -> tuple[str, ...]:
    """Pixel spaces, then every registered extractor except ``raw`` (its pixels are the pixel spaces)."""
    return PIXEL_SPACES + tuple(n for n in EXTRACTORS if n != "raw")


SPACES = spaces()


def method_ids(spaces_: tuple[str, ...] | None = None, rules: tuple[str, ...] = tuple(RULES)) -> list[str]:
    """Every ``sim-<space>/<rule>`` id (for the method registry)."""
    return [f"sim-{s}/{r}" for s in (spaces_ or SPACES) for r in rules]


def parse_method_id(method_id: str) -> tuple[str, str]:
    """``"sim-ssim/realmax"`` -> ``("ssim", "realmax")``; a TrainprintError for anything else."""
    if not method_id.startswith("sim-") or method_id.count("/") != 1:
        raise TrainprintError(f"method {method_id!r}: expected sim-<space>/<rule>")
    space, rule = method_id[4:].split("/")
    check_space_rule(space, rule)
    return space, rule


def check_space_rule(space: str, rule: str) -> None:
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
            ``None`` = the rule's own (``Rule.default_score``).
        k: how many best generated matches ``topk`` averages.
        std_k: k of the ``meanstd`` rule (mean + k std).
        q: fraction of images the ``fraction`` rule calls used.
        objective: what ``threshold`` maximises on the training images (``OBJECTIVES``).
        C: inverse regularisation of the ``features`` logistic regression.
        rank_stat: rank statistic of ``ranking`` / ``ensemble``: ``first`` (share of lists that rank the
            image first, the default) or ``mean`` (VCMI's mean rank, literally); docs/membership.md.
        device: ``auto | cpu | cuda`` for the similarity computations.
        backend: ``auto | torch | faiss`` for top-k search in fingerprint spaces.
        random_state: seed of the ``features`` classifier.

    Fitted attributes: ``G_`` (generated images), ``pool_`` (the real images competing with R),
    ``rule_`` (the fitted ``Rule``), ``threshold_`` (its cut, for rules that learn one), ``notes_``.
    """

    def __init__(self, space: str = "pixel", rule: str = "realmax", *, score: str | None = None, k: int = 5,
                 std_k: float = 3.0, q: float = 0.5, objective: str = "balanced_accuracy", C: float = 1.0,
                 rank_stat: str = "first", device: str = "cpu", backend: str = "auto", random_state: int = 0) -> None:
        self.space = space
        self.rule = rule
        self.score = score
        self.k = k
        self.std_k = std_k
        self.q = q
        self.objective = objective
        self.C = C
        self.rank_stat = rank_stat
        self.device = device
        self.backend = backend
        self.random_state = random_state

    # ----------------------------------------------------------------- public, checked
    @in_one_pass
    def fit(self, R: np.ndarray, y: np.ndarray | None, G: np.ndarray, R_pool: np.ndarray | None = None,
            pool_groups: np.ndarray | None = None) -> "SimilarityMethod":
        """R (n, ...) labelled reals, y (n,) 0/1 (may be None for label-free rules), G (m, ...)
        generated, R_pool (p, ...) every real image known without labels, ``pool_groups`` (p,) their
        sibling groups (None: each alone): an image's own group is left out wherever it is compared
        with other real images."""
        rule = self._make_rule()
        R = check_representation(self.space, R, "R")
        self.G_ = check_representation(self.space, G, "G")
        if R_pool is not None:
            R_pool = check_representation(self.space, R_pool, "R_pool")
        self.pool_, _ = union_of_reals(R, R_pool)
        self.pool_groups_ = union_groups(R, R_pool, pool_groups)  # (len(pool_),) or None: each image alone
        self._cache: tuple[bytes, MembershipScores] | None = None
        y_arr = None
        if y is not None:
            y_arr = np.asarray(y).astype(np.int64)
            if y_arr.shape != (R.shape[0],) or not np.isin(y_arr, (0, 1)).all():
                raise TrainprintError(f"{self.method_id}: y must be (n,) = ({R.shape[0]},) of 0/1, got {np.asarray(y)!r:.80}")
        if rule.uses_labels and y_arr is None:
            raise TrainprintError(f"{self.method_id}: rule {self.rule!r} needs labels y")
        ctx = RuleContext(self.method_id, lambda: self._scores(R), y_arr if rule.uses_labels else None,
                          lambda: real_real_matrix(self.space, self.pool_, self.pool_groups_, device=self.device),
                          lambda: cached_pairwise(self.space, union_of_reals(self.pool_, None)[0], self.G_,
                                                  device=self.device))
        rule.fit(ctx)
        self.rule_ = rule
        if rule.threshold_ is not None:
            self.threshold_ = rule.threshold_
        self.notes_: list[str] = list(rule.notes)
        return self

    @in_one_pass
    def decision_function(self, R: np.ndarray) -> np.ndarray:
        """(n,) float64, higher = more likely used."""
        check_is_fitted(self, "rule_")
        R = check_representation(self.space, R, "R")
        return np.asarray(self.rule_.decision(self._scores(R)), dtype=np.float64)

    def predict(self, R: np.ndarray) -> np.ndarray:
        """(n,) int64, 1 = used."""
        d = self.decision_function(R)  # checks that the method is fitted
        return self.rule_.predict(d)

    @in_one_pass
    def membership(self, R: np.ndarray) -> MembershipScores:
        """All membership scores of ``R`` against the fitted G and pool (for reports)."""
        check_is_fitted(self, "rule_")
        return self._scores(check_representation(self.space, R, "R"))

    @property
    def method_id(self) -> str:
        return f"sim-{self.space}/{self.rule}"

    @in_one_pass
    def label_refitter(self, R_train: np.ndarray, R_test: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
        """For permutation tests: ``refit(y)`` -> (n_test,) predictions of ``R_test`` by this method's
        rule fitted on ``R_train`` with labels ``y``. The membership scores (the costly part) are
        computed once, here; only the rule is refitted per call."""
        check_is_fitted(self, "rule_")
        ms_train, ms_test = self.membership(R_train), self.membership(R_test)
        real_real = lambda: real_real_matrix(self.space, self.pool_, self.pool_groups_, device=self.device)  # noqa: E731
        real_gen = lambda: cached_pairwise(self.space, union_of_reals(self.pool_, None)[0], self.G_,  # noqa: E731
                                           device=self.device)

        def refit(y: np.ndarray) -> np.ndarray:
            rule = self._make_rule()
            rule.fit(RuleContext(self.method_id, lambda: ms_train, np.asarray(y, dtype=np.int64)
                                 if rule.uses_labels else None, real_real, real_gen))
            return rule.predict(rule.decision(ms_test))

        return refit

    # ----------------------------------------------------------------- private
    def _make_rule(self) -> Rule:
        """The unfitted rule, after checking every parameter (errors name the bad value)."""
        check_space_rule(self.space, self.rule)
        if self.score is not None and self.score not in SCORE_NAMES:
            raise TrainprintError(f"{self.method_id}: score {self.score!r}; expected one of {', '.join(SCORE_NAMES)}")
        if not 0.0 <= self.q <= 1.0:
            raise TrainprintError(f"{self.method_id}: q={self.q} must be in [0, 1]")
        if self.objective not in OBJECTIVES:
            raise TrainprintError(f"{self.method_id}: objective {self.objective!r}; expected one of {', '.join(OBJECTIVES)}")
        if int(self.k) < 1:
            raise TrainprintError(f"{self.method_id}: k={self.k} must be >= 1")
        cls = RULES[self.rule]
        self.rule_cls_ = cls
        params: dict[str, Any] = {p: getattr(self, p) for p in cls.params}  # names the rule declares
        return cls(score=self.score or cls.default_score, **params)

    def _scores(self, R: np.ndarray) -> MembershipScores:
        """Membership scores of R, cached for the last R (predict after decision_function is free)."""
        key = hashlib.sha1(np.ascontiguousarray(R).tobytes()).digest() + str(R.shape).encode()
        if self._cache is not None and self._cache[0] == key:
            return self._cache[1]
        ms = membership_scores(self.space, R, self.G_, self.pool_, k=int(self.k), device=self.device,
                               backend=self.backend, ranks=self.rule_cls_.needs_ranks, pool_groups=self.pool_groups_)
        self._cache = (key, ms)
        return ms


def make_rule_method(space: str, rule: str, **params: Any) -> SimilarityMethod:
    """A new, unfitted ``sim-<space>/<rule>`` method; ``params`` are ``SimilarityMethod`` keywords."""
    check_space_rule(space, rule)
    try:
        return SimilarityMethod(space=space, rule=rule, **params)
    except TypeError as e:
        raise TrainprintError(f"sim-{space}/{rule}: {e}") from None
