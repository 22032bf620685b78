"""The decode cache for DICOM series and NIfTI volumes: one pack per read of volume folders.

    read_medical_cached(folders, cache=volume_cache(cache_dir), reading=..., size=..., ...) -> MedicalRead

Reading volumes costs more than decoding PNGs (pydicom parses every file, compressed transfer
syntaxes are decompressed, the folder's window needs every value), so a rerun with the same
folders and settings reads the result from a pack of the decode cache (``data_cache``) instead.
Patient data stay where the user put them: the cache is used only in a folder the user chose
(``--cache-dir`` or ``$TRAINPRINT_CACHE``; ``load.volume_cache``), never by default.

Key: the cache version, every file of every folder (its path inside the folder and the SHA-256
of its bytes, volumes and ignored files alike), the reading (axis, slice step, window), the size
and the split each folder is read as. Moving the folders keeps the pack; changing, adding or
removing a file, or any setting, makes a new one. A read that skipped bad files is not cached.

The pack holds the 8-bit slices (ids ``<case>:<slice>``) and, as its ``extra``, each slice's
split, patient and file (relative to its folder), the window and the notes (folders written as
placeholders). No DICOM tag is stored but what the ids and patients already are
(docs/data.md, "Patient data").
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

from trainprint.data.cache import DECODER_VERSION, DecodeCache, Pack, file_digest
from trainprint.data.decode import Decoded
from trainprint.data.intensity import Window
from trainprint.data.layout import ImageFile
from trainprint.data.medical import FORMATS, MedicalRead, read_medical, volume_files
from trainprint.data.read import FileResult
from trainprint.data.reading import Reading

log = logging.getLogger("trainprint.data.cache")

#: bump when reading volumes changes, so old packs are not reused
VOLUME_VERSION = 1
_HOLE = "\x00{}\x00"  # a folder's place in a cached note


def read_medical_cached(folders: dict[str, tuple[Path, str]], *, cache: DecodeCache | None, reading: Reading,
                        size: int | None, skip_bad: bool, workers: int | None = None, pool: str = "process",
                        progress: bool = False, where: Path | str) -> MedicalRead:
    """``read_medical`` with its result kept in ``cache`` (``None``: not cached)."""
    def read() -> MedicalRead:
        return read_medical(folders, reading=reading, size=size, skip_bad=skip_bad, workers=workers, pool=pool,
                            progress=progress, where=where)

    if cache is None:
        return read()
    key = _key(folders, reading, size)
    if key is None:  # a file that cannot be read: read_medical names it
        return read()
    pack = cache.get(key, None)
    if pack is not None:
        try:
            return _unpacked(pack, folders, where)
        except (KeyError, TypeError, ValueError, IndexError) as e:
            cache.drop(key, f"its volume entries do not match ({e})")
    med = read()
    if not med.bad:
        try:
            cache.put(key, _packed(med, folders, where))
        except OSError as e:  # a cache that cannot be written only costs time
            log.warning("decode cache not written: %s", e)
    return med


def _key(folders: dict[str, tuple[Path, str]], reading: Reading, size: int | None) -> str | None:
    listing: list[object] = []
    for split, (folder, fmt) in sorted(folders.items()):
        paths, other = volume_files(folder, FORMATS[fmt])
        entries = []
        for p in sorted(paths + other):
            digest = file_digest(p)
            if digest is None:
                return None
            entries.append([p.relative_to(folder).as_posix(), digest])
        listing.append([split, fmt, entries])
    blob = json.dumps([VOLUME_VERSION, DECODER_VERSION, reading.key(), size, listing]).encode("utf-8")
    return f"vol-{hashlib.blake2b(blob, digest_size=16).hexdigest()}-{size if size else 'n'}"


def _packed(med: MedicalRead, folders: dict[str, tuple[Path, str]], where: Path | str) -> Pack:
    def rel(f: ImageFile) -> str:
        return f.path.relative_to(folders[f.split][0]).as_posix()

    extra: dict[str, object] = {
        "slices": [[f.split, f.patient, rel(f)] for f in med.files],
        "notes": _holes(med.notes, folders, where),
        "ignored": _holes(med.ignored, folders, where),
        "window": None if med.window is None else [med.window.center, med.window.width, med.window.name],
    }
    items = tuple(r.item if r.item is not None else r.error for r in med.results)
    return Pack(tuple(f"{f.split}/{f.id}" for f in med.files), items, extra)


def _unpacked(pack: Pack, folders: dict[str, tuple[Path, str]], where: Path | str) -> MedicalRead:
    extra = pack.extra
    slices = list(extra["slices"])  # type: ignore[call-overload]
    if len(slices) != len(pack.ids):
        raise ValueError(f"{len(slices)} slice entries for {len(pack.ids)} ids")
    files: list[ImageFile] = []
    results: list[FileResult] = []
    for full_id, (split, patient, rel), item in zip(pack.ids, slices, pack.items):
        if not isinstance(item, Decoded):
            raise ValueError(f"{full_id}: no pixels")
        files.append(ImageFile(folders[split][0] / rel, split, full_id.split("/", 1)[1], patient))
        results.append(FileResult(item, from_cache=True))
    w = extra["window"]
    window = None if w is None else Window(float(w[0]), float(w[1]), str(w[2]))  # type: ignore[index]
    return MedicalRead(files, results, [], _filled(extra["notes"], folders, where),  # type: ignore[arg-type]
                       _filled(extra["ignored"], folders, where), window)  # type: ignore[arg-type]


def _places(folders: dict[str, tuple[Path, str]], where: Path | str) -> list[tuple[str, str]]:
    """``(path as written, its placeholder)``, longest path first (a folder inside ``where``)."""
    places = [(str(folder), _HOLE.format(split)) for split, (folder, _) in folders.items()]
    places.append((str(where), _HOLE.format("")))
    return sorted(places, key=lambda p: -len(p[0]))


def _holes(lines: list[str], folders: dict[str, tuple[Path, str]], where: Path | str) -> list[str]:
    """``lines`` with the folders' paths replaced by placeholders (a pack survives a move)."""
    out = [str(line) for line in lines]
    for path, hole in _places(folders, where):
        out = [line.replace(path, hole) for line in out]
    return out


def _filled(lines: list[object], folders: dict[str, tuple[Path, str]], where: Path | str) -> list[str]:
    out = [str(line) for line in lines]
    for path, hole in _places(folders, where):
        out = [line.replace(hole, path) for line in out]
    return out
