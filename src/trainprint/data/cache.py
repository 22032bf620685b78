"""On-disk cache of decoded images, keyed by file content.

One *pack* per split folder: ``<root>/decoded-v1/<key>.tpk`` holds the decoded images of every
file of that split. ``<key>`` hashes the split's ``(id, SHA-256 digest of the file's bytes)``
list, the target size and the decoder version: moving the folder keeps the pack, changing,
adding, removing or renaming a file makes a new one (only for that split).
A pack per split, not per image, because creating 10,000 small files costs more than decoding
them (docs/data.md); the warm cost is hashing the files plus one sequential read.

Pack format: ``MAGIC``, a 4-byte little-endian header length, the header's CRC-32 (4 bytes), a
JSON header (ids; per file its format, mode, native size and conversions, or the reason it was
skipped; the pixel shape; CRC-32 of the pixels), then the raw ``(N, S, S)`` uint8 pixels of the
readable files, in id order: every byte after the magic is under a checksum.
Packs are written atomically (``core.files.atomic_path``) and only after the whole folder
loaded, so a failed load writes nothing. A pack that fails any check (short, wrong magic, bad
JSON, wrong length or CRC, other ids) is damaged: one warning line names it, it is deleted and
counts as missing, so it is rebuilt from the images (tests/test_faults.py flips its bytes).

The cache is bounded on disk: after each write, the least recently used packs (by modification
time, which a hit refreshes) are deleted until the packs fit in ``max_bytes`` (default
``$TRAINPRINT_CACHE_MAX_GB`` GB, else ``DEFAULT_MAX_GB``; the pack just written is always kept).
``--no-cache`` turns the cache off. The cache folder and its ``decoded-v*`` folder are created
readable by their owner only (0700). DICOM series and NIfTI volumes are cached only in a folder the
user chose (``--cache-dir`` or ``$TRAINPRINT_CACHE``), one pack per read of volume folders
(``data_volcache``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from trainprint.data.decode import Decoded
from trainprint.core.files import atomic_path

MAGIC = b"TPK2"  # 2: the header has its own CRC-32
OLD_MAGIC = b"TPK1"
#: bump when decoding or resizing changes, so old packs are not reused
DECODER_VERSION = 2  # 2: 16-bit files scaled by their bit depth, not always by 1/257
ENV_VAR = "TRAINPRINT_CACHE"
MAX_ENV_VAR = "TRAINPRINT_CACHE_MAX_GB"
#: default bound of the packs on disk, in GB (10^9 bytes)
DEFAULT_MAX_GB = 20.0

log = logging.getLogger("trainprint.data.cache")


def default_max_bytes() -> int:
    """``$TRAINPRINT_CACHE_MAX_GB`` (a number of GB) when set and valid, else ``DEFAULT_MAX_GB``."""
    raw = os.environ.get(MAX_ENV_VAR)
    try:
        gb = float(raw) if raw else DEFAULT_MAX_GB
    except ValueError:
        gb = DEFAULT_MAX_GB
    return int(max(0.0, gb) * 1e9)


def default_cache_dir() -> Path:
    """``$TRAINPRINT_CACHE`` when set, else ``~/.cache/trainprint``."""
    env = os.environ.get(ENV_VAR)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "trainprint"


def file_digest(path: Path) -> str | None:
    """SHA-256 hex digest of a file's bytes, or ``None`` when it cannot be read.

    SHA-256 rather than BLAKE2b: with the SHA CPU extensions it is the faster of the two here.
    """
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def pack_key(ids: list[str], digests: list[str], size: int | None, scale: object = None) -> str:
    """Cache key of one split: its ids and file digests, decoded at ``size`` (``None``: native);
    ``scale``: a JSON-able description of a 16-bit scale other than each file's own (a window)."""
    parts: list[object] = [DECODER_VERSION, size, list(zip(ids, digests))] + ([] if scale is None else [scale])
    blob = json.dumps(parts).encode("utf-8")
    return f"{hashlib.blake2b(blob, digest_size=16).hexdigest()}-{size if size else 'n'}"


@dataclass(frozen=True)
class Pack:
    """The decoded files of one split: ``items[i]`` is a ``Decoded`` or the reason file i was bad;
    ``extra``: what else the reader needs to rebuild its result (JSON-able; e.g. a volume folder's
    slice files and notes, ``data_volcache``)."""

    ids: tuple[str, ...]
    items: tuple[Decoded | str, ...]
    extra: dict[str, object] = field(default_factory=dict)


