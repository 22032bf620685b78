"""``features``: every membership score of a space as features of a logistic regression."""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from trainprint.core.errors import TrainprintError
from trainprint.membership.rules.base import Rule, RuleContext
from trainprint.membership.scores import MembershipScores


class Features(Rule):
    """Standardised scores (``MembershipScores.features``) -> balanced logistic regression with
    inverse regularisation ``C``, fitted on the labelled training images. Reads labels."""

    name = "features"
    uses_labels = True
    default_score = "max"
    params = ("C", "random_state")
    C: float
    random_state: int

    def fit(self, ctx: RuleContext) -> None:
        assert ctx.y is not None
        if len(np.unique(ctx.y)) < 2:
            raise TrainprintError(f"{ctx.method_id}: the training images have one class only")
        self.classifier_ = make_pipeline(
            StandardScaler(),
            LogisticRegression(C=self.C, class_weight="balanced", random_state=self.random_state, max_iter=1000),
        ).fit(ctx.scores().features(), ctx.y)

    def decision(self, ms: MembershipScores) -> np.ndarray:
        return self.classifier_.decision_function(ms.features()).astype(np.float64)
