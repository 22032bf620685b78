"""What every decision rule is: a small class that turns membership scores into used / not used.

    rule = RULES["meanstd"](score="max", std_k=3.0)
    rule.fit(context)                 # context: the training images' scores, labels (or None), real-real pairs
    d = rule.decision(scores)         # (n,) float64, higher = more likely used; > 0 means used
    pred = rule.predict(d)            # (n,) int64 0/1

A rule declares as class attributes its ``name`` (the ``<rule>`` of ``sim-<space>/<rule>``), whether
``fit`` reads labels (``uses_labels``: strict CV then fits it on training folds only, and ``submit``
fits it on the dev labels), the membership score it reads by default, and the names of the
``SimilarityMethod`` parameters it takes (``params``). Nothing is found by probing: the registry in
``trainprint.membership.rules`` lists the classes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from trainprint.membership.scores import MembershipScores


@dataclass(frozen=True)
class RuleContext:
    """What ``Rule.fit`` may read.

    Attributes:
        method_id: ``sim-<space>/<rule>``, for notes and messages.
        scores: returns the membership scores of the training real images (n images); computed
            only when a rule asks for them.
        y: (n,) int64 0/1 labels of those images, or ``None`` when the fit is label-free.
        real_real: returns the (c, c) float64 similarity lists of the pool's distinct real images,
            -inf for an image itself and for its siblings (its sibling group), so that each list
            holds the other groups only (``scores.real_real_matrix``); ``real_pairs`` gives its
            distinct pairs. Computed only when a rule asks for it.
        real_gen: returns the (p, m) similarities of the pool's real images to every generated
            image, or is None where the caller cannot give them (the ``clustering`` rule needs them).
    """

    method_id: str
    scores: Callable[[], MembershipScores]
    y: np.ndarray | None
    real_real: Callable[[], np.ndarray]
    real_gen: Callable[[], np.ndarray] | None = None


def real_pairs(S: np.ndarray) -> np.ndarray:
    """(q,) float64: the similarities of every pair of the pool from different sibling groups, from
    ``RuleContext.real_real``'s (c, c) lists (each pair once)."""
    iu = np.triu_indices(S.shape[0], k=1)
    pairs = np.asarray(S, dtype=np.float64)[iu]
    return pairs[np.isfinite(pairs)]


class Rule:
    """Base class of the decision rules (see the module docstring)."""

    name: ClassVar[str] = ""
    uses_labels: ClassVar[bool] = False
    default_score: ClassVar[str] = "max"
    params: ClassVar[tuple[str, ...]] = ()
    #: whether ``decision`` reads ``MembershipScores.rank_gen`` / ``rank_real`` (computed only then)
    needs_ranks: ClassVar[bool] = False
    #: the fitted cut on the score, for rules that learn one (realmax, meanstd, threshold)
    threshold_: float | None = None

    def __init__(self, score: str, **params: Any) -> None:
        unknown = sorted(set(params) - set(self.params))
        if unknown:
            raise TypeError(f"rule {self.name!r} takes no parameter {unknown[0]!r}")
        self.score = score
        self.notes: list[str] = []
        for k in self.params:
            setattr(self, k, params[k])

    def fit(self, ctx: RuleContext) -> None:
        """Learn what the rule needs (a threshold, a classifier); label-free rules read no ``y``."""

    def decision(self, ms: MembershipScores) -> np.ndarray:  # pragma: no cover - abstract
        """(n,) float64 of the images scored in ``ms``; higher = more likely used."""
        raise NotImplementedError

    def predict(self, d: np.ndarray) -> np.ndarray:
        """(n,) int64: 1 where ``decision`` is > 0."""
        return (np.asarray(d) > 0).astype(np.int64)
