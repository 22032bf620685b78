"""``realmax`` (VCMI's threshold_max): used when the best generated match beats every real-real pair."""

from __future__ import annotations

import numpy as np

from trainprint.membership.rules.base import Rule, RuleContext, real_pairs
from trainprint.membership.scores import MembershipScores


class RealMax(Rule):
    """Used when ``score`` (default ``max``: best similarity to a generated image) is above the
    largest similarity between two distinct real images of the pool. Label-free."""

    name = "realmax"
    uses_labels = False
    default_score = "max"

    def fit(self, ctx: RuleContext) -> None:
        rr = real_pairs(ctx.real_real())
        self.threshold_ = float(rr.max())
        self.notes.append(f"{ctx.method_id}: threshold {self.threshold_:.6g} = max real-real similarity "
                          f"over {rr.size} pairs")

    def decision(self, ms: MembershipScores) -> np.ndarray:
        return ms.get(self.score) - self.threshold_
