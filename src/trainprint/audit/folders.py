"""Reading a bare folder of images (no task layout): the generated images, the real images to
audit, the known non-members.

The data layer reads task folders (``dev/``, ``test/``); an auditor usually has plain folders.
``load_image_folder`` reads one with the data layer's public pieces (``ImageFile``, the parallel
``read_files``, the content-keyed decode cache), and the same rules: image id = file name without
its extension, hidden files and nested folders ignored, images square and of one size unless
``size`` is given, at least 64 px, bad files an error naming the file unless ``skip_bad``.
A folder of DICOM series or NIfTI volumes (a tree of any depth) is read by the data layer as slices.
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from pathlib import Path

import numpy as np

from trainprint.core.errors import TrainprintError
from trainprint.data.cache import DecodeCache, default_cache_dir
from trainprint.data.decode import MIN_SIDE
from trainprint.data.imageset import ImageSet
from trainprint.data.layout import ImageFile
from trainprint.data.load import CacheDir, is_volume_folder, load_volume_folder
from trainprint.data.read import read_files, write_packs
from trainprint.data.reading import current_reading
from trainprint.data.scale16 import one_scale

log = logging.getLogger("trainprint.data")


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


def load_image_folder(path: str | Path, split: str, what: str, *, size: int | None = None, skip_bad: bool = False,
                      cache_dir: CacheDir = None, progress: bool = False) -> ImageSet:
    """Every image of the bare folder ``path`` as an ``ImageSet`` whose split is ``split``:
    ``(N, S, S)`` uint8 pixels, ids sorted. A folder (or tree) of DICOM series or NIfTI volumes
    is read as slices ``<case>:<slice>`` with their patients (``data.load_volume_folder``)."""
    if is_volume_folder(path):
        return load_volume_folder(path, split, what, size=size, skip_bad=skip_bad, progress=progress)
    if size is not None and (not isinstance(size, int) or size < MIN_SIDE):
        raise TrainprintError(f"--size {size}: expected a whole number of pixels >= {MIN_SIDE}")
    files = list_folder(path, split, what)
    cache = None if cache_dir is False else DecodeCache(default_cache_dir() if cache_dir in (None, True)
                                                         else Path(str(cache_dir)))
    results, pending = read_files(files, size=size, cache=cache, progress=progress, desc=str(path))
    cached = results  # each file decoded alone; 16-bit files then get one scale for the folder
    results, note = one_scale(files, results, size=size, window=current_reading().window, progress=progress,
                              desc=str(path))
    if note:
        log.info("%s: %s", path, note)
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
    pixels = np.stack([item.pixels for _, item in good]).astype(np.uint8)  # (N, S, S)
    if cache is not None and pending and not bad:
        for line in write_packs(cache, files, cached, pending):
            log.warning("decode cache not written: %s", line)
    return ImageSet(np.array([f.id for f, _ in good], dtype=str), np.full(len(good), split), pixels, "")


def same_size(sets: dict[str, ImageSet]) -> None:
    """Every set has images of one size, else a TrainprintError naming the two that differ."""
    items = list(sets.items())
    first_name, first = items[0]
    for name, s in items[1:]:
        if s.pixels.shape[1:] != first.pixels.shape[1:]:
            raise TrainprintError(f"{name}: images are {s.pixels.shape[2]}x{s.pixels.shape[1]} px, {first_name}'s "
                                  f"{first.pixels.shape[2]}x{first.pixels.shape[1]} px; pass --size N")
