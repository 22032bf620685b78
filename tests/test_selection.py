"""The recommendation, its selection-aware estimate and the null test, on answers whose truth is known."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.model_selection import StratifiedKFold

from trainprint.evaluation.null import EVIDENCE, NO_EVIDENCE, FoldRefit, permutation_test, permute_within_sizes
from trainprint.evaluation.selection import HeldOut, candidates, describe, fold_mcc, recommend, selection_aware
from trainprint.membership.classifiers import FingerprintClassifier


def held(pred: np.ndarray, y: np.ndarray, fold: np.ndarray) -> HeldOut:
    m = pred.shape[0]
    return HeldOut(tuple(f"m{j}" for j in range(m)), y, fold, pred, np.full((m, int(fold.max()) + 1), np.nan))


def noise(n_methods: int, n: int, k: int, seed: int) -> HeldOut:
    """Answers with no relation to the labels (what a method finds in data without signal)."""
    rng = np.random.default_rng(seed)
    y = np.repeat([0, 1], n // 2)
    return held(rng.integers(0, 2, (n_methods, n)), y, np.arange(n) % k)


def test_leave_one_fold_out_selection_by_hand() -> None:
    y = np.array([1, 0] * 8)
    fold = np.repeat(np.arange(4), 4)
    good = y.copy()
    good[fold == 3] = 1 - y[fold == 3]  # right on folds 0-2, wrong on fold 3
    coin = np.tile([1, 1, 0, 0], 4)  # MCC 0 on every fold
    h = held(np.stack([coin, good]), y, fold)
    assert recommend(h)[0] == "m1"
    est = selection_aware(h, None, seed=0)
    # fold 3 is answered by m1 (best on folds 0-2), so its wrong answers count: accuracy 12/16
    assert est["method_per_fold"] == ["m1"] * 4 and est["accuracy"] == pytest.approx(0.75)
    assert est["accuracy_ci95"][0] <= 0.75 <= est["accuracy_ci95"][1]


def test_winners_curse_is_what_the_selection_aware_estimate_removes() -> None:
    h = noise(40, 160, 10, seed=1)
    best, mcc, _ = recommend(h)
    est = selection_aware(h, None, seed=0)
    assert mcc > 0.1  # the best of 40 coins looks like a method
    assert abs(est["accuracy"] - 0.5) < 0.1 and est["mcc_ci95"][0] < 0 < est["mcc_ci95"][1]


def test_bootstrap_over_groups_is_wider_than_over_images() -> None:
    rng = np.random.default_rng(2)
    y = np.repeat([0, 1], 60)
    groups = np.repeat(np.arange(12), 10)  # 12 patients of 10 images: 12 independent units, not 120
    pred = np.where(rng.random(12)[groups] < 0.7, y, 1 - y)  # right or wrong per patient
    h = held(pred[None], y, groups % 4)
    by_image, by_group = selection_aware(h, None, seed=0), selection_aware(h, groups, seed=0)
    width = lambda e: e["accuracy_ci95"][1] - e["accuracy_ci95"][0]  # noqa: E731
    assert width(by_group) > 1.5 * width(by_image)


def test_permutations_keep_groups_whole_and_sizes() -> None:
    rng = np.random.default_rng(0)
    units = np.array([0, 0, 1, 1, 2, 3, 4, 5, 5, 5])
    y = np.array([1, 1, 0, 0, 1, 0, 1, 0, 0, 1])
    for _ in range(50):
        p = permute_within_sizes(y, units, rng)
        assert p[0] == p[1] and p[2] == p[3] and sorted(p[7:]) == [0, 0, 1]  # whole units, same-size moves
        assert p.sum() == y.sum()


def test_null_test_says_no_evidence_on_noise_and_evidence_on_signal() -> None:
    h = noise(30, 160, 10, seed=3)
    result = permutation_test(h, None, {}, permutations=200, seed=0)
    assert result["verdict"] == NO_EVIDENCE and result["p_value"] > 0.05
    signal = h.pred.copy()
    flip = np.random.default_rng(4).random(160) < 0.3
    signal[7] = np.where(flip, 1 - h.y, h.y)  # one method agrees with the labels 70% of the time
    result = permutation_test(held(signal, h.y, h.fold), None, {}, permutations=200, seed=0)
    assert result["verdict"] == EVIDENCE and result["p_value"] < 0.01


def test_reselection_is_what_keeps_the_best_of_many_honest() -> None:
    """The best of 30 coins beats a null made for it alone, but not the null of the best of 30."""
    h = noise(30, 160, 10, seed=5)
    j = int(np.argmax(fold_mcc(h.y, h.pred, h.fold, 10).mean(1)))
    alone = permutation_test(held(h.pred[[j]], h.y, h.fold), None, {}, permutations=200, seed=0)
    all_ = permutation_test(h, None, {}, permutations=200, seed=0)
    assert alone["p_value"] < 0.05 < all_["p_value"]


def test_null_test_level_on_data_without_signal() -> None:
    """Rejections at alpha 0.05 on signal-free data sets: exact for answers that read no label, and
    for a classifier refitted under every permutation (Ojala & Garriga's test)."""
    fixed = sum(permutation_test(noise(5, 80, 5, seed=s), None, {}, permutations=99, seed=s)["verdict"] == EVIDENCE
                for s in range(40))
    refitted = 0
    for s in range(20):
        rng = np.random.default_rng(100 + s)
        X, y = rng.normal(size=(80, 6)), np.repeat([0, 1], 40)
        folds = list(StratifiedKFold(5, shuffle=True, random_state=s).split(X, y))
        fold, pred = np.empty(80, int), np.empty(80, int)
        refits = []
        for k, (tr, te) in enumerate(folds):
            clf = FingerprintClassifier("svm-linear", "real", random_state=s)
            fold[te], pred[te] = k, clf.fit(X[tr], y[tr]).predict(X[te])
            refits.append(FoldRefit(tr, te, clf.label_refitter(X[tr], X[te])))
        refitted += permutation_test(held(pred[None], y, fold), None, {0: refits}, permutations=39,
                                     seed=s)["verdict"] == EVIDENCE
    print(f"rejections: fixed answers {fixed} of 40, refitted classifier {refitted} of 20")
    assert fixed <= 6 and refitted <= 4  # P(Binomial(40, .05) > 6) = 0.003, P(Binomial(20, .05) > 4) = 0.003


def test_candidates_leave_out_baselines_and_fraction_unless_asked() -> None:
    ids = ["a/real/svm-2", "sim-ssim/fraction", "baseline/chance", "sim-ssim/realmax"]
    assert candidates(ids) == ["a/real/svm-2", "sim-ssim/realmax"]
    assert candidates(ids, include_fraction=True) == ["a/real/svm-2", "sim-ssim/fraction", "sim-ssim/realmax"]


def test_describe_reads_like_a_verdict() -> None:
    h = noise(3, 40, 4, seed=0)
    best, mcc, auc = recommend(h)
    null = permutation_test(h, None, {}, permutations=19, seed=0)
    lines = describe({"recommended": {"method": best, "mcc_mean": mcc, "candidates": 3},
                      "selection_aware": selection_aware(h, None, seed=0, reps=200), "null_test": null,
                      "verdict": null["verdict"]}, {"source": "auto", "n_groups": 40, "n_images": 40, "sizes": {"1": 40}})
    assert lines[0].startswith("groups: 40 among 40") and lines[1].startswith(f"recommended: {best}")
    assert "selection-aware" in lines[2] and lines[3].startswith("verdict: ") and "p = " in lines[3]
