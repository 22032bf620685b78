"""Faults (issue 24): a disk that refuses a write (full, failing, a file size limit, a small tmpfs)
and damaged caches (decode packs, fingerprint files, shards), each flipped byte by byte."""

from __future__ import annotations

import errno
import logging
import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from helpers_data import make_task, tree
from helpers_eval import SpyExtractor, make_images, register_spies, write_task
from trainprint.cli.main import main
from trainprint.core import files
from trainprint.core.files import DiskWriteError, read_json
from trainprint.core.lock import LOCK_FILE
from trainprint.data import cache as cache_module
from trainprint.data.load import read_folder
from trainprint.data.shards import complete
from trainprint.data.stream import GeneratedStream, write_pixel_shards
from trainprint.evaluation.fingerprint_cache import fingerprints

SRC = Path(__file__).resolve().parents[1] / "src"


@pytest.fixture(scope="module")
def task(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A task test folder: 40 generated, 10 real_unknown images (64 px)."""
    root = tmp_path_factory.mktemp("faults")
    test, _ = make_images(n_used=5, n_not=5, n_gen=40, seed=2, source="t", unknown=True)
    return write_task(root / "test", test)


def _audit_args(task: Path, out: Path) -> list[str]:
    return ["audit", str(task / "generated"), str(task / "real_unknown"), "--method", "sim-pixel/realmax",
            "--out", str(out), "--no-progress", "--no-cache"]


def _error_line(stderr: str) -> str:
    """The one ``error:`` line of a failed command's stderr, its last line; the others may only be
    the stage lines a command logs when not on a terminal (``trainprint: audit: scores started``)."""
    lines = stderr.strip().splitlines()
    assert "Traceback" not in stderr and lines and lines[-1].startswith("error: "), stderr
    assert all(ln.startswith("trainprint: ") for ln in lines[:-1]), stderr
    return lines[-1]


def _no_temporary_files(out: Path) -> None:
    assert not [p for p in tree(out) if p.endswith(".tmp")], tree(out)
    assert not (out / LOCK_FILE).exists()


# ------------------------------------------------------------------------------------ a full disk
@pytest.mark.parametrize("code, name", [(errno.ENOSPC, "audit.csv"), (errno.EIO, "audit.json"),
                                        (errno.ENOSPC, "audit_images.npz"), (errno.EDQUOT, "config.json")])
def test_a_refused_write_stops_the_run_with_one_line(code: int, name: str, task: Path, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    """The error is injected where the bytes reach the disk: half the file is written, then the
    write fails (``Path.write_bytes`` for text files, the file object for ``np.savez``)."""
    out = tmp_path / "run"
    real_write_bytes, real_open = Path.write_bytes, open

    def fail(path: Path) -> bool:
        return path.name.startswith(f".{name}.") and path.parent == out

    def write_bytes(self: Path, data: bytes) -> int:
        if fail(self):
            real_write_bytes(self, data[: len(data) // 2])
            raise OSError(code, os.strerror(code))
        return real_write_bytes(self, data)

    class Refusing:
        def __init__(self, f) -> None:
            self.f = f

        def write(self, data) -> int:
            raise OSError(code, os.strerror(code))

        def __getattr__(self, attr: str):  # noqa: ANN204 - a stand-in for the file object
            return getattr(self.f, attr)

        def __enter__(self):  # noqa: ANN204
            return self

        def __exit__(self, *exc: object) -> None:
            self.f.close()

    def open_(file, mode="r", *args, **kwargs):  # noqa: ANN001, ANN202
        f = real_open(file, mode, *args, **kwargs)
        return Refusing(f) if "w" in mode and isinstance(file, Path) and fail(file) else f

    monkeypatch.setattr(Path, "write_bytes", write_bytes)
    monkeypatch.setattr(files, "open", open_, raising=False)
    with pytest.raises(SystemExit) as e:
        main(_audit_args(task, out))
    err = _error_line(capsys.readouterr().err)
    assert e.value.code == 2
    assert err.startswith(f"error: {out / name}: cannot write it ({os.strerror(code)})"), err
    assert "it needed at least " in err and "bytes" in err
    assert int(err.split("at least ")[1].split()[0]) > 0
    run = read_json(out / "run.json")
    assert run["status"] == "failed" and name in run["error"]
    assert not (out / name).exists()
    _no_temporary_files(out)


def test_atomic_write_keeps_the_old_file_when_the_disk_is_full(tmp_path: Path, monkeypatch) -> None:
    path = files.write_text(tmp_path / "a.txt", "old")

    def full(self: Path, data: bytes) -> int:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(Path, "write_bytes", full)
    with pytest.raises(DiskWriteError, match=r"a.txt: cannot write it \(No space left on device\): it needed at "
                                             r"least 5 bytes, \d+ bytes free there"):
        files.write_text(path, "new!!")
    assert path.read_text() == "old" and tree(tmp_path) == ["a.txt"]


def _limited(limit: int):  # noqa: ANN202
    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit then fails with EFBIG
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply


def test_a_file_size_limit_from_the_kernel_stops_the_run_with_one_line(task: Path, tmp_path: Path) -> None:
    """The kernel refuses the write (RLIMIT_FSIZE: EFBIG) in a real ``trainprint audit`` process."""
    out = tmp_path / "run"
    r = subprocess.run([sys.executable, "-m", "trainprint", *_audit_args(task, out)], capture_output=True, text=True,
                       env={**os.environ, "PYTHONPATH": str(SRC)}, preexec_fn=_limited(32_000), timeout=300)
    err = _error_line(r.stderr)
    assert r.returncode == 2, r.stderr
    assert err.startswith(f"error: {out}/") and "(File too large): it needed at least" in err
    bad = Path(err.split()[1].rstrip(":"))
    assert not bad.exists() and read_json(out / "run.json")["status"] == "failed"
    _no_temporary_files(out)


def test_a_full_tmpfs_stops_the_run_with_one_line(task: Path, tmp_path: Path) -> None:
    """A real full disk: a 96 KiB tmpfs (needs root and mount; skipped where not permitted)."""
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=96k", "tmpfs", str(mnt)], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.strip() or r.returncode}")
    try:
        out = mnt / "run"
        r = subprocess.run([sys.executable, "-m", "trainprint", *_audit_args(task, out)], capture_output=True,
                           text=True, env={**os.environ, "PYTHONPATH": str(SRC)}, timeout=300)
        err = _error_line(r.stderr)
        assert r.returncode == 2, r.stderr
        assert err.startswith(f"error: {out}/") and "(No space left on device): it needed at least" in err
        bad = Path(err.split()[1].rstrip(":"))
        assert not bad.exists()
        assert read_json(out / "run.json")["status"] == "failed"  # rewritten in place: no new space needed
        _no_temporary_files(out)
    finally:
        subprocess.run(["umount", str(mnt)], check=True)


def test_a_full_disk_under_the_decode_cache_is_a_warning_and_the_run_goes_on(tmp_path: Path, monkeypatch,
                                                                             caplog) -> None:
    """The decode cache is an optimisation: a pack the disk refuses is named on one warning line,
    the images are used as decoded, and no pack or temporary file is left (the next run decodes)."""
    root = make_task(tmp_path / "task", {"generated": 3, "real_used": 2, "real_not_used": 2})
    want, _ = read_folder(root, cache_dir=False, workers=1)
    real_open = open

    class Full:
        def __init__(self, f) -> None:
            self.f = f

        def write(self, data) -> int:
            self.f.write(bytes(data)[:10])
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        def __enter__(self):  # noqa: ANN204
            return self

        def __exit__(self, *exc: object) -> None:
            self.f.close()

    def open_(file, mode="r", *args, **kwargs):  # noqa: ANN001, ANN202
        f = real_open(file, mode, *args, **kwargs)
        return Full(f) if "w" in mode else f

    monkeypatch.setattr(cache_module, "open", open_, raising=False)
    cache = tmp_path / "cache"
    with caplog.at_level(logging.WARNING, logger="trainprint.data"):
        got, report = read_folder(root, cache_dir=cache, workers=1)
    assert np.array_equal(got.pixels, want.pixels) and list(got.ids) == list(want.ids)
    lines = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(lines) == 1 and "decode cache not written (3 packs)" in lines[0], lines
    assert "No space left on device" in lines[0] and "it needed at least" in lines[0], lines
    assert tree(cache) == [], tree(cache)
    monkeypatch.undo()
    _, report = read_folder(root, cache_dir=cache, workers=1)
    assert report.decoded == len(want) and len(tree(cache)) == 3


# --------------------------------------------------------------------------------- damaged caches
def _flips(path: Path, count: int) -> list[int]:
    """``count`` byte offsets spread over the file ``path`` (first and last included)."""
    size = path.stat().st_size
    return sorted({int(round(x)) for x in np.linspace(0, size - 1, count)})


def _flip(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x5A
    path.write_bytes(bytes(data))


def _warnings(caplog: pytest.LogCaptureFixture, logger: str) -> list[str]:
    lines = [r.getMessage() for r in caplog.records if r.name == logger and r.levelno == logging.WARNING]
    assert all("\n" not in line for line in lines)
    return lines


def test_a_damaged_decode_pack_is_dropped_and_the_images_decoded_again(tmp_path: Path, caplog) -> None:
    root = make_task(tmp_path / "task", {"generated": 3, "real_used": 2, "real_not_used": 2})
    cache = tmp_path / "cache"
    want, _ = read_folder(root, cache_dir=cache, workers=1)
    pack = sorted((cache / "decoded-v2").glob("*.tpk"), key=lambda p: p.stat().st_size)[-1]
    good = pack.read_bytes()
    for offset in _flips(pack, 40):
        pack.write_bytes(good)
        _flip(pack, offset)
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="trainprint.data.cache"):
            got, report = read_folder(root, cache_dir=cache, workers=1)
        assert np.array_equal(got.pixels, want.pixels) and list(got.ids) == list(want.ids), offset
        assert report.decoded > 0, offset  # the damaged split was decoded again
        lines = _warnings(caplog, "trainprint.data.cache")
        assert len(lines) == 1 and str(pack) in lines[0] and "damaged" in lines[0], (offset, lines)
        assert pack.read_bytes() == good, offset  # rebuilt as it was
        again, report = read_folder(root, cache_dir=cache, workers=1)
        assert report.decoded == 0 and np.array_equal(again.pixels, want.pixels)


def test_a_damaged_fingerprint_file_is_dropped_and_computed_again(tmp_path: Path, monkeypatch, caplog) -> None:
    images, _ = make_images()
    register_spies(monkeypatch, images)
    params = dict(preset="smoke", epochs=None, device="cpu", random_state=0, progress=False)
    cache = tmp_path / "fingerprints" / "fold-0" / "spy.npz"
    want = fingerprints("spy", images, images.pixels, images.split, cache, **params)
    good = cache.read_bytes()
    for offset in _flips(cache, 40):
        cache.write_bytes(good)
        _flip(cache, offset)
        fits = len(SpyExtractor.calls)
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="trainprint.evaluation.fingerprint_cache"):
            got = fingerprints("spy", images, images.pixels, images.split, cache, **params)
        assert np.array_equal(got, want), offset
        lines = _warnings(caplog, "trainprint.evaluation.fingerprint_cache")
        if len(SpyExtractor.calls) == fits:  # a flip numpy's reader ignores (zip padding): the file still checks
            assert not lines and np.array_equal(files.load_npz(cache)["X"], want), offset
            continue
        assert len(lines) == 1 and str(cache) in lines[0] and "damaged" in lines[0], (offset, lines)
        assert cache.read_bytes() == good, offset  # written again as it was
    refits = len(SpyExtractor.calls) - 1
    assert refits >= 30, f"only {refits} of 40 flips were noticed"


def test_damaged_shards_are_dropped_and_written_again(tmp_path: Path, caplog) -> None:
    images, _ = make_images(n_used=1, n_not=1, n_gen=30, seed=4, source="g")
    folder = write_task(tmp_path / "test", images) / "generated"
    root = tmp_path / "px"
    stream = GeneratedStream(folder, chunk=8, workers=1)
    want = write_pixel_shards(stream, root)
    pixels, ids = want.raw_block(0, len(want)), want.ids()
    key = f"pixels:{stream.key}"
    names = [n for n in tree(root) if n.startswith("part-")]
    assert len(names) == 3 * want.n_shards  # rows, ids, checksums
    for name in names:
        good = (root / name).read_bytes()
        for offset in _flips(root / name, 6):
            _flip(root / name, offset)
            caplog.clear()
            with caplog.at_level(logging.WARNING, logger="trainprint.data.shards"):
                assert not complete(root, key), (name, offset)
                got = write_pixel_shards(GeneratedStream(folder, chunk=8, workers=1), root)
            assert np.array_equal(got.raw_block(0, len(got)), pixels) and list(got.ids()) == list(ids)
            lines = _warnings(caplog, "trainprint.data.shards")
            assert len(lines) == 1 and ("damaged" in lines[0] or "disagrees" in lines[0]), (name, offset, lines)
            assert (root / name).read_bytes() == good and complete(root, key)
