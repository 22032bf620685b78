"""The data layer: a task folder read, checked, decoded in parallel and cached, as an ``ImageSet``.

    load_dev(path, *, size=None, skip_bad=False, cache_dir=None, workers=None, progress=False)
    load_test(path, ...)      load_folder(path, ...)      # dev or test, decided by sub-folders
    read_folder(path, kind=None, ...) -> (ImageSet, LoadReport)   # the same, with what happened

Layout and ids: ``data_layout``; decoding and conversions: ``data_decode``; parallel reading:
``data_read``; the content-keyed cache: ``data_cache``; ``trainprint inspect``: ``data_inspect``.

Rules:
- images end up ``(N, S, S)`` uint8. Without ``size`` every image must be square and all of one
  size; with ``size`` every image is resized to ``size x size`` (Lanczos; non-square ones are
  stretched, with a warning). Images under 64 px on a side are refused, ``size`` under 64 too.
- bad input raises ``TrainprintError`` (one line, naming the file or folder). With
  ``skip_bad=True`` files that cannot be used (not an image, truncated, unsupported, under
  64 px) are skipped and listed in ``LoadReport.skipped``; every split must keep one image.
- ``cache_dir``: ``None`` -> ``$TRAINPRINT_CACHE`` or ``~/.cache/trainprint``; ``False`` -> no
  cache; a path -> that folder. One pack per split, keyed by file contents, written only after
  the whole folder loaded, so a failed load writes nothing (``data_cache``).
- ``load_*`` log the report's warnings (level WARNING) and notes (INFO) on the
  ``trainprint.data`` logger; callers that want them as values use ``read_folder``.
"""

from __future__ import annotations

import logging
import os
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from trainprint.data.cache import ENV_VAR as CACHE_ENV
from trainprint.data.cache import DecodeCache, default_cache_dir
from trainprint.data.decode import BIT_DEPTHS, MIN_SIDE, WARNING_CONVERSIONS, from_16bit
from trainprint.data.layout import LAYOUTS, ImageFile, detect_kind, list_images
from trainprint.data.medical import MedicalRead, folder_format
from trainprint.data.read import FileResult, read_files, stack_rows, write_packs
from trainprint.data.reading import Reading, current_reading
from trainprint.data.scale16 import one_scale
from trainprint.data.volcache import read_medical_cached
from trainprint.core.errors import TrainprintError
from trainprint.data.imageset import ImageSet

log = logging.getLogger("trainprint.data")

BIT_DEPTH_CONVERSIONS = tuple(from_16bit(b) for b in BIT_DEPTHS)

CacheDir = str | Path | None | bool


@dataclass(frozen=True)
class LoadReport:
    """What reading one task folder found and did (printed by ``trainprint inspect``).

    Attributes:
        path: the task folder.
        source: ``"dev"`` or ``"test"``.
        counts: images loaded per split, in layout order.
        size: side of the loaded images, in pixels.
        native_sizes: ``"WxH"`` of the files -> how many.
        formats: file format (``PNG``, ...) -> how many; ``modes``: PIL pixel mode -> how many.
        conversions: conversion name (see ``data_decode``) -> how many files, resizing included.
        warnings: conversions that change pixel values (color -> gray, stretched, ...).
        notes: things a reader should know that are not problems (resizing, ignored files).
        skipped: ``(file, reason)`` of files skipped with ``skip_bad``.
        ignored: hidden files and nested folders that were not read.
        cache_dir: cache folder, or ``None`` when the cache is off.
        cache_hits: images read from the cache; ``decoded``: images decoded from their files.
        seconds: wall time of the load.
        patients: how many patients the files name (DICOM series, NIfTI volumes; 0 for 2-D files).
    """

    path: Path
    source: str
    counts: dict[str, int]
    size: int
    native_sizes: dict[str, int]
    formats: dict[str, int]
    modes: dict[str, int]
    conversions: dict[str, int]
    warnings: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    skipped: tuple[tuple[str, str], ...] = ()
    ignored: tuple[str, ...] = ()
    cache_dir: str | None = None
    cache_hits: int = 0
    decoded: int = 0
    seconds: float = 0.0
    patients: int = 0

    @property
    def n_images(self) -> int:
        return sum(self.counts.values())

    @property
    def problems(self) -> list[str]:
        """Warnings and skipped files, one line each (empty when the folder is clean)."""
        return [*self.warnings, *(f"skipped {f}: {why}" for f, why in self.skipped)]


