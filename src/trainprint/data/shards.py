"""Arrays too large for memory, kept on disk as ``.npy`` shards and read through memory maps.

A shard folder holds the rows of one ``(N, *item)`` array (generated images' pixels, or their
fingerprints) in order, a shard at a time:

    key.json               what the rows were made from (``key``) and how (dtype, item shape, divisor)
    part-00000.npy         rows of shard 0, ``(n_0, *item)``, written atomically
    part-00000.ids.npy     their ids, ``(n_0,)`` unicode
    part-00000.sha256      written after both: the SHA-256 of each of the two files
    ...
    manifest.json          written last: the shards in order, their row counts and checksums, ``N``

``ShardWriter`` writes one (resuming: a shard already on disk under the same key is kept; another
key clears the folder first). A shard is kept, and a folder counts as ``complete``, only when
each shard's files match their checksums: a damaged shard is named on one warning line, deleted
and written again (tests/test_faults.py flips its bytes). ``ShardStore`` reads a complete one: ``len``, ``shape``,
``block(start, stop)`` and ``take(rows)`` give float32 rows (uint8 pixels divided by ``divisor``
255, the way the ``raw`` extractor scales them), ``blocks(rows)`` iterates in order. Only
the rows asked for are read; memory never holds the whole array.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from trainprint.core import files
from trainprint.core.errors import TrainprintError

FORMAT = "trainprint-shards-2"  # 2: per-shard checksums
MANIFEST = "manifest.json"
KEY_FILE = "key.json"

log = logging.getLogger("trainprint.data.shards")


def shard_name(i: int) -> str:
    return f"part-{i:05d}.npy"


def _ids_name(i: int) -> str:
    return f"part-{i:05d}.ids.npy"


def _sum_name(i: int) -> str:
    return f"part-{i:05d}.sha256"


def _is_part(name: str) -> bool:
    return name.startswith("part-") and name.endswith((".npy", ".sha256"))


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for part in iter(lambda: f.read(1 << 20), b""):
            h.update(part)
    return h.hexdigest()


def _sums(root: Path, i: int) -> list[str] | None:
    """Shard ``i``'s recorded checksums ``[rows, ids]``, or None when its checksum file is missing."""
    path = root / _sum_name(i)
    if not path.is_file():
        return None
    return path.read_text(encoding="ascii").split()


def verify(root: Path, i: int) -> bool:
    """Shard ``i`` of ``root`` is whole: its two files and its checksum file exist and agree. A shard
    whose checksum file is there but disagrees, or cannot be read, is damaged: one warning line, and
    its files are deleted (so it is written again). Without a checksum file it was not finished."""
    paths = [root / shard_name(i), root / _ids_name(i)]
    try:
        want = _sums(root, i)
        if want is None or not all(p.is_file() for p in paths):
            return False
        got = [_sha256(p) for p in paths]
    except (OSError, UnicodeDecodeError) as e:
        got, want = [str(e)], []
    if got == want:
        return True
    log.warning("warning: shard %s is damaged (checksum mismatch); dropped and written again", paths[0])
    for p in [*paths, root / _sum_name(i), root / MANIFEST]:
        p.unlink(missing_ok=True)
    return False


def as_float32(rows: np.ndarray, divisor: float | None) -> np.ndarray:
    """``rows`` as float32, divided by ``divisor`` when it is given: as the ``raw`` extractor scales
    pixels (``X.astype(float32) / 255.0``), bit for bit. ``rows`` is never written: a float32 array
    without a divisor comes back as it is, anything else as a new array."""
    out = rows.astype(np.float32, copy=divisor is not None)
    if divisor is not None:
        out /= np.float32(divisor)
    return out


