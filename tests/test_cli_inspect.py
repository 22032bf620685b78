"""``trainprint inspect``: one test per kind of bad input (exit 2, one line naming the file or
folder, no traceback, nothing written), plus the usable cases."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
from helpers_data import DEV, TEST, gray, make_task, save, tree

from trainprint.cli.main import main


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        main(argv)
        code = 0
    except SystemExit as e:
        code = int(e.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


# Each case builds a bad folder under tmp and returns (folder, extra args, text the error must hold).
Case = Callable[[Path], tuple[Path, list[str], str]]


def _missing_folder(tmp: Path) -> tuple[Path, list[str], str]:
    return tmp / "nowhere", [], "nowhere: folder not found"


def _missing_subfolder(tmp: Path) -> tuple[Path, list[str], str]:
    root = make_task(tmp / "dev")
    shutil.rmtree(root / "real_not_used")
    return root, [], "real_not_used: sub-folder not found"


def _empty_folder(tmp: Path) -> tuple[Path, list[str], str]:
    root = make_task(tmp / "dev")
    for f in (root / "real_used").iterdir():
        f.unlink()
    return root, [], "real_used: empty folder"


def _not_an_image(tmp: Path) -> tuple[Path, list[str], str]:
    root = make_task(tmp / "dev")
    (root / "generated" / "generated_001.png").write_text("this is not a picture\n")
    return root, [], "generated_001.png: not an image file"


def _truncated(tmp: Path) -> tuple[Path, list[str], str]:
    root = make_task(tmp / "dev")
    f = root / "real_used" / "real_used_001.png"
    f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])
    return root, [], "real_used_001.png: truncated or corrupt PNG image"


def _duplicate_ids(tmp: Path) -> tuple[Path, list[str], str]:
    root = make_task(tmp / "dev")
    save(root / "generated" / "generated_000.jpg", gray(99))
    return root, [], "duplicate image id 'generated_000' (generated_000.jpg, generated_000.png)"


def _duplicate_across_splits(tmp: Path) -> tuple[Path, list[str], str]:
    root = make_task(tmp / "dev")
    save(root / "real_used" / "generated_000.png", gray(98))
    return root, [], "generated_000.png: image id 'generated_000' is also in generated/"


def _too_small(tmp: Path) -> tuple[Path, list[str], str]:
    root = make_task(tmp / "dev")
    save(root / "real_not_used" / "real_not_used_000.png", gray(0, 32))
    return root, [], "real_not_used_000.png: image is 32x32 pixels; expected at least 64 px"


def _different_sizes(tmp: Path) -> tuple[Path, list[str], str]:
    root = make_task(tmp / "dev")
    save(root / "generated" / "generated_002.png", gray(0, 128))
    return root, [], "images differ in size: 64x64 (6), 128x128 (1), e.g. " + str(
        root / "generated" / "generated_002.png"
    )


def _not_square(tmp: Path) -> tuple[Path, list[str], str]:
    root = make_task(tmp / "dev")
    save(root / "generated" / "generated_002.png", gray(0, 64, 80))
    return root, [], "generated_002.png: image is 80x64 px, not square; pass --size N"


def _unsupported_format(tmp: Path) -> tuple[Path, list[str], str]:
    root = make_task(tmp / "dev")
    save(root / "generated" / "generated_001.gif", gray(5))
    (root / "generated" / "generated_001.png").unlink()
    return root, [], "generated_001.gif: GIF images are not supported; expected a PNG, JPEG, TIFF or BMP"


def _size_too_small(tmp: Path) -> tuple[Path, list[str], str]:
    return make_task(tmp / "dev"), ["--size", "32"], "--size 32: expected a whole number of pixels >= 64"


def _not_a_task_folder(tmp: Path) -> tuple[Path, list[str], str]:
    root = make_task(tmp / "dev", {"generated": 2})
    return root, [], "not a task folder; expected a dev folder (generated/, real_used/, real_not_used/)"


BAD: dict[str, Case] = {
    "missing folder": _missing_folder,
    "missing sub-folder": _missing_subfolder,
    "empty folder": _empty_folder,
    "not an image": _not_an_image,
    "truncated image": _truncated,
    "duplicate ids": _duplicate_ids,
    "duplicate ids across splits": _duplicate_across_splits,
    "smaller than 64 px": _too_small,
    "different sizes": _different_sizes,
    "not square": _not_square,
    "unsupported format": _unsupported_format,
    "--size below 64": _size_too_small,
    "not a task folder": _not_a_task_folder,
}


@pytest.mark.parametrize("name", list(BAD))
def test_bad_input_exits_2_with_one_line(name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder, args, expected = BAD[name](tmp_path / "data")
    cache = tmp_path / "cache"
    before = tree(tmp_path / "data")
    code, out, err = run_cli(["inspect", str(folder), "--cache-dir", str(cache), *args], capsys)
    assert code == 2, (out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert expected in lines[0]
    assert "Traceback" not in err + out
    assert out == ""
    assert tree(cache) == [], "a failed load must write no cache entry"
    assert tree(tmp_path / "data") == before, "the data folder must not change"


def test_usable_dev_folder_prints_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = make_task(tmp_path / "dev")
    code, out, err = run_cli(["inspect", str(root), "--cache-dir", str(tmp_path / "cache")], capsys)
    assert code == 0, err
    for split, n in DEV.items():
        assert any(line.split() == [split, str(n)] for line in out.splitlines()), out
    assert "dev folder, 7 images, 64x64 px" in out
    assert "PNG 7" in out and "problems:    none" in out and "usable: yes" in out
    assert len(tree(tmp_path / "cache")) == 3  # one pack per split


def test_demo_style_root_with_dev_and_test(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    make_task(tmp_path / "demo" / "dev")
    make_task(tmp_path / "demo" / "test", TEST)
    code, out, err = run_cli(["inspect", str(tmp_path / "demo"), "--no-cache"], capsys)
    assert code == 0, err
    assert "dev folder, 7 images" in out and "test folder, 5 images" in out
    assert "read in" in out and ": off" in out


def test_skip_bad_lists_skipped_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = make_task(tmp_path / "dev")
    (root / "generated" / "generated_001.png").write_text("not an image")
    bad = root / "real_used" / "real_used_001.png"
    bad.write_bytes(bad.read_bytes()[:100])
    cache = tmp_path / "cache"
    code, out, err = run_cli(["inspect", str(root), "--skip-bad", "--cache-dir", str(cache)], capsys)
    assert code == 0, err
    assert "generated  " in out and "dev folder, 5 images" in out
    assert f"skipped: {root / 'generated' / 'generated_001.png'}: not an image file" in out
    assert f"skipped: {bad}: truncated or corrupt PNG image" in out
    assert len(tree(cache)) == 3


def test_resize_note_and_conversions(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = make_task(tmp_path / "dev", side=96)
    rgb = np.stack([gray(1), gray(2), gray(3)], axis=-1)  # channels differ
    save(root / "generated" / "generated_000.png", rgb)
    code, out, err = run_cli(["inspect", str(root), "--size", "64", "--no-cache"], capsys)
    assert code == 0, err
    assert "64x64 px" in out and "96x96 6" in out and "64x64 1" in out
    assert "note: " in out and "resized 6 of 7 images to 64x64 (--size 64)" in out
    assert "color with different channels -> gray (luminance): 1" in out
    assert "warning: " in out and "generated_000.png" in out


def test_subprocess_error_has_no_traceback(tmp_path: Path) -> None:
    r = subprocess.run(
        [sys.executable, "-m", "trainprint", "inspect", str(tmp_path / "missing"), "--no-cache"],
        capture_output=True, text=True, timeout=120,
    )
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == [
        f"error: {tmp_path / 'missing'}: folder not found; expected a dev folder (generated/, real_used/, "
        "real_not_used/) or a test folder (generated/, real_unknown/)"
    ]
    assert r.stdout == ""
