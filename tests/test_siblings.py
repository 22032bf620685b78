"""Sibling-aware scores: a real image is never compared with its own sibling group (slices of one
patient), so a member with near-duplicate siblings in the pool keeps its score."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter
from scipy.stats import rankdata

from trainprint.membership.mia import MiaMethod
from trainprint.membership.mia.crossfit import pool_folds
from trainprint.membership.scores import clear_cache, first_shares, mean_ranks
from trainprint.membership.similarity_method import make_rule_method


@pytest.fixture(autouse=True)
def _fresh_cache():
    clear_cache()
    yield
    clear_cache()


def _patients(seed: int = 0, side: int = 16, n_patients: int = 10, siblings: int = 4):
    """Smooth random images: ``n_patients`` patients, patient 0 with ``siblings`` near-duplicate
    slices besides its own; G holds a noisy copy of patient 0's slice and fresh images.
    Returns (pool (p, s, s), groups (p,), G (m, s, s)); pool row 0 is the member's slice."""
    rng = np.random.default_rng(seed)
    base = gaussian_filter(rng.random((n_patients, side, side)), (0, 2, 2))
    base = (base - base.min()) / (base.max() - base.min())
    sib = np.clip(base[:1] + rng.normal(0, 0.01, (siblings, side, side)), 0, 1)
    pool = np.concatenate([base, sib]).astype(np.float32)
    groups = np.array([f"p{i}" for i in range(n_patients)] + ["p0"] * siblings)
    fresh = gaussian_filter(rng.random((12, side, side)), (0, 2, 2))
    fresh = (fresh - fresh.min()) / (fresh.max() - fresh.min())
    G = np.concatenate([np.clip(base[:1] + rng.normal(0, 0.02, (1, side, side)), 0, 1), fresh]).astype(np.float32)
    return pool, groups, G


@pytest.mark.parametrize("method", ["sim-pixel/calibrated", "sim-ncc/calibrated", "mia-pixel/gan-leaks-cal"])
def test_a_member_with_planted_siblings_keeps_its_score(method: str) -> None:
    pool, groups, G = _patients()
    n = 10  # the patients without the planted siblings

    def score(P: np.ndarray, g: np.ndarray | None) -> float:
        space, name = method.split("/")
        if space.startswith("sim-"):
            est = make_rule_method(space[4:], name).fit(P, None, G, P, pool_groups=g)
        else:
            est = MiaMethod(space[4:], name).fit(P, None, G, P, pool_groups=g)
        return float(est.decision_function(P[:1])[0])

    alone = score(pool[:n], None)  # no sibling in the pool
    blind = score(pool, None)  # siblings in the pool, groups unknown: they argue against it
    aware = score(pool, groups)  # siblings in the pool, left out as its own group
    assert aware == pytest.approx(alone, abs=1e-6)
    assert blind < alone - 0.01


def test_sibling_aware_ranks_equal_a_brute_force_count() -> None:
    rng = np.random.default_rng(3)
    c, m = 7, 9
    S_cg = rng.random((c, m))
    A = rng.random((c, c))
    S_cc = (A + A.T) / 2
    groups = np.array(["a", "a", "b", "c", "c", "c", "d"])
    rank_gen, rank_real = mean_ranks(S_cg, S_cc, groups)
    first_gen, first_real = first_shares(S_cg, S_cc, groups)
    for r in range(c):
        mine = groups == groups[r]
        cand = np.flatnonzero(~mine | (np.arange(c) == r))  # r and the other groups
        ranks = [rankdata(-S_cg[cand, g])[list(cand).index(r)] / len(cand) for g in range(m)]
        assert rank_gen[r] == pytest.approx(np.mean(ranks))
        assert first_gen[r] == pytest.approx(np.mean([S_cg[r, g] > S_cg[~mine, g].max() for g in range(m)]))
        lists = np.flatnonzero(~mine)  # the lists of the other groups' images
        rr, fr = [], []
        for p in lists:
            members = np.flatnonzero(groups != groups[p])  # p's list: the groups other than p's
            order = rankdata(-S_cc[members, p])
            rr.append(order[list(members).index(r)] / len(members))
            fr.append(float(members[np.argmax(S_cc[members, p])] == r))
        assert rank_real[r] == pytest.approx(np.mean(rr))
        assert first_real[r] == pytest.approx(np.mean(fr))


def test_without_groups_the_ranks_are_vcmis() -> None:
    rng = np.random.default_rng(4)
    S_cg, A = rng.random((6, 5)), rng.random((6, 6))
    S_cc = (A + A.T) / 2
    singletons = np.array([f"g{i}" for i in range(6)])
    for a, b in zip(mean_ranks(S_cg, S_cc) + first_shares(S_cg, S_cc),
                    mean_ranks(S_cg, S_cc, singletons) + first_shares(S_cg, S_cc, singletons)):
        np.testing.assert_allclose(a, b)


def test_cross_fitting_folds_keep_siblings_together() -> None:
    groups = np.repeat([f"p{i}" for i in range(9)], [1, 2, 3, 4, 5, 1, 2, 3, 4])
    folds = pool_folds(len(groups), 5, 0, groups)
    for g in np.unique(groups):
        assert len(set(folds[groups == g])) == 1
    assert len(set(folds)) == 5
