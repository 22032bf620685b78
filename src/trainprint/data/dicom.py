"""DICOM files to series of slices (pydicom, the ``medical`` extra).

    read_dicom_file(path) -> DicomSlice          one file (runs in worker processes)
    dicom_volumes(slices) -> list[Volume]         files grouped by SeriesInstanceUID, ordered

A series is the files sharing a SeriesInstanceUID. Its slices are ordered by ImagePositionPatient
projected on the slice normal (the cross product of ImageOrientationPatient's row and column
directions), else by InstanceNumber, else by file name. Values are those of the modality LUT:
``stored * RescaleSlope + RescaleIntercept`` (HU for CT), signed data as signed. Compressed pixel
data is decoded by whichever of pydicom's optional handlers is installed (pylibjpeg, gdcm, ...);
without one the file is refused naming its transfer syntax and what to install.

The patient of a series is its PatientID, else its StudyInstanceUID; its case name is
``<patient>_series<SeriesNumber>`` (``-2``, ``-3`` appended when one patient has several series
of one number), characters other than letters, digits, ``.``, ``_`` and ``-`` replaced by ``-``.
No other tag leaves this module.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from trainprint.data.decode import BadImage, one_line
from trainprint.data.volume import Volume

#: what to install when a compressed transfer syntax cannot be decoded
HANDLERS_HINT = "pip install pylibjpeg pylibjpeg-libjpeg pylibjpeg-openjpeg (or python-gdcm)"
SERIES_TAG = "_series"


@dataclass(frozen=True)
class DicomSlice:
    """The few things read from one DICOM image file.

    Attributes:
        path: the file.
        series: SeriesInstanceUID; ``patient``: the sanitized PatientID or StudyInstanceUID.
        series_number: SeriesNumber (``None`` when absent); ``instance``: InstanceNumber.
        position: ImagePositionPatient ``(3,)`` or ``None``; ``orientation``: ImageOrientationPatient ``(6,)``.
        values: ``(H, W)`` float32, stored values through RescaleSlope / RescaleIntercept.
        stored: the stored type (``uint8``, ``int16``, ...); ``rescaled``: slope or intercept not 1, 0.
    """

    path: Path
    series: str
    patient: str
    series_number: int | None
    instance: int | None
    position: tuple[float, ...] | None
    orientation: tuple[float, ...] | None
    values: np.ndarray
    stored: str
    rescaled: bool


@dataclass(frozen=True)
class NoImage:
    """A DICOM file without pixel data (DICOMDIR, a structured report): not read, counted."""

    path: Path


def sanitize(name: str) -> str:
    """A name safe in ids, CSV and run files: ``[A-Za-z0-9._-]`` kept, runs of others -> ``-``."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-") or "unnamed"


def read_dicom_file(path: Path) -> DicomSlice | NoImage:
    """Read one DICOM file. Raises ``BadImage`` (reason without the file name) when unusable."""
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        ds = pydicom.dcmread(path)
    except InvalidDicomError:
        raise BadImage("not a DICOM file (no DICM header); expected a DICOM image") from None
    except Exception as e:  # noqa: BLE001 - pydicom raises many types for damaged files
        raise BadImage(f"cannot read the DICOM file ({one_line(e, 120)}); expected a complete DICOM image") from None
    if "PixelData" not in ds:
        return NoImage(path)
    if int(ds.get("SamplesPerPixel", 1)) != 1:
        raise BadImage(f"{ds.get('PhotometricInterpretation', 'color')} DICOM image "
                       f"({ds.get('SamplesPerPixel')} samples per pixel); expected a gray (MONOCHROME) image")
    if int(ds.get("NumberOfFrames", 1) or 1) > 1:
        raise BadImage(f"multi-frame DICOM ({ds.NumberOfFrames} frames in one file) is not read; "
                       "expected one slice per file")
    try:
        stored = ds.pixel_array
    except Exception as e:  # noqa: BLE001 - each pixel handler raises its own types
        syntax = ds.file_meta.get("TransferSyntaxUID")
        if syntax is not None and syntax.is_compressed:
            raise BadImage(f"pixel data compressed as {syntax.name} ({syntax}) and no installed pydicom handler could "
                           f"decode it ({one_line(e, 120)}); install one: {HANDLERS_HINT}") from None
        raise BadImage(f"cannot decode its pixel data ({one_line(e, 120)}); expected a DICOM image") from None
    if stored.ndim != 2:
        raise BadImage(f"pixel data of shape {stored.shape}; expected one gray slice (rows x columns)")
    slope, intercept = float(ds.get("RescaleSlope", 1) or 1), float(ds.get("RescaleIntercept", 0) or 0)
    values = stored.astype(np.float32) * np.float32(slope) + np.float32(intercept)
    patient = str(ds.get("PatientID", "") or "").strip() or str(ds.get("StudyInstanceUID", "") or "")
    series = str(ds.get("SeriesInstanceUID", "") or "")
    if not series:
        raise BadImage("no SeriesInstanceUID; expected a DICOM image of a series")
    return DicomSlice(
        path=path, series=series, patient=sanitize(patient or "unknown"),
        series_number=_int(ds.get("SeriesNumber")), instance=_int(ds.get("InstanceNumber")),
        position=_floats(ds.get("ImagePositionPatient"), 3), orientation=_floats(ds.get("ImageOrientationPatient"), 6),
        values=values, stored=str(stored.dtype), rescaled=(slope, intercept) != (1.0, 0.0),
    )


