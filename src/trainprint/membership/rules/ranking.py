"""``ranking`` (VCMI's ranking rule): a real image that generated images rank higher than real images do."""

from __future__ import annotations

import numpy as np

from trainprint.core.errors import TrainprintError
from trainprint.membership.rules.base import Rule, RuleContext
from trainprint.membership.scores import MembershipScores, top_counts

#: rank statistics of the ranking rule (the ``rank_stat`` parameter)
RANK_STATS = ("first", "mean")


def hubness_shrinkage(first_real: np.ndarray) -> tuple[float, float]:
    """Empirical-Bayes estimate of how often each image is ranked first, from the pool's real lists.

    ``first_real`` (c,): each pool image's share of the other c - 1 images' lists that rank it
    first. Every list ranks exactly one image first, so the shares average ``base = 1 / (c - 1)``.
    Each share is a mean of c - 1 zero/one draws: its sampling variance is estimated as
    ``within = mean(p (1 - p)) / (c - 2)``; the spread of the images' true rates as
    ``between = max(0, var(p) - within)`` (method of moments). Returns ``(base, B)`` with
    ``B = between / (between + within)`` in [0, 1]: the weight the image's own share gets in the
    shrunk estimate ``base + B (p - base)`` (0: the pool shows no hubness beyond chance)."""
    p = np.asarray(first_real, dtype=np.float64)
    c = p.size
    if c < 3:
        return (float(p.mean()) if c else 0.0), 0.0
    base = float(p.mean())
    within = float((p * (1 - p)).mean() / (c - 2))
    between = max(0.0, float(p.var(ddof=1)) - within)
    return base, (between / (between + within) if between > 0 else 0.0)


class Ranking(Rule):
    """VCMI's ranking rule: an image's rank in the generated images' similarity lists against its
    rank in the other real images' lists; used when the generated images rank it higher. Label-free.
    The lists run over the candidates (the unlabelled pool and the scored images), each list without
    its owner.

    ``rank_stat`` says which rank statistic is compared (docs/membership.md):

    - ``first`` (default): the share of the generated images' lists that rank the image first,
      against what the real lists predict for it: its share of the other reals' lists, shrunk
      toward the pool mean by empirical Bayes (``hubness_shrinkage``, fitted on the pool) and scaled
      by (c - 1) / c (a generated list has one more candidate). A near-copy of an image puts it
      first; an average rank hardly moves when a few of m lists rank it first.
    - ``mean``: VCMI's description read literally: mean normalised rank in the other reals' lists
      minus mean normalised rank in the generated images' lists (ties averaged).

    Either way the decision lies in (-1, 1), > 0 = the generated images favour the image more than
    the real ones do."""

    name = "ranking"
    uses_labels = False
    default_score = "max"
    needs_ranks = True
    params = ("rank_stat",)
    rank_stat: str

    def fit(self, ctx: RuleContext) -> None:
        if self.rank_stat not in RANK_STATS:
            raise TrainprintError(f"{ctx.method_id}: rank_stat={self.rank_stat!r}; expected one of {', '.join(RANK_STATS)}")
        if self.rank_stat == "first":
            S = ctx.real_real()  # (c, c), -inf for the owner and its siblings: each list holds other groups only
            lists = np.isfinite(S).sum(axis=0)  # (c,) lists an image appears in: those outside its group
            first_real = top_counts(S) / np.maximum(lists, 1)
            self.n_candidates_ = first_real.size
            self.base_, self.shrink_ = hubness_shrinkage(first_real)
            self.notes.append(f"{ctx.method_id}: ranked-first shares; real-list share shrunk toward "
                              f"{self.base_:.4g} with weight B = {self.shrink_:.3f} (pool of {first_real.size})")

    def ranking_score(self, ms: MembershipScores) -> np.ndarray:
        """(n,) float64 in (-1, 1): the comparison of ``rank_stat`` (see the class docstring)."""
        if ms.rank_gen is None or ms.rank_real is None or ms.first_gen is None or ms.first_real is None:
            raise TrainprintError("ranking: the membership scores were computed without ranks (ranks=True)")
        if self.rank_stat == "mean":
            rank_real = np.where(np.isnan(ms.rank_real), 0.5, ms.rank_real)  # a lone real image: the middle
            return (rank_real - ms.rank_gen).astype(np.float64)
        first_real = np.where(np.isnan(ms.first_real), self.base_, ms.first_real)
        c = self.n_candidates_
        expected = (self.base_ + self.shrink_ * (first_real - self.base_)) * (c - 1) / c
        return (ms.first_gen - expected).astype(np.float64)

    def decision(self, ms: MembershipScores) -> np.ndarray:
        return self.ranking_score(ms)
