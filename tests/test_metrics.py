"""Metrics against hand-made confusion matrices."""

from __future__ import annotations

import math

import numpy as np
import pytest

from trainprint.core.errors import TrainprintError
from trainprint.evaluation.metrics import binary_metrics, confusion, from_confusion, mean_std, roc_auc, tpr_at_fpr


def _arrays(tp, fp, tn, fn):
    y = np.array([1] * tp + [0] * fp + [0] * tn + [1] * fn)
    p = np.array([1] * tp + [1] * fp + [0] * tn + [0] * fn)
    return y, p


@pytest.mark.parametrize(
    "cm, expected",
    [
        # tp fp tn fn: accuracy, precision, recall, specificity, f1, mcc, kappa (worked by hand)
        ((40, 10, 30, 20), dict(accuracy=0.70, precision=0.80, recall=40 / 60, specificity=0.75,
                                f1=80 / 110, mcc=(1200 - 200) / math.sqrt(50 * 60 * 40 * 50), kappa=0.4)),
        ((5, 0, 5, 0), dict(accuracy=1.0, precision=1.0, recall=1.0, specificity=1.0, f1=1.0, mcc=1.0,
                            kappa=1.0)),
        ((0, 5, 0, 5), dict(accuracy=0.0, precision=0.0, recall=0.0, specificity=0.0, f1=0.0, mcc=-1.0, kappa=-1.0)),
        # all "used" on a balanced key: the ImageCLEF 2023 baseline
        ((100, 100, 0, 0), dict(accuracy=0.5, precision=0.5, recall=1.0, specificity=0.0, f1=2 / 3, mcc=0.0, kappa=0.0)),
        # nothing predicted used: precision and F1 fall back to 0, MCC to 0
        ((0, 0, 7, 3), dict(accuracy=0.7, precision=0.0, recall=0.0, specificity=1.0, f1=0.0, mcc=0.0, kappa=0.0)),
    ],
)
def test_metrics_of_confusion_matrices(cm, expected):
    y, p = _arrays(*cm)
    assert confusion(y, p) == cm
    got = binary_metrics(y, p)
    for name, value in expected.items():
        assert got[name] == pytest.approx(value), name
    assert from_confusion(*cm)["f1"] == pytest.approx(expected["f1"])


def test_kappa_matches_its_definition():
    # p_o = 0.7; p_e = (50*60 + 50*40) / 100^2 = 0.5; kappa = 0.2 / 0.5
    assert from_confusion(40, 10, 30, 20)["kappa"] == pytest.approx(0.4)


def test_all_used_gives_f1_two_thirds_on_a_balanced_key():
    key = np.array([1, 0] * 50)
    m = binary_metrics(key, np.ones_like(key), np.ones(100))
    assert round(m["f1"], 4) == 0.6667 and m["accuracy"] == 0.5 and m["auc"] == 0.5


def test_auc_and_tpr_at_low_fpr():
    y = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    s = np.array([0.1, 0.2, 0.3, 0.9, 0.4, 0.8, 0.85, 0.95])
    # pairs (pos > neg): 0.4 beats 3 of 4 negatives, 0.8 and 0.85 beat 3, 0.95 beats 4 -> 13/16
    assert roc_auc(y, s) == pytest.approx(13 / 16)
    assert tpr_at_fpr(y, s, 0.0) == pytest.approx(0.25)  # only 0.95 is above every negative
    assert tpr_at_fpr(y, s, 0.25) == pytest.approx(1.0)
    assert math.isnan(roc_auc(np.ones(4, int), np.arange(4.0)))


def test_mean_std_ignores_nan_and_bad_input_is_an_error():
    assert mean_std([0.5, float("nan"), 1.0]) == (0.75, 0.25)
    with pytest.raises(TrainprintError, match="only 0 and 1"):
        confusion(np.array([0, 2]), np.array([0, 1]))


@pytest.mark.filterwarnings("ignore:A single label was found")
def test_every_metric_equals_sklearn() -> None:
    """Our confusion-matrix formulas give what sklearn computes, zero denominators included."""
    from sklearn import metrics as skm

    rng = np.random.default_rng(0)
    cases = [(rng.integers(0, 2, 40), rng.integers(0, 2, 40)) for _ in range(20)]
    cases += [(np.array([1, 1, 0, 0]), np.zeros(4, int)), (np.array([1, 1, 0, 0]), np.ones(4, int)),
              (np.ones(5, int), np.ones(5, int)), (np.zeros(5, int), np.array([0, 1, 0, 0, 0]))]
    for y, p in cases:
        ours = binary_metrics(y, p)
        ref = {
            "accuracy": skm.accuracy_score(y, p),
            "precision": skm.precision_score(y, p, zero_division=0),
            "recall": skm.recall_score(y, p, zero_division=0),
            "specificity": skm.recall_score(y, p, pos_label=0, zero_division=0),
            "f1": skm.f1_score(y, p, zero_division=0),
            "mcc": skm.matthews_corrcoef(y, p),
        }
        if len(np.unique(np.concatenate([y, p]))) > 1:  # sklearn's kappa is NaN when both are constant
            ref["kappa"] = skm.cohen_kappa_score(y, p)
        for name, value in ref.items():
            assert ours[name] == pytest.approx(value, abs=1e-12), (name, y, p)
    y, s = rng.integers(0, 2, 50), rng.random(50)
    assert roc_auc(y, s) == pytest.approx(skm.roc_auc_score(y, s))
