"""Self-describing run folders: every command that writes results records what made them.

``RUN_DIR/run.json`` holds the command, its configuration, the seed, library versions, the
machine, and the wall time of each named stage. Reports read only files in the run folder.
"""

from __future__ import annotations

import dataclasses
import platform
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from trainprint.core.files import read_json, write_json

RUN_FILE = "run.json"


def versions() -> dict[str, str]:
    """Versions of Python and the libraries whose behaviour changes results."""
    import numpy
    import sklearn
    import torch

    import trainprint

    out = {
        "trainprint": trainprint.__version__,
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
    import os

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
    """Dataclasses (frozen configs) become dicts; everything else passes through."""
    if dataclasses.is_dataclass(config) and not isinstance(config, type):
        return dataclasses.asdict(config)
    return config


class RunRecord:
    """The ``run.json`` of one run folder. Each stage's seconds are saved as soon as it ends.

    >>> rec = RunRecord(out_dir, command="fit", config=cfg, seed=0)
    >>> with rec.stage("train"):
    ...     ...
    >>> rec.finish(results={"accuracy": 0.8})
    """

    def __init__(self, run_dir: str | Path, *, command: str, config: Any, seed: int) -> None:
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
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
            "status": "running",
            "resumed": bool(previous),
        }
        self.save()

    def save(self) -> None:
        write_json(self.run_dir / RUN_FILE, self.data)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        t0 = time.perf_counter()
        yield
        self.data["timings_s"][name] = round(
            self.data["timings_s"].get(name, 0.0) + time.perf_counter() - t0, 3
        )
        self.save()

    def finish(self, **extra: Any) -> None:
        self.data.update(extra)
        self.data["status"] = "finished"
        self.data["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        self.save()
