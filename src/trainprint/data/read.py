"""Reading many image files fast: cache packs first, then the rest decoded in parallel.

    read_files(files, size=..., cache=..., workers=..., pool=...) -> (results, pending)

1. With a cache: hash every file, look up the pack of each split (``data_cache``). A warm run
   stops here; it never decodes.
2. The files of splits without a pack are decoded in a process pool (``pool="process"``, the
   default: PNG decoding holds the GIL too often for threads to scale, docs/data.md), a thread
   pool, or serially when ``workers == 1`` or there are few of them.
3. ``pending`` lists the packs to write; the caller writes them (``write_packs``) only after the
   whole folder loaded, so a failed load leaves no cache entry behind.

The decoded images are never held twice: a decoded image is copied, as it arrives, into row i of
one (files, H, W) array (its file's number; the per-file array is then freed), and a pack's images
are rows of the pack read from disk. ``stack_rows`` then hands the folder's images over as one
array, without a copy where they are consecutive rows of one (``rows_as_one``; docs/scale.md, "The
audit").
"""

from __future__ import annotations

import multiprocessing
import os
import warnings
from collections.abc import Sequence
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Callable, Iterable, Iterator, TypeVar

import numpy as np

from trainprint.data import decode
from trainprint.data.cache import DecodeCache, Pack, file_digest, pack_key
from trainprint.data.decode import BadImage, Decoded
from trainprint.data.intensity import Window
from trainprint.core.progress import new_progress
from trainprint.data.layout import ImageFile
from trainprint.core.errors import TrainprintError

#: fewer files than this are decoded serially: starting workers would cost more than it saves
PARALLEL_MIN_FILES = 64
POOLS = ("process", "thread")

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class FileResult:
    """What became of one file: ``item`` (``None`` when unusable, then ``error`` says why)."""

    item: Decoded | None
    error: str = ""
    from_cache: bool = False


@dataclass(frozen=True)
class PendingPack:
    """A pack to write once the load succeeded: cache ``key`` and the indices of its files."""

    key: str
    indices: tuple[int, ...]


def default_workers() -> int:
    """One worker per CPU, at most 16 (throughput stops growing around there, docs/data.md)."""
    return max(1, min(16, os.cpu_count() or 1))


def read_files(
    files: list[ImageFile],
    *,
    size: int | None,
    cache: DecodeCache | None,
    workers: int | None = None,
    pool: str = "process",
    progress: bool = False,
    desc: str = "",
) -> tuple[list[FileResult], list[PendingPack]]:
    """One ``FileResult`` per file (same order), and the packs to write after success."""
    if pool not in POOLS:
        raise TrainprintError(f"pool {pool!r}: expected one of {', '.join(POOLS)}")
    results: list[FileResult | None] = [None] * len(files)
    pending: list[PendingPack] = []
    if cache is not None:
        # Serial: hashing threads were slower than one thread on 2 and on 16 cores (docs/data.md).
        digests = list(_track(map(file_digest, [f.path for f in files]), len(files), f"hashing {desc}", progress))
        for split in dict.fromkeys(f.split for f in files):
            idx = [i for i, f in enumerate(files) if f.split == split]
            ids = [files[i].id for i in idx]
            if any(digests[i] is None for i in idx):
                continue  # an unreadable file: decode_file reports it; nothing to cache
            key = pack_key(ids, [str(digests[i]) for i in idx], size)
            pack = cache.get(key, ids)
            if pack is None:
                pending.append(PendingPack(key, tuple(idx)))
                continue
            for i, item in zip(idx, pack.items):
                results[i] = FileResult(None, item) if isinstance(item, str) else FileResult(item, from_cache=True)
    misses = [i for i, r in enumerate(results) if r is None]
    decode_one = partial(decode_file, size=size)
    decoded = _map(decode_one, [files[i].path for i in misses], workers, pool, progress, f"decoding {desc}")
    rows: np.ndarray | None = None  # (files, H, W): row i holds file i's image (the first one's size)
    for i, r in zip(misses, decoded):
        if r.item is not None and r.item.pixels.dtype == np.uint8 and r.item.pixels.ndim == 2:
            if rows is None:
                rows = np.empty((len(files), *r.item.pixels.shape), dtype=np.uint8)  # pages taken as written
            if r.item.pixels.shape == rows.shape[1:]:
                rows[i] = r.item.pixels
                r = replace(r, item=replace(r.item, pixels=rows[i]))  # the per-file array is freed
        results[i] = r
    return [r for r in results if r is not None], pending


