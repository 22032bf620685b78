"""Binary membership metrics ("used" = 1 is the positive class), from a confusion matrix.

Every metric is computed by hand from ``tp, fp, tn, fn`` so that the definitions, including what
happens when a denominator is zero, are written down in one place:

- precision = tp / (tp + fp), 0 when nothing is predicted "used";
- recall (TPR, sensitivity) = tp / (tp + fn), 0 when there is no used image;
- specificity (TNR) = tn / (tn + fp), 0 when there is no not-used image;
- F1 = 2 tp / (2 tp + fp + fn), 0 when the denominator is 0;
- MCC = (tp tn - fp fn) / sqrt((tp+fp)(tp+fn)(tn+fp)(tn+fn)), 0 when any factor is 0;
- Cohen's kappa = (p_o - p_e) / (1 - p_e), 0 when p_e = 1;
- ROC-AUC from decision scores (higher = more likely used), NaN when one class is missing.
"""

from __future__ import annotations

import math

import numpy as np
from sklearn.metrics import roc_auc_score, roc_curve

from trainprint.core.errors import TrainprintError

#: metrics reported per fold and as mean / std, in the column order of the results files
METRICS = ("accuracy", "precision", "recall", "specificity", "f1", "mcc", "kappa", "auc")
#: metrics that need only predictions (used for run files scored against a key)
LABEL_METRICS = ("accuracy", "precision", "recall", "specificity", "f1", "mcc", "kappa")


def confusion(y_true: np.ndarray, y_pred: np.ndarray) -> tuple[int, int, int, int]:
    """``(tp, fp, tn, fn)`` of 0/1 arrays ``y_true``, ``y_pred`` of shape (n,)."""
    y_true, y_pred = _check_binary(y_true, "y_true"), _check_binary(y_pred, "y_pred")
    if y_true.shape != y_pred.shape:
        raise TrainprintError(f"metrics: y_true {y_true.shape} and y_pred {y_pred.shape} differ in shape")
    tp = int(np.sum((y_true == 1) & (y_pred == 1)))
    fp = int(np.sum((y_true == 0) & (y_pred == 1)))
    tn = int(np.sum((y_true == 0) & (y_pred == 0)))
    fn = int(np.sum((y_true == 1) & (y_pred == 0)))
    return tp, fp, tn, fn


def from_confusion(tp: int, fp: int, tn: int, fn: int) -> dict[str, float]:
    """Every metric of ``LABEL_METRICS`` from the four counts."""
    n = tp + fp + tn + fn
    if n == 0:
        raise TrainprintError("metrics: empty confusion matrix (no images)")
    precision = _div(tp, tp + fp)
    recall = _div(tp, tp + fn)
    denom = (tp + fp) * (tp + fn) * (tn + fp) * (tn + fn)
    p_o = (tp + tn) / n
    p_e = ((tp + fp) * (tp + fn) + (tn + fn) * (tn + fp)) / (n * n)
    return {
        "accuracy": p_o,
        "precision": precision,
        "recall": recall,
        "specificity": _div(tn, tn + fp),
        "f1": _div(2 * tp, 2 * tp + fp + fn),
        "mcc": (tp * tn - fp * fn) / math.sqrt(denom) if denom > 0 else 0.0,
        "kappa": (p_o - p_e) / (1.0 - p_e) if p_e < 1.0 else 0.0,
    }


def binary_metrics(
    y_true: np.ndarray, y_pred: np.ndarray, scores: np.ndarray | None = None
) -> dict[str, float]:
    """All of ``METRICS`` (``auc`` only when ``scores`` are given, else NaN).

    Args:
        y_true: (n,) 0/1, 1 = used.
        y_pred: (n,) 0/1 predictions.
        scores: (n,) decision scores, higher = more likely used.
    """
    out = from_confusion(*confusion(y_true, y_pred))
    out["auc"] = roc_auc(y_true, scores) if scores is not None else float("nan")
    return out


def roc_auc(y_true: np.ndarray, scores: np.ndarray) -> float:
    """ROC-AUC of ``scores`` (n,) for 0/1 ``y_true`` (n,); NaN when only one class is present."""
    y_true = _check_binary(y_true, "y_true")
    scores = np.asarray(scores, dtype=np.float64)
    if len(np.unique(y_true)) < 2 or not np.all(np.isfinite(scores)):
        return float("nan")
    return float(roc_auc_score(y_true, scores))


def roc_points(y_true: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(fpr, tpr)`` of the ROC curve, each (k,), or two empty arrays when one class is missing."""
    y_true = _check_binary(y_true, "y_true")
    if len(np.unique(y_true)) < 2:
        return np.zeros(0), np.zeros(0)
    fpr, tpr, _ = roc_curve(y_true, np.asarray(scores, dtype=np.float64))
    return fpr, tpr


def tpr_at_fpr(y_true: np.ndarray, scores: np.ndarray, max_fpr: float) -> float:
    """The highest TPR reachable with a threshold whose FPR is at most ``max_fpr``
    (membership-inference reporting, Carlini et al. 2022); NaN when one class is missing."""
    fpr, tpr = roc_points(y_true, scores)
    if fpr.size == 0:
        return float("nan")
    return float(np.max(tpr[fpr <= max_fpr + 1e-12]))


def mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and population std over folds, ignoring NaN; (NaN, NaN) when all are NaN."""
    a = np.asarray(values, dtype=np.float64)
    a = a[np.isfinite(a)]
    if a.size == 0:
        return float("nan"), float("nan")
    return float(a.mean()), float(a.std())


def _div(a: float, b: float) -> float:
    return a / b if b else 0.0


def _check_binary(y: np.ndarray, name: str) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim != 1:
        raise TrainprintError(f"metrics: {name} must be (n,), got shape {y.shape}")
    if not np.all(np.isin(y, (0, 1))):
        raise TrainprintError(f"metrics: {name} must hold only 0 and 1, got {sorted(set(y.tolist()))[:5]}")
    return y.astype(np.int64)
