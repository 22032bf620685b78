"""The ImageCLEFmedical GANs folder layout: which sub-folders a dev or test folder holds, and
which files in them are images to read.

    dev/   generated/  real_used/  real_not_used/
    test/  generated/  real_unknown/

Image id = file name without its extension (``real_used_0001.png`` -> ``real_used_0001``).
Hidden files (``.DS_Store``) and nested folders are not read; they are listed as ignored.
Every check raises ``TrainprintError`` with one line naming the folder or file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from trainprint.core.errors import TrainprintError
from trainprint.data.imageset import DEV_SPLITS, REAL_NOT_USED, REAL_UNKNOWN, REAL_USED, TEST_SPLITS

LAYOUTS: dict[str, tuple[str, ...]] = {"dev": DEV_SPLITS, "test": TEST_SPLITS}


@dataclass(frozen=True)
class ImageFile:
    """One image to read: its file, split and id; ``patient``: who was scanned, ``""`` when the
    file does not say (2-D image files)."""

    path: Path
    split: str
    id: str
    patient: str = ""


def describe(kind: str) -> str:
    """``'a dev folder (generated/, real_used/, real_not_used/)'``."""
    return f"a {kind} folder ({', '.join(s + '/' for s in LAYOUTS[kind])})"


def is_task_folder(path: Path) -> bool:
    return path.is_dir() and any((path / s).is_dir() for s in (*DEV_SPLITS, REAL_UNKNOWN))


def detect_kind(path: str | Path) -> str:
    """``"dev"`` or ``"test"`` from the sub-folders of ``path``; an error otherwise."""
    path = Path(path)
    _check_dir(path, f"{describe('dev')} or {describe('test')}")
    has_dev = any((path / s).is_dir() for s in (REAL_USED, REAL_NOT_USED))
    has_test = (path / REAL_UNKNOWN).is_dir()
    if has_dev and has_test:
        raise TrainprintError(
            f"{path}: holds both real_used/ or real_not_used/ and real_unknown/; "
            f"expected {describe('dev')} or {describe('test')}, not both"
        )
    if has_dev or has_test:
        return "dev" if has_dev else "test"
    raise TrainprintError(f"{path}: not a task folder; expected {describe('dev')} or {describe('test')}")


def list_images(path: str | Path, kind: str, only: tuple[str, ...] | None = None) -> tuple[list[ImageFile], list[str]]:
    """The image files of a ``kind`` folder, splits in layout order and ids sorted in each;
    ``only``: list these splits (every split folder must still exist).

    Returns ``(files, ignored)``: ``ignored`` names hidden files and folders that are not read.
    Raises on a missing folder or sub-folder, an empty sub-folder, or a repeated id.
    """
    path = Path(path)
    _check_dir(path, describe(kind))
    files: list[ImageFile] = []
    ignored: list[str] = []
    seen: dict[str, Path] = {}
    for split in LAYOUTS[kind]:
        folder = path / split
        if not folder.is_dir():
            hint = ""
            if kind == "dev" and (path / REAL_UNKNOWN).is_dir():
                hint = " (it looks like a test folder)"
            elif kind == "test" and (path / REAL_USED).is_dir():
                hint = " (it looks like a dev folder)"
            raise TrainprintError(f"{folder}: sub-folder not found; expected {describe(kind)}{hint}")
        if only is not None and split not in only:
            continue
        by_id: dict[str, Path] = {}
        with os.scandir(folder) as it:  # DirEntry: no extra stat per file; sort by name, not Path
            entries = sorted(it, key=lambda e: e.name)
        for e in entries:
            entry = folder / e.name
            if e.name.startswith(".") or not e.is_file():
                ignored.append(str(entry))
                continue
            image_id = e.name.rsplit(".", 1)[0] if "." in e.name else e.name
            if image_id in by_id:
                raise TrainprintError(
                    f"{folder}: duplicate image id {image_id!r} ({by_id[image_id].name}, {entry.name}); "
                    "expected one file per id"
                )
            if image_id in seen:
                raise TrainprintError(
                    f"{entry}: image id {image_id!r} is also in {seen[image_id].parent.name}/; "
                    "expected ids unique within one task folder"
                )
            by_id[image_id] = entry
        if not by_id:
            raise TrainprintError(f"{folder}: empty folder; expected PNG, JPEG, TIFF or BMP images, DICOM series or NIfTI volumes")
        for image_id in sorted(by_id):
            files.append(ImageFile(by_id[image_id], split, image_id))
        seen.update(by_id)
    return files, ignored


def _check_dir(path: Path, expected: str) -> None:
    if not path.exists():
        raise TrainprintError(f"{path}: folder not found; expected {expected}")
    if not path.is_dir():
        raise TrainprintError(f"{path}: not a folder; expected {expected}")