def load_dev(
    path: str | Path,
    *,
    size: int | None = None,
    skip_bad: bool = False,
    cache_dir: CacheDir = None,
    workers: int | None = None,
    progress: bool = False,
    reading: Reading | None = None,
) -> ImageSet:
    """A dev folder (``generated/``, ``real_used/``, ``real_not_used/``) as an ImageSet."""
    return _logged(read_folder(path, "dev", size=size, skip_bad=skip_bad, cache_dir=cache_dir,
                               workers=workers, progress=progress, reading=reading))


def load_test(
    path: str | Path,
    *,
    size: int | None = None,
    skip_bad: bool = False,
    cache_dir: CacheDir = None,
    workers: int | None = None,
    progress: bool = False,
    reading: Reading | None = None,
) -> ImageSet:
    """A test folder (``generated/``, ``real_unknown/``) as an ImageSet."""
    return _logged(read_folder(path, "test", size=size, skip_bad=skip_bad, cache_dir=cache_dir,
                               workers=workers, progress=progress, reading=reading))


def load_folder(
    path: str | Path,
    *,
    size: int | None = None,
    skip_bad: bool = False,
    cache_dir: CacheDir = None,
    workers: int | None = None,
    progress: bool = False,
    reading: Reading | None = None,
) -> ImageSet:
    """A dev or test folder, told apart by its sub-folders, as an ImageSet."""
    return _logged(read_folder(path, None, size=size, skip_bad=skip_bad, cache_dir=cache_dir,
                               workers=workers, progress=progress, reading=reading))


def read_folder(
    path: str | Path,
    kind: str | None = None,
    *,
    size: int | None = None,
    skip_bad: bool = False,
    cache_dir: CacheDir = None,
    workers: int | None = None,
    progress: bool = False,
    pool: str = "process",
    splits: tuple[str, ...] | None = None,
    reading: Reading | None = None,
) -> tuple[ImageSet, LoadReport]:
    """Read a task folder: ``(images, report)``. ``kind`` ``"dev"``, ``"test"`` or ``None`` (detect).

    ``workers``: decoding workers (``None``: one per CPU, at most 16; ``1``: serial).
    ``pool``: ``"process"`` (default, measured fastest) or ``"thread"``; see ``data_read``.
    ``splits``: read only these sub-folders (the layout is still checked whole), e.g. a test
    folder's ``real_unknown`` while its generated images are streamed (``data_stream``).
    ``reading``: how volumes are sliced and windowed (``None``: the current one, ``data_reading``).
    A split folder of DICOM series or NIfTI volumes is read by ``data_medical``, the volume
    folders of one task folder with one window; the decode cache is not used for them.
    """
    t0 = time.perf_counter()
    path = Path(path)
    _check_size(size)
    reading = (reading or current_reading()).check()
    kind = kind or detect_kind(path)
    wanted = tuple(s for s in LAYOUTS[kind] if splits is None or s in splits)
    formats = {s: folder_format(path / s) for s in wanted}
    volume_folders = {s: (path / s, f) for s, f in formats.items() if f is not None}
    files, ignored = list_images(path, kind, only=tuple(s for s in wanted if formats[s] is None))
    cache = _open_cache(cache_dir)
    results, pending = read_files(
        files, size=size, cache=cache, workers=workers, pool=pool, progress=progress, desc=str(path)
    )
    scaled, scale_note = one_scale(files, results, size=size, window=reading.window, workers=workers, pool=pool,
                                   progress=progress, desc=str(path))
    med = None
    if volume_folders:
        med = read_medical_cached(volume_folders, cache=volume_cache(cache_dir), reading=reading, size=size,
                                  skip_bad=skip_bad,
                           workers=workers, pool=pool, progress=progress, where=path)
    images, good, bad = assemble(path, kind, *_with_volumes(kind, files, scaled, med), size, skip_bad)
    if cache is not None and pending:  # the cache keeps each file decoded alone (data_scale16)
        failed = write_packs(cache, files, results, pending)
        if failed:
            log.warning("decode cache not written (%d packs), e.g. %s", len(failed), failed[0])
    report = _report(path, kind, images, good, bad, ignored, size, cache, time.perf_counter() - t0, med, scale_note)
    return images, report


def _with_volumes(kind: str, files: list[ImageFile], results: list[FileResult],
                  med: MedicalRead | None) -> tuple[list[ImageFile], list[FileResult]]:
    """The 2-D files and the volumes' slices together, by split (layout order) then id."""
    if med is None:
        return files, results
    order = {s: i for i, s in enumerate(LAYOUTS[kind])}
    both = sorted(zip(files + med.files, results + med.results), key=lambda p: (order[p[0].split], p[0].id))
    return [f for f, _ in both], [r for _, r in both]


