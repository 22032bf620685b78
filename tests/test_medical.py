"""DICOM series and NIfTI volumes, written here with pydicom and nibabel, read back to the same
pixels and ids as their PNG export; patients, windows, slicing, bad input, the audit."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pydicom")
pytest.importorskip("nibabel")

from helpers_data import gray, run_cli as run, save, tree  # noqa: E402
from helpers_eval import make_images  # noqa: E402
from helpers_medical import write_nifti, write_series  # noqa: E402

from trainprint.core.errors import TrainprintError  # noqa: E402
from trainprint.core.files import read_csv  # noqa: E402
from trainprint.data import (ImageSet, Reading, known_groups, load_dev, patients_of, read_folder,  # noqa: E402
                             use_reading)
from trainprint.data.intensity import PRESETS, Window, parse_window, to_uint8  # noqa: E402
from trainprint.data.load import read_volume_folder  # noqa: E402
from trainprint.data.plain import load_plain_folders  # noqa: E402
from trainprint.data.volume import slices_of, volume_from_slices  # noqa: E402

#: a window that maps HU = 4 p - 1024 back to p exactly (p = 0..255)
EXACT = "-514,1020"


def hu(pixels: np.ndarray) -> np.ndarray:
    return pixels.astype(np.float64) * 4 - 1024


def slices(seed: int, n: int = 4) -> np.ndarray:
    return np.stack([gray(seed * 10 + k) for k in range(n)])  # (n, 64, 64) uint8


def dicom_dev(root: Path) -> dict[str, np.ndarray]:
    """A dev folder: generated/ as PNGs, real_used/ and real_not_used/ as DICOM trees of two
    patients each (slope 1 and 2, one series written in shuffled file order). Returns id -> pixels."""
    expected: dict[str, np.ndarray] = {}
    for i in range(3):
        save(root / "generated" / f"g{i}.png", gray(100 + i))
    for split, patients in (("real_used", ("A-1", "B 2")), ("real_not_used", ("C3", "D4"))):
        for j, patient in enumerate(patients):
            px = slices(len(expected) + j)
            order = [2, 0, 3, 1] if j == 0 else None
            write_series(root / split / patient / "study" / "series", hu(px), patient=patient, series_number=j + 1,
                         slope=float(j + 1), intercept=-1024.0, order=order)
            case = f"{patient.replace(' ', '-')}_series{j + 1}"
            expected.update({f"{case}:{k:03d}": px[k] for k in range(len(px))})
    return expected


def test_dicom_tree_reads_to_the_pixels_ids_and_patients_of_its_png_export(tmp_path: Path) -> None:
    expected = dicom_dev(tmp_path / "dev")
    images, report = read_folder(tmp_path / "dev", reading=Reading(window=parse_window(EXACT)), cache_dir=False)
    real = images.where("real_used", "real_not_used")
    assert sorted(real.ids.tolist()) == sorted(expected)
    for i, image_id in enumerate(real.ids):
        assert np.array_equal(real.pixels[i], expected[image_id]), image_id
    assert real.patients is not None and set(real.patients.tolist()) == {"A-1", "B-2", "C3", "D4"}
    assert images.where("generated").patients is None  # the PNGs name no patient
    assert known_groups(images.where("generated")) is None
    groups = known_groups(real)
    assert groups is not None and len(set(groups.tolist())) == 4
    assert (groups[:4] == groups[0]).all()  # the 4 slices of A-1 are one group
    assert report.patients == 4 and report.formats == {"PNG": 3, "DICOM": 16}
    assert any("one scale for every volume" in n for n in report.notes)
    # the same images through their PNG export (ids with ':' are file names too)
    for i, image_id in enumerate(real.ids):
        save(tmp_path / "png" / str(real.split[i]) / f"{image_id}.png", real.pixels[i])
    for i in range(3):
        save(tmp_path / "png" / "generated" / f"g{i}.png", gray(100 + i))
    png = load_dev(tmp_path / "png", cache_dir=False)
    assert png.ids.tolist() == images.ids.tolist() and np.array_equal(png.pixels, images.pixels)


def test_dicom_slices_follow_their_positions_then_instance_numbers(tmp_path: Path) -> None:
    px = slices(7, 5)
    write_series(tmp_path / "pos", hu(px), patient="P", slope=1.0, intercept=-1024.0, order=[4, 1, 3, 0, 2])
    write_series(tmp_path / "inst", hu(px), patient="Q", slope=1.0, intercept=-1024.0, positions=False)
    with use_reading(Reading(window=parse_window(EXACT))):
        by_pos = load_plain_folders([(tmp_path / "pos", "real_unknown", "REAL_DIR")])[0]
        by_inst = load_plain_folders([(tmp_path / "inst", "real_unknown", "REAL_DIR")])[0]
    assert np.array_equal(by_pos.pixels, px)
    assert np.array_equal(by_inst.pixels, px[::-1])  # write_series numbers instances against the positions


def test_signed_data_and_the_folders_range(tmp_path: Path) -> None:
    """Signed 16-bit values (no intercept) are kept signed; without --window the folder's range
    sets one scale for every series: a slice of another patient keeps its relative brightness."""
    a = np.full((2, 64, 64), -1000.0)
    a[:, 16:48, 16:48] = 1000.0
    b = np.full((2, 64, 64), -1000.0)
    b[:, 16:48, 16:48] = 0.0
    write_series(tmp_path / "a", a, patient="A", bits=16, signed=True)
    write_series(tmp_path / "b", b, patient="B", bits=16, signed=True)
    images, report = read_volume_folder(tmp_path, "real_unknown", "REAL_DIR")
    assert images.pixels[0, 32, 32] == 255 and images.pixels[0, 0, 0] == 0
    assert images.pixels[2, 32, 32] == 128  # 0 HU in -1000..1000, not stretched to 255 for B alone
    assert report.modes == {"int16": 4}
    assert "the folder's range -1000..1000 -> 0..255" in report.notes[0]


def test_windows_and_presets() -> None:
    assert parse_window("lung") == PRESETS["lung"] and (PRESETS["lung"].lo, PRESETS["lung"].hi) == (-1350, 150)
    assert (PRESETS["brain"].lo, PRESETS["brain"].hi) == (0, 80)
    assert parse_window("40,80") == Window(40.0, 80.0)
    assert to_uint8(np.array([-100.0, 0.0, 40.0, 80.0, 500.0]), parse_window("brain")).tolist() == [0, 0, 128, 255, 255]
    for bad in ("", "lungs", "40", "40,0", "a,b", "1,2,3", "40,-5"):
        with pytest.raises(TrainprintError, match="--window"):
            parse_window(bad)


def test_nifti_volumes_read_to_their_slices_drop_empty_ones_and_keep_ids(tmp_path: Path) -> None:
    a, b = slices(1), slices(2, 6)
    write_nifti(tmp_path / "vols" / "case_a.nii.gz", a)
    write_nifti(tmp_path / "vols" / "sub" / "case_b.nii", np.concatenate([np.zeros((1, 64, 64), np.uint8), b]))
    images, report = read_volume_folder(tmp_path / "vols", "real_unknown", "REAL_DIR")
    assert images.ids.tolist() == [f"case_a:{k:03d}" for k in range(4)] + [f"case_b:{k:03d}" for k in range(1, 7)]
    assert np.array_equal(images.pixels, np.concatenate([a, b]))
    assert images.patients is not None and images.patients.tolist() == ["case_a"] * 4 + ["case_b"] * 6
    assert "1 empty dropped" in " ".join(report.notes) and "8-bit values used as is" in report.notes[0]
    stepped, _ = read_volume_folder(tmp_path / "vols", "real_unknown", "REAL_DIR", reading=Reading(slice_step=2))
    assert stepped.ids.tolist() == ["case_a:000", "case_a:002", "case_b:002", "case_b:004", "case_b:006"]
    assert np.array_equal(stepped.pixels[1], a[2])


def test_nifti_in_hu_is_windowed_and_sliced_along_each_axis(tmp_path: Path) -> None:
    cube = np.stack([gray(k) for k in range(64)])  # (64, 64, 64) axial slices
    write_nifti(tmp_path / "ct.nii.gz", hu(cube), dtype=np.int16)
    vol = volume_from_slices(cube)
    for axis in ("axial", "coronal", "sagittal"):
        images, _ = read_volume_folder(tmp_path, "real_unknown", "R", reading=Reading(axis=axis, window=parse_window(EXACT)))
        assert np.array_equal(images.pixels, slices_of(vol, axis)), axis
    assert np.array_equal(slices_of(vol, "axial"), cube)
    assert np.array_equal(slices_of(vol, "coronal")[5], vol[::-1, 5, ::-1].T)


def test_patients_survive_take_and_concat() -> None:
    a = ImageSet(np.array(["x:000", "x:001", "y:000"]), np.array(["real_used"] * 3), np.zeros((3, 64, 64), np.uint8),
                 "dev", np.array(["x", "x", "y"]))
    b = ImageSet(np.array(["g"]), np.array(["generated"]), np.zeros((1, 64, 64), np.uint8), "dev")
    both = ImageSet.concat(b, a)
    assert both.patients is not None and both.patients.tolist() == ["", "x", "x", "y"]
    assert both.take(np.array([2, 3])).patients.tolist() == ["x", "y"]  # type: ignore[union-attr]
    assert both.where("generated").patients is None and b.patients is None
    assert known_groups(both) is None and known_groups(a).tolist() == [0, 0, 1]  # type: ignore[union-attr]


def _bad_nifti_4d(root: Path) -> Path:
    import nibabel as nib

    (root / "real_used").mkdir(parents=True)
    nib.save(nib.Nifti1Image(np.zeros((64, 64, 4, 3), np.int16), np.eye(4)), str(root / "real_used" / "fmri.nii.gz"))
    return root / "real_used" / "fmri.nii.gz"


def _bad_not_dicom(root: Path) -> Path:
    write_series(root / "real_used" / "p", hu(slices(1)), patient="P")
    (root / "real_used" / "p" / "notes.dcm").write_text("not a dicom file\n")
    return root / "real_used" / "p" / "notes.dcm"


def _bad_mixed_sizes(root: Path) -> Path:
    write_series(root / "real_used" / "p", hu(slices(1)), patient="P", study="1.2.3")
    import pydicom

    ds = pydicom.dcmread(root / "real_used" / "p" / "IM0002.dcm")
    ds.Rows, ds.Columns = 32, 128
    ds.save_as(root / "real_used" / "p" / "IM0002.dcm")
    return root / "real_used" / "p" / "IM0002.dcm"


def _bad_png_and_dicom(root: Path) -> Path:
    write_series(root / "real_used", hu(slices(1)), patient="P")
    save(root / "real_used" / "extra.png", gray(3))
    return root / "real_used" / "extra.png"


def _bad_compressed(root: Path) -> Path:
    """A JPEG-LS series: no handler for it is installed with the medical extra (pylibjpeg is not)."""
    import pydicom
    from pydicom.encaps import encapsulate
    from pydicom.uid import JPEGLSLossless

    path = write_series(root / "real_used" / "p", hu(slices(1, 1)), patient="P")[0]
    ds = pydicom.dcmread(path)
    ds.file_meta.TransferSyntaxUID = JPEGLSLossless
    ds.PixelData = encapsulate([b"\xff\xd8\xff\xf7" + bytes(64)])
    ds.save_as(path)
    return path


@pytest.mark.parametrize("make, message", [
    (_bad_compressed, "pixel data compressed as JPEG-LS Lossless Image Compression (1.2.840.10008.1.2.4.80) and no "
                      "installed pydicom handler could decode it"),
    (_bad_nifti_4d, "4-D volume of shape 64x64x4x3; expected a 3-D volume"),
    (_bad_not_dicom, "not a DICOM file (no DICM header)"),
    (_bad_mixed_sizes, "slice is 128x32 px but IM0000.dcm of its series is 64x64"),
    (_bad_png_and_dicom, "holds both DICOM and 2-D image files"),
])
def test_bad_volumes_are_one_error_line_naming_the_file_and_write_nothing(make, message: str, tmp_path: Path,
                                                                          capsys: pytest.CaptureFixture[str]) -> None:
    dev = tmp_path / "dev"
    for split, seed in (("generated", 1), ("real_not_used", 2)):
        save(dev / split / f"{split}.png", gray(seed))
    bad = make(dev)
    out = tmp_path / "out"
    before = tree(tmp_path)
    code, stdout, err = run(capsys, "fit", "vectornet-1", dev, "--out", out, "--preset", "smoke", "--quiet")
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: "), err
    assert message in lines[0] and bad.name in lines[0] and "Traceback" not in err
    if make is _bad_compressed:
        assert "install one: pip install pylibjpeg" in lines[0]
    assert not out.exists() and tree(tmp_path) == before


def test_cli_options_set_the_reading_and_inspect_says_what_it_does(tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    write_nifti(tmp_path / "v" / "ct.nii.gz", hu(slices(3, 6)), dtype=np.int16)
    code, out, err = run(capsys, "inspect", tmp_path / "v", "--window", "lung", "--slice-step", "3")
    assert code == 0, err
    assert "intensities: window lung (C -600, W 1500: -1350..150) -> 0..255, one scale for every volume" in out
    assert "1 NIfTI volume of 1 patient, axial slices, every 3rd: 2 kept" in out
    assert "formats:     NIfTI 2   pixel modes: int16 (16-bit signed) 2" in out
    code, out, err = run(capsys, "inspect", tmp_path / "v")  # the next command starts from the defaults
    assert code == 0 and "the folder's range" in out and ": 6 kept" in out
    code, out, err = run(capsys, "inspect", tmp_path / "v", "--axis", "oblique")
    assert code == 2 and "--axis" in err and len(err.strip().splitlines()) == 1


def test_volumes_are_not_cached_by_default_and_cache_folders_are_private(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("TRAINPRINT_CACHE", raising=False)
    dicom_dev(tmp_path / "dev")
    read_folder(tmp_path / "dev", reading=Reading(window=parse_window(EXACT)))
    written = tree(tmp_path / "home")
    assert len(written) == 1 and "decoded-v" in written[0]  # the PNG split only: no pack of patient slices
    cache = tmp_path / "home" / ".cache" / "trainprint"
    assert os.stat(cache).st_mode & 0o777 == 0o700
    assert b"A-1" not in (cache / written[0].split("/", 2)[-1]).read_bytes()


def test_audit_of_volume_folders_equals_the_audit_of_their_png_export(tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    """``trainprint audit`` with GENERATED_DIR as NIfTI volumes (a 3-D generator's output), REAL_DIR
    and --reference as DICOM trees (6 and 4 patients of 4 slices, slopes 1 and 2, one series in
    shuffled file order), in HU windowed by --window: its audit.csv and audit.json equal those of
    the PNG export audited with the patients as a --groups CSV; --groups auto took the patients."""
    test, _ = make_images(12, 12, 40, seed=11, source="t", unknown=True)
    import pydicom

    ref, _ = make_images(2, 16, 2, seed=12, source="ref")
    gen = test.where("generated")
    vol = tmp_path / "vol"
    for v in range(4):
        write_nifti(tmp_path / "vol" / "gen" / f"sample{v}.nii.gz", hu(gen.pixels[10 * v: 10 * v + 10]), dtype=np.int16)
    for name, real in (("real", test.where("real_unknown")), ("ref", ref.where("real_not_used"))):
        for p in range(len(real) // 4):
            write_series(tmp_path / "vol" / name / f"p{p}" / "study" / "series", hu(real.pixels[4 * p: 4 * p + 4]),
                         patient=f"{name}{p:02d}", slope=float(1 + p % 2), intercept=-1024.0,
                         order=[3, 1, 0, 2] if p == 0 else None)
    for f in (vol / "real" / "p0").rglob("*.dcm"):  # a name and a place the outputs must not hold
        ds = pydicom.dcmread(f)
        ds.PatientName, ds.InstitutionName = "Doe^Jane", "St Example Hospital"
        ds.save_as(f)
    common = ["--method", "sim-pixel/realmax", "--device", "cpu", "--no-progress", "--no-cache", "--permutations", "50"]
    code, out, err = run(capsys, "audit", vol / "gen", vol / "real", "--reference", vol / "ref", "--out",
                         tmp_path / "run-vol", "--window", EXACT, *common)
    assert code == 0, err
    rows = {name: read_csv(tmp_path / name / "audit.csv") for name in ("run-vol",)}
    got = rows["run-vol"]
    assert len(got) == 24 and all(":" in r["id"] for r in got)
    patient = {r["id"]: r["group"] for r in got}
    assert patient["real00_series1:000"] == patient["real00_series1:003"] == "real00"
    assert len(set(patient.values())) == 6  # one group per patient, named by the files
    summary = json.loads((tmp_path / "run-vol" / "audit.json").read_text())
    assert any("patients named by the files" in n for n in summary["notes"])
    assert "This file embeds image thumbnails" in (tmp_path / "run-vol" / "audit.html").read_text()
    # no output copies a DICOM tag but the ids (PatientID, in the case names): not a UID, not a name
    tags = set()
    for f in sorted((vol / "real").rglob("*.dcm")) + sorted((vol / "ref").rglob("*.dcm")):
        ds = pydicom.dcmread(f)
        tags |= {ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID}
    tags |= {"Doe^Jane", "Doe", "St Example"}
    for f in sorted((tmp_path / "run-vol").rglob("*")):
        if f.is_file():
            data = f.read_bytes()
            assert not [t for t in tags if t.encode() in data], f
    # the PNG export: the same slices under the same ids, the patients given as a CSV
    with use_reading(Reading(window=parse_window(EXACT))):
        sets = {n: load_plain_folders([(vol / n, "real_unknown", n)])[0] for n in ("gen", "real", "ref")}
    assert np.array_equal(sets["gen"].pixels, gen.pixels)
    lines = ["id,patient"]
    for n, s in sets.items():
        for i, px in zip(s.ids, s.pixels):
            save(tmp_path / "png" / n / f"{i}.png", px)
        if n != "gen":
            lines += [f"{i},{p}" for i, p in zip(s.ids, s.patients)]  # type: ignore[arg-type]
    (tmp_path / "patients.csv").write_text("\n".join(lines) + "\n")
    png = tmp_path / "png"
    code, out, err = run(capsys, "audit", png / "gen", png / "real", "--reference", png / "ref", "--out",
                         tmp_path / "run-png", "--groups", tmp_path / "patients.csv", *common)
    assert code == 0, err
    assert read_csv(tmp_path / "run-png" / "audit.csv") == got
    expected = json.loads((tmp_path / "run-png" / "audit.json").read_text())
    for key in ("verdict", "test", "estimate", "called", "patients"):
        assert summary[key] == expected[key], key
    # per patient: the 3 patients whose slices the generator copied (the first 12 real slices) rank
    # first; the 4 reference patients cannot support a call (smallest p 1/5), which is said up front
    patients = read_csv(tmp_path / "run-vol" / "patients.csv")
    assert patients == read_csv(tmp_path / "run-png" / "patients.csv")
    assert {r["group"] for r in patients[:3]} == {"real00", "real01", "real02"}
    assert all(int(r["slices"]) == 4 for r in patients)
    assert summary["reference_allows"]["smallest_p"] == 0.2 and not summary["reference_allows"]["can_call"]


def test_groups_auto_takes_the_patients_only_when_every_image_is_named() -> None:
    from trainprint.evaluation.groups import PATIENTS, GroupRule, resolve_groups

    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 255, (4, 64, 64)).astype(np.uint8)
    ids = np.array(["a:000", "a:001", "b:000", "b:001"])
    groups, info = resolve_groups("auto", ids, pixels, GroupRule(), patients=np.array(["a", "a", "b", "b"]))
    assert groups.tolist() == ["a", "a", "b", "b"] and info["source"] == PATIENTS and info["n_groups"] == 2
    inferred, info = resolve_groups("auto", ids, pixels, GroupRule())  # 2-D files: inferred from the pixels
    assert info["source"] == "auto" and inferred is not None and len(set(inferred.tolist())) == 4
    none, _ = resolve_groups("none", ids, pixels, GroupRule(), patients=np.array(["a", "a", "b", "b"]))
    assert none is None
    images = ImageSet(ids, np.array(["real_unknown"] * 4), pixels, "", np.array(["a", "a", "", ""]))
    assert patients_of(images) is None and patients_of(images, np.array([0, 1])).tolist() == ["a", "a"]


def test_validate_takes_the_slice_ids_of_a_volume_real_unknown(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    test = tmp_path / "test"
    save(test / "generated" / "g0.png", gray(1))
    write_series(test / "real_unknown" / "P7" / "s", hu(slices(5, 3)), patient="P7", intercept=-1024.0)
    run_file = tmp_path / "run.csv"
    run_file.write_text("".join(f"P7_series1:{k:03d},{k % 2}\n" for k in range(3)))
    code, out, err = run(capsys, "validate", run_file, test, "--window", EXACT)
    assert code == 0 and out.strip() == "valid", (out, err)
    run_file.write_text("P7_series1:000,1\n")
    code, out, err = run(capsys, "validate", run_file, test, "--window", EXACT)
    assert code == 2 and "P7_series1:001" in out


def test_16_bit_2d_files_get_one_scale_per_folder_never_one_per_file(tmp_path: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    """Two slices of one scan as 16-bit PNGs, one reaching 4095 (12 bits), one only 1023 (10 bits):
    both are scaled by 4095 (the folder's), cold and from a warm cache; --window maps the stored
    values of every 16-bit file through the window."""
    from PIL import Image

    ramp = np.tile(np.linspace(0, 1, 64), (64, 1))
    bright, dim = np.rint(ramp * 4095).astype(np.uint16), np.rint(ramp * 1023).astype(np.uint16)
    dev = tmp_path / "dev"
    for split, a in (("generated", bright), ("real_used", dim), ("real_not_used", bright)):
        (dev / split).mkdir(parents=True)
        Image.fromarray(a).save(dev / split / f"{split}.png")
    expect_dim = ((dim.astype(np.int64) * 255 + 2047) // 4095).astype(np.uint8)
    assert expect_dim.max() == 64  # not 255: one scale for the folder
    for _ in range(2):  # cold, then from the cache (which keeps each file decoded alone)
        images, report = read_folder(dev, cache_dir=tmp_path / "cache")
        assert np.array_equal(images.where("real_used").pixels[0], expect_dim)
        assert images.where("generated").pixels[0].max() == 255
        assert any("one scale for the folder: 12-bit values -> 8-bit (v * 255 / 4095)" in n for n in report.notes)
    images, report = read_folder(dev, cache_dir=tmp_path / "cache", reading=Reading(window=Window(512.0, 1024.0)))
    assert np.array_equal(images.where("real_used").pixels[0], to_uint8(dim, Window(512.0, 1024.0)))
    assert images.where("generated").pixels[0].max() == 255 and images.where("generated").pixels[0][0, 20] == 255
    code, out, err = run(capsys, "inspect", dev, "--no-cache", "--window", "512,1024")
    assert code == 0, err
    assert "intensities: 3 16-bit files, one scale for the folder: window (C 512, W 1024: 0..1024) -> 0..255" in out


def test_a_commands_window_ends_with_the_command(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    from trainprint.data import current_reading

    write_nifti(tmp_path / "v" / "ct.nii.gz", hu(slices(3, 2)), dtype=np.int16)
    code, _, err = run(capsys, "inspect", tmp_path / "v", "--window", "lung", "--slice-step", "2")
    assert code == 0, err
    assert current_reading() == Reading()


def test_make_demo_writes_real_patients_as_nifti_volumes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``make-demo --format nifti``: the same slices as the PNG demo of the seed, one volume per
    patient, ids ``<case>:<slice>`` in patients.csv and the key, the patients as groups."""
    for fmt in ("png", "nifti"):
        code, _, err = run(capsys, "make-demo", tmp_path / fmt, "--preset", "smoke", "--format", fmt)
        assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "nifti" / "dev" / "real_used").iterdir())[0] == "real_used_001.nii.gz"
    pixels, rows = {}, {}
    for fmt in ("png", "nifti"):
        dev = load_dev(tmp_path / fmt / "dev", cache_dir=False)
        test = read_folder(tmp_path / fmt / "test", cache_dir=False)[0]
        rows[fmt] = read_csv(tmp_path / fmt / "patients.csv")
        by_id = {i: p for s in (dev, test) for i, p in zip(s.ids, s.pixels)}
        pixels[fmt] = {(r["patient"], r["slice"]): by_id[r["id"]] for r in rows[fmt]}
        if fmt == "nifti":
            real = dev.where("real_used", "real_not_used")
            assert real.patients is not None and known_groups(real).max() + 1 == len({r["patient"] for r in rows[fmt]
                                                                                       if r["folder"] == "dev"})
            key = (tmp_path / fmt / "test_key.csv").read_text().split()
            assert sorted(k.split(",")[0] for k in key) == sorted(test.where("real_unknown").ids.tolist())
    assert pixels["png"].keys() == pixels["nifti"].keys()
    assert all(np.array_equal(pixels["png"][k], pixels["nifti"][k]) for k in pixels["png"])
    code, _, err = run(capsys, "make-demo", tmp_path / "x", "--format", "dicom")
    assert code == 2 and "--format 'dicom': expected one of png, nifti" in err


