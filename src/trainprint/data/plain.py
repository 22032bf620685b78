"""Bare folders of images (no task layout), read together: ``audit``'s GENERATED_DIR, REAL_DIR
and ``--reference``.

    load_plain_folders([(path, split, what), ...], size=..., reading=...) -> [ImageSet, ...]

The rules are the task layout's (``data_load``): image id = file name without its extension,
hidden files and nested folders ignored, images square and of one size unless ``size`` is given,
at least 64 px, a bad file an error naming it unless ``skip_bad``; 2-D files go through the
content-keyed decode cache. A folder (or tree) of DICOM series or NIfTI volumes is read as slices
``<case>:<slice>`` with their patients (``data_medical``).

The folders read together share one scale, as the split folders of one task folder do: the volume
folders one window (``--window``, else the range of all their volumes), the 16-bit 2-D files one
bit depth (or ``--window``), so a slice of the audited folder and one of the reference are never
brought to 8 bits differently (``data_scale16``). ``what`` names each folder in errors.
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from trainprint.core.memory import release_free_memory
from trainprint.core.errors import TrainprintError
from trainprint.data.decode import MIN_SIDE
from trainprint.data.imageset import ImageSet
from trainprint.data.layout import ImageFile
from trainprint.data.load import CacheDir, assemble, is_volume_folder, open_cache, volume_cache
from trainprint.data.medical import folder_format
from trainprint.data.read import FileResult, read_files, stack_rows, write_packs
from trainprint.data.reading import Reading, current_reading
from trainprint.data.scale16 import one_scale
from trainprint.data.volcache import read_medical_cached

log = logging.getLogger("trainprint.data")

#: one folder to read: ``(path, split its images get, its name in messages)``
Folder = tuple["str | Path", str, str]


def list_folder(path: str | Path, split: str, what: str) -> list[ImageFile]:
    """The image files directly in ``path`` (sorted by id), labelled ``split``; ``what`` names the
    folder's role in error messages (e.g. ``GENERATED_DIR``)."""
    path = Path(path)
    if not path.exists():
        raise TrainprintError(f"{what} {path}: folder not found; expected a folder of images")
    if not path.is_dir():
        raise TrainprintError(f"{what} {path}: not a folder; expected a folder of images")
    by_id: dict[str, Path] = {}
    with os.scandir(path) as it:
        entries = sorted(it, key=lambda e: e.name)
    for e in entries:
        if e.name.startswith(".") or not e.is_file():
            continue
        image_id = e.name.rsplit(".", 1)[0] if "." in e.name else e.name
        if image_id in by_id:
            raise TrainprintError(f"{what} {path}: duplicate image id {image_id!r} ({by_id[image_id].name}, "
                                  f"{e.name}); expected one file per id")
        by_id[image_id] = path / e.name
    if not by_id:
        sub = sorted(e.name for e in path.iterdir() if e.is_dir())[:3]
        hint = f" (it holds folders: {', '.join(sub)}; pass the folder of images itself)" if sub else ""
        raise TrainprintError(f"{what} {path}: no image files; expected PNG, JPEG, TIFF or BMP images{hint}")
    return [ImageFile(by_id[i], split, i) for i in sorted(by_id)]


def load_plain_folders(folders: Sequence[Folder], *, size: int | None = None, skip_bad: bool = False,
                       cache_dir: CacheDir = None, progress: bool = False,
                       reading: Reading | None = None) -> list[ImageSet]:
    """Every folder of ``folders`` as an ``ImageSet`` (``(N, S, S)`` uint8 pixels, ids sorted,
    split as given), in their order, read with one scale (see the module docstring)."""
    if size is not None and (not isinstance(size, int) or size < MIN_SIDE):
        raise TrainprintError(f"--size {size}: expected a whole number of pixels >= {MIN_SIDE}")
    reading = (reading or current_reading()).check()
    splits = [split for _, split, _ in folders]
    if len(set(splits)) != len(splits):
        raise ValueError(f"load_plain_folders: splits {splits} repeat; expected one split per folder")
    out: list[ImageSet | None] = [None] * len(folders)
    volumes = [(i, Path(p), split, what) for i, (p, split, what) in enumerate(folders) if is_volume_folder(p)]
    flat = [(i, Path(p), split, what) for i, (p, split, what) in enumerate(folders) if not is_volume_folder(p)]
    if volumes:
        where = " and ".join(what for _, _, _, what in volumes)
        med = read_medical_cached({split: (path, str(folder_format(path))) for _, path, split, _ in volumes},
                                  cache=volume_cache(cache_dir), reading=reading, size=size, skip_bad=skip_bad,
                                  progress=progress, where=where)
        for line in med.notes:
            log.info(line)
        for f, r in med.bad:
            log.warning("skipped %s: %s", f.path, r.error)
        for i, path, split, _ in volumes:
            pairs = [(f, r) for f, r in zip(med.files, med.results) if f.split == split]
            out[i] = assemble(path, "", [f for f, _ in pairs], [r for _, r in pairs], size, skip_bad)[0]
    if flat:
        for i, images in zip((i for i, *_ in flat), _load_flat(flat, size, skip_bad, cache_dir, progress, reading)):
            out[i] = images
        release_free_memory()  # the per-file arrays, freed as each was copied into its row: give their pages back
    return [images for images in out if images is not None]


