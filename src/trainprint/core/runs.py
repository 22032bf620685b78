"""Self-describing run folders: every command that writes results records what made them.

``RUN_DIR/run.json`` holds the command, its configuration, the seed, library versions, the
machine, the wall time of each named stage, and the process's peak resident memory when each stage
ended (``peak_rss_mib``: the peak so far, from the OS, so the stage where it grows holds the peak).
Reports read only files in the run folder.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import platform
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from trainprint.core import lock
from trainprint.core.errors import Interrupted, TrainprintError
from trainprint.core.files import DiskWriteError, json_bytes, read_json, rewrite_in_place, write_json

RUN_FILE = "run.json"


def versions() -> dict[str, str]:
    """Versions of Python and the libraries whose behaviour changes results."""
    import numpy
    import sklearn
    import torch

    from trainprint.core.version import __version__

    out = {
        "trainprint": __version__,
        "python": sys.version.split()[0],
        "numpy": numpy.__version__,
        "torch": torch.__version__,
        "scikit-learn": sklearn.__version__,
    }
    try:
        import imblearn

        out["imbalanced-learn"] = imblearn.__version__
    except ImportError:  # pragma: no cover - a declared dependency
        pass
    return out


def machine() -> dict[str, Any]:
    import torch

    info: dict[str, Any] = {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "cuda": torch.cuda.is_available(),
    }
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def to_jsonable(config: Any) -> Any:
    """Dataclasses (frozen configs) become dicts, also inside a dict; everything else passes through."""
    if dataclasses.is_dataclass(config) and not isinstance(config, type):
        return dataclasses.asdict(config)
    if isinstance(config, dict):
        return {k: to_jsonable(v) for k, v in config.items()}
    return config


#: the folder of the outermost run an interruption went through (the CLI names it in its message)
interrupted_runs: list[Path] = []

stage_log = logging.getLogger("trainprint.stages")


def one_line(e: BaseException) -> str:
    """An exception as one line: ``Type: message`` with whitespace runs collapsed."""
    text = " ".join(str(e).split())
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


class RunRecord:
    """The ``run.json`` of one run folder. Each stage's seconds are saved as soon as it ends.

    >>> with RunRecord(out_dir, command="fit", config=cfg, seed=0) as rec:
    ...     with rec.stage("train"):
    ...         ...
    ...     rec.finish(results={"accuracy": 0.8})

    Leaving the ``with`` block by an exception records ``status`` ``interrupted`` (Ctrl-C,
    SIGTERM) or ``failed`` with the error in one line, so run.json always ends honestly. Each
    stage logs its start and end (with seconds) on the ``trainprint.stages`` logger.

    The folder's lock (``core.lock``) is taken before run.json is read or written and released on
    leaving the ``with`` block: a second process writing the same folder stops with a
    ``TrainprintError`` naming the first, having touched nothing.
    """

    def __init__(self, run_dir: str | Path, *, command: str, config: Any, seed: int) -> None:
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self._lock: Path | None = lock.acquire(self.run_dir, command)
        try:
            self._start(command, config, seed)
        except BaseException:
            self._release()
            raise

    def _start(self, command: str, config: Any, seed: int) -> None:
        path = self.run_dir / RUN_FILE
        previous = read_json(path) if path.exists() else {}
        self.data: dict[str, Any] = {
            "command": command,
            "argv": sys.argv,
            "config": to_jsonable(config),
            "seed": seed,
            "versions": versions(),
            "machine": machine(),
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "timings_s": previous.get("timings_s", {}),
            "peak_rss_mib": previous.get("peak_rss_mib", {}),
            "status": "running",
            "resumed": bool(previous),
        }
        self.save()

    def __enter__(self) -> "RunRecord":
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        try:
            self._end(exc)
        finally:
            self._release()

    def _release(self) -> None:
        if self._lock is not None:
            lock.release(self._lock)
            self._lock = None

    def _end(self, exc: BaseException | None) -> None:
        if exc is None:
            if self.data["status"] == "running":
                self.finish()
            return
        if isinstance(exc, (KeyboardInterrupt, Interrupted)):
            self.data["status"] = "interrupted"
            self.data["error"] = exc.signal_name if isinstance(exc, Interrupted) else "KeyboardInterrupt"
            interrupted_runs.append(self.run_dir)
        else:
            self.data["status"] = "failed"
            self.data["error"] = one_line(exc)
        self.data["ended"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        try:
            self.save()
        except DiskWriteError:
            # a full disk: the record is rewritten in the blocks run.json already has; when it does
            # not fit, run.json keeps saying ``running`` and the run's own error is the one reported
            rewrite_in_place(self.run_dir / RUN_FILE, json_bytes(self.data))

    def save(self) -> None:
        write_json(self.run_dir / RUN_FILE, self.data)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        command = self.data["command"]
        stage_log.info("%s: %s started", command, name)
        t0 = time.perf_counter()
        yield
        seconds = time.perf_counter() - t0
        self.data["timings_s"][name] = round(self.data["timings_s"].get(name, 0.0) + seconds, 3)
        rss = peak_rss_mib()
        if rss is not None:
            self.data["peak_rss_mib"][name] = rss
        self.save()
        stage_log.info("%s: %s done in %.1f s", command, name, seconds)

    def finish(self, **extra: Any) -> None:
        self.data.update(extra)
        self.data["status"] = "finished"
        self.data["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        self.save()


def peak_rss_mib() -> float | None:
    """This process's peak resident memory so far, in MiB, from the OS (``getrusage``'s
    ``ru_maxrss``: KiB on Linux, bytes on macOS); None where there is no ``resource`` module."""
    try:
        import resource
    except ImportError:  # Windows
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / (2**20 if sys.platform == "darwin" else 2**10), 1)


def check_out_dir(path: str | Path, what: str = "--out") -> Path:
    """``path`` is usable as a run folder: an existing folder, or one that can be created, where a
    file can be written. Leaves nothing behind; raises ``TrainprintError`` naming the path otherwise.

    Writability is tried (a temporary file made and removed in the folder, or in its nearest
    existing parent), not read from permission bits, which say yes to root everywhere."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise TrainprintError(f"{what} {path}: is a file; expected a folder for the run's outputs")
    probe = path
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir():
        raise TrainprintError(f"{what} {path}: {probe} is a file; expected a folder for the run's outputs")
    try:
        fd, name = tempfile.mkstemp(prefix=".trainprint-write-test-", dir=probe)
        os.close(fd)
        os.unlink(name)
    except OSError as e:
        raise TrainprintError(f"{what} {path}: cannot write in {probe} ({e.strerror or e}); "
                              "expected a folder you can write to") from None
    return path