class ShardWriter:
    """Writes the shards of one array into ``root``; resumable.

    ``key``: a string naming what the rows are made from (inputs, settings); ``item_shape`` and
    ``dtype``: of one row; ``divisor``: what ``ShardStore`` divides rows by when reading (``None``: 1).
    """

    def __init__(self, root: str | Path, key: str, item_shape: tuple[int, ...], dtype: str,
                 divisor: float | None = None) -> None:
        self.root = Path(root)
        self.head = {"format": FORMAT, "key": key, "item_shape": [int(s) for s in item_shape],
                     "dtype": np.dtype(dtype).str, "divisor": divisor}
        old = self.root / KEY_FILE
        if old.is_file():
            try:
                same = files.read_json(old) == self.head
            except (OSError, ValueError):
                same = False
            if not same:
                self.clear()
        self.root.mkdir(parents=True, exist_ok=True)
        if not old.is_file():
            files.write_json(old, self.head)

    def clear(self) -> None:
        """Remove every shard, the manifest and the key (only files this class writes)."""
        if not self.root.is_dir():
            return
        for p in self.root.iterdir():
            if p.name in (MANIFEST, KEY_FILE) or _is_part(p.name):
                p.unlink()

    def has(self, i: int) -> bool:
        """Shard ``i`` is on disk, whole and undamaged (``verify``)."""
        return verify(self.root, i)

    def write(self, i: int, rows: np.ndarray, ids: np.ndarray) -> None:
        """Shard ``i``: ``rows`` ``(n, *item_shape)``, ``ids`` ``(n,)``; atomically, ids first."""
        rows = np.ascontiguousarray(rows, dtype=np.dtype(self.head["dtype"]))
        if list(rows.shape[1:]) != self.head["item_shape"] or len(ids) != rows.shape[0]:
            raise ValueError(f"shard {i}: rows {rows.shape} with {len(ids)} ids; expected (n, "
                             f"{', '.join(map(str, self.head['item_shape']))})")
        if np.issubdtype(rows.dtype, np.floating) and not np.isfinite(rows).all():
            raise TrainprintError(f"{self.root / shard_name(i)}: rows contain NaN or inf")
        (self.root / _sum_name(i)).unlink(missing_ok=True)
        sums = {}
        for name, arr in ((_ids_name(i), np.asarray(ids).astype(str)), (shard_name(i), rows)):
            buf = io.BytesIO()
            np.save(buf, arr, allow_pickle=False)
            data = buf.getvalue()
            sums[name] = hashlib.sha256(data).hexdigest()
            files.write_bytes(self.root / name, data)
        files.write_text(self.root / _sum_name(i), f"{sums[shard_name(i)]} {sums[_ids_name(i)]}\n")

    def finish(self, n_shards: int) -> "ShardStore":
        """Write the manifest of shards ``0 .. n_shards - 1`` (each must exist); the store."""
        counts, sums = [], []
        for i in range(n_shards):
            if not self.has(i):
                raise TrainprintError(f"{self.root / shard_name(i)}: shard missing; the array is incomplete")
            counts.append(int(np.load(self.root / shard_name(i), mmap_mode="r").shape[0]))
            sums.append(_sums(self.root, i))
        files.write_json(self.root / MANIFEST, {**self.head, "rows": counts, "n": sum(counts), "sha256": sums})
        return ShardStore(self.root)


def complete(root: str | Path, key: str) -> bool:
    """``root`` holds a complete shard array made under ``key``, in this version's format, every
    shard matching the checksums of the manifest (a damaged one is dropped: ``verify``)."""
    root = Path(root)
    path = root / MANIFEST
    if not path.is_file():
        return False
    try:
        manifest = files.read_json(path)
    except (OSError, ValueError):
        return False
    if not isinstance(manifest, dict) or manifest.get("key") != key or manifest.get("format") != FORMAT:
        return False
    sums = manifest.get("sha256")
    if not isinstance(sums, list) or len(sums) != len(manifest.get("rows", [])):
        return False
    whole = True
    for i, want in enumerate(sums):
        if _sums(root, i) != want:  # the manifest and the shard's own checksum file disagree
            log.warning("warning: shard %s: its checksum file disagrees with the manifest; dropped and "
                        "written again", root / shard_name(i))
            for p in (root / shard_name(i), root / _ids_name(i), root / _sum_name(i), path):
                p.unlink(missing_ok=True)
            whole = False
        elif not verify(root, i):
            whole = False
    return whole


