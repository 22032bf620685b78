"""Which sibling groups a score leaves out (``--siblings``): the one rule of evaluate, submit, audit.

A label-free score that compares a real image with other real images (calibrated's best real
match, DOMIAS and GAN-Leaks references, the ranking and clustering lists, fusion) can leave out the
image's own group, so that its siblings (the other slices of its patient) do not argue against it:

- ``leave-out`` (default): leave out the own group, whether the files name it (DICOM, NIfTI, a
  ``--groups`` CSV) or it is inferred from the pixels;
- ``named``: leave out only groups the files or a CSV name; with inferred groups keep the siblings;
- ``keep``: never (the scores before issue 20).

Why ``leave-out`` by default (docs/membership.md, "Patients and siblings"): where a patient's
slices are near-duplicates of each other, a memorised slice's best real match is its own sibling
and the blind score sees nothing (tests/test_patients.py: 0 of 8 memorised patients called with
``keep``, at least 6 with ``leave-out``); where inference joins look-alike patients (the demo's
phantoms) leaving the inferred groups out cost patient AUC (simulation 0.940 against 0.985). A
missed leak is the worse error for an audit; ``named`` or ``keep`` are there for data known to be
of the second kind.

The groups still make the folds, the patient scores and the patient p-values whatever this says.
"""

from __future__ import annotations

import numpy as np

from trainprint.core.errors import TrainprintError

LEAVE_OUT, NAMED, KEEP = "leave-out", "named", "keep"
SIBLINGS = (LEAVE_OUT, NAMED, KEEP)


def check_siblings(value: str) -> str:
    if value not in SIBLINGS:
        raise TrainprintError(f"--siblings {value!r}: expected one of {', '.join(SIBLINGS)}")
    return value


def left_out(groups: np.ndarray | None, named: bool, siblings: str) -> np.ndarray | None:
    """The groups the scores leave out (``FitView.groups``): ``groups`` (N,) under ``leave-out``, or
    under ``named`` when the files or a CSV name them (``named``); None (every image alone) otherwise."""
    check_siblings(siblings)
    if groups is None or siblings == KEEP or (siblings == NAMED and not named):
        return None
    return groups


def describe(named: bool, siblings: str, grouped: bool) -> str:
    """One line for the notes: whether the scores leave the siblings out, and why."""
    where = "named by the files or a CSV" if named else "inferred from the pixels"
    if not grouped:
        return "scores: every image alone (--groups none)"
    if siblings == KEEP or (siblings == NAMED and not named):
        return f"scores: siblings kept in each image's comparison set (--siblings {siblings}; groups {where})"
    return f"scores: each image's own group left out of its comparison set (--siblings {siblings}; groups {where})"