class DecodeCache:
    """Packs of decoded images under ``root/decoded-v<DECODER_VERSION>/``."""

    def __init__(self, root: str | Path, max_bytes: int | None = None) -> None:
        self.root = Path(root).expanduser()
        self.dir = self.root / f"decoded-v{DECODER_VERSION}"
        self.max_bytes = default_max_bytes() if max_bytes is None else int(max_bytes)

    def path(self, key: str) -> Path:
        return self.dir / f"{key}.tpk"

    def get(self, key: str, ids: list[str] | None) -> Pack | None:
        """The pack for ``key`` holding exactly ``ids`` (``None``: the ids it holds), or ``None``
        (missing or failing a check)."""
        try:
            with open(self.path(key), "rb") as f:  # into a writable buffer: the images are views of it
                blob = bytearray(os.fstat(f.fileno()).st_size)
                if f.readinto(blob) != len(blob):
                    raise OSError("short read")
        except OSError:
            return None
        if blob[:4] == OLD_MAGIC:  # written by an older version: rebuilt in the new format, no warning
            self.path(key).unlink(missing_ok=True)
            return None
        try:
            pack = _unpack(blob)
            if ids is not None and list(pack.ids) != list(ids):
                raise ValueError("other ids than its key's")
        except (ValueError, KeyError, TypeError, IndexError, struct.error, UnicodeDecodeError) as e:
            self.drop(key, str(e))
            return None
        try:
            os.utime(self.path(key))  # a hit is a use: least recently used packs go first
        except OSError:
            pass
        return pack

    def drop(self, key: str, why: str) -> None:
        """Delete the damaged pack ``key`` (it will be rebuilt), with one warning line."""
        path = self.path(key)
        log.warning("warning: decode cache %s is damaged (%s); dropped, the images are decoded again",
                    path, " ".join(why.split()))
        try:
            path.unlink()
        except OSError:
            pass

    def put(self, key: str, pack: Pack) -> None:
        """Write a pack atomically; raises ``OSError`` when the cache cannot be written."""
        good = [it for it in pack.items if isinstance(it, Decoded)]
        shape = [len(good), *(good[0].pixels.shape if good else (0, 0))]
        crc = 0
        for it in good:
            crc = zlib.crc32(np.ascontiguousarray(it.pixels, dtype=np.uint8).data, crc)
        header = json.dumps(
            {"ids": list(pack.ids), "entries": [_meta(it) for it in pack.items], "shape": shape, "crc": crc,
             **({"extra": pack.extra} if pack.extra else {})}
        ).encode("utf-8")
        for folder in (self.root, self.dir):  # created readable by its owner only (docs/data.md)
            if not folder.exists():
                folder.mkdir(parents=True, mode=0o700, exist_ok=True)
                os.chmod(folder, 0o700)
        nbytes = 12 + len(header) + sum(it.pixels.size for it in good)
        with atomic_path(self.path(key), nbytes=nbytes) as tmp, open(tmp, "wb") as f:
            f.write(MAGIC + struct.pack("<II", len(header), zlib.crc32(header)) + header)
            for it in good:
                f.write(np.ascontiguousarray(it.pixels, dtype=np.uint8).data)
        self.trim(keep=self.path(key))

    def trim(self, keep: Path | None = None) -> int:
        """Delete the least recently used packs until they fit in ``max_bytes`` (never ``keep``);
        returns how many were deleted. Files that vanish meanwhile (another process) are skipped."""
        packs = []
        for p in self.dir.glob("*.tpk"):
            try:
                st = p.stat()
            except OSError:
                continue
            packs.append((st.st_mtime_ns, st.st_size, p))
        total = sum(size for _, size, _ in packs)
        removed = 0
        for _, size, p in sorted(packs, key=lambda t: (t[0], t[2].name)):
            if total <= self.max_bytes:
                break
            if keep is not None and p == keep:
                continue
            try:
                p.unlink()
            except OSError:
                continue
            total -= size
            removed += 1
        return removed


def _meta(item: Decoded | str) -> dict[str, object]:
    if isinstance(item, str):
        return {"error": item}
    return {"format": item.format, "mode": item.mode, "native": list(item.native),
            "conversions": list(item.conversions)}


def _unpack(blob: bytes | bytearray) -> Pack:
    if blob[:4] != MAGIC:
        raise ValueError("bad magic")
    n, crc = struct.unpack("<II", blob[4:12])
    if zlib.crc32(blob[12 : 12 + n]) != crc:
        raise ValueError("bad header checksum")
    head = json.loads(blob[12 : 12 + n].decode("utf-8"))
    body = memoryview(blob)[12 + n :]
    count, h, w = (int(v) for v in head["shape"])
    if len(body) != count * h * w or zlib.crc32(body) != head["crc"]:
        raise ValueError("bad length or checksum")
    pixels = np.frombuffer(body, dtype=np.uint8).reshape(count, h, w)  # a view (writable when blob is a bytearray)
    items: list[Decoded | str] = []
    k = 0
    for meta in head["entries"]:
        if "error" in meta:
            items.append(str(meta["error"]))
            continue
        native = tuple(int(v) for v in meta["native"])
        items.append(Decoded(pixels[k], str(meta["format"]), str(meta["mode"]), (native[0], native[1]),
                             tuple(str(c) for c in meta["conversions"])))
        k += 1
    if k != count or len(items) != len(head["ids"]):
        raise ValueError("entries do not match the pixels")
    extra = head.get("extra", {})
    if not isinstance(extra, dict):
        raise ValueError("extra is not an object")
    return Pack(tuple(str(i) for i in head["ids"]), tuple(items), extra)
