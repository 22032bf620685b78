"""Run a ``trainprint`` command as a child process and measure it: wall seconds and peak RSS.

    from _child import run_child      # with benchmarks/ on sys.path
    wall_s, peak_rss_bytes = run_child(cmd, out)

``out`` is the run folder the command writes: it is removed first (a fresh run: a resumed one
would skip the work being measured), and the child's output goes to ``<out>.log`` beside it. Peak
RSS is ``os.wait4``'s ``ru_maxrss`` (the largest process of the run). A failed child stops the
benchmark with the command and its log named.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path


def run_child(cmd: list[str], out: Path) -> tuple[float, int]:
    """Run ``cmd``; returns (wall seconds, peak RSS in bytes)."""
    if out.exists():
        shutil.rmtree(out)
    t0 = time.perf_counter()
    with open(out.parent / f"{out.name}.log", "w") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{cmd[3] if len(cmd) > 3 else cmd[0]} failed ({out}.log): {' '.join(cmd)}")
    return wall, usage.ru_maxrss * 1024