CONFIG_FILE = "config.json"


def _flat(config: Any, prefix: str = "") -> dict[str, Any]:
    """A config (dataclass or dict, nested) as ``{"a.b": value}``; lists become tuples."""
    config = to_jsonable(config)
    out: dict[str, Any] = {}
    for k, v in config.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = tuple(v) if isinstance(v, list) else v
    return out


def check_resume(out: Path, command: str, config: Any, keys: tuple[str, ...] | None = None, *,
                 what: str = "--out") -> dict[str, Any] | None:
    """The one resume check of every command: when ``out`` holds a run, it must be a run of
    ``command`` made with the same settings (``keys``, dotted for nested configs; None: every
    setting; a key names a nested config's settings too), else a ``TrainprintError`` naming the first that differs (``what``: the option that
    named ``out``, e.g. ``--from``). Returns the saved config
    (``config.json``), or None for a new run folder. A changed setting never reuses stale results."""
    path = out / CONFIG_FILE
    if not path.exists():
        return None
    run = read_json(out / RUN_FILE) if (out / RUN_FILE).exists() else {}
    if run.get("command", command) != command:
        raise TrainprintError(f"{what} {out}: holds a run of `{run.get('command')}`, not `{command}`; use another {what}")
    old, mine = _flat(read_json(path)), _flat(config)
    names = tuple(mine) if keys is None else tuple(
        n for k in keys for n in sorted({*old, *mine}) if n == k or n.startswith(k + "."))
    for k in names:
        if old.get(k, "<absent>") != mine.get(k):
            raise TrainprintError(f"{what} {out}: its {k} is {old.get(k, '<absent>')!r}, this run's is "
                                  f"{mine.get(k)!r}; use another {what} or the same settings")
    return read_json(path)