def _load_flat(flat: list[tuple[int, Path, str, str]], size: int | None, skip_bad: bool, cache_dir: CacheDir,
               progress: bool, reading: Reading) -> list[ImageSet]:
    """The 2-D folders: decoded (or read from the cache) one file at a time, then one scale for
    the 16-bit files of all of them, then checked folder by folder."""
    cache = open_cache(cache_dir)
    listed = [list_folder(path, split, what) for _, path, split, what in flat]
    decoded = [read_files(files, size=size, cache=cache, progress=progress, desc=str(path))
               for files, (_, path, _, _) in zip(listed, flat)]
    every = [f for files in listed for f in files]
    scaled, note = one_scale(every, [r for results, _ in decoded for r in results], size=size,
                             window=reading.window, progress=progress, desc=", ".join(w for *_, w in flat))
    if note:
        log.info("%s: %s", " and ".join(w for *_, w in flat), note)
    sets: list[ImageSet] = []
    start = 0
    for files, (cached, pending), (_, path, split, what) in zip(listed, decoded, flat):
        results = scaled[start:start + len(files)]
        start += len(files)
        sets.append(_checked(path, split, what, files, results, size, skip_bad))
        if cache is not None and pending and all(r.item is not None for r in results):
            for line in write_packs(cache, files, cached, pending):
                log.warning("decode cache not written: %s", line)
    return sets


def _checked(path: Path, split: str, what: str, files: list[ImageFile], results: list[FileResult],
             size: int | None, skip_bad: bool) -> ImageSet:
    bad = [(f, r) for f, r in zip(files, results) if r.item is None]
    if bad and not skip_bad:
        more = f" ({len(bad) - 1} more bad files; --skip-bad skips them)" if len(bad) > 1 else ""
        raise TrainprintError(f"{bad[0][0].path}: {bad[0][1].error}{more}")
    for f, r in bad:
        log.warning("skipped %s: %s", f.path, r.error)
    good = [(f, r.item) for f, r in zip(files, results) if r.item is not None]
    if not good:
        raise TrainprintError(f"{what} {path}: none of its {len(files)} files could be read; expected images")
    if size is None:
        for f, item in good:
            h, w = item.native
            if h != w:
                raise TrainprintError(f"{f.path}: image is {w}x{h} px, not square; pass --size N to resize "
                                      "every image to N x N")
        sides = Counter(item.native[0] for _, item in good)
        if len(sides) > 1:
            listed = ", ".join(f"{s}x{s} ({n})" for s, n in sides.most_common())
            raise TrainprintError(f"{what} {path}: images differ in size: {listed}; pass --size N to resize all "
                                  "to N x N")
    pixels = stack_rows([item.pixels for _, item in good])  # (N, S, S): the decoded rows themselves, or one copy
    return ImageSet(np.array([f.id for f, _ in good], dtype=str), np.full(len(good), split), pixels, "")


def same_size(sets: dict[str, ImageSet]) -> None:
    """Every set has images of one size, else a TrainprintError naming the two that differ."""
    items = list(sets.items())
    first_name, first = items[0]
    for name, s in items[1:]:
        if s.pixels.shape[1:] != first.pixels.shape[1:]:
            raise TrainprintError(f"{name}: images are {s.pixels.shape[2]}x{s.pixels.shape[1]} px, {first_name}'s "
                                  f"{first.pixels.shape[2]}x{first.pixels.shape[1]} px; pass --size N")
