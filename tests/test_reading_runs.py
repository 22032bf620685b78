"""How images are read is part of every run (issue 21's mends): one scale for audit's folders,
volume reads cached only where the user chose, the reading saved in config.json (a changed
--window / --slice-step / --axis never reuses a run folder), streaming refuses what it cannot scale."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pydicom")
pytest.importorskip("nibabel")

from helpers_data import gray, run_cli as run, save  # noqa: E402
from helpers_medical import write_nifti, write_series  # noqa: E402
from PIL import Image  # noqa: E402

from trainprint.core.errors import TrainprintError  # noqa: E402
from trainprint.data import Reading  # noqa: E402
from trainprint.data import medical  # noqa: E402
from trainprint.data.intensity import Window, range_window, to_uint8  # noqa: E402
from trainprint.data.plain import load_plain_folders  # noqa: E402
from trainprint.data.stream import GeneratedStream  # noqa: E402


def ramp(top: int) -> np.ndarray:
    return np.rint(np.tile(np.linspace(0, 1, 64), (64, 1)) * top).astype(np.uint16)  # (64, 64)


def hu_slices(seed: int, n: int = 3, top: float = 1000.0) -> np.ndarray:
    """(n, 64, 64) float HU from -1000 to ``top``: a seeded smooth image per slice."""
    out = []
    for k in range(n):
        g = gray(seed * 10 + k).astype(np.float64) / 255
        out.append(-1000 + g * (top + 1000))
    return np.rint(np.stack(out))


# --- one scale for audit's folders -----------------------------------------------------------------


def test_audit_folders_of_16_bit_files_share_one_scale(tmp_path: Path) -> None:
    """REAL_DIR reaches 4095 (12 bits), --reference only 1023 (10 bits): read together, the
    reference's slices are scaled by 4095 too, as two split folders of a task folder are."""
    for name, top in (("gen", 4095), ("real", 4095), ("ref", 1023)):
        (tmp_path / name).mkdir()
        Image.fromarray(ramp(top)).save(tmp_path / name / f"{name}0.png")
    gen, real, ref = load_plain_folders([(tmp_path / "gen", "generated", "GENERATED_DIR"),
                                         (tmp_path / "real", "real_unknown", "REAL_DIR"),
                                         (tmp_path / "ref", "real_not_used", "--reference")], cache_dir=False)
    expect_ref = ((ramp(1023).astype(np.int64) * 255 + 2047) // 4095).astype(np.uint8)
    assert np.array_equal(ref.pixels[0], expect_ref) and ref.pixels.max() == 64
    assert real.pixels.max() == 255 and list(gen.split) == ["generated"] and list(ref.ids) == ["ref0"]
    # each folder alone (the earlier behaviour) would have stretched the reference to 255
    (alone,) = load_plain_folders([(tmp_path / "ref", "real_not_used", "--reference")], cache_dir=False)
    assert alone.pixels.max() == 255


def test_audit_volume_folders_share_one_window(tmp_path: Path) -> None:
    """Two NIfTI folders with different HU ranges: one range window over both (not one per folder)."""
    write_nifti(tmp_path / "real" / "a.nii.gz", hu_slices(1, top=2000), dtype=np.int16)
    write_nifti(tmp_path / "ref" / "b.nii.gz", hu_slices(2, top=200), dtype=np.int16)
    real, ref = load_plain_folders([(tmp_path / "real", "real_unknown", "REAL_DIR"),
                                    (tmp_path / "ref", "real_not_used", "--reference")], cache_dir=False)
    a, b = hu_slices(1, top=2000), hu_slices(2, top=200)
    window = range_window(float(min(a.min(), b.min())), float(max(a.max(), b.max())))
    assert np.array_equal(ref.pixels[0], to_uint8(b[0], window))
    assert ref.pixels.max() < 200 and real.pixels.max() == 255
    assert list(real.patients) == ["a"] * 3 and list(ref.patients) == ["b"] * 3  # type: ignore[arg-type]


# --- the volume cache ---------------------------------------------------------------------------------


def _count_reads(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    calls: list[Path] = []
    real_read = medical.read_dicom_file

    def counting(path: Path) -> object:
        calls.append(path)
        return real_read(path)

    monkeypatch.setattr(medical, "read_dicom_file", counting)
    return calls


def test_volume_reads_are_cached_only_in_a_folder_the_user_chose(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("TRAINPRINT_CACHE", raising=False)
    for i, pid in enumerate(("PAT-A", "PAT-B")):
        write_series(tmp_path / "tree" / pid, hu_slices(i), patient=pid, slope=2.0, intercept=-1024.0)
    calls = _count_reads(monkeypatch)
    folders = [(tmp_path / "tree", "real_unknown", "REAL_DIR")]
    reading = Reading(window=Window(40.0, 400.0))

    (first,) = load_plain_folders(folders, reading=reading)
    assert len(calls) == 6 and not home.exists()  # the default cache is never used for volumes
    (again,) = load_plain_folders(folders, reading=reading)
    assert len(calls) == 12  # nothing cached: read again

    cache = tmp_path / "chosen"
    (cold,) = load_plain_folders(folders, reading=reading, cache_dir=cache)
    assert len(calls) == 18
    (warm,) = load_plain_folders(folders, reading=reading, cache_dir=cache)
    assert len(calls) == 18  # from the pack: no DICOM file parsed
    for other in (again, cold, warm):
        assert np.array_equal(other.pixels, first.pixels) and list(other.ids) == list(first.ids)
        assert list(other.patients) == list(first.patients)  # type: ignore[arg-type]
    assert stat.S_IMODE(cache.stat().st_mode) == 0o700
    # another window is another pack (a changed setting never reuses a stale read)
    (wide,) = load_plain_folders(folders, reading=Reading(window=Window(0.0, 2000.0)), cache_dir=cache)
    assert len(calls) == 24 and not np.array_equal(wide.pixels, first.pixels)
    # $TRAINPRINT_CACHE is a chosen folder too
    monkeypatch.setenv("TRAINPRINT_CACHE", str(tmp_path / "env"))
    load_plain_folders(folders, reading=reading)
    load_plain_folders(folders, reading=reading)
    assert len(calls) == 30 and any((tmp_path / "env").rglob("*.tpk"))
    # the packs hold no DICOM tag but the ids: no UID
    import pydicom

    uids = set()
    for f in sorted((tmp_path / "tree").rglob("*.dcm")):
        ds = pydicom.dcmread(f)
        uids |= {ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID}
    for pack in sorted(cache.rglob("*.tpk")):
        data = pack.read_bytes()
        assert not [u for u in uids if u.encode() in data], pack


def test_a_moved_volume_folder_keeps_its_pack_and_a_changed_file_makes_a_new_one(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_series(tmp_path / "a" / "P1", hu_slices(3), patient="P1")
    calls = _count_reads(monkeypatch)
    cache = tmp_path / "cache"
    (one,) = load_plain_folders([(tmp_path / "a", "real_unknown", "REAL_DIR")], cache_dir=cache)
    (tmp_path / "a").rename(tmp_path / "b")
    (two,) = load_plain_folders([(tmp_path / "b", "real_unknown", "REAL_DIR")], cache_dir=cache)
    assert len(calls) == 3 and np.array_equal(one.pixels, two.pixels)
    write_series(tmp_path / "b" / "P1", hu_slices(4), patient="P1", name="IM{:04d}.dcm")  # rewrites the files
    (three,) = load_plain_folders([(tmp_path / "b", "real_unknown", "REAL_DIR")], cache_dir=cache)
    assert len(calls) == 6 and not np.array_equal(three.pixels, one.pixels)


# --- the reading is a setting of the run -----------------------------------------------------------


def _audit_folders(root: Path) -> tuple[Path, Path, Path]:
    for name, seed in (("gen", 0), ("real", 1), ("ref", 2)):
        for k in range(4):
            write_nifti(root / name / f"{name}{k}.nii.gz", hu_slices(seed * 10 + k, n=2), dtype=np.int16)
    return root / "gen", root / "real", root / "ref"


def test_audit_saves_its_reading_and_refuses_to_resume_with_another(tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    gen, real, ref = _audit_folders(tmp_path)
    out = tmp_path / "run"
    common = ["--out", out, "--reference", ref, "--method", "sim-pixel/realmax", "--device", "cpu", "--no-progress",
              "--no-cache", "--permutations", "20"]
    code, _, err = run(capsys, "audit", gen, real, *common, "--window", "lung")
    assert code == 0, err
    saved = json.loads((out / "config.json").read_text())["evaluation"]["reading"]
    assert saved == {"axis": "axial", "slice_step": 1, "window": {"center": -600.0, "width": 1500.0, "name": "lung"}}
    before = sorted(p.name for p in out.iterdir())
    code, _, err = run(capsys, "audit", gen, real, *common, "--window", "mediastinum")
    assert code == 2 and err.count("\n") == 1
    assert err.startswith(f"error: --out {out}: its evaluation.reading.window.center is -600.0, this run's is 50.0")
    assert sorted(p.name for p in out.iterdir()) == before
    code, _, err = run(capsys, "audit", gen, real, *common, "--window", "lung")  # the same settings resume
    assert code == 0, err


def test_evaluate_and_fit_refuse_another_slice_step_in_their_run_folder(tmp_path: Path,
                                                                        capsys: pytest.CaptureFixture[str]) -> None:
    dev = tmp_path / "dev"
    for split, seed in (("real_used", 1), ("real_not_used", 2)):
        for k in range(6):
            write_nifti(dev / split / f"{split[:6]}{k}.nii.gz", hu_slices(seed * 10 + k, n=2), dtype=np.int16)
    for i in range(6):
        save(dev / "generated" / f"g{i}.png", gray(300 + i))
    ev = tmp_path / "ev"
    args = ["evaluate", dev, "--out", ev, "--methods", "sim-pixel/realmax", "--folds", "2", "--permutations", "0",
            "--device", "cpu", "--no-progress", "--no-cache", "--groups", "none"]
    code, _, err = run(capsys, *args)
    assert code == 0, err
    code, _, err = run(capsys, *args, "--slice-step", "2")
    assert code == 2 and "its reading.slice_step is 1, this run's is 2" in err
    fit = tmp_path / "fit"
    fargs = ["fit", "vectornet-1", dev, "--out", fit, "--device", "cpu", "--no-cache", "--preset", "smoke", "--epochs", "1"]
    code, _, err = run(capsys, *fargs)
    assert code == 0, err
    assert json.loads((fit / "config.json").read_text())["reading"]["slice_step"] == 1
    code, _, err = run(capsys, *fargs, "--slice-step", "2")
    assert code == 2 and "its reading.slice_step is 1, this run's is 2" in err


# --- streaming ----------------------------------------------------------------------------------------


def test_streaming_scales_16_bit_files_by_the_window_and_refuses_them_without_one(tmp_path: Path) -> None:
    gen = tmp_path / "generated"
    gen.mkdir()
    for i, top in enumerate((4095, 1023)):
        Image.fromarray(ramp(top)).save(gen / f"g{i}.png")
    with pytest.raises(TrainprintError, match=r"g0.png: a 16-bit image; streamed 16-bit images need --window"):
        list(GeneratedStream(gen, chunk=2, workers=1).chunks())
    window = Window(512.0, 1024.0)
    (_, ids, pixels), = list(GeneratedStream(gen, chunk=2, workers=1, window=window).chunks())
    assert list(ids) == ["g0", "g1"]
    assert np.array_equal(pixels[1], to_uint8(ramp(1023), window)) and np.array_equal(
        pixels[0], to_uint8(ramp(4095), window))
    key = GeneratedStream(gen, chunk=2, window=window).key
    assert GeneratedStream(gen, chunk=2, window=Window(500.0, 1024.0)).key != key


def test_a_volume_folder_is_not_streamed(tmp_path: Path) -> None:
    write_nifti(tmp_path / "generated" / "g.nii.gz", hu_slices(5), dtype=np.int16)
    with pytest.raises(TrainprintError, match=r"holds DICOM or NIfTI volumes, which are read whole, not streamed"):
        GeneratedStream(tmp_path / "generated")


def test_submit_reads_a_volume_generated_folder_in_memory_and_refuses_to_stream_it(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dev, test = tmp_path / "dev", tmp_path / "test"
    for j, split in enumerate(("generated", "real_used", "real_not_used")):
        for k in range(4):
            save(dev / split / f"{split}{k}.png", gray(j * 10 + k))
    for k in range(2):
        write_nifti(test / "generated" / f"g{k}.nii.gz", hu_slices(40 + k), dtype=np.int16)
        save(test / "real_unknown" / f"u{k}.png", gray(90 + k))
    args = ["submit", dev, test, "--methods", "sim-pixel/realmax", "--folds", "2", "--permutations", "0",
            "--device", "cpu", "--no-progress", "--no-cache", "--groups", "none", "--window", "lung"]
    code, _, err = run(capsys, *args, "--out", tmp_path / "local", "--engine", "local")
    assert code == 2 and err.count("\n") == 1
    assert "error: --engine local: " in err and "holds DICOM or NIfTI volumes, which are read whole" in err
    assert not (tmp_path / "local").exists()
    code, _, err = run(capsys, *args, "--out", tmp_path / "auto")
    assert code == 0, err
    assert len((tmp_path / "auto" / "runs" / "sim-pixel__realmax.csv").read_text().split()) == 2
