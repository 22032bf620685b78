"""The paper's Table 2 (its ten official test-set submissions) beside ours, scored against a key.

``PAPER_TABLE2`` holds the numbers typed in from the paper text (Gravina, Marrone, Sansone, 2023,
Table 2: accuracy, recall, F1 of the nine FULL-strategy SVM runs and of their majority vote,
submission 10). ``write_table2(submit_dir, key)`` scores the matching run files of a submit folder
(``runs/<method>.csv`` and ``vote.csv``) and writes ``table2.md``.
"""

from __future__ import annotations

from pathlib import Path

from trainprint.core.errors import TrainprintError
from trainprint.core.files import write_text
from trainprint.methods import TABLE2_METHODS
from trainprint.submit.runfiles import score_run

TABLE2_FILE = "table2.md"
VOTE = "vote (submission 10)"

#: submission -> (method, accuracy, recall, F1) as printed in the paper's Table 2
PAPER_TABLE2: dict[int, tuple[str, float, float, float]] = {
    1: ("vectornet-1/full/svm-linear", 0.5050, 0.3800, 0.4343),
    2: ("vectornet-1/full/svm-2", 0.5050, 0.4400, 0.4706),
    3: ("vectornet-12/full/svm-linear", 0.4750, 0.3800, 0.4199),
    4: ("vectornet-12/full/svm-2", 0.5150, 0.6000, 0.5530),
    5: ("vectornet-123/full/svm-linear", 0.4550, 0.3900, 0.4171),
    6: ("vectornet-123/full/svm-2", 0.5250, 0.7900, 0.6245),
    7: ("dae-gu/full/svm-linear", 0.5150, 0.0500, 0.0934),
    8: ("dae-gnu/full/svm-linear", 0.5300, 0.9400, 0.6667),
    9: ("dae-gunu/full/svm-linear", 0.5250, 0.6100, 0.5622),
    10: (VOTE, 0.5050, 0.4700, 0.4870),
}
assert tuple(m for m, *_ in list(PAPER_TABLE2.values())[:9]) == TABLE2_METHODS


def write_table2(submit_dir: str | Path, key: str | Path, out: str | Path | None = None) -> Path:
    """Score the Table 2 runs of ``submit_dir`` against ``key``; write ``table2.md`` (default in
    ``submit_dir``). Runs the folder does not hold are shown as ``-``."""
    run = Path(submit_dir)
    if not (run / "runs").is_dir():
        raise TrainprintError(f"score --table2 {run}: no runs/ folder; expected a submit run folder")
    lines = ["# Table 2: the official test set, FULL strategy", "",
             "Paper: Gravina, Marrone, Sansone (2023), Table 2 (the ImageCLEFmedical GANs 2023 test set). "
             f"Ours: the same runs of `{run}` scored against `{key}`.", "",
             "| Submission | Method | Acc (paper) | Acc (ours) | R (paper) | R (ours) | F1 (paper) | F1 (ours) | MCC (ours) |",
             "|---|---|---|---|---|---|---|---|---|"]
    found = 0
    for sub, (method, acc, rec, f1) in PAPER_TABLE2.items():
        path = run / "vote.csv" if method == VOTE else run / "runs" / (method.replace("/", "__") + ".csv")
        ours = score_run(path, key) if path.is_file() else {}
        found += bool(ours)
        cell = {m: f"{ours[m]:.4f}" if ours else "-" for m in ("accuracy", "recall", "f1", "mcc")}
        lines.append(f"| {sub} | {method} | {acc:.4f} | {cell['accuracy']} | {rec:.4f} | {cell['recall']} | "
                     f"{f1:.4f} | {cell['f1']} | {cell['mcc']} |")
    if not found:
        raise TrainprintError(f"score --table2 {run}: none of the Table 2 run files is there "
                              f"(submit with --methods table2)")
    lines += ["", "`-`: not submitted in this run. Submission 10 is the majority vote of runs 1-9 (vote.csv)."]
    path = Path(out) if out is not None else run / TABLE2_FILE
    return write_text(path, "\n".join(lines) + "\n")
