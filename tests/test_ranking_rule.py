"""VCMI's ranking rule with its ranked-first statistic (``rank_stat="first"``): the top-of-list shares
against a brute-force count, the empirical-Bayes shrinkage against its formula, the decision, and
the ensemble built on it."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter
from sklearn.base import clone

from trainprint.core.errors import TrainprintError
from trainprint.membership.rules import RULES, RuleContext
from trainprint.membership.rules.base import real_pairs
from trainprint.membership.rules.ranking import hubness_shrinkage
from trainprint.membership.scores import (clear_cache, first_shares, membership_scores, real_real_matrix,
                                         real_real_similarities)
from trainprint.membership.similarity_method import make_rule_method


@pytest.fixture(autouse=True)
def _fresh_cache():
    clear_cache()
    yield
    clear_cache()


def _task(seed: int = 0, side: int = 16, n: int = 8, copies: int = 2):
    """R (2n, side, side) with the n used first, y, G = noisy copies of the used images."""
    rng = np.random.default_rng(seed)
    x = gaussian_filter(rng.standard_normal((2 * n, side, side)), sigma=(0, 2, 2))
    R = np.clip(0.5 + 0.15 * x / x.std(), 0, 1).astype(np.float32)
    G = np.clip(np.repeat(R[:n], copies, 0) + 0.02 * rng.standard_normal((n * copies, side, side)), 0, 1)
    return R, np.r_[np.ones(n), np.zeros(n)].astype(np.int64), G.astype(np.float32)


def test_first_shares_match_a_brute_force_count_with_shared_ties() -> None:
    rng = np.random.default_rng(2)
    S_cg, S_cc = rng.normal(size=(5, 9)), rng.normal(size=(5, 5))
    S_cc = (S_cc + S_cc.T) / 2
    S_cg[[1, 3], 4] = S_cg[:, 4].max() + 1.0  # generated image 4: a tie at the top between candidates 1 and 3
    fg, fr = first_shares(S_cg, S_cc)
    want_g = np.zeros(5)
    for g in range(9):
        tops = np.flatnonzero(S_cg[:, g] == S_cg[:, g].max())
        want_g[tops] += 1 / len(tops)
    want_r = np.zeros(5)
    for p in range(5):
        others = [q for q in range(5) if q != p]
        want_r[others[int(np.argmax(S_cc[others, p]))]] += 1
    np.testing.assert_allclose(fg, want_g / 9)
    np.testing.assert_allclose(fr, want_r / 4)
    assert fg.sum() == pytest.approx(1.0) and fr.sum() == pytest.approx(5 / 4)


def test_real_real_matrix_holds_the_pairs_and_leaves_out_siblings() -> None:
    R, _, _ = _task()
    S = real_real_matrix("pixel", R)
    d = -np.sqrt(((R[:, None] - R[None]) ** 2).mean((-2, -1)))
    off = ~np.eye(len(R), dtype=bool)
    np.testing.assert_allclose(S[off], d[off], atol=1e-5)
    assert np.isneginf(np.diag(S)).all()
    np.testing.assert_allclose(np.sort(real_pairs(S)), np.sort(real_real_similarities("pixel", R)))
    groups = np.array(["a", "a"] + [f"s{i}" for i in range(len(R) - 2)])
    Sg = real_real_matrix("pixel", R, groups)
    assert np.isneginf(Sg[0, 1]) and np.isneginf(Sg[1, 0]) and np.isfinite(Sg[0, 2])
    assert real_real_similarities("pixel", R, groups).size == len(R) * (len(R) - 1) // 2 - 1
    with pytest.raises(TrainprintError, match="2 sibling groups"):
        real_real_matrix("pixel", R, np.array(["one"] * len(R)))


def test_hubness_shrinkage_is_the_method_of_moments_weight() -> None:
    c = 6
    even = np.full(c, 1 / (c - 1))  # every image first in one list: no hubness at all
    assert hubness_shrinkage(even) == (pytest.approx(1 / (c - 1)), 0.0)
    p = np.array([0.0, 0.0, 0.0, 0.2, 0.2, 0.8])  # one hub, first in 4 of its 5 lists
    base, B = hubness_shrinkage(p)
    within = (p * (1 - p)).mean() / (c - 2)
    between = p.var(ddof=1) - within
    assert base == pytest.approx(p.mean()) and B == pytest.approx(between / (between + within)) and 0 < B < 1


def test_first_statistic_decision_is_the_share_of_generated_lists_minus_the_shrunk_real_share() -> None:
    R, y, G = _task()
    m = make_rule_method("pixel", "ranking").fit(R, None, G, R)
    ms = membership_scores("pixel", R, G, R, ranks=True)
    rule = m.rule_
    c = len(R)
    want = ms.first_gen - (rule.base_ + rule.shrink_ * (ms.first_real - rule.base_)) * (c - 1) / c
    np.testing.assert_allclose(m.decision_function(R), want)
    np.testing.assert_allclose(ms.first_gen, ms.nn / len(G))  # no ties: the share of G's lists = nn / m
    d = m.decision_function(R)
    assert d[y == 1].min() > 0 > d[y == 0].max()  # every copied image, and no other, favoured by G
    assert any("weight B" in n for n in m.notes_)


def test_mean_statistic_is_vcmi_literal_difference_of_mean_ranks() -> None:
    R, _, G = _task()
    m = make_rule_method("pixel", "ranking", rank_stat="mean").fit(R, None, G, R)
    ms = membership_scores("pixel", R, G, R, ranks=True)
    np.testing.assert_allclose(m.decision_function(R), ms.rank_real - ms.rank_gen)
    assert clone(m).get_params()["rank_stat"] == "mean"


def test_ensemble_uses_the_same_rank_statistic() -> None:
    R, _, G = _task()
    for stat in ("first", "mean"):
        rk = make_rule_method("pixel", "ranking", rank_stat=stat).fit(R, None, G, R)
        en = make_rule_method("pixel", "ensemble", rank_stat=stat).fit(R, None, G, R)
        d_rank, d_ens = rk.decision_function(R), en.decision_function(R)
        free = (d_ens > -1) & (d_ens < 1)  # neither forced used nor forced not used
        np.testing.assert_allclose(d_ens[free], d_rank[free])
        np.testing.assert_allclose(np.abs(d_ens[~free] - d_rank[~free]), 2.0)


def test_unknown_rank_statistic_is_an_error_naming_it() -> None:
    R, _, G = _task()
    with pytest.raises(TrainprintError, match="rank_stat='median'"):
        make_rule_method("pixel", "ranking", rank_stat="median").fit(R, None, G, R)
    ctx = RuleContext("sim-pixel/ranking", lambda: None, None, lambda: np.zeros(3))
    with pytest.raises(TrainprintError, match="rank_stat='top'"):
        RULES["ranking"](score="max", rank_stat="top").fit(ctx)
