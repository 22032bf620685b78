"""The paper's Table 1 (10-fold CV on the ImageCLEFmedical GANs 2023 dev set) and our version of it.

``PAPER_TABLE1`` holds the numbers typed in from the paper text (Gravina, Marrone, Sansone, 2023,
Table 1: accuracy, recall, F1). ``table1_markdown`` lays out our results in the paper's row order,
the paper's numbers beside ours, and lists other methods (similarity rules, baselines) below.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from trainprint.membership.classifiers import CLASSIFIERS, STRATEGIES
from trainprint.extractors import PAPER_EXTRACTORS

NET_NAMES = {
    "vectornet-1": "Vector-Net (1)",
    "vectornet-12": "Vector-Net (1,2)",
    "vectornet-123": "Vector-Net (1,2,3)",
    "dae-gu": "DAE (G,U)",
    "dae-gnu": "DAE (G,NU)",
    "dae-gunu": "DAE (G,U,NU)",
}
CLASSIFIER_NAMES = {"svm-linear": "SVM-Linear", "svm-2": "SVM-2", "knn-5": "KNN"}

# (acc, recall, f1) per (extractor, strategy), rows in CLASSIFIERS order: svm-linear, svm-2, knn-5
_PAPER: dict[tuple[str, str], tuple[tuple[float, float, float], ...]] = {
    ("vectornet-1", "full"): ((0.5694, 0.4028, 0.4833), (0.6458, 0.6250, 0.6383), (0.6111, 0.6250, 0.6164)),
    ("vectornet-1", "real"): ((0.7569, 0.8750, 0.7826), (0.7639, 0.8333, 0.7792), (0.7431, 0.8333, 0.7643)),
    ("vectornet-12", "full"): ((0.7987, 0.9506, 0.8221), (0.7014, 0.9444, 0.7598), (0.8264, 0.9583, 0.8466)),
    ("vectornet-12", "real"): ((0.9583, 0.9444, 0.9578), (0.9653, 0.9444, 0.9645), (0.9167, 0.8889, 0.9143)),
    ("vectornet-123", "full"): ((0.6181, 0.8333, 0.6857), (0.5694, 0.9861, 0.6908), (0.5764, 0.7639, 0.6433)),
    ("vectornet-123", "real"): ((0.8194, 0.8472, 0.8243), (0.8056, 0.8194, 0.8082), (0.7222, 0.8611, 0.7561)),
    ("dae-gu", "full"): ((0.4180, 0.2773, 0.3227), (0.4805, 0.6016, 0.5366), (0.5117, 0.5781, 0.5421)),
    ("dae-gu", "real"): ((0.4512, 0.4102, 0.4277), (0.6113, 0.5391, 0.5810), (0.4824, 0.2539, 0.3291)),
    ("dae-gnu", "full"): ((0.4805, 0.3477, 0.4010), (0.5215, 0.6874, 0.5890), (0.5020, 0.6836, 0.5785)),
    ("dae-gnu", "real"): ((0.4785, 0.5391, 0.5083), (0.5449, 0.6133, 0.5740), (0.4805, 0.7031, 0.5751)),
    ("dae-gunu", "full"): ((0.5125, 0.6375, 0.5667), (0.5875, 0.9750, 0.7027), (0.6438, 0.8875, 0.7130)),
    ("dae-gunu", "real"): ((0.4625, 0.4625, 0.4625), (0.4813, 0.5000, 0.4908), (0.5000, 0.5625, 0.5294)),
}

#: method id -> {"accuracy", "recall", "f1"} as printed in the paper's Table 1
PAPER_TABLE1: dict[str, dict[str, float]] = {
    f"{e}/{s}/{c}": dict(zip(("accuracy", "recall", "f1"), _PAPER[(e, s)][i]))
    for (e, s) in _PAPER
    for i, c in enumerate(CLASSIFIERS)
}

PROTOCOL_NOTES = {
    "strict": "Protocol **strict**: every extractor that reads labels was refitted in each fold on "
    "that fold's training images only; no held-out label reached any model.",
    "paper": "Protocol **paper** (OPTIMISTIC): extractors were fitted once on the whole dev set, "
    "held-out labels included, as the paper did; only the classifier was cross-validated.",
}


def table1_markdown(rows: Sequence[Mapping[str, object]], protocol: str, n_folds: int) -> str:
    """Markdown of ``rows`` (results.csv rows as dicts) in the paper's Table 1 layout.

    Grid rows come in the paper's order with the paper's Acc / R / F1 beside ours (mean +- std
    over folds) and our MCC and AUC; the remaining methods follow in a second table.
    """
    by_id = {str(r["method"]): r for r in rows}
    lines = [
        f"# Table 1: {n_folds}-fold cross-validation on the dev set",
        "",
        PROTOCOL_NOTES.get(protocol, f"Protocol {protocol}."),
        "",
        "Paper: Gravina, Marrone, Sansone (2023), Table 1 (its own protocol: extractors fitted on the "
        "whole dev set). Ours: mean +- std over folds; MCC and AUC are not in the paper.",
        "",
        "| Net. | Strategy | ML Model | Acc (paper) | Acc (ours) | R (paper) | R (ours) "
        "| F1 (paper) | F1 (ours) | MCC (ours) | AUC (ours) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for ext in PAPER_EXTRACTORS:
        for strategy in STRATEGIES:
            for clf in CLASSIFIERS:
                mid = f"{ext}/{strategy}/{clf}"
                paper, ours = PAPER_TABLE1[mid], by_id.get(mid)
                cells = [NET_NAMES[ext], strategy.upper(), CLASSIFIER_NAMES[clf]]
                for m in ("accuracy", "recall", "f1"):
                    cells += [f"{paper[m]:.4f}", _pm(ours, m)]
                cells += [_pm(ours, "mcc"), _pm(ours, "auc")]
                lines.append("| " + " | ".join(cells) + " |")
    others = [r for r in rows if str(r["method"]) not in PAPER_TABLE1]
    if others:
        lines += [
            "",
            "## Other methods (not in the paper)",
            "",
            "| Method | Acc | R | F1 | MCC | AUC | TPR@5%FPR | TPR@10%FPR | Notes |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for r in others:
            cells = [str(r["method"])] + [_pm(r, m) for m in ("accuracy", "recall", "f1", "mcc", "auc")]
            cells += [_num(r.get("tpr_at_fpr05")), _num(r.get("tpr_at_fpr10")), str(r.get("notes", ""))]
            lines.append("| " + " | ".join(cells) + " |")
    notes = [(str(r["method"]), _without_optimistic(str(r.get("notes", "")))) for r in rows
             if str(r["method"]) in PAPER_TABLE1]
    notes = [(m, n) for m, n in notes if n]
    if notes:
        lines += ["", "Notes:", ""] + [f"- `{m}`: {n}" for m, n in notes]
    lines += ["", "`-`: not run in this evaluation."]
    return "\n".join(lines) + "\n"


def _without_optimistic(notes: str) -> str:
    """Row notes without the OPTIMISTIC mark (the table's header already says it)."""
    return " | ".join(n for n in notes.split(" | ") if n and not n.startswith("OPTIMISTIC"))


def _pm(row: Mapping[str, object] | None, metric: str) -> str:
    if row is None:
        return "-"
    mean, std = _float(row.get(f"{metric}_mean")), _float(row.get(f"{metric}_std"))
    if math.isnan(mean):
        return "n/a"
    return f"{mean:.4f} +- {std:.4f}"


def _num(v: object) -> str:
    f = _float(v)
    return "n/a" if math.isnan(f) else f"{f:.4f}"


def _float(v: object) -> float:
    try:
        return float(v)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return float("nan")
