"""``meanstd`` (VCMI's threshold_avg): used when the best match beats mean + k std of real-real pairs."""

from __future__ import annotations

import numpy as np

from trainprint.membership.rules.base import Rule, RuleContext, real_pairs
from trainprint.membership.scores import MembershipScores


class MeanStd(Rule):
    """Used when ``score`` (default ``max``) is above mean + ``std_k`` std of the similarities of
    distinct real pairs (VCMI: k = 3). Label-free."""

    name = "meanstd"
    uses_labels = False
    default_score = "max"
    params = ("std_k",)
    std_k: float

    def fit(self, ctx: RuleContext) -> None:
        rr = real_pairs(ctx.real_real())
        self.threshold_ = float(rr.mean() + self.std_k * rr.std())
        self.notes.append(f"{ctx.method_id}: threshold {self.threshold_:.6g} = mean + {self.std_k:g} std of "
                          f"real-real similarities over {rr.size} pairs")

    def decision(self, ms: MembershipScores) -> np.ndarray:
        return ms.get(self.score) - self.threshold_
