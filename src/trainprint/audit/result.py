"""What an audit returns: ``AuditSummary`` (the content of ``audit.json``, typed) and the two views a
caller reads first, ``Verdict`` (``evaluation.summary``) and ``MemberEstimate``.

``audit.json`` is ``dataclasses.asdict(summary)``: the same keys and values as before the summary was
typed. The statistics' own records (``test``, ``estimate``, ``confidence``, ``reference_allows``) keep
the keys ``audit.stats`` and the dev set's selection give them (they differ by mode: docs/audit.md);
``Verdict`` and ``MemberEstimate`` read the part of them every mode has.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Mapping

from trainprint.core import files
from trainprint.evaluation.null import EVIDENCE
from trainprint.evaluation.summary import Verdict

@dataclass(frozen=True)
class Counts:
    """Images of each input: generated, audited (REAL_DIR), reference (0 without one) and the dev set's
    per split (None without one)."""

    generated: int
    audited: int
    reference: int
    dev: dict[str, int] | None


@dataclass(frozen=True)
class Folders:
    """Where the images came from: a folder path, or ``(array)`` for an array handed to the Python API."""

    generated: str
    real: str
    reference: str | None
    dev: str | None


@dataclass(frozen=True)
class PatientSummary:
    """The patients (sibling groups) of the audited images: how many, their sizes (min / median / max
    slices), how many were called used / borderline / not flagged, the slices in called patients, the
    rule that called them and the member estimate in patients (None where there is none)."""

    n: int
    slices_per_patient: dict[str, float]
    called: dict[str, int]
    slices_in_called_patients: int
    rule: str
    estimate: dict[str, Any] | None


@dataclass(frozen=True)
class AuditSummary:
    """The summary of one audit (``audit.json``).

    ``mode``: label-free, reference, dev or reference+dev; ``method`` and why it was used
    (``method_source``); ``verdict``: evidence of membership, no evidence of membership or not tested,
    with its ``test`` (``kind`` reference / dev / none, ``p_value``, ...); ``estimate``: the estimated
    number of members with ``ci95`` (None without a reference or a dev set when no patient count can
    be justified); ``called``: images per verdict; ``patients``: the same per patient;
    ``confidence``: the dev set's selection (None without one); ``run_file``: ``run.csv`` when
    REAL_DIR is a task test folder's ``real_unknown/``, else None."""

    mode: str
    method: str
    method_uses_labels: bool
    method_source: str
    default_label_free_method: str
    counts: Counts
    called: dict[str, int]
    patients: PatientSummary
    evidence_space: str
    neighbours: int
    borderline_rows: int
    run_file: str | None
    notes: list[str]
    verdict: str
    test: dict[str, Any]
    estimate: dict[str, Any] | None
    per_image: str
    confidence: dict[str, Any] | None
    reference_allows: dict[str, Any] | None
    folders: Folders

    @property
    def evidence(self) -> bool:
        """True when the verdict is evidence of membership (what ``audit --fail-on-evidence`` exits 1 on)."""
        return self.verdict == EVIDENCE

    def verdict_of(self) -> Verdict:
        """The verdict with the test behind it (``test``: against the reference, the dev set's, or none)."""
        return Verdict.of_test(self.verdict, self.test)

    def members(self) -> "MemberEstimate":
        """The estimated number of members (``estimate``) as a typed view."""
        return MemberEstimate.of(self.estimate)

    def to_json(self) -> str:
        """``audit.json``'s content, as ``audit --json`` prints it."""
        return files.json_bytes(dataclasses.asdict(self)).decode("utf-8")

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "AuditSummary":
        """The summary read back from ``audit.json``'s content (the inverse of ``dataclasses.asdict``)."""
        return cls(**{**d, "counts": Counts(**d["counts"]), "patients": PatientSummary(**d["patients"]),
                      "folders": Folders(**d["folders"]), "notes": list(d["notes"])})


@dataclass(frozen=True)
class MemberEstimate:
    """The estimated number of members among ``n`` audited images (or patients: ``unit``), with its 95%
    interval ``[low, high]``; ``members`` None when it is not estimable, ``why`` then says why."""

    members: float | None
    low: float | None
    high: float | None
    n: int | None
    unit: str
    method: str
    why: str | None

    @classmethod
    def of(cls, record: Mapping[str, Any] | None) -> "MemberEstimate":
        """The view of an ``estimate`` record (``AuditSummary.estimate``); None: not estimable."""
        if record is None:
            return cls(None, None, None, None, "images", "", "no reference and no dev set: nothing to estimate from")
        ci = record.get("ci95") or (None, None)
        n = record.get("n")
        return cls(members=_float(record.get("members")), low=_float(ci[0]), high=_float(ci[1]),
                   n=None if n is None else int(n), unit=str(record.get("unit", "images")),
                   method=str(record.get("method", "")), why=record.get("why"))

    def line(self) -> str:
        """``12.0 of 24 [95% 8.0, 16.0]`` (of ``n`` ``unit``), or ``not estimable (why)``."""
        if self.members is None:
            return f"not estimable ({self.why})"
        return f"{self.members:.1f} of {self.n} [95% {self.low:.1f}, {self.high:.1f}]"


def _float(v: Any) -> float | None:
    return None if v is None else float(v)
