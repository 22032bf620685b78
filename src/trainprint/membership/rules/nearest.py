"""``nn`` (VCMI's retrieval): used when the image is the most similar real image of some generated one."""

from __future__ import annotations

import numpy as np

from trainprint.membership.rules.base import Rule
from trainprint.membership.scores import MembershipScores


class NearestNeighbour(Rule):
    """Used when at least one generated image has this real image as its nearest real image.
    The decision is ``count - 1`` plus a tie-breaker in (0, 1) from the rank of ``score`` (default
    ``calibrated``), so it is > 0 exactly when the count is >= 1 and images with equal counts are
    still ordered for ROC curves. Label-free."""

    name = "nn"
    uses_labels = False
    default_score = "calibrated"

    def decision(self, ms: MembershipScores) -> np.ndarray:
        tie = ms.get(self.score)
        rank = np.argsort(np.argsort(tie, kind="stable"), kind="stable")
        return ms.nn.astype(np.float64) - 1.0 + (rank + 1.0) / (len(rank) + 1.0)