def rows_as_one(arrays: Sequence[np.ndarray]) -> np.ndarray | None:
    """The (n, H, W) array whose rows are ``arrays`` (n (H, W) uint8 arrays), as a view without a
    copy, when they are consecutive rows of one array in this order (``read_files``'s rows, a cache
    pack's); None otherwise (the caller copies them)."""
    if not arrays:
        return None
    first = arrays[0]
    owner = first
    while isinstance(owner.base, np.ndarray):
        owner = owner.base
    if first.ndim != 2 or first.dtype != np.uint8 or not owner.flags.c_contiguous:
        return None
    row = first.nbytes
    start = first.__array_interface__["data"][0]
    for k, a in enumerate(arrays):
        if (a.shape != first.shape or a.dtype != np.uint8 or not a.flags.c_contiguous
                or a.__array_interface__["data"][0] != start + k * row):
            return None
    flat = owner.reshape(-1).view(np.uint8)  # a view: the owner is contiguous
    offset = start - flat.__array_interface__["data"][0]
    if offset < 0 or offset + len(arrays) * row > flat.nbytes:
        return None
    return flat[offset:offset + len(arrays) * row].reshape(len(arrays), *first.shape)


def stack_rows(arrays: Sequence[np.ndarray]) -> np.ndarray:
    """(n, H, W) uint8: ``arrays`` (n (H, W) uint8 images of one size) as one array, the rows
    themselves where ``rows_as_one`` finds them consecutive, else one copy."""
    pixels = rows_as_one(arrays)
    return pixels if pixels is not None else np.stack(arrays, dtype=np.uint8, casting="unsafe")


def write_packs(cache: DecodeCache, files: list[ImageFile], results: list[FileResult],
                pending: list[PendingPack]) -> list[str]:
    """Write the pending packs; returns one message per pack that could not be written."""
    failed = []
    for p in pending:
        items = tuple(results[i].item or results[i].error for i in p.indices)
        try:
            cache.put(p.key, Pack(tuple(files[i].id for i in p.indices), items))
        except OSError as e:
            failed.append(f"{cache.path(p.key)}: {e.strerror or e}")
    return failed


def decode_file(path: Path, *, size: int | None, scale: int | Window | None = None) -> FileResult:
    """Read and decode one file, resized to ``size`` when given; ``scale``: of a 16-bit file
    (``decode_image``).

    Runs in worker processes: module-level, arguments picklable, never raises for a bad file.
    """
    try:
        data = path.read_bytes()
    except OSError as e:
        return FileResult(None, f"cannot read the file ({e.strerror or e}); expected a readable image file")
    try:
        # looked up at call time (tests count the calls)
        item = decode.decode_image(data) if scale is None else decode.decode_image(data, scale)
    except BadImage as e:
        return FileResult(None, str(e))
    if size is not None:
        item = replace(item, pixels=decode.resize_square(item.pixels, size))
    return FileResult(item)


def map_files(
    fn: Callable[[T], R], items: list[T], workers: int | None, pool: str, progress: bool, desc: str
) -> Iterator[R]:
    """``map(fn, items)`` in order, on the pool ``read_files`` uses (``fn`` module-level, picklable)."""
    if pool not in POOLS:
        raise TrainprintError(f"pool {pool!r}: expected one of {', '.join(POOLS)}")
    return _map(fn, items, workers, pool, progress, desc)


def _map(
    fn: Callable[[T], R], items: list[T], workers: int | None, pool: str, progress: bool, desc: str
) -> Iterator[R]:
    """``map(fn, items)`` in order: serial, or on a process / thread pool."""
    n = workers or default_workers()
    if n <= 1 or len(items) < PARALLEL_MIN_FILES:
        yield from _track(map(fn, items), len(items), desc, progress)
        return
    with _executor(pool, n) as ex:
        chunk = max(1, min(32, len(items) // (8 * n))) if pool == "process" else 1
        with warnings.catch_warnings():
            # Python >= 3.12 warns on fork() in a process with threads; the workers only decode
            # (PIL plugins are imported before the fork, so no lock is taken in the child).
            warnings.simplefilter("ignore", DeprecationWarning)
            results = ex.map(fn, items, chunksize=chunk)  # submits everything, so forks now
        yield from _track(results, len(items), desc, progress)


def _executor(pool: str, n: int) -> Executor:
    if pool == "thread":
        return ThreadPoolExecutor(max_workers=n)
    methods = multiprocessing.get_all_start_methods()
    ctx = multiprocessing.get_context("fork" if "fork" in methods else None)
    return ProcessPoolExecutor(max_workers=n, mp_context=ctx)


def _track(it: Iterable[R], total: int, desc: str, enabled: bool) -> Iterator[R]:
    """``it`` with a progress bar (``trainprint.progress`` rules) when there is something to do."""
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeRemainingColumn

    bar = new_progress(enabled and total > 0, TextColumn(desc), BarColumn(), MofNCompleteColumn(),
                       TimeRemainingColumn(), transient=True)
    if bar is None:
        yield from it
        return
    with bar:
        yield from bar.track(it, total=total)
