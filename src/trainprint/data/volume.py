"""``Volume``: one scan as a stack of slices, before its intensities are scaled to 8 bits; and
the orientation of slices cut from a volume in RAS+ orientation.

Slices are shown as radiologists look at them: axial with the patient's anterior up and right on
the image's left; coronal with superior up, right on the left; sagittal with superior up,
anterior on the left. Slice numbers count from the right (sagittal), posterior (coronal) or
inferior (axial) end. ``volume_from_slices`` is the inverse of ``slices_of`` for ``axial``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from trainprint.data.reading import AXES


@dataclass(frozen=True)
class Volume:
    """One scan's slices.

    Attributes:
        case: the case name, the part of an id before ``:``.
        patient: who was scanned (DICOM PatientID / StudyInstanceUID; NIfTI: the case).
        format: ``"DICOM"`` or ``"NIfTI"``.
        stored: the type the values are stored as (``int16``, ``uint8``, ``float32``, ...).
        values: ``(n, H, W)`` float32 slices in display orientation.
        index: ``(n,)`` slice numbers along the scan (kept in the ids when slices are left out).
        paths: ``(n,)`` the file of each slice (a NIfTI volume: its one file, n times).
        is_8bit: stored as unsigned 8-bit without rescaling: used as is when no window is given.
        conversions: what reading did to the values (e.g. HU from slope and intercept).
    """

    case: str
    patient: str
    format: str
    stored: str
    values: np.ndarray
    index: np.ndarray
    paths: tuple[Path, ...]
    is_8bit: bool
    conversions: tuple[str, ...] = ()


def slices_of(volume: np.ndarray, axis: str) -> np.ndarray:
    """``(X, Y, Z)`` volume in RAS+ orientation -> ``(n, rows, cols)`` slices along ``axis``."""
    if axis == "axial":  # [z, r, c] = v[X-1-c, Y-1-r, z]
        return np.transpose(volume[::-1, ::-1, :], (2, 1, 0))
    if axis == "coronal":  # [y, r, c] = v[X-1-c, y, Z-1-r]
        return np.transpose(volume[::-1, :, ::-1], (1, 2, 0))
    if axis == "sagittal":  # [x, r, c] = v[x, Y-1-c, Z-1-r]
        return np.transpose(volume[:, ::-1, ::-1], (0, 2, 1))
    raise ValueError(f"axis {axis!r}: expected one of {', '.join(AXES)}")


def volume_from_slices(slices: np.ndarray) -> np.ndarray:
    """``(Z, H, W)`` axial slices -> the ``(W, H, Z)`` RAS+ volume that ``slices_of(., "axial")`` cuts them from."""
    return np.ascontiguousarray(np.transpose(slices, (2, 1, 0))[::-1, ::-1, :])
