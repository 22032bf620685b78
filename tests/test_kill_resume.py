"""Kill anywhere, resume to the same bytes (issue 24): ``audit`` (with a dev set and a reference),
``evaluate`` (with a trained extractor) and a streaming ``submit`` (``--engine local``) are each
SIGKILLed at several points spread over their run (fractions of an uninterrupted run's wall time),
run again with the same command, and must then hold the same files with the same bytes as the
uninterrupted run. After every kill, the folder's ``run.json`` says ``running``, or ``finished``
only when every output is already there and right (the kill landed after its last write). Only what differs by nature is left out of the comparison (``_same``):
every ``run.json`` (wall times, start times, ``resumed``), the ``seconds`` of each epoch in
``train_log.csv`` and in the history saved in ``checkpoint.pt`` (whose tensors
and other entries must be equal), and in an HTML page the minute it was built and its Run section (run.json shown as is)."""

from __future__ import annotations

import csv
import io
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from helpers_data import tree
from helpers_eval import make_images, write_task
from trainprint.core.files import read_json
from trainprint.core.lock import LOCK_FILE

pytestmark = pytest.mark.slow

#: where each run is killed, as a fraction of the uninterrupted run's wall time (process start to exit;
#: the first ~2 s are Python and torch imports)
FRACTIONS = (0.2, 0.4, 0.6)  # of the first (cold) run's time: a resumed run with warm caches is faster
#: files whose bytes may differ between a resumed and an uninterrupted run, by name
NOT_COMPARED = ("run.json",)


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("kill")
    dev, _ = make_images(n_used=8, n_not=8, n_gen=16, seed=1, source="dev")
    test, _ = make_images(n_used=5, n_not=5, n_gen=40, seed=2, source="test", unknown=True)
    ref, _ = make_images(n_used=2, n_not=12, n_gen=2, seed=3, source="ref")
    write_task(root / "dev", dev)
    write_task(root / "test", test)
    write_task(root / "ref", ref.take(np.flatnonzero(ref.split == "real_not_used")))
    return {"dev": root / "dev", "test": root / "test", "ref": root / "ref" / "real_not_used"}


def _commands(f: dict[str, Path]) -> dict[str, list[str]]:
    common = ["--device", "cpu", "--no-progress", "--no-cache", "--preset", "smoke", "--permutations", "5"]
    return {
        "audit": ["audit", str(f["test"] / "generated"), str(f["test"] / "real_unknown"), "--reference", str(f["ref"]),
                  "--dev", str(f["dev"]), "--methods", "sim-pixel/realmax,sim-ncc/threshold", "--folds", "3",
                  *common],
        "evaluate": ["evaluate", str(f["dev"]), "--methods", "sim-pixel/realmax,dae-gu/real/svm-2", "--folds", "3",
                     *common],
        "submit": ["submit", str(f["dev"]), str(f["test"]), "--methods", "sim-ssim/realmax,sim-pixel/nn,dae-gu/real/svm-2",
                   "--folds", "3", "--engine", "local", "--search", "exhaustive", "--chunk", "8", *common],
    }


def _start(args: list[str], out: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}
    return subprocess.Popen([sys.executable, "-m", "trainprint", *args, "--out", str(out)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _finish(args: list[str], out: Path) -> float:
    t0 = time.perf_counter()
    p = _start(args, out)
    _, err = p.communicate(timeout=600)
    assert p.returncode == 0, err
    return time.perf_counter() - t0


def _files(out: Path) -> dict[str, bytes]:
    return {p: (out / p).read_bytes() for p in tree(out) if Path(p).name not in NOT_COMPARED}


def _no_seconds(obj: object) -> object:
    """``obj`` (a loaded torch state) with every ``seconds`` entry of a dict dropped."""
    if isinstance(obj, dict):
        return {k: _no_seconds(v) for k, v in obj.items() if k != "seconds"}
    if isinstance(obj, (list, tuple)):
        return [_no_seconds(v) for v in obj]
    return obj


def _equal(a: object, b: object) -> bool:
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        return isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


def _timeless(html: bytes) -> bytes:
    """An HTML page without the minute it was built and its Run section (run.json shown as is)."""
    html = re.sub(rb"Built \d{4}-\d\d-\d\d \d\d:\d\d ", b"Built ", html)
    return re.sub(rb'<section id="run">.*?</section>', b"", html, flags=re.S)


def _same(name: str, got: bytes, want: bytes) -> bool:
    """The file ``name`` holds the same results: its bytes, but for what holds a wall time."""
    if got == want:
        return True
    if name.endswith("train_log.csv"):
        rows = [[{k: v for k, v in r.items() if k != "seconds"} for r in csv.DictReader(io.StringIO(b.decode()))]
                for b in (got, want)]
        return rows[0] == rows[1]
    if name.endswith(".pt"):
        a, b = (_no_seconds(torch.load(io.BytesIO(x), map_location="cpu", weights_only=True)) for x in (got, want))
        return _equal(a, b)
    if name.endswith(".html"):
        return _timeless(got) == _timeless(want)
    return False


def _statuses(out: Path) -> dict[str, str]:
    return {str(p.relative_to(out)): read_json(p).get("status") for p in out.rglob("run.json")}


@pytest.mark.parametrize("command", ["audit", "evaluate", "submit"])
def test_a_killed_run_resumes_to_the_bytes_of_an_uninterrupted_one(command: str, folders: dict[str, Path],
                                                                    tmp_path: Path) -> None:
    args = _commands(folders)[command]
    out = tmp_path / "run"  # every run in the same folder: settings saved in files name it
    seconds = _finish(args, out)
    expected = _files(out)
    assert _statuses(out)["run.json"] == "finished" and not list(out.rglob(LOCK_FILE))
    landed = 0
    for fraction in FRACTIONS:
        shutil.rmtree(out)
        p = _start(args, out)
        try:
            p.wait(timeout=fraction * seconds)
        except subprocess.TimeoutExpired:
            p.send_signal(signal.SIGKILL)
        p.wait()
        if p.returncode == -signal.SIGKILL:
            landed += 1
            statuses = _statuses(out) if out.is_dir() else {}
            assert statuses.get("run.json") in (None, "running", "finished"), (fraction, statuses)
            if statuses.get("run.json") == "finished":  # killed after its last write (run.json), while exiting:
                got = {k: v for k, v in _files(out).items() if Path(k).name != LOCK_FILE}  # every file written
                assert sorted(got) == sorted(expected), (fraction, set(got) ^ set(expected))
                assert all(_same(name, got[name], expected[name]) for name in expected), fraction
        else:  # it ended first: then it ended well
            assert p.returncode == 0 and _statuses(out)["run.json"] == "finished"
        _finish(args, out)
        got = _files(out)
        assert sorted(got) == sorted(expected), (fraction, set(got) ^ set(expected))
        differ = [name for name in expected if not _same(name, got[name], expected[name])]
        assert not differ, (fraction, differ)
        assert _statuses(out)["run.json"] == "finished" and not list(out.rglob(LOCK_FILE))
    assert landed >= len(FRACTIONS) - 1, f"only {landed} kills landed before the run ended ({seconds:.1f} s)"
