"""What ``evaluate`` concludes, typed: ``EvaluationSummary`` (``selection.json`` and the groups the
folds kept together), and the two views every command's result offers, ``Verdict`` (the null test)
and ``SelectionEstimate`` (the selection-aware estimate with its intervals).

``selection.json`` stays the file of record (``evaluation.verdict``); this module reads it. The
statistics' own records (``selection_aware``, ``null_test``) keep their keys; the views read the part
of them a caller needs first.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from trainprint.core import files
from trainprint.evaluation.null import EVIDENCE
from trainprint.evaluation.verdict import SELECTION_FILE


@dataclass(frozen=True)
class Verdict:
    """A verdict and the test behind it.

    ``label``: evidence of membership / no evidence of membership / not tested; ``evidence``: True for
    the first; ``kind``: what was tested against (``reference``: known non-members; ``dev``: the dev
    set's label-permutation test; ``none``); ``p_value`` and ``alpha`` (None where nothing was
    tested); ``description``: the test, or why there is none."""

    label: str
    evidence: bool
    kind: str
    p_value: float | None
    alpha: float | None
    description: str

    @classmethod
    def of_test(cls, label: str, test: Mapping[str, Any] | None, kind: str | None = None) -> "Verdict":
        """The view of a test record (keys ``kind``, ``p_value``, ``alpha``, ``test`` or ``why``)."""
        t = test or {}
        return cls(label=label, evidence=label == EVIDENCE, kind=kind or str(t.get("kind", "none")),
                   p_value=_float(t.get("p_value")), alpha=_float(t.get("alpha")),
                   description=str(t.get("test") or t.get("why") or ""))


@dataclass(frozen=True)
class SelectionEstimate:
    """The selection-aware estimate of "pick the best method on the other folds, use it on this one":
    pooled accuracy, MCC and F1 of those answers over ``n_images`` dev images, each with its 95%
    bootstrap interval ``(low, high)``."""

    accuracy: float
    accuracy_ci95: tuple[float, float]
    mcc: float
    mcc_ci95: tuple[float, float]
    f1: float
    f1_ci95: tuple[float, float]
    n_images: int

    @classmethod
    def of(cls, record: Mapping[str, Any] | None) -> "SelectionEstimate | None":
        """The view of ``selection.json``'s ``selection_aware`` (None when nothing was recommended)."""
        if not record:
            return None
        pair = lambda k: (float(record[k][0]), float(record[k][1]))  # noqa: E731
        return cls(accuracy=float(record["accuracy"]), accuracy_ci95=pair("accuracy_ci95"), mcc=float(record["mcc"]),
                   mcc_ci95=pair("mcc_ci95"), f1=float(record["f1"]), f1_ci95=pair("f1_ci95"),
                   n_images=int(record["n_images"]))


@dataclass(frozen=True)
class Recommendation:
    """The recommended method: best mean fold MCC among ``candidates`` methods (``rule``), under ``protocol``."""

    method: str
    mcc_mean: float
    auc_mean: float
    candidates: int
    rule: str
    protocol: str


@dataclass(frozen=True)
class EvaluationSummary:
    """The summary of an ``evaluate`` run: ``selection.json`` (the recommendation, its selection-aware
    estimate, the null test and its verdict, the methods excluded from the choice and why) and
    ``groups``, how the real images were grouped into folds (run.json; None when it is not known)."""

    recommended: Recommendation | None
    selection_aware: dict[str, Any] | None
    null_test: dict[str, Any] | None
    verdict: str
    excluded: dict[str, str]
    groups: dict[str, Any] | None

    @classmethod
    def from_selection(cls, selection: Mapping[str, Any], groups: Mapping[str, Any] | None = None
                       ) -> "EvaluationSummary":
        rec = selection.get("recommended")
        return cls(recommended=Recommendation(**rec) if rec else None, selection_aware=selection.get("selection_aware"),
                   null_test=selection.get("null_test"), verdict=str(selection["verdict"]),
                   excluded=dict(selection.get("excluded") or {}), groups=None if groups is None else dict(groups))

    @classmethod
    def of_run(cls, run: str | Path) -> "EvaluationSummary":
        """The summary of the evaluate run folder ``run`` (its selection.json and run.json)."""
        record = files.read_json(Path(run) / "run.json")
        return cls.from_selection(files.read_json(Path(run) / SELECTION_FILE), record.get("groups"))

    @property
    def evidence(self) -> bool:
        return self.verdict == EVIDENCE

    def verdict_of(self) -> Verdict:
        """The verdict with the label-permutation test behind it."""
        return Verdict.of_test(self.verdict, self.null_test, kind="dev" if self.null_test else "none")

    def selection(self) -> dict[str, Any]:
        """``selection.json``'s content."""
        d = dataclasses.asdict(self)
        d.pop("groups")
        return d

    def lines(self) -> list[str]:
        """What an auditor reads first (``evaluation.selection.describe``)."""
        from trainprint.evaluation.selection import describe

        return describe(self.selection(), self.groups)

    def to_json(self) -> str:
        """The summary as ``evaluate --json`` prints it (sorted keys, as the run folder's JSON files)."""
        return files.json_bytes(dataclasses.asdict(self)).decode("utf-8")


def _float(v: Any) -> float | None:
    return None if v is None else float(v)
