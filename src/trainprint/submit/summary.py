"""What ``submit`` returns, typed: ``SubmitSummary`` (the summary its ``run.json`` records).

The selection part (``recommended`` ... ``excluded``) is ``selection.json``'s, from the strict CV that
``submit`` ran into ``OUT/evaluate/`` or from the ``--from`` run; the rest says what was written.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Mapping

from trainprint.core import files
from trainprint.evaluation.null import EVIDENCE
from trainprint.evaluation.summary import Recommendation, Verdict


@dataclass(frozen=True)
class SubmitSummary:
    """The summary of a ``submit`` run.

    ``recommended``, ``selection_aware``, ``null_test``, ``verdict``, ``excluded``: the selection that
    picked ``recommended.csv`` (``source``: which run it came from; ``not_evaluated``: submitted
    methods without CV results there, never recommended); ``runs``: method id -> its run file under
    the run folder; ``votes``: the vote files written and who voted; ``n_test``: test images
    answered; ``transfer``: whether the recommended method meets the test set as CV met it (its
    ``caution``, or None); ``scored``: images scored per method; ``engine`` memory / local / ray;
    streaming runs add ``search`` (the similarity search plan), ``n_generated`` and
    ``skipped_generated``."""

    recommended: Recommendation | None
    selection_aware: dict[str, Any] | None
    null_test: dict[str, Any] | None
    verdict: str
    excluded: dict[str, str]
    source: str
    runs: dict[str, str]
    votes: dict[str, Any]
    n_test: int
    transfer: dict[str, Any]
    scored: Any
    engine: str
    not_evaluated: list[str] | None = None
    search: dict[str, Any] | None = None
    n_generated: int | None = None
    skipped_generated: int | None = None

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "SubmitSummary":
        """The summary from the dict the submit pipeline returns (and run.json records); a key this
        class does not know is an error (a new key belongs here too)."""
        rec = d.get("recommended")
        return cls(**{**d, "recommended": Recommendation(**rec) if rec else None,
                      "excluded": dict(d.get("excluded") or {})})

    @property
    def evidence(self) -> bool:
        return self.verdict == EVIDENCE

    def verdict_of(self) -> Verdict:
        """The verdict with the label-permutation test behind it."""
        return Verdict.of_test(self.verdict, self.null_test, kind="dev" if self.null_test else "none")

    def lines(self) -> list[str]:
        """What ``submit`` prints after the files: recommendation, estimate, verdict, caution, source."""
        from trainprint.evaluation.selection import describe

        selection = {k: getattr(self, k) for k in ("selection_aware", "null_test", "verdict")}
        selection["recommended"] = dataclasses.asdict(self.recommended) if self.recommended else None
        lines = describe(selection)
        if self.transfer.get("caution"):
            lines.append(f"caution: {self.transfer['caution']}")
        return lines + [f"recommendation from: {self.source}"]

    def to_json(self) -> str:
        """The summary as ``submit --json`` prints it (sorted keys, as the run folder's JSON files)."""
        return files.json_bytes(dataclasses.asdict(self)).decode("utf-8")