def is_volume_folder(path: str | Path) -> bool:
    """Whether ``path`` is a folder (or tree) of DICOM series or NIfTI volumes, not of 2-D images."""
    return Path(path).is_dir() and folder_format(Path(path)) is not None


def read_volume_folder(
    path: str | Path, split: str, what: str, *, size: int | None = None, skip_bad: bool = False,
    cache_dir: CacheDir = None, workers: int | None = None, progress: bool = False, reading: Reading | None = None,
) -> tuple[ImageSet, LoadReport]:
    """A bare folder (or tree) of DICOM series or NIfTI volumes as an ImageSet of split ``split``,
    with its report (``trainprint inspect``); ``what`` names the folder in errors. Raises
    ``TrainprintError`` when ``path`` holds no volumes (``is_volume_folder`` tells beforehand).
    ``data_plain`` reads such folders beside others, with one scale."""
    t0 = time.perf_counter()
    path = Path(path)
    _check_size(size)
    if not path.is_dir():
        raise TrainprintError(f"{what} {path}: folder not found; expected a folder of DICOM series or NIfTI volumes")
    fmt = folder_format(path)
    if fmt is None:
        raise TrainprintError(f"{what} {path}: no DICOM or NIfTI files; expected a folder of DICOM series or NIfTI "
                              "volumes")
    cache = volume_cache(cache_dir)
    med = read_medical_cached({split: (path, fmt)}, cache=cache, reading=reading or current_reading(), size=size,
                              skip_bad=skip_bad, workers=workers, progress=progress, where=path)
    images, good, bad = assemble(path, "", med.files, med.results, size, skip_bad)
    return images, _report(path, "", images, good, bad, [], size, cache, time.perf_counter() - t0, med)


def _check_size(size: int | None) -> None:
    if size is not None and (not isinstance(size, int) or size < MIN_SIDE):
        raise TrainprintError(f"--size {size}: expected a whole number of pixels >= {MIN_SIDE}")


Pair = tuple[ImageFile, FileResult]


def assemble(
    path: Path, kind: str, files: list[ImageFile], results: list[FileResult], size: int | None,
    skip_bad: bool,
) -> tuple[ImageSet, list[Pair], list[Pair]]:
    """Check the decoded files as a whole and stack them: ``(images, good, bad)``."""
    bad = [(f, r) for f, r in zip(files, results) if r.item is None]
    if bad and not skip_bad:
        more = f" ({len(bad) - 1} more bad files; --skip-bad skips them)" if len(bad) > 1 else ""
        raise TrainprintError(f"{bad[0][0].path}: {bad[0][1].error}{more}")
    good = [(f, r) for f, r in zip(files, results) if r.item is not None]
    _check_splits_kept(path, files, good)
    _check_sizes(path, good, size)  # one side, or an error
    pixels = stack_rows([r.item.pixels for _, r in good])  # type: ignore[union-attr]  # (N, S, S)
    ids = np.array([f.id for f, _ in good], dtype=str)
    split = np.array([f.split for f, _ in good], dtype=str)
    patients = np.array([f.patient for f, _ in good], dtype=str) if any(f.patient for f, _ in good) else None
    return ImageSet(ids, split, pixels, kind, patients), good, bad


# --- whole-folder checks ----------------------------------------------------------------------


def _check_splits_kept(path: Path, files: list[ImageFile], good: list[Pair]) -> None:
    left = Counter(f.split for f, _ in good)
    for split, n in Counter(f.split for f in files).items():
        if left[split] == 0:
            raise TrainprintError(f"{path / split}: none of its {n} files could be read; expected images")


def _check_sizes(path: Path, good: list[Pair], size: int | None) -> int:
    """The common side of the loaded images; errors when it does not exist without ``size``."""
    if size is not None:
        return size
    natives = [(f, r.item.native) for f, r in good]  # type: ignore[union-attr]
    for f, (h, w) in natives:
        if h != w:
            raise TrainprintError(
                f"{f.path}: image is {w}x{h} px, not square; pass --size N to resize every image to N x N"
            )
    sides = Counter(h for _, (h, _) in natives)
    if len(sides) > 1:
        common = sides.most_common(1)[0][0]
        odd = next(f for f, (h, _) in natives if h != common)
        listed = ", ".join(f"{s}x{s} ({n})" for s, n in sides.most_common())
        raise TrainprintError(
            f"{path}: images differ in size: {listed}, e.g. {odd.path}; pass --size N to resize all to N x N"
        )
    return next(iter(sides))


