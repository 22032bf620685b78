"""One writer per run folder (``core/lock.py``, taken by every ``RunRecord``): a second process
stops with one line naming the first, a lock left by a killed run is taken over with a warning,
nested runs and re-entry work, the lock file is gone when the run ends."""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from helpers_data import tree
from trainprint.core import lock
from trainprint.core.errors import TrainprintError
from trainprint.core.files import read_json
from trainprint.core.runs import RunRecord

#: a process that opens a run in argv[1] (command argv[2]), says "ready", and waits for stdin to
#: close; with argv[3] == "fork", it first forks a child that outlives it (sleeps), and prints its pid
HOLDER = textwrap.dedent("""
    import os, sys, time
    from trainprint.core.runs import RunRecord
    with RunRecord(sys.argv[1], command=sys.argv[2], config={}, seed=0):
        child = os.fork() if sys.argv[3:] == ["fork"] else -1
        if child == 0:
            time.sleep(60)
            os._exit(0)
        print("ready", child, flush=True)
        sys.stdin.read()
""")


def _holder(out: Path, command: str = "audit", *extra: str) -> tuple[subprocess.Popen, int]:
    p = subprocess.Popen([sys.executable, "-c", HOLDER, str(out), command, *extra], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, text=True)
    assert p.stdout is not None
    line = p.stdout.readline().split()
    assert line and line[0] == "ready", line
    return p, int(line[1])


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}


def test_a_second_command_on_the_same_out_stops_with_one_line_naming_the_first(tmp_path: Path) -> None:
    out = tmp_path / "run"
    first, _ = _holder(out)
    try:
        before = {p: (out / p).read_bytes() for p in tree(out)}
        assert (out / lock.LOCK_FILE).is_file() and read_json(out / "run.json")["status"] == "running"
        folder = tmp_path / "images"
        from helpers_data import make_task

        make_task(folder, {"generated": 2, "real_unknown": 2})
        r = subprocess.run([sys.executable, "-m", "trainprint", "audit", str(folder / "generated"),
                            str(folder / "real_unknown"), "--out", str(out), "--no-progress", "--no-cache"],
                           capture_output=True, text=True, env=_env(), timeout=300)
        lines = r.stderr.strip().splitlines()
        assert r.returncode == 2, r.stderr
        assert len(lines) == 1 and lines[0].startswith("error: --out "), lines
        assert f"pid {first.pid} on host {socket.gethostname()}" in lines[0] and "command audit" in lines[0]
        assert {p: (out / p).read_bytes() for p in tree(out)} == before  # the first run's files untouched
    finally:
        first.communicate("")
    assert first.returncode == 0
    assert read_json(out / "run.json")["status"] == "finished"
    assert not (out / lock.LOCK_FILE).exists()


def test_the_library_raises_a_trainprint_error_naming_the_holder(tmp_path: Path) -> None:
    first, _ = _holder(tmp_path)
    try:
        with pytest.raises(TrainprintError, match=rf"pid {first.pid} on host"):
            RunRecord(tmp_path, command="evaluate", config={}, seed=0)
        assert read_json(tmp_path / "run.json")["command"] == "audit"  # run.json not rewritten
    finally:
        first.communicate("")


def test_a_lock_left_by_a_killed_run_is_taken_over_with_one_warning(tmp_path: Path, caplog) -> None:
    first, _ = _holder(tmp_path)
    first.send_signal(signal.SIGKILL)
    first.wait()
    assert read_json(tmp_path / lock.LOCK_FILE)["pid"] == first.pid  # left behind, naming the dead run
    # what the killed run's interrupted writes left (atomic_path's temporary names), and what is not that
    left = [tmp_path / ".audit.csv.k3x_9a0q.tmp", tmp_path / "fingerprints" / "fold-0" / ".spy.npz.abcdefgh.tmp"]
    kept = [tmp_path / ".notes.tmp", tmp_path / "audit.csv.abcdefgh.tmp",
            tmp_path / "nested" / ".x.npz.abcdefgh.tmp"]  # nested/ is another run's folder (its own lock)
    for p in left + kept + [tmp_path / "nested" / lock.LOCK_FILE]:
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text("half")
    with caplog.at_level(logging.WARNING, logger="trainprint.lock"):
        with RunRecord(tmp_path, command="audit", config={}, seed=0) as rec:
            assert read_json(tmp_path / lock.LOCK_FILE)["pid"] == os.getpid()
            rec.finish()
    warnings = [r.getMessage() for r in caplog.records if r.name == "trainprint.lock"]
    assert len(warnings) == 1 and f"pid {first.pid} on host" in warnings[0] and "took over" in warnings[0]
    assert "\n" not in warnings[0]
    assert "2 half-written temporary files deleted" in warnings[0], warnings
    assert not any(p.exists() for p in left) and all(p.exists() for p in kept)
    assert read_json(tmp_path / "run.json")["resumed"] is True
    assert not (tmp_path / lock.LOCK_FILE).exists()


def test_a_child_the_killed_run_forked_does_not_keep_its_lock(tmp_path: Path, caplog) -> None:
    """Record locks belong to the process: image-decoding workers forked by a run never hold it."""
    first, child = _holder(tmp_path, "submit", "fork")
    try:
        first.send_signal(signal.SIGKILL)
        first.wait()
        os.kill(child, 0)  # the child still runs
        with caplog.at_level(logging.WARNING, logger="trainprint.lock"):
            with RunRecord(tmp_path, command="submit", config={}, seed=0):
                pass
        assert any("took over" in r.getMessage() for r in caplog.records)
    finally:
        os.kill(child, signal.SIGKILL)


def test_nested_runs_and_the_same_process_reentering(tmp_path: Path) -> None:
    with RunRecord(tmp_path, command="demo", config={}, seed=0):
        with RunRecord(tmp_path / "evaluate", command="evaluate", config={}, seed=0):
            assert (tmp_path / "evaluate" / lock.LOCK_FILE).is_file()
        assert not (tmp_path / "evaluate" / lock.LOCK_FILE).exists()
        with RunRecord(tmp_path, command="demo", config={}, seed=0):  # same pid, same folder: no deadlock
            assert lock.holds(tmp_path)
        assert lock.holds(tmp_path) and (tmp_path / lock.LOCK_FILE).is_file()  # the outer hold remains
    assert not lock.holds(tmp_path) and not (tmp_path / lock.LOCK_FILE).exists()
    assert read_json(tmp_path / "evaluate" / "run.json")["status"] == "finished"


def test_the_lock_is_released_when_a_run_fails_or_is_interrupted(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError):
        with RunRecord(tmp_path, command="fit", config={}, seed=0):
            raise RuntimeError("boom")
    assert not (tmp_path / lock.LOCK_FILE).exists() and read_json(tmp_path / "run.json")["status"] == "failed"
    with pytest.raises(KeyboardInterrupt):
        with RunRecord(tmp_path, command="fit", config={}, seed=0):
            raise KeyboardInterrupt
    assert not (tmp_path / lock.LOCK_FILE).exists()
    assert read_json(tmp_path / "run.json")["status"] == "interrupted"
    with RunRecord(tmp_path, command="fit", config={}, seed=0):  # and can be taken again
        pass

