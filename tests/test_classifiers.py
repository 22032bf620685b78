"""Classifiers and strategies: the paper's kernels, ADASYN and its fallbacks, the method registry."""

from __future__ import annotations

import numpy as np
import pytest

from trainprint.membership.classifiers import FingerprintClassifier, make_classifier
from trainprint.core.errors import TrainprintError
from trainprint.methods import GRID_METHODS, expand_methods, parse_method


def _data(sep: float, n_real: int = 20, n_gen: int = 60, seed: int = 0):
    rng = np.random.default_rng(seed)
    R = rng.normal(0, 1, (n_real, 4))
    y = np.array([1, 0] * (n_real // 2))
    R[y == 0] += sep
    G = rng.normal(0, 1, (n_gen, 4))
    return R, y, G


def test_svm2_is_matlabs_polynomial_kernel():
    R, y, _ = _data(1.0)
    svm = make_classifier("svm-2").fit(R, y)
    x = np.random.default_rng(1).normal(size=(5, 4))
    kernel = (1.0 + svm.support_vectors_ @ x.T) ** 2  # MATLAB fitcsvm: (1 + x'y)^2
    manual = svm.dual_coef_ @ kernel + svm.intercept_
    assert np.allclose(manual.ravel(), svm.decision_function(x))


@pytest.mark.parametrize("clf", ["svm-linear", "svm-2", "knn-5"])
@pytest.mark.parametrize("strategy", ["real", "full"])
def test_every_classifier_and_strategy_scores_and_predicts(clf, strategy):
    R, y, G = _data(3.0)
    est = FingerprintClassifier(clf, strategy).fit(R, y, G)
    s, p = est.decision_function(R), est.predict(R)
    assert s.shape == p.shape == (20,) and set(np.unique(p)) <= {0, 1}
    assert np.mean(p == y) > 0.8  # well separated classes


def test_full_balances_with_adasyn_when_it_can():
    R, y, G = _data(0.0)  # overlapping classes: ADASYN finds majority neighbours
    est = FingerprintClassifier("svm-linear", "full").fit(R, y, G)
    assert type(est.model_[0]).__name__ == "ADASYN" and est.notes_ == []


def test_full_falls_back_to_smote_and_says_so():
    R, y, G = _data(50.0)  # not-used images far from everything: ADASYN refuses
    est = FingerprintClassifier("knn-5", "full").fit(R, y, G)
    assert type(est.model_[0]).__name__ == "SMOTE"
    assert any("ADASYN fallback to SMOTE" in n for n in est.notes_)


def test_full_with_one_minority_image_uses_random_oversampling():
    rng = np.random.default_rng(0)
    R, y, G = rng.normal(size=(3, 4)), np.array([1, 1, 0]), rng.normal(size=(10, 4))
    est = FingerprintClassifier("svm-linear", "full").fit(R, y, G)
    assert type(est.model_[0]).__name__ == "RandomOverSampler"
    assert any("random oversampling" in n for n in est.notes_)


def test_images_are_flattened_and_bad_input_is_an_error():
    rng = np.random.default_rng(0)
    R, y = rng.random((10, 8, 8)), np.array([0, 1] * 5)
    assert FingerprintClassifier("knn-5").fit(R, y).decision_function(R).shape == (10,)
    with pytest.raises(TrainprintError, match="needs generated"):
        FingerprintClassifier("svm-2", "full").fit(R, y)
    with pytest.raises(TrainprintError, match="unknown classifier"):
        FingerprintClassifier("svm-3").fit(R, y)


def test_method_ids_parse_and_expand():
    assert len(GRID_METHODS) == 36 and GRID_METHODS[0] == "vectornet-1/full/svm-linear"
    spec = parse_method("vectornet-12/real/svm-2")
    assert (spec.extractor, spec.strategy, spec.classifier, spec.uses_labels) == ("vectornet-12", "real", "svm-2", True)
    assert expand_methods("vectornet-12/*/*") == [m for m in GRID_METHODS if m.startswith("vectornet-12/")]
    assert expand_methods("baseline/all-used,dae-gu/real/knn-5") == ["baseline/all-used", "dae-gu/real/knn-5"]
    sim = parse_method("sim-ssim/realmax")
    assert sim.extractor == "raw" and sim.kind == "similarity" and not sim.uses_labels
    assert parse_method("sim-vectornet-12/threshold").uses_labels
    for bad, msg in [("vectornet-9/real/svm-2", "unknown extractor"), ("dae-gu/half/svm-2", "unknown strategy"),
                     ("sim-ssim/nope", "unknown similarity rule"), ("what", "expected <extractor>"),
                     ("zzz*", "matches no known method")]:
        with pytest.raises(TrainprintError, match=msg):
            expand_methods(bad)


def test_knn_on_fewer_than_five_training_images_uses_them_all_and_says_so():
    from trainprint.membership.classifiers import FingerprintClassifier

    R = np.array([[0.0], [0.1], [1.0], [1.1]])
    clf = FingerprintClassifier(strategy="real", classifier="knn-5").fit(R, np.array([0, 0, 1, 1]))
    # every one of the 4 images is a neighbour, 2 of them used: the score is 0.5 wherever we ask
    assert np.allclose(clf.decision_function(np.array([[0.05], [1.05]])), 0.5)
    assert any("4 neighbours" in n for n in clf.notes_)