# --- report -----------------------------------------------------------------------------------


def _report(
    path: Path, kind: str, images: ImageSet, good: list[Pair], bad: list[Pair], ignored: list[str],
    size: int | None, cache: DecodeCache | None, seconds: float, med: MedicalRead | None = None,
    scale_note: str | None = None,
) -> LoadReport:
    items = [(f, r.item) for f, r in good if r.item is not None]
    if med is not None:
        bad = bad + med.bad
        ignored = ignored + med.ignored
    conversions: Counter[str] = Counter(c for _, it in items for c in it.conversions)
    warnings: list[str] = []
    for name in WARNING_CONVERSIONS:
        if conversions[name]:
            example = next(f.path for f, it in items if name in it.conversions)
            warnings.append(f"{path}: {_n(conversions[name], 'image')}: {name}, e.g. {example}")
    notes: list[str] = []
    if size is not None:
        resized = [f for f, it in items if it.native != (size, size)]
        if resized:
            conversions[f"resized to {size}x{size}"] = len(resized)
            notes.append(f"{path}: resized {len(resized)} of {len(items)} images to {size}x{size} (--size {size})")
        stretched = [f.path for f, it in items if it.native[0] != it.native[1]]
        if stretched:
            conversions["non-square, stretched to square"] = len(stretched)
            warnings.append(
                f"{path}: {_n(len(stretched), 'non-square image')} stretched to square, e.g. {stretched[0]}"
            )
    depths = {c: n for c, n in conversions.items() if c in BIT_DEPTH_CONVERSIONS}
    for name, n in depths.items():
        notes.append(f"{path}: {_n(n, 'image')}: {name}")
    if scale_note:
        notes.append(f"{path}: {scale_note}")
    if med is not None:
        notes += med.notes
    if ignored:
        what = _n(len(ignored), "hidden file or nested folder", "hidden files or nested folders")
        notes.append(f"{path}: {what} not read, e.g. {ignored[0]}")
    hits = sum(1 for _, r in good if r.from_cache)
    return LoadReport(
        path=path,
        source=kind,
        counts=_ordered_counts(images),
        size=images.size,
        native_sizes=dict(Counter(f"{it.native[1]}x{it.native[0]}" for _, it in items).most_common()),
        formats=dict(Counter(it.format for _, it in items).most_common()),
        modes=dict(Counter(it.mode for _, it in items).most_common()),
        conversions=dict(conversions.most_common()),
        warnings=tuple(warnings),
        notes=tuple(notes),
        skipped=tuple((str(f.path), r.error) for f, r in bad),
        ignored=tuple(ignored),
        cache_dir=None if cache is None else str(cache.root),
        cache_hits=hits,
        decoded=len(items) - hits,
        seconds=round(seconds, 3),
        patients=len({f.patient for f, _ in items if f.patient}),
    )


def _n(count: int, noun: str, plural: str = "") -> str:
    """``'1 image'``, ``'3 images'``."""
    return f"1 {noun}" if count == 1 else f"{count} {plural or noun + 's'}"


def _ordered_counts(images: ImageSet) -> dict[str, int]:
    order = list(dict.fromkeys(images.split.tolist()))
    counts = images.counts()
    return {s: counts[s] for s in order}


def _logged(loaded: tuple[ImageSet, LoadReport]) -> ImageSet:
    images, report = loaded
    for line in report.problems:
        log.warning(line)
    for line in report.notes:
        log.info(line)
    return images


# --- cache -------------------------------------------------------------------------------------


def open_cache(cache_dir: CacheDir) -> DecodeCache | None:
    """The decode cache ``cache_dir`` names (``False``: none; ``None``/``True``: the default folder)."""
    return _open_cache(cache_dir)


def volume_cache(cache_dir: CacheDir) -> DecodeCache | None:
    """The cache of DICOM / NIfTI reads: only in a folder the user chose (``cache_dir`` a path, or
    ``$TRAINPRINT_CACHE`` set), never the default one in the home folder (docs/data.md, "Patient data")."""
    if cache_dir is False:
        return None
    if cache_dir is None or cache_dir is True:
        return DecodeCache(default_cache_dir()) if os.environ.get(CACHE_ENV) else None
    return DecodeCache(Path(cache_dir))


def _open_cache(cache_dir: CacheDir) -> DecodeCache | None:
    if cache_dir is False:
        return None
    if cache_dir is None or cache_dir is True:
        return DecodeCache(default_cache_dir())
    return DecodeCache(Path(cache_dir))
