"""``threshold``: a cut on one membership score, chosen on the labelled training images."""

from __future__ import annotations

import numpy as np

from trainprint.membership.rules.base import Rule, RuleContext
from trainprint.membership.scores import MembershipScores

OBJECTIVES = ("balanced_accuracy", "mcc")


class Threshold(Rule):
    """Used when ``score`` (default ``max``) is above the cut that maximises ``objective`` on the
    training images. Reads labels."""

    name = "threshold"
    uses_labels = True
    default_score = "max"
    params = ("objective",)
    objective: str

    def fit(self, ctx: RuleContext) -> None:
        assert ctx.y is not None  # SimilarityMethod.fit refuses a labelled rule without labels
        self.threshold_ = best_threshold(ctx.scores().get(self.score), ctx.y, self.objective)
        self.notes.append(f"{ctx.method_id}: threshold {self.threshold_:.6g} on score {self.score!r} "
                          f"maximising {self.objective} on {len(ctx.y)} images")

    def decision(self, ms: MembershipScores) -> np.ndarray:
        return ms.get(self.score) - self.threshold_


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
