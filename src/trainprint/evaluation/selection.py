"""Choosing a method, and what choosing costs: the recommendation and its selection-aware estimate.

The recommended method is the candidate with the best mean MCC over the folds of a strict CV (ties:
mean AUC, then the order given). Its own CV mean is the best of many noisy means, so it is biased
upwards (the winner's curse). The estimate reported beside it is that of the whole procedure "pick
the best method, then use it": for each outer fold k the method with the best mean MCC over the
*other* folds is chosen, and its out-of-fold answers on fold k are kept. The pooled accuracy, MCC
and F1 of those answers are the selection-aware estimates; their 95% intervals come from a
bootstrap that resamples groups (sibling groups, or images when folding by image), 2,000 times.

Candidates: every method but the baselines; ``fraction`` rules are left out unless asked for
(``include_fraction``), because they assume the share of used images.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from trainprint.core.errors import TrainprintError
from trainprint.evaluation.metrics import from_confusion

BOOTSTRAP_REPS = 2000


@dataclass(frozen=True)
class HeldOut:
    """Out-of-fold answers of every method, in real-image order.

    Attributes:
        methods: method ids, in the order ties are broken.
        y: (n,) 0/1 labels of the real images.
        fold: (n,) the fold that held each image out.
        pred: (M, n) 0/1 out-of-fold prediction of each method for each image.
        auc: (M, K) AUC of each method on each fold (NaN where undefined), for tie-breaking.
    """

    methods: tuple[str, ...]
    y: np.ndarray
    fold: np.ndarray
    pred: np.ndarray
    auc: np.ndarray

    @property
    def n_folds(self) -> int:
        return int(self.fold.max()) + 1


def held_out_from_rows(rows: Sequence[Mapping[str, Any]], fold_rows: Sequence[Mapping[str, Any]],
                       methods: Sequence[str], ids: Sequence[str]) -> HeldOut:
    """A ``HeldOut`` from scores.csv and folds.csv rows (every method must have every image once)."""
    pos = {i: k for k, i in enumerate(ids)}
    n, m = len(ids), len(methods)
    index = {mid: j for j, mid in enumerate(methods)}
    pred = np.full((m, n), -1, dtype=np.int64)
    y = np.full(n, -1, dtype=np.int64)
    fold = np.full(n, -1, dtype=np.int64)
    for r in rows:
        j = index.get(str(r["method"]))
        if j is None:
            continue
        i = pos[str(r["id"])]
        pred[j, i] = int(r["pred"])
        y[i] = int(r["label"])
        fold[i] = int(r["fold"])
    missing = [methods[j] for j in range(m) if (pred[j] < 0).any()]
    if missing or (y < 0).any():
        raise TrainprintError(f"selection: no out-of-fold answer for every image of {missing[:3]}")
    k = int(fold.max()) + 1
    auc = np.full((m, k), np.nan)
    for r in fold_rows:
        j = index.get(str(r["method"]))
        if j is not None:
            auc[j, int(r["fold"])] = float(r["auc"])
    return HeldOut(tuple(methods), y, fold, pred, auc)


def fold_mcc(y: np.ndarray, pred: np.ndarray, fold: np.ndarray, n_folds: int) -> np.ndarray:
    """(M, K) MCC of each method's predictions ``pred`` (M, n) against ``y`` (n,) on each fold
    (0 where a denominator is 0, as ``metrics.from_confusion``)."""
    m = pred.shape[0]
    out = np.zeros((m, n_folds))
    for k in range(n_folds):
        sel = fold == k
        yk, pk = y[sel].astype(bool), pred[:, sel].astype(bool)
        tp = (pk & yk).sum(1).astype(np.float64)
        fp = (pk & ~yk).sum(1).astype(np.float64)
        fn = (~pk & yk).sum(1).astype(np.float64)
        tn = (~pk & ~yk).sum(1).astype(np.float64)
        den = np.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
        out[:, k] = np.where(den > 0, (tp * tn - fp * fn) / np.where(den > 0, den, 1.0), 0.0)
    return out


def best_index(mean_mcc: np.ndarray, mean_auc: np.ndarray) -> int:
    """Index of the best mean MCC; ties by mean AUC (NaN lowest), then the first."""
    auc = np.nan_to_num(mean_auc, nan=-np.inf)
    order = np.lexsort((np.arange(len(mean_mcc)), -auc, -mean_mcc))
    return int(order[0])


def recommend(held: HeldOut) -> tuple[str, float, float]:
    """``(method, mean MCC, mean AUC)`` of the best candidate over all folds."""
    mcc = fold_mcc(held.y, held.pred, held.fold, held.n_folds).mean(1)
    auc = row_nanmean(held.auc)
    j = best_index(mcc, auc)
    return held.methods[j], float(mcc[j]), float(auc[j])


def selection_aware(held: HeldOut, groups: np.ndarray | None, *, seed: int,
                    reps: int = BOOTSTRAP_REPS) -> dict[str, Any]:
    """The estimate of "pick the best method on the other folds, use it on this fold", with
    bootstrap intervals over ``groups`` ((n,) labels; ``None``: over images)."""
    k = held.n_folds
    mcc = fold_mcc(held.y, held.pred, held.fold, k)  # (M, K)
    chosen, pred = [], np.empty_like(held.y)
    for f in range(k):
        others = [g for g in range(k) if g != f]
        j = best_index(mcc[:, others].mean(1), row_nanmean(held.auc[:, others]))
        chosen.append(held.methods[j])
        sel = held.fold == f
        pred[sel] = held.pred[j, sel]
    point = _metrics(held.y, pred)
    units = np.arange(len(held.y)) if groups is None else np.unique(np.asarray(groups), return_inverse=True)[1]
    boot = _bootstrap(held.y, pred, units, seed, reps)
    out: dict[str, Any] = {"method_per_fold": chosen, "n_images": int(len(held.y)),
                           "bootstrap": {"reps": reps, "unit": "image" if groups is None else "group",
                                         "n_units": int(units.max()) + 1}}
    for name in ("accuracy", "mcc", "f1"):
        lo, hi = np.percentile(boot[name], [2.5, 97.5])
        out[name] = round(point[name], 6)
        out[f"{name}_ci95"] = [round(float(lo), 6), round(float(hi), 6)]
    return out


def row_nanmean(a: np.ndarray) -> np.ndarray:
    """Mean of each row ignoring NaN; NaN (without a warning) for a row of NaN only."""
    ok = np.isfinite(a)
    return np.where(ok.any(1), np.where(ok, a, 0.0).sum(1) / np.maximum(ok.sum(1), 1), np.nan)


def _metrics(y: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    tp = int(((pred == 1) & (y == 1)).sum())
    fp = int(((pred == 1) & (y == 0)).sum())
    tn = int(((pred == 0) & (y == 0)).sum())
    fn = int(((pred == 0) & (y == 1)).sum())
    return from_confusion(tp, fp, tn, fn)


def _bootstrap(y: np.ndarray, pred: np.ndarray, units: np.ndarray, seed: int, reps: int) -> dict[str, np.ndarray]:
    """Accuracy, MCC and F1 of ``reps`` resamples of whole units (with replacement)."""
    n_units = int(units.max()) + 1
    # per unit: tp, fp, tn, fn counts, so a resample is a weighted sum
    counts = np.zeros((n_units, 4))
    for col, (p, t) in enumerate(((1, 1), (1, 0), (0, 0), (0, 1))):
        np.add.at(counts[:, col], units, ((pred == p) & (y == t)).astype(np.float64))
    rng = np.random.default_rng(seed)
    w = rng.multinomial(n_units, np.full(n_units, 1.0 / n_units), size=reps).astype(np.float64)  # (reps, units)
    tp, fp, tn, fn = (w @ counts).T
    n = tp + fp + tn + fn
    den = np.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
    return {"accuracy": (tp + tn) / np.maximum(n, 1),
            "mcc": np.where(den > 0, (tp * tn - fp * fn) / np.where(den > 0, den, 1.0), 0.0),
            "f1": np.where(2 * tp + fp + fn > 0, 2 * tp / np.maximum(2 * tp + fp + fn, 1e-12), 0.0)}


def candidates(methods: Sequence[str], *, include_fraction: bool = False) -> list[str]:
    """The methods a recommendation may pick: not the baselines, not ``fraction`` unless asked."""
    return [m for m in methods if not m.startswith("baseline/") and (include_fraction or not m.endswith("/fraction"))]


def describe(selection: Mapping[str, Any], groups: Mapping[str, Any] | None = None) -> list[str]:
    """What an auditor reads first, one string per line: the groups the folds kept together, the
    recommended method, the selection-aware estimate with its interval, the null test's verdict."""
    lines = []
    if groups:
        if groups.get("source") == "none":
            lines.append("folds: by image (--groups none)")
        else:
            sizes = ", ".join(f"{n} of {s}" for s, n in sorted(groups.get("sizes", {}).items(), key=lambda kv: -int(kv[0])))
            lines.append(f"groups: {groups['n_groups']} among {groups['n_images']} real images "
                         f"({groups.get('source')}; sizes: {sizes})")
    rec, est, null = selection.get("recommended"), selection.get("selection_aware"), selection.get("null_test") or {}
    if not rec:
        return lines + ["recommended: none (only baselines were evaluated)"]
    lines.append(f"recommended: {rec['method']} (CV mean MCC {rec['mcc_mean']:.3f}, best of {rec['candidates']} "
                 f"candidates: biased upwards)")
    if est:
        acc, mcc = est["accuracy_ci95"], est["mcc_ci95"]
        lines.append(f"selection-aware estimate (pick the best on the other folds, score it on this one): "
                     f"accuracy {est['accuracy']:.3f} [95% {acc[0]:.3f}, {acc[1]:.3f}], "
                     f"MCC {est['mcc']:.3f} [{mcc[0]:.3f}, {mcc[1]:.3f}]")
    if null.get("p_value") is not None:
        lines.append(f"verdict: {selection['verdict']} (label-permutation test, p = {null['p_value']:.3f} over "
                     f"{null['permutations']} permutations, best candidate re-selected in each)")
    else:
        lines.append(f"verdict: {selection['verdict']}" + (f" ({null['why']})" if null.get("why") else ""))
    return lines
