"""Decision rules: membership scores -> used / not used, one small class per rule.

Label-free (``fit`` reads no label; real-real statistics come from the unlabelled pool):

    realmax     RealMax           best generated match beats the largest real-real similarity (VCMI)
    meanstd     MeanStd           ... beats mean + std_k std of real-real similarities (VCMI, k=3)
    nn          NearestNeighbour  the nearest real image of at least one generated image (VCMI)
    calibrated  Calibrated        best match in G beats the best match among the other reals
    fraction    Fraction          the top q fraction of the images scored together
    ranking     Ranking           ranked higher in generated images' lists than in real ones' (VCMI)
    clustering  Clustering        largest similarity above mean + std_k std of the whole matrix (VCMI)
    ensemble    Ensemble          ranking, forced used by realmax, forced not used by nn (VCMI)

Fitted on labels (the training folds only):

    threshold   Threshold         a cut on one score maximising balanced accuracy (or MCC)
    features    Features          the four scores as features of a logistic regression

A new rule is a new module here with one ``Rule`` subclass, added to ``RULES`` below.
"""

from __future__ import annotations

from trainprint.membership.rules.base import Rule, RuleContext
from trainprint.membership.rules.calibrated import Calibrated
from trainprint.membership.rules.clustering import Clustering
from trainprint.membership.rules.ensemble import Ensemble
from trainprint.membership.rules.features import Features
from trainprint.membership.rules.fraction import Fraction
from trainprint.membership.rules.meanstd import MeanStd
from trainprint.membership.rules.nearest import NearestNeighbour
from trainprint.membership.rules.ranking import Ranking
from trainprint.membership.rules.realmax import RealMax
from trainprint.membership.rules.threshold import OBJECTIVES, Threshold, best_threshold

#: rule name -> class, in the order method ids are listed
RULES: dict[str, type[Rule]] = {
    cls.name: cls for cls in (RealMax, MeanStd, NearestNeighbour, Calibrated, Fraction, Ranking, Clustering, Ensemble,
                              Threshold, Features)
}
LABEL_FREE_RULES: tuple[str, ...] = tuple(n for n, c in RULES.items() if not c.uses_labels)
LABELLED_RULES: tuple[str, ...] = tuple(n for n, c in RULES.items() if c.uses_labels)

__all__ = ["LABELLED_RULES", "LABEL_FREE_RULES", "OBJECTIVES", "RULES", "Rule", "RuleContext", "best_threshold"]