def dicom_volumes(slices: list[DicomSlice]) -> list[Volume]:
    """The series of ``slices`` as volumes, ordered by case name. Raises ``BadImage`` naming a file
    (``BadImage.args[1]``) when a series mixes slice sizes."""
    by_series: dict[str, list[DicomSlice]] = defaultdict(list)
    for s in slices:
        by_series[s.series].append(s)
    series = sorted(by_series.values(), key=lambda ss: (ss[0].patient, ss[0].series_number or 0, ss[0].series))
    names: dict[str, int] = defaultdict(int)
    volumes = []
    for ss in series:
        ordered = _ordered(ss)
        first = ordered[0]
        odd = next((s for s in ordered if s.values.shape != first.values.shape), None)
        if odd is not None:
            h, w = first.values.shape
            raise BadImage(f"slice is {odd.values.shape[1]}x{odd.values.shape[0]} px but {first.path.name} of its "
                           f"series is {w}x{h}; expected one size per series", odd.path)
        base = f"{first.patient}{SERIES_TAG}{first.series_number if first.series_number is not None else 0}"
        names[base] += 1
        case = base if names[base] == 1 else f"{base}-{names[base]}"
        conversions = ("HU from RescaleSlope / RescaleIntercept",) if any(s.rescaled for s in ordered) else ()
        volumes.append(Volume(
            case=case, patient=first.patient, format="DICOM", stored=first.stored,
            values=np.stack([s.values for s in ordered]), index=np.arange(len(ordered)),
            paths=tuple(s.path for s in ordered),
            is_8bit=all(s.stored == "uint8" and not s.rescaled for s in ordered), conversions=conversions))
    return volumes


def patient_of_case(case: str) -> str:
    """The patient part of a DICOM case name (``p01_series2`` -> ``p01``)."""
    return case.rsplit(SERIES_TAG, 1)[0]


def _ordered(ss: list[DicomSlice]) -> list[DicomSlice]:
    """Slices along the series: by position on the slice normal, else InstanceNumber, else name."""
    if all(s.position is not None and s.orientation is not None for s in ss):
        o = np.asarray(ss[0].orientation, dtype=np.float64)
        normal = np.cross(o[:3], o[3:])
        return sorted(ss, key=lambda s: (float(np.dot(normal, np.asarray(s.position))), s.path.name))
    if all(s.instance is not None for s in ss):
        return sorted(ss, key=lambda s: (s.instance, s.path.name))
    return sorted(ss, key=lambda s: s.path.name)


def _int(value: object) -> int | None:
    try:
        return int(str(value)) if value not in (None, "") else None
    except ValueError:
        return None


def _floats(value: object, n: int) -> tuple[float, ...] | None:
    if value is None:
        return None
    try:
        out = tuple(float(v) for v in value)  # type: ignore[attr-defined]
    except (TypeError, ValueError):
        return None
    return out if len(out) == n else None

