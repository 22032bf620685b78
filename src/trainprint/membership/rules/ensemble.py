"""``ensemble`` (VCMI's ensemble): ranking, overruled by realmax where it says used and by the nearest-
neighbour rule where it says not used."""

from __future__ import annotations

import numpy as np

from trainprint.membership.rules.base import RuleContext, real_pairs
from trainprint.membership.rules.ranking import Ranking
from trainprint.membership.scores import MembershipScores

#: offset that moves a forced answer past every ranking score (which lies in (-1, 1))
_FORCE = 2.0


class Ensemble(Ranking):
    """VCMI's ensemble, as published: start from ``ranking`` (with the same ``rank_stat``); force
    "used" where ``realmax`` says used (best generated match above the largest real-real
    similarity); then force "not used" where the retrieval rule says not used (no generated image has
    this image as its nearest real). The decision keeps the ranking score as a tie-breaker inside each
    forced group: ``ranking + 2`` (forced used), ``ranking - 2`` (forced not used), else ``ranking``.
    Label-free."""

    name = "ensemble"

    def fit(self, ctx: RuleContext) -> None:
        super().fit(ctx)
        rr = real_pairs(ctx.real_real())
        self.threshold_ = float(rr.max())
        self.notes.append(f"{ctx.method_id}: realmax threshold {self.threshold_:.6g} = max real-real similarity "
                          f"over {rr.size} pairs")

    def decision(self, ms: MembershipScores) -> np.ndarray:
        d = self.ranking_score(ms)
        used = ms.get(self.score) > self.threshold_
        not_used = ms.nn == 0
        out = d.copy()
        out[used] = d[used] + _FORCE
        out[not_used] = d[not_used] - _FORCE  # applied last, as in VCMI's description
        return out
