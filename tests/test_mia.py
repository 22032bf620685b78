"""The membership-inference scores (``trainprint.membership.mia``) and VCMI's ranking, clustering and
ensemble rules: each against a brute-force or library computation, the cross-fitting, the method
contract and ids, and the strict evaluation with its null test."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter
from sklearn.base import clone
from sklearn.neighbors import KernelDensity

from helpers_eval import make_images
from trainprint.core import files as io
from trainprint.core.errors import TrainprintError
from trainprint.evaluation.evaluate import EvalConfig, evaluate_images
from trainprint.evaluation.fold import fold_refit, run_method
from trainprint.membership.mia import MiaMethod, make_mia_method
from trainprint.membership.mia import discriminator as disc_mod
from trainprint.membership.mia.density import gan_leaks_cal, intrinsic_dimension, knn_log_ratio
from trainprint.membership.mia.discriminator import DiscriminatorMethod
from trainprint.membership.mia.fusion import COMPONENTS, FusionMethod
from trainprint.membership.rules import RULES
from trainprint.membership.scores import clear_cache, mean_ranks, membership_scores
from trainprint.membership.similarity_method import make_rule_method
from trainprint.methods import CONTRASTIVE_METHODS, DEFAULT_METHODS, MIA_METHODS, expand_methods, parse_method


@pytest.fixture(autouse=True)
def _fresh_cache():
    clear_cache()
    yield
    clear_cache()


def _task(seed: int = 0, side: int = 24, n: int = 10, copies: int = 2):
    """R (2n, side, side) with the n used first, y, G = noisy copies of the used images."""
    rng = np.random.default_rng(seed)
    x = gaussian_filter(rng.standard_normal((2 * n, side, side)), sigma=(0, 2, 2))
    R = np.clip(0.5 + 0.15 * x / x.std((1, 2), keepdims=True), 0, 1).astype(np.float32)
    G = np.clip(np.repeat(R[:n], copies, 0) + 0.03 * rng.standard_normal((n * copies, side, side)), 0, 1)
    return R, np.r_[np.ones(n), np.zeros(n)].astype(np.int64), G.astype(np.float32)


# ------------------------------------------------------------------ density scores, brute force
def test_knn_log_ratio_is_the_knn_density_formula() -> None:
    rng = np.random.default_rng(0)
    D_qg, D_qref = rng.uniform(0.1, 2, (6, 9)), rng.uniform(0.1, 2, (6, 7))
    D_qref[np.arange(6), np.arange(6)] = np.inf  # each query is reference row i
    k, d = 2, 3.5
    got = knn_log_ratio(D_qg, 9, D_qref, k, d)
    nearest = np.sort(D_qg, axis=1)[:, :3]  # a search's top 3: the same answer
    np.testing.assert_array_equal(knn_log_ratio(nearest, 9, D_qref, k, d), got)
    with pytest.raises(ValueError, match="k=2"):
        knn_log_ratio(nearest[:, :1], 9, D_qref, k, d)
    for i in range(6):
        r_g = np.sort(D_qg[i])[k - 1]
        ref = np.sort(D_qref[i][np.isfinite(D_qref[i])])
        log_pg = np.log(k / 9) - d * np.log(r_g)
        log_pr = np.log(k / len(ref)) - d * np.log(ref[k - 1])
        assert got[i] == pytest.approx(log_pg - log_pr)


def test_intrinsic_dimension_of_a_3d_subspace() -> None:
    rng = np.random.default_rng(0)
    Z = rng.uniform(size=(400, 3)) @ rng.normal(size=(3, 20))
    D = np.sqrt(((Z[:, None] - Z[None]) ** 2).sum(-1))
    np.fill_diagonal(D, np.inf)
    assert 2.3 < intrinsic_dimension(D, k=10) < 3.7


def test_gan_leaks_cal_equals_the_calibrated_score_in_pixel_space() -> None:
    R, _, G = _task()
    m = make_mia_method("pixel", "gan-leaks-cal").fit(R, None, G, R)
    ms = membership_scores("pixel", R, G, R)
    np.testing.assert_allclose(m.decision_function(R), ms.calibrated, atol=1e-5)
    D_g = np.sqrt(((R[:, None] - G[None]) ** 2).mean((-2, -1)))
    D_r = np.sqrt(((R[:, None] - R[None]) ** 2).mean((-2, -1)))
    np.fill_diagonal(D_r, np.inf)
    np.testing.assert_allclose(gan_leaks_cal(D_g, D_r), D_r.min(1) - D_g.min(1))


def test_kde_scores_are_cross_fitted_with_sklearn_kde() -> None:
    R, _, G = _task()
    m = make_mia_method("pixel", "domias-kde", n_components=4).fit(R, None, G, R)
    Z_ref, Z_g = m.project_(R.reshape(len(R), -1)), m.project_(G.reshape(len(G), -1))
    d = m.decision_function(R)
    for i in range(len(R)):
        out = m.folds_ != m.folds_[i]  # the reference images outside i's fold: never i itself
        assert not out[i]
        want = (KernelDensity(bandwidth=m.bandwidth_).fit(Z_g).score_samples(Z_ref[[i]])
                - KernelDensity(bandwidth=m.bandwidth_).fit(Z_ref[out]).score_samples(Z_ref[[i]]))
        assert d[i] == pytest.approx(want[0], abs=1e-8)


def test_classifier_scores_come_from_the_fold_that_did_not_train_on_the_image() -> None:
    R, _, G = _task()
    m = make_mia_method("ncc", "domias-clf").fit(R, None, G, R)
    d = m.decision_function(R)
    Z = m.project_(R)  # images in; their NCC vectors are made inside, a block at a time
    want = np.array([m.models_[m.folds_[i]].decision_function(Z[[i]])[0] for i in range(len(R))])
    np.testing.assert_allclose(d, want)
    # an image outside the pool gets the mean of the fold models
    new = np.clip(R[:1] + 0.2, 0, 1)
    zn = m.project_(new)
    assert m.decision_function(new)[0] == pytest.approx(np.mean([mm.decision_function(zn)[0] for mm in m.models_]))


def test_discriminator_never_scores_an_image_it_trained_on(monkeypatch) -> None:
    seen: list[set[bytes]] = []
    real_cls = disc_mod.BalancedBatches

    class Spy(real_cls):  # type: ignore[misc, valid-type]
        def __init__(self, real, gen, batch_size, **kw):  # noqa: ANN001, ANN003
            seen.append({r.numpy().tobytes() for r in real})
            super().__init__(real, gen, batch_size, **kw)

    monkeypatch.setattr(disc_mod, "BalancedBatches", Spy)
    R, _, G = _task(side=32)
    m = DiscriminatorMethod("smoke", n_folds=3).fit(R, None, G, R)
    assert len(seen) == 3
    for i, r in enumerate(m.ref_):
        assert r.tobytes() not in seen[m.folds_[i]]
        assert sum(r.tobytes() in s for s in seen) == 2  # trained on by the two other folds' models
    d = m.decision_function(R)
    assert d.shape == (len(R),) and np.isfinite(d).all()
    np.testing.assert_array_equal(m.predict(R), (d > 0).astype(int))


def test_not_used_reference_reads_labels_and_scores_held_out_images() -> None:
    R, y, G = _task()
    with pytest.raises(TrainprintError, match="needs labels"):
        MiaMethod("pixel", "domias-knn", reference="not-used").fit(R, None, G, R)
    train = np.r_[np.arange(0, 7), np.arange(10, 17)]
    m = MiaMethod("pixel", "domias-knn", reference="not-used").fit(R[train], y[train], G, R)
    assert len(m.ref_) == 7
    test = np.setdiff1d(np.arange(20), train)
    assert m.decision_function(R[test])[:3].min() > m.decision_function(R[test])[3:].max()


# ------------------------------------------------------------------ VCMI rules
def test_mean_ranks_match_a_brute_force_count() -> None:
    rng = np.random.default_rng(1)
    S_cg, S_cc = rng.normal(size=(5, 7)), rng.normal(size=(5, 5))
    S_cc = (S_cc + S_cc.T) / 2
    rg, rr = mean_ranks(S_cg, S_cc)
    for c in range(5):
        want_g = np.mean([1 + np.sum(S_cg[:, g] > S_cg[c, g]) for g in range(7)]) / 5
        want_r = np.mean([1 + sum(S_cc[q, p] > S_cc[c, p] for q in range(5) if q not in (p, c))
                          for p in range(5) if p != c]) / 4
        assert rg[c] == pytest.approx(want_g) and rr[c] == pytest.approx(want_r)


def test_clustering_threshold_is_mean_plus_3_std_of_the_whole_matrix() -> None:
    R, _, G = _task()
    m = make_rule_method("pixel", "clustering").fit(R, None, G, R)
    S_rg = -np.sqrt(((R[:, None] - G[None]) ** 2).mean((-2, -1)))
    S_rr = -np.sqrt(((R[:, None] - R[None]) ** 2).mean((-2, -1)))
    whole = np.r_[S_rg.ravel(), S_rr[np.triu_indices(20, 1)]]
    assert m.threshold_ == pytest.approx(whole.mean() + 3 * whole.std(), abs=1e-4)


def test_ensemble_forces_realmax_used_then_nn_not_used() -> None:
    R, _, G = _task()
    ms = membership_scores("pixel", R, G, R, ranks=True)
    rule = RULES["ensemble"](score="max", rank_stat="mean")
    rule.threshold_ = float(np.median(ms.max))
    d = rule.decision(ms)
    rank = ms.rank_real - ms.rank_gen
    forced_not = ms.nn == 0
    forced_used = (ms.max > rule.threshold_) & ~forced_not
    assert (d[forced_not] < -1).all() and (d[forced_used] > 1).all()
    np.testing.assert_allclose(d[~forced_not & ~forced_used], rank[~forced_not & ~forced_used])


def test_ranking_rule_needs_ranks() -> None:
    R, _, G = _task()
    ms = membership_scores("pixel", R, G, R)  # without ranks
    with pytest.raises(TrainprintError, match="ranks"):
        RULES["ranking"](score="max", rank_stat="mean").decision(ms)
    m = make_rule_method("ncc", "ranking").fit(R, None, G, R)
    assert m.decision_function(R).shape == (20,)


# ------------------------------------------------------------------ ids, contract, errors
def test_every_listed_id_parses_and_builds_its_estimator() -> None:
    for mid in MIA_METHODS + CONTRASTIVE_METHODS:
        spec = parse_method(mid)
        est = spec.factory(0, "cpu")
        assert clone(est).get_params() == est.get_params()
        assert spec.uses_labels == (mid in ("mia-fusion/features", "sim-contrastive/threshold",
                                            "sim-contrastive/features"))
    assert set(MIA_METHODS) <= set(DEFAULT_METHODS)
    assert not set(CONTRASTIVE_METHODS) & set(DEFAULT_METHODS)
    assert expand_methods("mia-ssim/*") == ["mia-ssim/domias-knn", "mia-ssim/gan-leaks-cal",
                                            "mia-ssim/domias-knn-nu", "mia-ssim/gan-leaks-cal-nu"]
    assert "mia-contrastive/domias-kde" in expand_methods("mia-*/domias-kde")


@pytest.mark.parametrize("bad, match", [("mia-ssim/domias-kde", "needs a vector space"),
                                        ("mia-nosuch/domias-knn", "unknown extractor"),
                                        ("mia-pixel/nosuch", "expected one of"),
                                        ("mia-fusion/nosuch", "expected")])
def test_bad_ids_are_one_line_errors(bad: str, match: str) -> None:
    with pytest.raises(TrainprintError, match=match):
        parse_method(bad)


def test_bad_parameters_name_the_value() -> None:
    R, _, G = _task()
    with pytest.raises(TrainprintError, match="k=0"):
        MiaMethod("pixel", "domias-knn", k=0).fit(R, None, G)
    with pytest.raises(TrainprintError, match="reference 'x'"):
        MiaMethod("pixel", "domias-knn", reference="x").fit(R, None, G)
    with pytest.raises(TrainprintError, match="n_folds=1"):
        MiaMethod("pixel", "domias-kde", n_folds=1).fit(R, None, G)
    with pytest.raises(TrainprintError, match="rule 'x'"):
        FusionMethod("x").fit(R, None, G)


def test_fusion_rank_is_a_centred_mean_rank_in_the_pool() -> None:
    R, y, G = _task()
    m = FusionMethod("rank").fit(R, None, G, R)
    assert m.pool_scores_.shape == (20, len(COMPONENTS))
    d = m.decision_function(R)
    assert (-0.5 <= d).all() and (d <= 0.5).all() and d[:10].min() > d[10:].max()
    P = m.pool_scores_
    ranks = np.stack([(P[:, j][None, :] < P[:, j][:, None]).mean(1) + 0.5 * (P[:, j][None, :] == P[:, j][:, None]).mean(1)
                      for j in range(P.shape[1])], 1)
    np.testing.assert_allclose(d, ranks.mean(1) - 0.5)


# ------------------------------------------------------------------ strict evaluation and the null test
def test_new_methods_run_under_strict_evaluate_with_their_null_handling(tmp_path) -> None:
    images, _ = make_images(n_used=8, n_not=8, n_gen=16)
    methods = ("mia-pixel/domias-knn", "mia-ncc/domias-kde", "mia-fusion/features", "mia-disc/cnn", "sim-ncc/ensemble")
    cfg = EvalConfig(dev_dir="/nonexistent/dev", methods=methods, folds=2, device="cpu", preset="smoke",
                     permutations=19)
    rows = evaluate_images(images, cfg, tmp_path / "run")
    assert [r["method"] for r in rows] == list(methods)
    scores = io.read_csv(tmp_path / "run" / "scores.csv")
    assert {r["method"] for r in scores} == set(methods) and len(scores) == 16 * len(methods)
    null = io.read_json(tmp_path / "run" / "selection.json")["null_test"]
    assert null["refitted"] == ["mia-fusion/features"]  # the one that reads labels, on label-free pixels
    assert {"mia-pixel/domias-knn", "mia-disc/cnn", "sim-ncc/ensemble"} <= set(null["kept_answers"])


def test_fusion_features_refit_with_the_true_labels_gives_its_answers() -> None:
    images, _ = make_images(n_used=8, n_not=8, n_gen=16)
    X = images.pixels.astype(np.float32) / 255
    real_idx = np.flatnonzero(np.isin(images.split, ("real_used", "real_not_used")))
    gen_idx = np.flatnonzero(images.split == "generated")
    y = (images.split[real_idx] == "real_used").astype(np.int64)
    train, test = np.r_[0:5, 8:13], np.r_[5:8, 13:16]
    spec = parse_method("mia-fusion/features")
    _, preds, _ = run_method(spec, X, real_idx, y, train, test, gen_idx, 0, "cpu")
    refit = fold_refit(spec, X, real_idx, y, train, test, gen_idx, 0, "cpu")
    np.testing.assert_array_equal(refit.refit(y[train]), preds)


def test_not_used_reference_ids_read_labels_and_refit_under_the_null() -> None:
    spec = parse_method("mia-ssim/domias-knn-nu")
    assert spec.uses_labels and spec.kind == "mia"
    assert expand_methods("mia-nu") == [f"mia-{s}/{sc}-nu" for s in ("pixel", "ncc", "ssim")
                                        for sc in ("domias-knn", "gan-leaks-cal")]
    with pytest.raises(TrainprintError):
        parse_method("mia-pixel/domias-kde-nu")
    images, _ = make_images(n_used=8, n_not=8, n_gen=16)
    X = images.pixels.astype(np.float32) / 255
    real_idx = np.flatnonzero(np.isin(images.split, ("real_used", "real_not_used")))
    gen_idx = np.flatnonzero(images.split == "generated")
    y = (images.split[real_idx] == "real_used").astype(np.int64)
    train, test = np.r_[0:5, 8:13], np.r_[5:8, 13:16]
    spec = parse_method("mia-pixel/gan-leaks-cal-nu")
    scores, preds, _ = run_method(spec, X, real_idx, y, train, test, gen_idx, 0, "cpu")
    D_g = np.sqrt(((X[real_idx[test]][:, None] - X[gen_idx][None]) ** 2).mean((-2, -1)))
    ref = X[real_idx[train][y[train] == 0]]
    D_r = np.sqrt(((X[real_idx[test]][:, None] - ref[None]) ** 2).mean((-2, -1)))
    np.testing.assert_allclose(scores, D_r.min(1) - D_g.min(1), atol=1e-5)
    refit = fold_refit(spec, X, real_idx, y, train, test, gen_idx, 0, "cpu")
    np.testing.assert_array_equal(refit.refit(y[train]), preds)
