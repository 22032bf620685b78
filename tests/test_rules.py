"""Decision rules on hand-made examples with known answers, and the estimator contract."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone

from trainprint.core.errors import TrainprintError
from trainprint.membership.scores import clear_cache
from trainprint.membership.rules import LABEL_FREE_RULES, RULES, best_threshold
from trainprint.membership.similarity_method import SPACES, SimilarityMethod, make_rule_method, method_ids, parse_method_id


@pytest.fixture(autouse=True)
def _fresh_cache():
    clear_cache()
    yield
    clear_cache()


def _copies_example(side: int = 16, seed: int = 0):
    """8 real images: 4 used (G holds exact and noisy copies of them) and 4 not used (two pairs of
    near-duplicates, like neighbouring slices, far from everything in G).
    Returns R (8, side, side), y (8,), G (16, side, side)."""
    rng = np.random.default_rng(seed)
    noise = lambda n: 0.03 * rng.standard_normal((n, side, side)).astype(np.float32)  # noqa: E731
    base = rng.random((6, side, side)).astype(np.float32)
    R = np.concatenate([base[:4], base[[4]], base[[4]] + noise(1), base[[5]], base[[5]] + noise(1)])
    G = np.concatenate([R[:4], R[np.arange(12) % 4] + noise(12)])
    y = np.r_[np.ones(4), np.zeros(4)].astype(np.int64)
    return R, y, G


@pytest.mark.parametrize("space", ["pixel", "ncc", "ssim"])
@pytest.mark.parametrize("rule", ["realmax", "meanstd", "nn", "calibrated"])
def test_exact_copies_are_called_used(space: str, rule: str) -> None:
    R, y, G = _copies_example()
    m = make_rule_method(space, rule).fit(R, None, G, R)
    np.testing.assert_array_equal(m.predict(R), y)
    d = m.decision_function(R)
    assert d[:4].min() > d[4:].max()  # scores rank copies first too


def test_realmax_threshold_is_the_max_real_real_similarity() -> None:
    R, _, G = _copies_example()
    m = make_rule_method("pixel", "realmax").fit(R, None, G)
    S = -np.sqrt(((R[:, None] - R[None]) ** 2).mean((-2, -1)))
    assert m.threshold_ == pytest.approx(S[~np.eye(8, dtype=bool)].max(), abs=1e-4)
    assert any("threshold" in n for n in m.notes_)


def test_meanstd_uses_k() -> None:
    R, _, G = _copies_example()
    loose = make_rule_method("pixel", "meanstd", std_k=0.0).fit(R, None, G)
    strict = make_rule_method("pixel", "meanstd", std_k=3.0).fit(R, None, G)
    assert strict.threshold_ > loose.threshold_


def test_nn_rule_on_fingerprints() -> None:
    R = np.array([[0, 0], [5, 5], [9, 0]], dtype=np.float32)
    G = np.array([[0.1, 0], [8.9, 0.2]], dtype=np.float32)
    m = make_rule_method("vectornet-12", "nn").fit(R, None, G)
    np.testing.assert_array_equal(m.predict(R), [1, 0, 1])


@pytest.mark.parametrize("q, expected", [(0.5, 4), (0.25, 2), (0.0, 0), (1.0, 8)])
def test_fraction_calls_the_top_q_used(q: float, expected: int) -> None:
    R, y, G = _copies_example()
    pred = make_rule_method("pixel", "fraction", q=q).fit(R, None, G).predict(R)
    assert pred.sum() == expected
    if q == 0.5:
        np.testing.assert_array_equal(pred, y)


@pytest.mark.parametrize("rule", ["threshold", "features"])
def test_labelled_rules_learn_from_training_images(rule: str) -> None:
    R, y, G = _copies_example()
    m = make_rule_method("pixel", rule).fit(R, y, G, R)
    np.testing.assert_array_equal(m.predict(R), y)
    with pytest.raises(TrainprintError, match="needs labels"):
        make_rule_method("pixel", rule).fit(R, None, G)


@pytest.mark.parametrize("objective", ["balanced_accuracy", "mcc"])
def test_best_threshold(objective: str) -> None:
    s = np.array([0.1, 0.2, 0.3, 0.7, 0.8, 0.35])
    y = np.array([0, 0, 0, 1, 1, 1])
    t = best_threshold(s, y, objective)
    assert 0.3 < t < 0.35
    np.testing.assert_array_equal((s > t).astype(int), y)


@pytest.mark.parametrize("rule", RULES)
def test_estimator_contract(rule: str) -> None:
    """fit(R, y, G, R_pool) -> self; decision_function / predict shapes and types; notes_; clone."""
    R, y, G = _copies_example(seed=3)
    m = make_rule_method("ncc", rule, k=2)
    assert clone(m).get_params() == m.get_params()
    assert m.fit(R[::2], y[::2], G, R) is m
    d, p = m.decision_function(R[1::2]), m.predict(R[1::2])
    assert d.shape == (4,) and d.dtype == np.float64 and np.isfinite(d).all()
    assert p.shape == (4,) and set(np.unique(p)) <= {0, 1}
    assert isinstance(m.notes_, list)
    if rule not in ("fraction", "nn"):
        np.testing.assert_array_equal(p, (d > 0).astype(int))


def test_registry_lists() -> None:
    ids = method_ids()
    assert "sim-ssim/realmax" in ids and "sim-pixel/threshold" in ids and "sim-vectornet-12/nn" in ids
    assert len(ids) == len(SPACES) * len(RULES)
    assert parse_method_id("sim-dae-gu/fraction") == ("dae-gu", "fraction")
    assert set(LABEL_FREE_RULES) < set(RULES)


@pytest.mark.parametrize("args, kw, message", [
    (("warp", "realmax"), {}, "similarity space 'warp'"),
    (("pixel", "vote"), {}, "similarity rule 'vote'"),
    (("pixel", "realmax"), {"colour": 1}, "colour"),
])
def test_make_rule_method_errors(args, kw, message) -> None:
    with pytest.raises(TrainprintError, match=message):
        make_rule_method(*args, **kw)


@pytest.mark.parametrize("kw, message", [({"q": 2.0}, "q=2.0"), ({"score": "best"}, "score 'best'"),
                                         ({"objective": "f2"}, "objective 'f2'")])
def test_bad_parameters_fail_at_fit(kw, message) -> None:
    R, y, G = _copies_example()
    with pytest.raises(TrainprintError, match=message):
        SimilarityMethod("pixel", "fraction", **kw).fit(R, y, G)