class ShardStore:
    """A complete shard folder, read as one ``(N, *item)`` float32 array (lazily)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        path = self.root / MANIFEST
        try:
            self.manifest = files.read_json(path)
        except (OSError, ValueError) as e:
            raise TrainprintError(f"{path}: cannot read the shard manifest ({e}); expected a finished shard folder") from None
        if self.manifest.get("format") != FORMAT:
            raise TrainprintError(f"{path}: format {self.manifest.get('format')!r}; expected {FORMAT}")
        self.key: str = self.manifest["key"]
        self.item_shape = tuple(int(s) for s in self.manifest["item_shape"])
        self.divisor = self.manifest["divisor"]
        counts = np.asarray(self.manifest["rows"], dtype=np.int64)
        self.offsets = np.concatenate([[0], np.cumsum(counts)])  # (n_shards + 1,)

    # --- the array interface the similarity layer reads ------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        return (int(self.offsets[-1]), *self.item_shape)

    @property
    def ndim(self) -> int:
        return 1 + len(self.item_shape)

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(np.float32)

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def __repr__(self) -> str:  # names the content: caches key on it
        return f"ShardStore(key={self.key!r}, shape={self.shape}, divisor={self.divisor!r})"

    @property
    def n_shards(self) -> int:
        return len(self.offsets) - 1

    def shard(self, i: int) -> np.ndarray:
        """Shard ``i`` as stored (a read-only memory map, stored dtype). Opened per call and not
        kept: the pages a kept map has touched would count in the process's resident memory until
        it is closed, growing with N."""
        return np.load(self.root / shard_name(i), mmap_mode="r")

    def ids(self) -> np.ndarray:
        """(N,) unicode ids, in row order."""
        parts = [np.load(self.root / _ids_name(i)) for i in range(self.n_shards)]
        return np.concatenate(parts) if parts else np.array([], dtype=str)

    def _scaled(self, raw: np.ndarray) -> np.ndarray:
        return as_float32(raw, self.divisor)

    def raw_block(self, start: int, stop: int) -> np.ndarray:
        """Rows ``start:stop`` as stored (a copy, stored dtype)."""
        stop = min(stop, len(self))
        if start >= stop:
            return np.empty((0, *self.item_shape), dtype=np.dtype(self.manifest["dtype"]))
        first = int(np.searchsorted(self.offsets, start, side="right")) - 1
        last = int(np.searchsorted(self.offsets, stop, side="left")) - 1
        parts = []
        for i in range(first, last + 1):
            lo, hi = max(start, self.offsets[i]) - self.offsets[i], min(stop, self.offsets[i + 1]) - self.offsets[i]
            parts.append(np.asarray(self.shard(i)[lo:hi]))
        return np.concatenate(parts) if len(parts) > 1 else np.array(parts[0])

    def block(self, start: int, stop: int) -> np.ndarray:
        """Rows ``start:stop`` as float32 (divided by ``divisor``)."""
        return self._scaled(self.raw_block(start, stop))

    def blocks(self, rows: int) -> Iterator[tuple[int, np.ndarray]]:
        """``(start, block)`` of at most ``rows`` rows each, in order, float32."""
        for start in range(0, len(self), max(1, int(rows))):
            yield start, self.block(start, start + rows)

    def take(self, index: np.ndarray) -> np.ndarray:
        """Rows ``index`` (any order, repeats allowed) as float32 ``(len(index), *item)``."""
        index = np.asarray(index, dtype=np.int64).reshape(-1)
        if index.size and (index.min() < 0 or index.max() >= len(self)):
            raise IndexError(f"ShardStore.take: rows outside 0..{len(self) - 1}")
        out = np.empty((index.size, *self.item_shape), dtype=np.dtype(self.manifest["dtype"]))
        shard_of = np.searchsorted(self.offsets, index, side="right") - 1
        for i in np.unique(shard_of):
            sel = np.flatnonzero(shard_of == i)
            out[sel] = self.shard(int(i))[index[sel] - self.offsets[i]]
        return self._scaled(out)

    def digest(self) -> str:
        """A short content name (the key and the row counts)."""
        blob = json.dumps([self.key, self.manifest["rows"]]).encode()
        return hashlib.sha256(blob).hexdigest()[:16]
