"""``clustering`` (VCMI's clustering rule): a real image whose largest similarity stands out of the
whole (real + generated) similarity matrix."""

from __future__ import annotations

import numpy as np

from trainprint.core.errors import TrainprintError
from trainprint.membership.rules.base import Rule, RuleContext, real_pairs
from trainprint.membership.scores import MembershipScores


class Clustering(Rule):
    """Used when the image's largest similarity to any other image, generated or real
    (``max(max, real_max)``), is above mean + ``std_k`` std (VCMI: 3) of every entry of the pool's
    similarity matrix to the generated and to the other real images. Label-free.

    As VCMI describe it, a real image with a near-duplicate real sibling also stands out; the rule
    is kept as published (``calibrated`` is the variant that discounts siblings)."""

    name = "clustering"
    uses_labels = False
    default_score = "max"
    params = ("std_k",)
    std_k: float

    def fit(self, ctx: RuleContext) -> None:
        if ctx.real_gen is None:
            raise TrainprintError(f"{ctx.method_id}: the clustering rule needs the real x generated similarities")
        rr, rg = real_pairs(ctx.real_real()), np.asarray(ctx.real_gen(), dtype=np.float64).ravel()
        n = rr.size + rg.size
        mean = (rr.sum() + rg.sum()) / n
        var = (((rr - mean) ** 2).sum() + ((rg - mean) ** 2).sum()) / n
        self.threshold_ = float(mean + self.std_k * np.sqrt(var))
        self.notes.append(f"{ctx.method_id}: threshold {self.threshold_:.6g} = mean + {self.std_k:g} std of "
                          f"{n} real-real and real-generated similarities")

    def decision(self, ms: MembershipScores) -> np.ndarray:
        real_max = np.where(np.isnan(ms.real_max), -np.inf, ms.real_max)
        return np.maximum(ms.get("max"), real_max) - self.threshold_
