"""Folders of DICOM series and NIfTI volumes, read as slices with ids ``<case>:<slice>``.

    folder_format(folder) -> "dicom" | "nifti" | None       None: 2-D image files (PNG, ...)
    read_medical(folders, reading=..., size=...) -> MedicalRead

``FORMATS`` is the table of volume formats: how a file is recognised, the package that reads it
(the ``medical`` extra: ``pip install 'trainprint[medical]'``), the function that reads one file
(in worker processes) and the one that turns a folder's files into volumes. A folder is one
format: 2-D image files beside DICOM or NIfTI files, or DICOM beside NIfTI, is an error naming
one file of each. A volume folder may be a tree of any depth (``patient/study/series/*.dcm``);
hidden files and folders are skipped; files of other kinds in a tree are listed as ignored.

Reading a folder (all the split folders of a task folder together):

1. every file is read (in parallel), the files grouped into volumes (``dicom``, ``nifti``);
2. one window for the whole folder: ``--window`` if given; else, when every volume is stored as
   unsigned 8-bit without rescaling, the values as they are; else the folder's range (its
   smallest to its largest value) -> 0..255;
3. every ``slice_step``-th slice is kept (slice 0, k, 2k, ...), scaled to 8 bits, and dropped
   when *empty*: every pixel of the 8-bit slice has one value (air only, zero padding), as such
   a slice holds nothing to compare; dropped slices are counted in the notes;
4. each slice becomes an ``ImageFile`` (id ``<case>:<slice number>``, zero-padded to 3 digits or
   more; its patient) and a ``FileResult`` (``data_read``), checked and stacked like 2-D files.

Ids keep the slice's number along the scan, so a slice keeps its id whatever ``--slice-step``
and whichever slices are dropped.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Callable

import numpy as np

from trainprint.core.errors import TrainprintError
from trainprint.data import decode
from trainprint.data.decode import BadImage, Decoded
from trainprint.data.dicom import DicomSlice, NoImage, dicom_volumes, read_dicom_file
from trainprint.data.intensity import Window, range_window, to_uint8
from trainprint.data.layout import ImageFile
from trainprint.data.nifti import SUFFIXES as NIFTI_SUFFIXES
from trainprint.data.nifti import read_nifti_file
from trainprint.data.read import FileResult, map_files
from trainprint.data.reading import Reading
from trainprint.data.volume import Volume

#: suffixes of 2-D image files (read by ``data_decode``)
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")
AS_IS = "8-bit values used as is"
EMPTY = "empty slice (one value after scaling), dropped"


def _is_dicom_name(path: Path) -> bool:
    """``.dcm`` / ``.dicom`` files, and files without a known suffix that start like DICOM."""
    name = path.name.lower()
    if name.endswith((".dcm", ".dicom")):
        return True
    if name.endswith(IMAGE_SUFFIXES + NIFTI_SUFFIXES):
        return False
    try:
        with open(path, "rb") as f:
            return f.read(132)[128:132] == b"DICM"
    except OSError:
        return False


def _is_nifti_name(path: Path) -> bool:
    return path.name.lower().endswith(NIFTI_SUFFIXES)


def _dicom_volumes(items: list[object]) -> list[Volume]:
    return dicom_volumes([it for it in items if isinstance(it, DicomSlice)])


def _nifti_volumes(items: list[object]) -> list[Volume]:
    return [it for it in items if isinstance(it, Volume)]


def _read_dicom(path: Path, reading: Reading) -> object:
    return read_dicom_file(path)


def _read_nifti(path: Path, reading: Reading) -> object:
    return read_nifti_file(path, reading.axis)


@dataclass(frozen=True)
class VolumeFormat:
    """One format of volumes: its name, package, how files are recognised and read."""

    name: str
    package: str
    what: str  # what one volume is, in messages
    matches: Callable[[Path], bool]
    read_file: Callable[[Path, Reading], object]  # -> a per-file item; raises BadImage
    volumes: Callable[[list[object]], list[Volume]]  # the items of a folder -> its volumes
    axes: tuple[str, ...]  # the --axis values it can slice along


FORMATS: dict[str, VolumeFormat] = {
    "dicom": VolumeFormat("DICOM", "pydicom", "DICOM series", _is_dicom_name, _read_dicom, _dicom_volumes, ("axial",)),
    "nifti": VolumeFormat("NIfTI", "nibabel", "NIfTI volume", _is_nifti_name, _read_nifti, _nifti_volumes,
                          ("axial", "coronal", "sagittal")),
}


@dataclass(frozen=True)
class MedicalRead:
    """The slices of volume folders, ready to be checked and stacked like 2-D files.

    Attributes:
        files: one ``ImageFile`` per kept slice (id ``<case>:<slice>``, its patient), by folder then id.
        results: the matching ``FileResult``s (8-bit pixels, format, stored type, conversions).
        bad: ``(ImageFile, FileResult)`` of files that could not be read (with ``skip_bad``).
        notes: what reading did, one line per folder (volumes, patients, window, slices dropped).
        ignored: files in the trees that are neither volumes nor hidden.
        window: the window applied (``None``: 8-bit values as they are).
    """

    files: list[ImageFile]
    results: list[FileResult]
    bad: list[tuple[ImageFile, FileResult]]
    notes: list[str]
    ignored: list[str]
    window: Window | None


def folder_format(folder: Path) -> str | None:
    """``"dicom"`` or ``"nifti"`` when ``folder`` (or, when it holds no files of its own, a folder
    below it) holds volumes; ``None`` for a folder of 2-D image files. Raises on a mix of kinds."""
    seen: dict[str, Path] = {}
    direct = _direct_files(folder)
    for path in direct:
        kind = _kind(path)
        if kind is not None:
            seen.setdefault(kind, path)
    if not seen:  # no file of a known kind here: a tree (patient/study/series/...)
        for path in _tree_files(folder):
            kind = _kind(path)
            if kind is not None and kind != "image":
                seen.setdefault(kind, path)
    kinds = sorted(seen)
    if len(kinds) > 1:
        a, b = seen[kinds[0]], seen[kinds[1]]
        raise TrainprintError(f"{folder}: holds both {_label(kinds[0])} and {_label(kinds[1])} files ({a}, {b}); "
                              "expected one kind of file per folder")
    return kinds[0] if kinds and kinds[0] != "image" else None


def read_medical(
    folders: dict[str, tuple[Path, str]],
    *,
    reading: Reading,
    size: int | None,
    skip_bad: bool,
    workers: int | None = None,
    pool: str = "process",
    progress: bool = False,
    where: Path | str,
) -> MedicalRead:
    """Read the volume folders ``{split: (folder, format)}`` of one task or plain folder ``where``
    with one window for all of them (see the module docstring). Raises ``TrainprintError``."""
    reading = reading.check()
    per_split: dict[str, list[Volume]] = {}
    bad: list[tuple[ImageFile, FileResult]] = []
    ignored: list[str] = []
    counts: dict[str, Counter[str]] = {}
    for split, (folder, fmt_name) in folders.items():
        fmt = FORMATS[fmt_name]
        _require(fmt, folder)
        if reading.axis not in fmt.axes:
            raise TrainprintError(f"--axis {reading.axis}: {fmt.name} series are sliced as acquired; "
                                  f"expected --axis {' or '.join(fmt.axes)} for {folder}")
        paths, skipped = volume_files(folder, fmt)
        ignored += [str(p) for p in skipped]
        read_one = partial(_read_one, fmt=fmt_name, reading=reading)
        read = list(zip(paths, map_files(read_one, paths, workers, pool, progress, f"reading {folder}")))
        failed = [(path, error) for path, (item, error) in read if item is None]
        if failed and not skip_bad:
            more = f" ({len(failed) - 1} more bad files; --skip-bad skips them)" if len(failed) > 1 else ""
            raise TrainprintError(f"{failed[0][0]}: {failed[0][1]}{more}")
        bad += [(ImageFile(path, split, path.name), FileResult(None, error)) for path, error in failed]
        items = [item for _, (item, _) in read if item is not None]
        no_image = [it for it in items if isinstance(it, NoImage)]
        try:
            volumes = fmt.volumes(items)
        except BadImage as e:
            raise TrainprintError(f"{e.args[1]}: {e.args[0]}") from None
        if not volumes:
            raise TrainprintError(f"{folder}: none of its {len(paths)} {fmt.name} files holds an image; expected "
                                  f"{fmt.what}s")
        per_split[split] = volumes
        counts[split] = Counter({"no_image": len(no_image)})
    _check_cases(per_split)
    all_volumes = [v for vs in per_split.values() for v in vs]
    window = _folder_window(all_volumes, reading.window)
    files: list[ImageFile] = []
    results: list[FileResult] = []
    notes: list[str] = []
    for split, volumes in per_split.items():
        folder = folders[split][0]
        kept = dropped = 0
        for vol in volumes:
            width = max(3, len(str(int(vol.index.max(initial=0)))))
            conversions = vol.conversions + (AS_IS if window is None else window.describe(),)
            for k in range(0, len(vol.index), reading.slice_step):
                pixels = vol.values[k].astype(np.uint8) if window is None else to_uint8(vol.values[k], window)
                if pixels.min() == pixels.max():
                    dropped += 1
                    continue
                h, w = pixels.shape
                if min(h, w) < decode.MIN_SIDE:
                    raise TrainprintError(f"{vol.paths[k]}: slices are {w}x{h} pixels; expected at least "
                                          f"{decode.MIN_SIDE} px on each side")
                if size is not None:
                    pixels = decode.resize_square(pixels, size)
                files.append(ImageFile(vol.paths[k], split, f"{vol.case}:{int(vol.index[k]):0{width}d}", vol.patient))
                results.append(FileResult(Decoded(np.ascontiguousarray(pixels), vol.format, vol.stored, (h, w),
                                                  conversions)))
                kept += 1
        fmt = FORMATS[folders[split][1]]
        patients = len({v.patient for v in volumes})
        every = "" if reading.slice_step == 1 else f", every {_ordinal(reading.slice_step)}"
        notes.append(f"{folder}: {_n(len(volumes), fmt.what)} of {_n(patients, 'patient')}, {reading.axis} slices"
                     f"{every}: {kept} kept, {dropped} empty dropped (one value after scaling)")
        if counts[split]["no_image"]:
            notes.append(f"{folder}: {_n(counts[split]['no_image'], 'DICOM file')} without pixel data not read")
        if not kept:
            raise TrainprintError(f"{folder}: every slice is empty (one value after scaling); expected images")
    scale = (f"{where}: intensities: {AS_IS} (every volume is stored as unsigned 8-bit)" if window is None else
             f"{where}: intensities: {window.describe()}, one scale for every volume of the folder")
    notes.insert(0, scale)
    return MedicalRead(files, results, bad, notes, ignored, window)


def _read_one(path: Path, *, fmt: str, reading: Reading) -> tuple[object | None, str]:
    """One file read by its format: ``(item, "")`` or ``(None, reason)``; runs in worker processes."""
    try:
        return FORMATS[fmt].read_file(path, reading), ""
    except BadImage as e:
        return None, str(e.args[0])
    except OSError as e:
        return None, f"cannot read the file ({e.strerror or e}); expected a readable file"


def _folder_window(volumes: list[Volume], window: Window | None) -> Window | None:
    if window is not None:
        return window
    if all(v.is_8bit for v in volumes):
        return None
    lo = min(float(v.values.min()) for v in volumes)
    hi = max(float(v.values.max()) for v in volumes)
    return range_window(lo, hi)


def _check_cases(per_split: dict[str, list[Volume]]) -> None:
    """Case names are unique within the folder (they make the ids)."""
    seen: dict[str, Volume] = {}
    for volumes in per_split.values():
        for v in volumes:
            if v.case in seen:
                raise TrainprintError(f"{v.paths[0]}: case name {v.case!r} is also that of {seen[v.case].paths[0]}; "
                                      "expected one volume per case name (its ids are <case>:<slice>)")
            seen[v.case] = v


def _require(fmt: VolumeFormat, folder: Path) -> None:
    import importlib.util

    if importlib.util.find_spec(fmt.package) is None:
        raise TrainprintError(f"{folder}: holds {fmt.name} files, which need {fmt.package}; "
                              "pip install 'trainprint[medical]'")


def _kind(path: Path) -> str | None:
    name = path.name.lower()
    if name.endswith(IMAGE_SUFFIXES):
        return "image"
    for kind, fmt in FORMATS.items():
        if fmt.matches(path):
            return kind
    return None


def _label(kind: str) -> str:
    return "2-D image" if kind == "image" else FORMATS[kind].name


def _direct_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    with os.scandir(folder) as it:
        return sorted(folder / e.name for e in it if not e.name.startswith(".") and e.is_file())


def _tree_files(folder: Path) -> list[Path]:
    """Every non-hidden file under ``folder``, at any depth, sorted by path."""
    out: list[Path] = []
    for root, dirs, names in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        out += [Path(root) / n for n in names if not n.startswith(".")]
    return sorted(out)


def volume_files(folder: Path, fmt: VolumeFormat) -> tuple[list[Path], list[Path]]:
    """The files of ``fmt`` under ``folder`` and the other files (ignored)."""
    paths, other = [], []
    for p in _tree_files(folder):
        (paths if fmt.matches(p) else other).append(p)
    return paths, other


def _ordinal(k: int) -> str:
    return f"{k}{'th' if 10 <= k % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(k % 10, 'th')}"


def _n(count: int, noun: str) -> str:
    if count == 1:
        return f"1 {noun}"
    return f"{count} {noun if noun.endswith('series') else noun + 's'}"
