"""Atomic file output: every file is written to a temporary sibling, then renamed into place.

An interrupted run therefore never leaves a half-written file behind: a reader sees either the
old file or the new one. Use these helpers for every output of the tool.

A write the disk refuses (full: ENOSPC, over quota: EDQUOT, file too large: EFBIG, failing: EIO)
raises ``DiskWriteError``, a ``TrainprintError`` naming the file and the bytes it needed (the CLI
prints it as one ``error:`` line, exit 2); the temporary file is removed and the final name keeps
its old content, or stays absent. docs/reliability.md lists the faults tried.
"""

from __future__ import annotations

import csv
import errno
import io
import json
import os
import re
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from trainprint.core.errors import TrainprintError

_UMASK = os.umask(0)
os.umask(_UMASK)

#: errno values of a write the disk refused: full, over quota, file too large, input/output error
DISK_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO})


class DiskWriteError(TrainprintError, OSError):
    """A file could not be written because the disk refused it (``DISK_ERRNOS``); the message
    names the file, the error and the bytes the write needed. Also an ``OSError`` (``errno`` set),
    so a writer that may fail without stopping the run (the decode cache) still catches it."""

    def __init__(self, message: str, code: int | None) -> None:
        super().__init__(message)
        self.message = message
        self.errno = code

    def __str__(self) -> str:
        return self.message


def disk_write_error(path: Path, e: OSError, needed: int) -> DiskWriteError:
    """The ``DiskWriteError`` for ``e`` raised while writing ``path`` (``needed`` bytes at least)."""
    try:
        st = os.statvfs(path.parent)
        free = f", {st.f_bavail * st.f_frsize} bytes free there"
    except OSError:
        free = ""
    what = os.strerror(e.errno) if e.errno is not None else str(e)
    hint = "the disk may be failing" if e.errno == errno.EIO else "free some space or write elsewhere (--out)"
    return DiskWriteError(f"{path}: cannot write it ({what}): it needed at least {needed} bytes{free}; {hint}",
                          e.errno)


@contextmanager
def atomic_path(path: str | Path, nbytes: int = 0) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it is renamed to ``path``.

    On an exception the temporary file is removed and ``path`` is left untouched. ``nbytes``: what
    the file will hold (at least), named when the disk refuses the write (``DiskWriteError``).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as e:
        if e.errno in DISK_ERRNOS:
            raise disk_write_error(path, e, nbytes) from None
        raise
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        os.chmod(tmp_path, 0o666 & ~_UMASK)  # mkstemp makes 0600; give outputs the usual permissions
        yield tmp_path
        os.replace(tmp_path, path)
    except OSError as e:
        if e.errno not in DISK_ERRNOS:
            raise
        try:
            written = tmp_path.stat().st_size
        except OSError:
            written = 0
        raise disk_write_error(path, e, max(nbytes, written)) from None
    finally:
        try:
            tmp_path.unlink()
        except FileNotFoundError:
            pass


#: the name ``atomic_path`` gives a temporary file (``mkstemp``: 8 characters of [a-z0-9_])
_TEMPORARY = re.compile(r"^\..+\.[a-z0-9_]{8}\.tmp$")


def remove_temporary(root: str | Path, skip: str | None = None) -> list[Path]:
    """Delete the temporary files of ``atomic_path`` left under ``root`` by a process that was
    killed while writing (a kill cannot clean up); folders holding a file named ``skip`` (another
    run's lock) are left to that run. Only for a folder no live process writes. Returns them."""
    gone = []
    for folder, dirs, names in os.walk(root):
        if skip is not None and folder != str(root) and skip in names:
            dirs[:] = []
            continue
        for name in names:
            if _TEMPORARY.match(name):
                path = Path(folder) / name
                try:
                    path.unlink()
                    gone.append(path)
                except FileNotFoundError:
                    pass
    return gone


def write_bytes(path: str | Path, data: bytes) -> Path:
    with atomic_path(path, nbytes=len(data)) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def rewrite_in_place(path: str | Path, data: bytes) -> bool:
    """Overwrite the existing file ``path`` with ``data`` without allocating space, when ``data``
    fits in the blocks the file already has (the last record of a run on a full disk: an atomic
    write would need a new file). Returns whether it was written."""
    path = Path(path)
    try:
        st = path.stat()
        if len(data) > st.st_blocks * 512:
            return False
        with open(path, "r+b") as f:
            f.write(data)
            f.truncate(len(data))
    except OSError:
        return False
    return True


def write_text(path: str | Path, text: str) -> Path:
    return write_bytes(path, text.encode("utf-8"))


def json_bytes(obj: Any) -> bytes:
    """``obj`` as the JSON text ``write_json`` writes, encoded."""
    return (json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n").encode("utf-8")


def write_json(path: str | Path, obj: Any) -> Path:
    return write_bytes(path, json_bytes(obj))


def read_json(path: str | Path) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def write_csv(
    path: str | Path, rows: Iterable[Mapping[str, Any]], fieldnames: Sequence[str]
) -> Path:
    """Write dict rows with a header line, atomically."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(fieldnames), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _csv_value(row.get(k, "")) for k in fieldnames})
    return write_text(path, buf.getvalue())


def read_csv(path: str | Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def csv_float(value: Any) -> float:
    """A CSV cell as a float; NaN when it is empty or not a number (e.g. a metric left blank)."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


def save_npz(path: str | Path, **arrays: np.ndarray) -> Path:
    """``np.savez`` atomically. String arrays must be unicode (``dtype.kind == 'U'``), never object,
    so the file loads with ``allow_pickle=False``."""
    for name, arr in arrays.items():
        if np.asarray(arr).dtype == object:
            raise TypeError(f"save_npz: array {name!r} has dtype object; use a unicode string array")
    with atomic_path(path, nbytes=sum(np.asarray(a).nbytes for a in arrays.values())) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)
    return Path(path)


def load_npz(path: str | Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def _csv_value(v: Any) -> Any:
    if isinstance(v, (float, np.floating)):
        return f"{float(v):.6g}"
    return v


def _json_default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    if isinstance(o, (set, frozenset)):
        return sorted(o)
    raise TypeError(f"cannot serialise {type(o).__name__} to JSON")
