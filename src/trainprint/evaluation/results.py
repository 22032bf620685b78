"""The rows of an evaluation's files and the summary of them.

    folds.csv    one row per (method, fold): confusion counts and every metric   FOLD_FIELDS
    scores.csv   one row per held-out real image and method                       SCORE_FIELDS
    results.csv  one row per method: mean and std over folds, pooled TPR@FPR, and the patient
                 level beside the image level                                      RESULT_FIELDS

Patient level (``group_metrics``): the held-out images' out-of-fold scores pooled over folds (a
sibling group is held out whole, so its images share a fold); a group's score is the mean of its
images' scores, its answer "used" when at least half of its images are answered used, its label the
majority label of its images (ties: used). ``auc_pooled`` is the image-level AUC of the same pooled
scores, the like-for-like comparison.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from trainprint.core import files
from trainprint.evaluation.metrics import METRICS, binary_metrics, confusion, mean_std, tpr_at_fpr
from trainprint.methods import MethodSpec
from trainprint.scoring import majority, patient_scores

MAX_NOTES = 2  # distinct fold notes copied into a results.csv row

RESULT_FIELDS = (["method", "extractor", "strategy", "classifier", "protocol"]
                 + [f"{m}_{s}" for m in METRICS for s in ("mean", "std")]
                 + ["tpr_at_fpr05", "tpr_at_fpr10", "auc_pooled", "group_auc", "group_accuracy", "groups", "notes"])
FOLD_FIELDS = ["method", "fold", "n_train", "n_test", "tp", "fp", "tn", "fn", *METRICS, "notes"]
SCORE_FIELDS = ["method", "fold", "id", "split", "label", "score", "pred"]


def group_metrics(ids: Sequence[str], labels: np.ndarray, scores: np.ndarray, preds: np.ndarray,
                  groups: dict[str, str] | None) -> dict[str, float]:
    """Image-level pooled AUC and patient-level AUC / accuracy (see the module docstring) of held-out
    images ``ids`` with ``labels``, ``scores``, ``preds`` (n,); ``groups`` id -> group (None: each
    image its own group)."""
    from sklearn.metrics import roc_auc_score

    def auc(y: np.ndarray, s: np.ndarray) -> float:
        ok = np.isfinite(s)
        return float(roc_auc_score(y[ok], s[ok])) if len(np.unique(y[ok])) == 2 else float("nan")

    g = np.array([groups.get(i, i) for i in ids] if groups is not None else list(ids), dtype=str)
    ps = patient_scores(scores, g)
    y_g, pred_g = majority(labels, ps.index, len(ps.size)), majority(preds, ps.index, len(ps.size))
    return {"auc_pooled": r6(auc(labels, scores)), "group_auc": r6(auc(y_g, ps.score)),
            "group_accuracy": r6(float(np.mean(pred_g == y_g))) if len(y_g) else float("nan"), "groups": len(y_g)}


def summarise(specs: Sequence[MethodSpec], fold_rows: list[dict[str, Any]], scored_rows: list[dict[str, Any]],
              protocol: str, label_users: dict[str, bool],
              groups: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """One results.csv row per method: mean and std over folds, pooled TPR at low FPR, the patient
    level (``group_metrics``; ``groups`` id -> sibling group, None: by image), notes."""
    out = []
    for spec in specs:
        folds = [r for r in fold_rows if r["method"] == spec.id]
        scored = [r for r in scored_rows if r["method"] == spec.id]
        row: dict[str, Any] = dict(method=spec.id, extractor=spec.extractor or "", strategy=spec.strategy,
                                   classifier=spec.classifier or spec.rule, protocol=protocol)
        for m in METRICS:
            row[f"{m}_mean"], row[f"{m}_std"] = mean_std([float(r[m]) for r in folds])
        labels = np.array([int(r["label"]) for r in scored])
        scores = np.array([float(r["score"]) for r in scored])
        row["tpr_at_fpr05"] = tpr_at_fpr(labels, scores, 0.05) if len(labels) else float("nan")
        row["tpr_at_fpr10"] = tpr_at_fpr(labels, scores, 0.10) if len(labels) else float("nan")
        preds = np.array([int(r["pred"]) for r in scored])
        row.update(group_metrics([r["id"] for r in scored], labels, scores, preds, groups) if len(labels) else
                   {"auc_pooled": float("nan"), "group_auc": float("nan"), "group_accuracy": float("nan"), "groups": 0})
        notes: list[str] = []
        for r in folds:
            notes += [n for n in str(r.get("notes", "")).split(" | ") if n and n not in notes]
        if len(notes) > MAX_NOTES:
            notes = notes[:MAX_NOTES] + [f"(+{len(notes) - MAX_NOTES} more notes in folds.csv)"]
        if protocol == "paper" and spec.extractor and label_users.get(spec.extractor):
            notes.insert(0, "OPTIMISTIC: extractor fitted on all dev labels (paper protocol)")
        row["notes"] = " | ".join(notes)
        out.append(row)
    return out


def fold_row(method: str, k: int, n_train: int, y: np.ndarray, preds: np.ndarray, scores: np.ndarray,
             notes: list[str]) -> dict[str, Any]:
    """One folds.csv row: counts and metrics of ``preds`` / ``scores`` against ``y`` (each (n,))."""
    tp, fp, tn, fn = confusion(y, preds)
    row: dict[str, Any] = dict(method=method, fold=k, n_train=n_train, n_test=len(y), tp=tp, fp=fp, tn=tn, fn=fn)
    row.update({m: r6(v) for m, v in binary_metrics(y, preds, scores).items()})
    row["notes"] = " | ".join(dict.fromkeys(notes))
    return row


def score_rows(method: str, k: int, ids: np.ndarray, split: np.ndarray, y: np.ndarray, scores: np.ndarray,
               preds: np.ndarray) -> list[dict[str, Any]]:
    """One scores.csv row per held-out image (``ids``, ``split``, ``y``, ``scores``, ``preds``: (n,))."""
    return [dict(method=method, fold=k, id=i, split=s, label=int(lab), score=r6(v), pred=int(p))
            for i, s, lab, v, p in zip(ids, split, y, scores, preds)]


def save_fold_files(out: Path, methods: Sequence[str], fold_rows: list[dict[str, Any]],
                    scored_rows: list[dict[str, Any]]) -> None:
    """Rewrite folds.csv and scores.csv (atomically), rows in method order, then fold."""
    order = {m: i for i, m in enumerate(methods)}
    for rows, name, fields in ((fold_rows, "folds.csv", FOLD_FIELDS), (scored_rows, "scores.csv", SCORE_FIELDS)):
        rows.sort(key=lambda r: (order.get(r["method"], len(order)), int(r["fold"])))
        files.write_csv(out / name, rows, fields)


def r6(v: float) -> float:
    """``v`` as the CSV files keep it (6 significant digits), so a resumed run sums the same."""
    return float(f"{float(v):.6g}")


def read_rows(path: Path) -> list[dict[str, Any]]:
    return files.read_csv(path) if path.exists() else []