def test_evaluate_and_submit_on_dicom_task_folders_fold_by_patient(tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    """A dev and a test folder whose real splits are DICOM trees (4 slices per patient): evaluate's
    --groups auto folds by the patients the files name and says so; submit writes run files over
    the slice ids that validate accepts."""
    dev_set, _ = make_images(12, 12, 30, seed=3)
    test_set, _ = make_images(8, 8, 30, seed=4, source="t", unknown=True)
    for root, images in ((tmp_path / "dev", dev_set), (tmp_path / "test", test_set)):
        for i, p in zip(images.where("generated").ids, images.where("generated").pixels):
            save(root / "generated" / f"{i}.png", p)
        for split in ("real_used", "real_not_used", "real_unknown"):
            real = images.where(split)
            for p in range(len(real) // 4):
                write_series(root / split / f"{split}{p}" / "series", hu(real.pixels[4 * p: 4 * p + 4]),
                             patient=f"{root.name}-{split}-{p}", slope=2.0, intercept=-1024.0)
    common = ["--device", "cpu", "--no-progress", "--window", EXACT]
    code, out, err = run(capsys, "evaluate", tmp_path / "dev", "--out", tmp_path / "eval", "--methods",
                         "sim-pixel/realmax", "--folds", "2", "--permutations", "0", *common)
    assert code == 0, err
    assert "patients named by the files" in out
    groups = read_csv(tmp_path / "eval" / "groups.csv")
    assert len(groups) == 24 and all(g["group"] == g["id"].split("_series")[0] for g in groups)
    record = json.loads((tmp_path / "eval" / "run.json").read_text())
    assert record["groups"]["source"] == "patients named by the files" and record["groups"]["n_groups"] == 6
    folds = read_csv(tmp_path / "eval" / "scores.csv")
    fold_of = {}
    for r in folds:
        if r["method"] == "sim-pixel/realmax":
            fold_of.setdefault(r["id"].split("_series")[0], set()).add(r["fold"])
    assert len(fold_of) == 6 and all(len(f) == 1 for f in fold_of.values())  # a patient never spans two folds
    code, out, err = run(capsys, "submit", tmp_path / "dev", tmp_path / "test", "--out", tmp_path / "sub",
                         "--methods", "sim-pixel/realmax,baseline/all-used", "--from", tmp_path / "eval", *common)
    assert code == 0, err
    for f in sorted((tmp_path / "sub" / "runs").iterdir()):
        lines = f.read_text().split()
        assert len(lines) == 16 and all(":" in ln for ln in lines)
        assert run(capsys, "validate", f, tmp_path / "test", "--window", EXACT) == (0, "valid\n", "")


def test_compressed_series_are_read_by_pydicoms_handlers(tmp_path: Path) -> None:
    """RLE Lossless (decoded by pydicom itself) reads back to the pixels of the uncompressed series."""
    import pydicom
    from pydicom.uid import RLELossless

    px = slices(9, 3)
    for f in write_series(tmp_path / "rle", hu(px), patient="R", slope=2.0, intercept=-1024.0, order=[1, 2, 0]):
        ds = pydicom.dcmread(f)
        ds.compress(RLELossless)
        ds.save_as(f)
    assert pydicom.dcmread(tmp_path / "rle" / "IM0000.dcm").file_meta.TransferSyntaxUID == RLELossless
    with use_reading(Reading(window=parse_window(EXACT))):
        images = load_plain_folders([(tmp_path / "rle", "real_unknown", "REAL_DIR")])[0]
    assert np.array_equal(images.pixels, px) and images.ids.tolist() == [f"R_series1:{k:03d}" for k in range(3)]
