"""One folder of generated images read a chunk at a time: memory bounded by the chunk, not the folder.

    stream = GeneratedStream(test / "generated", size=None, chunk=4096, cache=DecodeCache(...))
    len(stream), stream.side, stream.key
    for i, ids, pixels in stream.chunks():     # pixels (n_i, S, S) uint8, n_i <= chunk
        ...
    write_pixel_shards(stream, folder)         # the decoded pixels as a ShardStore (uint8, /255)

Rules are ``load``'s (``docs/data.md``): files listed by name, hidden files and nested folders
ignored, every image square and of one side unless ``size`` resizes them, under 64 px refused,
bad files an error naming the file (or skipped with ``skip_bad``, and counted). Decoding runs on a
process pool kept for the whole stream. With a cache, each chunk is one pack of the decode cache
(keyed by its files' contents, as ``load``'s packs), so a second pass or a rerun decodes nothing;
the cache is bounded on disk (``DecodeCache.max_bytes``) and off with ``cache=None``.

``key`` names the folder's state without reading the files: every file's name, byte size and
modification time, the size, the chunk and the decoder version. Results keyed on it (pixel and
fingerprint shards) are remade when a file is added, removed, renamed or rewritten.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from concurrent.futures import Executor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np

from trainprint.core.errors import TrainprintError
from trainprint.core.progress import new_progress
from trainprint.data.cache import DECODER_VERSION, DecodeCache, Pack, file_digest, pack_key
from trainprint.data.decode import MIN_SIDE, is_16bit
from trainprint.data.intensity import Window
from trainprint.data.medical import folder_format
from trainprint.data.read import PARALLEL_MIN_FILES, FileResult, _executor, decode_file, default_workers
from trainprint.data.shards import ShardStore, ShardWriter, complete

#: generated images decoded, embedded and reduced at once (64 px: 16 MB of pixels)
DEFAULT_CHUNK = 4096


@dataclass
class StreamReport:
    """What reading the stream did so far (filled in while ``chunks`` runs)."""

    decoded: int = 0
    cache_hits: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)


class GeneratedStream:
    """The image files of one folder, decoded a chunk at a time.

    ``folder``: a folder of image files (e.g. ``test/generated``); ``size``: resize to
    ``size x size`` (``None``: native, all square and equal); ``chunk``: images per chunk;
    ``skip_bad``: skip unusable files instead of stopping; ``cache``: a ``DecodeCache`` or ``None``;
    ``workers``: decoding processes (``None``: one per CPU, at most 16; 1: serial).
    """

    def __init__(self, folder: str | Path, *, size: int | None = None, chunk: int = DEFAULT_CHUNK,
                 skip_bad: bool = False, cache: DecodeCache | None = None, workers: int | None = None,
                 window: Window | None = None) -> None:
        self.folder = Path(folder)
        if folder_format(self.folder) is not None:
            raise TrainprintError(f"{self.folder}: holds DICOM or NIfTI volumes, which are read whole, not streamed; "
                                  "expected 2-D image files (use --engine memory)")
        if size is not None and (not isinstance(size, int) or size < MIN_SIDE):
            raise TrainprintError(f"--size {size}: expected a whole number of pixels >= {MIN_SIDE}")
        if not isinstance(chunk, int) or chunk < 1:
            raise TrainprintError(f"--chunk {chunk}: expected a whole number of images >= 1")
        self.size, self.chunk, self.skip_bad, self.cache, self.window = size, chunk, skip_bad, cache, window
        self.workers = workers
        self.names, stats = _list(self.folder)  # file names (str: ~60 bytes each, not a Path's ~200)
        self.ids = np.array([n.rsplit(".", 1)[0] if "." in n else n for n in self.names], dtype=str)
        h = hashlib.sha256(json.dumps([DECODER_VERSION, size, chunk, skip_bad, _window_key(window)]).encode())
        for name, (n, t) in zip(self.names, stats):
            h.update(f"{name}\0{n}\0{t}\n".encode())
        self.key = h.hexdigest()
        self.report = StreamReport()
        self._side: int | None = size

    def __len__(self) -> int:
        return len(self.names)

    @property
    def n_chunks(self) -> int:
        return -(-len(self.names) // self.chunk)

    def chunk_range(self, i: int) -> tuple[int, int]:
        return i * self.chunk, min(len(self.names), (i + 1) * self.chunk)

    def chunks(self, only: set[int] | None = None, progress: bool = False) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
        """``(i, ids, pixels)`` per chunk in order (``only``: just those chunks); pixels
        ``(n_i, S, S)`` uint8. One decoding pool serves every chunk."""
        todo = [i for i in range(self.n_chunks) if only is None or i in only]
        n = self.workers or default_workers()
        pool: Executor | None = _executor("process", n) if n > 1 and self.chunk >= PARALLEL_MIN_FILES else None
        from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeRemainingColumn

        bar = new_progress(progress and bool(todo), TextColumn(f"decoding {self.folder} (chunks)"), BarColumn(),
                           MofNCompleteColumn(), TimeRemainingColumn(), transient=True)
        try:
            task = bar.add_task("decode", total=len(todo)) if bar else None
            if bar:
                bar.start()
            for i in todo:
                yield (i, *self.read_chunk(i, pool))
                if bar:
                    bar.advance(task)
        finally:
            if bar:
                bar.stop()
            if pool is not None:
                pool.shutdown()

    def read_chunk(self, i: int, pool: Executor | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``(ids, pixels)`` of chunk ``i``: from its cache pack, or decoded (then packed)."""
        lo, hi = self.chunk_range(i)
        paths, ids = [self.folder / n for n in self.names[lo:hi]], [str(x) for x in self.ids[lo:hi]]
        key = None
        results: list[FileResult] | None = None
        if self.cache is not None:
            digests = [file_digest(p) for p in paths]
            if all(d is not None for d in digests):
                key = pack_key(ids, [str(d) for d in digests], self.size, _window_key(self.window))
                pack = self.cache.get(key, ids)
                if pack is not None:
                    results = [FileResult(None, it) if isinstance(it, str) else FileResult(it, from_cache=True)
                               for it in pack.items]
                    self.report.cache_hits += sum(r.from_cache for r in results)
        if results is None:
            decode_one = partial(decode_file, size=self.size, scale=self.window)
            if pool is not None:
                results = list(pool.map(decode_one, paths, chunksize=max(1, min(32, len(paths) // 32))))
            else:
                results = [decode_one(p) for p in paths]
            self.report.decoded += sum(r.item is not None for r in results)
            if key is not None and self.cache is not None:
                try:
                    self.cache.put(key, Pack(tuple(ids), tuple(r.item or r.error for r in results)))
                except OSError:
                    pass  # a cache that cannot be written only costs time
        return self._stack(paths, ids, results)

    def _stack(self, paths: list[Path], ids: list[str], results: list[FileResult]) -> tuple[np.ndarray, np.ndarray]:
        keep: list[int] = []
        for j, r in enumerate(results):
            if r.item is None:
                if not self.skip_bad:
                    raise TrainprintError(f"{paths[j]}: {r.error} (--skip-bad skips such files)")
                self.report.skipped.append((str(paths[j]), r.error))
                continue
            if self.window is None and is_16bit(r.item.mode):
                raise TrainprintError(f"{paths[j]}: a 16-bit image; streamed 16-bit images need --window CENTER,WIDTH "
                                      "(one scale for every chunk), or --engine memory (one scale set by the folder)")
            h, w = r.item.pixels.shape
            if self.size is None:
                if h != w:
                    raise TrainprintError(f"{paths[j]}: image is {w}x{h} px, not square; pass --size N to resize "
                                          "every image to N x N")
                if self._side is None:
                    self._side = h
                if h != self._side:
                    raise TrainprintError(f"{paths[j]}: image is {w}x{h} px, the images before it {self._side}x"
                                          f"{self._side}; pass --size N to resize all to N x N")
            keep.append(j)
        side = self._side or self.size or 0
        pixels = np.empty((len(keep), side, side), dtype=np.uint8)  # (n, S, S)
        for row, j in enumerate(keep):
            pixels[row] = results[j].item.pixels  # type: ignore[union-attr]
        return np.array([ids[j] for j in keep], dtype=str), pixels

    @property
    def side(self) -> int:
        """Side of the images in pixels: ``size``, or the first image's (reads chunk 0 when unknown)."""
        if self._side is None:
            self.read_chunk(0)
        return int(self._side or 0)


def _window_key(window: Window | None) -> list[float] | None:
    return None if window is None else [window.center, window.width]


def write_pixel_shards(stream: GeneratedStream, root: str | Path, *, progress: bool = False) -> ShardStore:
    """The stream's decoded pixels as a ``ShardStore`` in ``root`` (uint8, divisor 255, one shard per
    chunk). Resumes: chunks already written under the same key are kept; a finished folder is
    opened as it is. The store reads as the ``raw`` extractor's output, bit for bit."""
    root = Path(root)
    key = f"pixels:{stream.key}"
    if complete(root, key):
        return ShardStore(root)
    writer = ShardWriter(root, key, (stream.side, stream.side), "uint8", divisor=255.0)
    todo = {i for i in range(stream.n_chunks) if not writer.has(i)}
    for i, ids, pixels in stream.chunks(only=todo, progress=progress):
        writer.write(i, pixels, ids)
    store = writer.finish(stream.n_chunks)
    if len(store) == 0:
        raise TrainprintError(f"{stream.folder}: none of its {len(stream)} files could be read; expected images")
    return store


def _list(folder: Path) -> tuple[list[str], list[tuple[int, int]]]:
    """Image files of ``folder`` sorted by name (hidden files, nested folders left out), with their
    ``(byte size, mtime_ns)``; an error when the folder is missing or empty or an id repeats."""
    if not folder.is_dir():
        raise TrainprintError(f"{folder}: folder not found; expected a folder of generated images")
    with os.scandir(folder) as it:  # sorted by id, as ``layout.list_images`` sorts
        entries = sorted((e for e in it if not e.name.startswith(".") and e.is_file()),
                         key=lambda e: (e.name.rsplit(".", 1)[0] if "." in e.name else e.name, e.name))
    if not entries:
        raise TrainprintError(f"{folder}: empty folder; expected PNG, JPEG, TIFF or BMP images")
    seen: dict[str, str] = {}
    names, stats = [], []
    for e in entries:
        image_id = e.name.rsplit(".", 1)[0] if "." in e.name else e.name
        if image_id in seen:
            raise TrainprintError(f"{folder}: duplicate image id {image_id!r} ({seen[image_id]}, {e.name}); "
                                  "expected one file per id")
        seen[image_id] = e.name
        st = e.stat()
        names.append(e.name)
        stats.append((int(st.st_size), int(st.st_mtime_ns)))
    return names, stats
