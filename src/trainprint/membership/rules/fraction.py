"""``fraction``: the top ``q`` fraction of the scored images are called used."""

from __future__ import annotations

import math

import numpy as np

from trainprint.membership.rules.base import Rule, RuleContext
from trainprint.membership.scores import MembershipScores


class Fraction(Rule):
    """Ranks the images scored together by ``score`` (default ``max``) and calls the top
    ``round(q n)`` used. It assumes the base rate ``q`` of used images among them. Label-free."""

    name = "fraction"
    uses_labels = False
    default_score = "max"
    params = ("q",)
    q: float

    def fit(self, ctx: RuleContext) -> None:
        self.notes.append(f"{ctx.method_id}: calls the top {self.q:.0%} of the images it scores used, i.e. "
                          f"ASSUMES that share of used images (the base rate; set it with --fraction-q)")

    def decision(self, ms: MembershipScores) -> np.ndarray:
        return ms.get(self.score)

    def predict(self, d: np.ndarray) -> np.ndarray:
        d = np.asarray(d)
        n_used = int(math.floor(self.q * len(d) + 0.5))
        pred = np.zeros(len(d), dtype=np.int64)
        pred[np.argsort(-d, kind="stable")[:n_used]] = 1
        return pred
