"""One writer per run folder: ``RUN_DIR/.trainprint.lock``, held while a run writes there.

The lock is a POSIX record lock (``fcntl.lockf``) on that file, which holds one JSON line naming
the holder (pid, host, command, start time). Taking it is atomic in the kernel, and the kernel
drops it the moment its process ends, however it ends (SIGKILL, a crash, the OOM killer): a lock
file left by a killed run is stale by construction and the next run takes it over, saying so on
one warning line; the temporary files its interrupted writes left (``core.files.remove_temporary``)
are deleted then. A record lock belongs to the process, not to its open file, so the worker
processes a run forks (image decoding) never hold it after their parent is gone.

A second process that finds the lock held stops with a ``TrainprintError`` naming the holder
(``error: ... pid N on host H ...``, exit 2 from the CLI) before it has written anything.
The same process taking the lock of a folder it already holds (nested runs) only counts up;
runs in subfolders have their own locks. The last release removes the file.
"""

from __future__ import annotations

import errno
import fcntl
import json
import logging
import os
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from trainprint.core.errors import TrainprintError
from trainprint.core.files import remove_temporary

LOCK_FILE = ".trainprint.lock"

log = logging.getLogger("trainprint.lock")


@dataclass
class _Held:
    fd: int
    count: int


_held: dict[Path, _Held] = {}  # lock file (resolved) -> its descriptor in this process
_guard = threading.Lock()


def holder_text(info: dict[str, object]) -> str:
    """``pid N on host H (command C, started T)`` from a lock file's JSON."""
    extra = ", ".join(f"{k} {info[k]}" for k in ("command", "started") if info.get(k))
    return f"pid {info.get('pid', '?')} on host {info.get('host', '?')}" + (f" ({extra})" if extra else "")


def read_holder(path: Path) -> dict[str, object]:
    """The JSON a lock file holds; ``{}`` when it is unreadable or empty. Never called on a lock
    this process holds: closing any descriptor of a file drops this process's record locks on it."""
    try:
        text = path.read_text(encoding="utf-8")
        info = json.loads(text) if text.strip() else {}
    except (OSError, ValueError):
        return {}
    return info if isinstance(info, dict) else {}


def acquire(run_dir: str | Path, command: str) -> Path:
    """Take the lock of ``run_dir`` (an existing folder) for this process; returns the lock file.

    Raises ``TrainprintError`` naming the holder when another process holds it."""
    path = (Path(run_dir) / LOCK_FILE).resolve()
    with _guard:
        held = _held.get(path)
        if held is not None:
            held.count += 1
            return path
        while True:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            try:
                fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as e:
                os.close(fd)
                if e.errno not in (errno.EACCES, errno.EAGAIN):
                    raise
                info = read_holder(path)
                raise TrainprintError(
                    f"--out {path.parent}: another trainprint run is writing this folder: {holder_text(info)}; "
                    "wait for it to end or use another --out") from None
            try:
                same = os.fstat(fd).st_ino == os.stat(path).st_ino
            except FileNotFoundError:  # the previous holder removed it between our open and lock
                same = False
            if same:
                break
            os.close(fd)
        try:
            _take_over(fd, path, command)
        except BaseException:
            os.close(fd)
            raise
        _held[path] = _Held(fd, 1)
    return path


def _take_over(fd: int, path: Path, command: str) -> None:
    """Write this process into the lock file ``fd`` (held); warn when it named a process that ended
    without releasing it (a killed run), and delete the temporary files that run left."""
    old = os.pread(fd, 65536, 0)
    if old.strip():
        try:
            info = json.loads(old)
        except ValueError:
            info = {}
        if not isinstance(info, dict):
            info = {}
        gone = remove_temporary(path.parent, skip=LOCK_FILE)
        log.warning("warning: --out %s: took over the lock of %s: that process is gone (a run that was "
                    "killed or crashed); its finished steps are kept%s", path.parent, holder_text(info),
                    f", {len(gone)} half-written temporary files deleted" if gone else "")
    mine = {"pid": os.getpid(), "host": socket.gethostname(), "command": command,
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    data = (json.dumps(mine, sort_keys=True) + "\n").encode("utf-8")
    os.ftruncate(fd, 0)
    os.pwrite(fd, data, 0)


def release(path: Path) -> None:
    """Release one hold of this process on the lock file ``path``; the last removes the file."""
    with _guard:
        held = _held.get(path)
        if held is None:
            return
        held.count -= 1
        if held.count > 0:
            return
        del _held[path]
        try:
            os.unlink(path)  # while still locked: a waiting process then sees another inode and retries
        except FileNotFoundError:
            pass
        finally:
            os.close(held.fd)


def holds(run_dir: str | Path) -> bool:
    """This process holds the lock of ``run_dir``."""
    with _guard:
        return (Path(run_dir) / LOCK_FILE).resolve() in _held
