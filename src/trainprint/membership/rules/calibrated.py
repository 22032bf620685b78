"""``calibrated``: used when the best match in G beats the best match among the other real images."""

from __future__ import annotations

import numpy as np

from trainprint.membership.rules.base import Rule
from trainprint.membership.scores import MembershipScores


class Calibrated(Rule):
    """Used when ``score`` (default ``calibrated`` = max_g s(r, g) - max_p s(r, p)) is > 0: the image
    is more like some generated image than like any other real image. Label-free."""

    name = "calibrated"
    uses_labels = False
    default_score = "calibrated"

    def decision(self, ms: MembershipScores) -> np.ndarray:
        return ms.get(self.score)
