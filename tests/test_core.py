"""Tests of the small shared modules: ImageSet, atomic IO, run records, configs, CLI basics."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from trainprint.core import files as tio
from trainprint.core.config import get_preset, override
from trainprint.core.errors import TrainprintError
from trainprint.extractors import EXTRACTORS, make_extractor
from trainprint.extractors.base import check_images
from trainprint.data.imageset import ImageSet, labels_of
from trainprint.core.runs import RunRecord


def _set(n: int = 4) -> ImageSet:
    split = np.array(["generated", "real_used", "real_not_used", "real_used"][:n])
    return ImageSet(np.array([f"i{k}" for k in range(n)]), split, np.zeros((n, 64, 64), np.uint8), "dev")


def test_imageset_subsets_and_labels():
    s = _set()
    assert len(s) == 4 and s.size == 64
    assert s.where("real_used").ids.tolist() == ["i1", "i3"]
    assert s.counts() == {"generated": 1, "real_not_used": 1, "real_used": 2}
    assert labels_of(s.split).tolist() == [-1, 1, 0, 1]
    both = ImageSet.concat(s, s.take(np.array([0])))
    assert len(both) == 5 and both.ids.dtype.kind == "U"


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"split": np.array(["generated", "oops"])}, "unknown split"),
        ({"pixels": np.zeros((2, 64, 64), np.float32)}, "uint8"),
        ({"pixels": np.zeros((3, 64, 64), np.uint8)}, "(N, H, W)"),
    ],
)
def test_imageset_rejects_bad_arrays(kwargs, message):
    base = dict(ids=np.array(["a", "b"]), split=np.array(["generated", "generated"]),
                pixels=np.zeros((2, 64, 64), np.uint8))
    base.update(kwargs)
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        ImageSet(**base)


def test_atomic_write_leaves_old_file_on_failure(tmp_path: Path):
    target = tmp_path / "out.txt"
    tio.write_text(target, "old")
    with pytest.raises(RuntimeError):
        with tio.atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("interrupted")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_the_same_torch_state_gives_the_same_bytes(tmp_path: Path):
    """Issue 24: a resumed run must write the same bytes; torch.save to a path would name the
    archive's records after the random temporary file."""
    import torch

    from trainprint.core.torchstate import load_state, save_state

    state = {"model": {"w": torch.arange(6.0).reshape(2, 3)}, "epoch": 3}
    a = save_state(tmp_path / "a.pt", state, "fmt-1").read_bytes()
    b = save_state(tmp_path / "sub" / "b.pt", state, "fmt-1").read_bytes()
    assert a == b
    assert torch.equal(load_state(tmp_path / "a.pt", "fmt-1", "state file")["model"]["w"], state["model"]["w"])
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == ["a.pt", "b.pt"]


def test_npz_roundtrip_without_pickle(tmp_path: Path):
    path = tio.save_npz(tmp_path / "f.npz", ids=np.array(["a", "b"]), X=np.eye(2, dtype=np.float32))
    back = tio.load_npz(path)
    assert back["ids"].tolist() == ["a", "b"] and back["X"].dtype == np.float32
    with pytest.raises(TypeError, match="object"):
        tio.save_npz(tmp_path / "g.npz", ids=np.array(["a", None], dtype=object))


def test_csv_roundtrip(tmp_path: Path):
    tio.write_csv(tmp_path / "r.csv", [{"a": 1, "b": 0.123456789}], ["a", "b"])
    assert tio.read_csv(tmp_path / "r.csv") == [{"a": "1", "b": "0.123457"}]


def test_run_record_accumulates_stage_times(tmp_path: Path):
    rec = RunRecord(tmp_path, command="test", config={"x": 1}, seed=3)
    with rec.stage("load"):
        pass
    rec.finish(results={"ok": True})
    data = json.loads((tmp_path / "run.json").read_text())
    assert data["seed"] == 3 and data["status"] == "finished" and "load" in data["timings_s"]
    assert data["versions"]["torch"] and data["config"] == {"x": 1}
    again = RunRecord(tmp_path, command="test", config={"x": 1}, seed=3)
    assert again.data["resumed"] is True and "load" in again.data["timings_s"]


def test_run_record_peak_memory_per_stage(tmp_path: Path):
    """Each stage records the process's peak RSS when it ended: it never falls, and a stage that
    touches 64 MiB more than the process ever held raises it by about that much."""
    import resource
    import sys

    rec = RunRecord(tmp_path, command="test", config={}, seed=0)
    with rec.stage("small"):
        pass
    before = rec.data["peak_rss_mib"]["small"]
    unit = 2**20 if sys.platform == "darwin" else 2**10
    assert abs(before - resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / unit) < 1.0
    with rec.stage("big"):
        big = np.ones(int(before * 2**20) // 8 + 2**23)  # more than the peak so far, + 64 MiB, touched
        del big
    rec.finish()
    data = json.loads((tmp_path / "run.json").read_text())
    assert data["peak_rss_mib"]["big"] >= data["peak_rss_mib"]["small"] + 60


@dataclasses.dataclass(frozen=True)
class _Cfg:
    epochs: int = 3  # number of epochs
    lr: float = 1e-3  # learning rate


def test_override_and_presets():
    cfg = override(_Cfg(), epochs=5, lr=None)
    assert cfg == _Cfg(epochs=5)
    assert override(_Cfg(), lr=1).lr == 1
    with pytest.raises(TrainprintError, match="unknown setting 'epoch'"):
        override(_Cfg(), epoch=5)
    with pytest.raises(TrainprintError, match="expected int"):
        override(_Cfg(), epochs="5")
    with pytest.raises(TrainprintError, match="unknown preset 'quick'"):
        get_preset({"fast": _Cfg()}, "quick", "vectornet")


def test_check_images_and_registry():
    with pytest.raises(TrainprintError, match="at least 64 px"):
        check_images(np.zeros((2, 32, 32), np.uint8))
    with pytest.raises(TrainprintError, match="uint8"):
        check_images(np.zeros((2, 64, 64), np.float64))
    with pytest.raises(TrainprintError, match="unknown extractor 'vgg'"):
        make_extractor("vgg")
    assert {"vectornet-12", "dae-gunu", "raw"} <= set(EXTRACTORS)
    raw = make_extractor("raw").fit(np.full((2, 64, 64), 255, np.uint8), np.array(["generated"] * 2))
    assert raw.transform(np.full((1, 64, 64), 255, np.uint8)).max() == 1.0
    with pytest.raises(TrainprintError, match="fitted on 64 px"):
        raw.transform(np.zeros((1, 128, 128), np.uint8))


def test_cli_version_and_usage_errors():
    ok = subprocess.run([sys.executable, "-m", "trainprint", "--version"], capture_output=True, text=True)
    assert ok.returncode == 0 and ok.stdout.strip().startswith("trainprint ")
    bad = subprocess.run([sys.executable, "-m", "trainprint", "no-such-command"], capture_output=True, text=True)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr


def test_release_free_memory_asks_glibc_and_only_glibc() -> None:
    import platform

    from trainprint.core.memory import release_free_memory

    arrays = [np.ones(8192) for _ in range(200)]  # small blocks on the C heap, then freed
    del arrays
    glibc = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"
    assert release_free_memory() is glibc
