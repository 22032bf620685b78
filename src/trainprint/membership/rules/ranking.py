"""``ranking`` (VCMI's ranking rule): a real image that generated images rank higher than real images do."""

from __future__ import annotations

import numpy as np

from trainprint.core.errors import TrainprintError
from trainprint.membership.rules.base import Rule
from trainprint.membership.scores import MembershipScores


def ranking_score(ms: MembershipScores) -> np.ndarray:
    """(n,) float64 in (-1, 1): ``rank_real - rank_gen``, the image's mean normalised rank in the
    other real images' similarity lists minus its mean normalised rank in the generated images'
    lists. Positive: generated images put it nearer the top of their lists than real images do."""
    if ms.rank_gen is None or ms.rank_real is None:
        raise TrainprintError("ranking: the membership scores were computed without ranks (ranks=True)")
    rank_real = np.where(np.isnan(ms.rank_real), 0.5, ms.rank_real)  # a lone real image: the middle
    return (rank_real - ms.rank_gen).astype(np.float64)


class Ranking(Rule):
    """VCMI's ranking rule, as published: for each real image, its mean rank in the generated
    images' similarity lists against its mean rank among reals; used when it ranks better among
    generated images than its average among reals (``ranking_score`` > 0). Label-free. The ranks
    run over the candidates (the unlabelled pool and the scored images), each list without its
    owner; ties share their average rank."""

    name = "ranking"
    uses_labels = False
    default_score = "max"
    needs_ranks = True

    def decision(self, ms: MembershipScores) -> np.ndarray:
        return ranking_score(ms)
