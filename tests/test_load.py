"""A load test of the audit (issue 24): 20 audits of different small folders back to back in one
process (``trainprint.audit.pipeline.audit`` then ``report.audit_page.build_audit_page``, what
``trainprint audit`` calls; the package has no other Python API) and in 20 processes (``trainprint audit``, 4 at a time), each equal to the
other's, byte for byte (but run.json's wall times, and audit.html's build minute and Run section);
nothing left behind: file descriptors, threads, temporary files or folders, lock files."""

from __future__ import annotations

import dataclasses
import gc
import os
import re
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import pytest

from helpers_data import tree
from helpers_eval import make_images, write_task
from trainprint.audit.config import AuditConfig
from trainprint.audit.pipeline import audit
from trainprint.core.lock import LOCK_FILE
from trainprint.membership.scores import clear_cache
from trainprint.report.audit_page import build_audit_page

N = 20
PARALLEL = 4
METHOD = "sim-pixel/realmax"
SRC = Path(__file__).resolve().parents[1] / "src"


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def _timeless(data: bytes) -> bytes:
    """audit.html without the minute it was built and its Run section (run.json shown as is)."""
    data = re.sub(rb"Built \d{4}-\d\d-\d\d \d\d:\d\d ", b"Built ", data)
    return re.sub(rb'<section id="run">.*?</section>', b"", data, flags=re.S)


def _outputs(out: Path) -> dict[str, bytes]:
    """Every file of an audit folder but run.json (wall times); audit.html without its times."""
    return {p: _timeless((out / p).read_bytes()) if p.endswith(".html") else (out / p).read_bytes()
            for p in tree(out) if p not in ("run.json",)}


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="counts file descriptors in /proc")
def test_twenty_audits_in_one_process_and_in_twenty_leave_nothing_behind(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    tasks = []
    for i in range(N):
        images, _ = make_images(n_used=3 + i % 3, n_not=3, n_gen=12 + i % 5, seed=100 + i, source=f"s{i}-",
                                unknown=True)
        tasks.append(write_task(tmp_path / "tasks" / f"t{i:02d}", images))
    cache, tmp = tmp_path / "cache", tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))  # temporary files of this process land here

    def config(task: Path) -> AuditConfig:
        return AuditConfig(generated_dir=str(task / "generated"), real_dir=str(task / "real_unknown"), method=METHOD,
                           evaluation=dataclasses.replace(AuditConfig("", "").evaluation, device="cpu"))

    def one(task: Path, out: Path) -> None:  # what `trainprint audit` does
        audit(config(task), out, cache_dir=cache)
        build_audit_page(out)

    one(tasks[0], tmp_path / "warm")  # lazy imports and libraries' pools first
    gc.collect()  # files that earlier tests left in garbage cycles close now, not during the audits
    fds, threads = _fds(), threading.active_count()
    for i, task in enumerate(tasks):
        one(task, tmp_path / "in-process" / f"t{i:02d}")
    gc.collect()
    assert _fds() == fds, f"file descriptors left open: {_fds()} after 20 audits, {fds} before"
    assert threading.active_count() == threads, (threads, [t.name for t in threading.enumerate()])
    assert os.listdir(tmp) == []
    clear_cache()

    env = {**os.environ, "PYTHONPATH": str(SRC), "TMPDIR": str(tmp)}
    procs: list[subprocess.Popen] = []
    for i, task in enumerate(tasks):
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "trainprint", "audit", str(task / "generated"), str(task / "real_unknown"),
             "--method", METHOD, "--device", "cpu", "--out", str(tmp_path / "processes" / f"t{i:02d}"),
             "--cache-dir", str(cache), "--no-progress"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            text=True))
        if len(procs) >= PARALLEL or i == N - 1:  # PARALLEL at a time
            for p in procs:
                _, err = p.communicate(timeout=300)
                assert p.returncode == 0, err
            procs = []
    assert os.listdir(tmp) == [], "temporary files left by the processes"

    differ = []
    for i in range(N):
        a, b = tmp_path / "in-process" / f"t{i:02d}", tmp_path / "processes" / f"t{i:02d}"
        got, want = _outputs(b), _outputs(a)
        assert sorted(got) == sorted(want), (i, set(got) ^ set(want))
        differ += [(i, name) for name in want if got[name] != want[name]]
        for out in (a, b):
            assert not (out / LOCK_FILE).exists() and not [p for p in tree(out) if p.endswith(".tmp")]
    assert not differ, differ
    # and each folder's audit is its own: the verdict rows name its own images only
    for i in range(N):
        assert f"s{i}-" in (tmp_path / "in-process" / f"t{i:02d}" / "audit.csv").read_text()
