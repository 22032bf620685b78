"""Data layer: layout and ids, format conversions, resizing, skip-bad, the decode cache."""

from __future__ import annotations

import io
import logging
from pathlib import Path

import numpy as np
import pytest
from helpers_data import DEV, TEST, gray, make_task, save, tree
from PIL import Image

from trainprint.data import decode as data_decode
from trainprint.data import read as data_read
from trainprint.data.load import load_dev, load_folder, load_test, read_folder
from trainprint.data.cache import DecodeCache, Pack, default_cache_dir
from trainprint.data.inspection import inspect_folder
from trainprint.core.errors import TrainprintError


@pytest.fixture
def count_decodes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts calls of the decoder (the data layer looks it up at call time)."""
    calls = [0]
    real = data_decode.decode_image

    def counting(data: bytes) -> data_decode.Decoded:
        calls[0] += 1
        return real(data)

    monkeypatch.setattr(data_decode, "decode_image", counting)
    return calls


# --- layout and ids ---------------------------------------------------------------------------


def test_dev_ids_sorted_per_split_and_pixels_exact(tmp_path: Path) -> None:
    root = tmp_path / "dev"
    names = {"generated": ["b", "a", "c10", "c2"], "real_used": ["u2", "u1"], "real_not_used": ["n1"]}
    arrays = {}
    for k, (split, ids) in enumerate(names.items()):
        for j, image_id in enumerate(ids):
            arrays[image_id] = gray(10 * k + j)
            save(root / split / f"{image_id}.png", arrays[image_id])
    (root / "generated" / ".DS_Store").write_bytes(b"junk")
    images, report = read_folder(root, cache_dir=False)
    assert images.source == "dev" and report.source == "dev"
    assert images.ids.tolist() == ["a", "b", "c10", "c2", "u1", "u2", "n1"]
    assert images.split.tolist() == ["generated"] * 4 + ["real_used"] * 2 + ["real_not_used"]
    assert images.pixels.shape == (7, 64, 64) and images.pixels.dtype == np.uint8
    for i, image_id in enumerate(images.ids):
        np.testing.assert_array_equal(images.pixels[i], arrays[image_id])
    assert report.counts == {"generated": 4, "real_used": 2, "real_not_used": 1}
    assert report.ignored == (str(root / "generated" / ".DS_Store"),)


def test_load_test_and_folder_detection(tmp_path: Path) -> None:
    dev = make_task(tmp_path / "dev")
    test = make_task(tmp_path / "test", TEST)
    assert load_test(test, cache_dir=False).counts() == TEST
    assert load_folder(test, cache_dir=False).source == "test"
    assert load_folder(dev, cache_dir=False).source == "dev"
    with pytest.raises(TrainprintError, match="real_used: sub-folder not found.*looks like a test folder"):
        load_dev(test, cache_dir=False)
    with pytest.raises(TrainprintError, match="real_unknown: sub-folder not found.*looks like a dev folder"):
        load_test(dev, cache_dir=False)


@pytest.mark.parametrize("pool", ["process", "thread"])
def test_pools_agree_with_serial(pool: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(data_read, "PARALLEL_MIN_FILES", 1)  # use the pool even for 7 files
    root = make_task(tmp_path / "dev")
    (root / "generated" / "generated_001.png").write_text("bad")
    serial, r1 = read_folder(root, skip_bad=True, cache_dir=tmp_path / "c1", workers=1)
    pooled, r2 = read_folder(root, skip_bad=True, cache_dir=tmp_path / "c2", workers=2, pool=pool)
    np.testing.assert_array_equal(serial.pixels, pooled.pixels)
    assert serial.ids.tolist() == pooled.ids.tolist() and r1.skipped == r2.skipped
    assert tree(tmp_path / "c1") == tree(tmp_path / "c2") and len(tree(tmp_path / "c2")) == 3


# --- formats and conversions ------------------------------------------------------------------


def _encode(pixels: np.ndarray, fmt: str, **kw: object) -> Image.Image:
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, fmt, **kw)
    return buf.getvalue()  # type: ignore[return-value]


G = gray(7)
COLOR = np.stack([gray(1), gray(2), gray(3)], axis=-1)  # (64, 64, 3), channels differ
CASES = {
    # name: (file bytes, expected pixels or None (check closeness), expected conversions, warns)
    "png gray": (_encode(G, "PNG"), G, (), False),
    "rgb equal channels": (_encode(np.stack([G] * 3, -1), "PNG"), G, (data_decode.GRAY_FROM_COLOR_EQUAL,), False),
    "rgb different channels": (
        _encode(COLOR, "PNG"),
        np.asarray(Image.fromarray(COLOR).convert("L")),
        (data_decode.GRAY_FROM_COLOR,),
        True,
    ),
    "rgba opaque": (
        _encode(np.dstack([G, G, G, np.full_like(G, 255)]), "PNG"), G, (data_decode.GRAY_FROM_COLOR_EQUAL,), False
    ),
    "rgba transparent": (
        _encode(np.dstack([G, G, G, np.full_like(G, 100)]), "PNG"),
        G,
        (data_decode.ALPHA_DROPPED, data_decode.GRAY_FROM_COLOR_EQUAL),
        True,
    ),
    "png 16-bit": (_encode(G.astype(np.uint16) * 257, "PNG"), G, (data_decode.FROM_16BIT,), False),
    "tiff 16-bit": (_encode(G.astype(np.uint16) * 257 + 100, "TIFF"), G, (data_decode.FROM_16BIT,), False),
    "tiff 8-bit": (_encode(G, "TIFF"), G, (), False),
    "bmp 8-bit": (_encode(G, "BMP"), G, (), False),
    "jpeg gray": (_encode(G, "JPEG", quality=95), None, (), False),
    "jpeg rgb of gray": (_encode(np.stack([G] * 3, -1), "JPEG", quality=95), None, None, False),
}


@pytest.mark.parametrize("name", list(CASES))
def test_format_conversions(name: str, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    blob, expected, conversions, warns = CASES[name]
    root = make_task(tmp_path / "dev")
    ext = {"PNG": "png", "TIFF": "tif", "BMP": "bmp", "JPEG": "jpg"}[Image.open(io.BytesIO(blob)).format]
    target = root / "generated" / f"generated_000.{ext}"
    (root / "generated" / "generated_000.png").unlink()
    target.write_bytes(blob)
    with caplog.at_level(logging.WARNING, logger="trainprint.data"):
        images = load_dev(root, cache_dir=False)
    got = images.pixels[list(images.ids).index("generated_000")]
    if expected is None:  # lossy JPEG: close to the original
        assert np.abs(got.astype(int) - G.astype(int)).mean() < 3
    else:
        np.testing.assert_array_equal(got, expected)
    _, report = read_folder(root, cache_dir=False)
    if conversions is not None:
        assert tuple(report.conversions) == conversions
    assert bool(report.warnings) == warns
    assert bool(caplog.records) == warns
    if warns:
        assert str(target) in caplog.records[0].getMessage()


# --- resizing and sizes -----------------------------------------------------------------------


def test_resize_to_size(tmp_path: Path) -> None:
    root = make_task(tmp_path / "dev", side=128)
    save(root / "real_used" / "real_used_000.png", gray(0, 64, 96))  # non-square
    images, report = read_folder(root, size=64, cache_dir=False)
    assert images.pixels.shape == (7, 64, 64) and images.size == 64
    assert report.conversions["resized to 64x64"] == 7
    assert any("resized 7 of 7 images to 64x64" in n for n in report.notes)
    assert any("1 non-square image stretched" in w for w in report.warnings)
    assert report.native_sizes == {"128x128": 6, "96x64": 1}


def test_size_equal_to_native_changes_nothing(tmp_path: Path) -> None:
    root = make_task(tmp_path / "dev")
    plain, _ = read_folder(root, cache_dir=False)
    sized, report = read_folder(root, size=64, cache_dir=False)
    np.testing.assert_array_equal(plain.pixels, sized.pixels)
    assert report.notes == () and report.warnings == ()


# --- skip-bad ---------------------------------------------------------------------------------


def test_skip_bad_skips_and_reports(tmp_path: Path) -> None:
    root = make_task(tmp_path / "dev")
    bad = root / "generated" / "generated_001.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    with pytest.raises(TrainprintError, match="generated_001.png"):
        load_dev(root, cache_dir=False)
    images, report = read_folder(root, skip_bad=True, cache_dir=False)
    assert "generated_001" not in images.ids and len(images) == 6
    assert [f for f, _ in report.skipped] == [str(bad)]


def test_skip_bad_cannot_empty_a_split(tmp_path: Path) -> None:
    root = make_task(tmp_path / "dev")
    for f in (root / "real_used").iterdir():
        f.write_text("nope")
    with pytest.raises(TrainprintError, match="real_used: none of its 2 files could be read"):
        load_dev(root, skip_bad=True, cache_dir=False)


def test_error_counts_other_bad_files(tmp_path: Path) -> None:
    root = make_task(tmp_path / "dev")
    for name in ("generated_000.png", "generated_001.png"):
        (root / "generated" / name).write_text("nope")
    with pytest.raises(TrainprintError, match=r"generated_000.png: .*\(1 more bad files; --skip-bad skips them\)"):
        load_dev(root, cache_dir=False)


# --- cache ------------------------------------------------------------------------------------


def test_second_load_does_not_decode(tmp_path: Path, count_decodes: list[int]) -> None:
    root = make_task(tmp_path / "dev")
    cache = tmp_path / "cache"
    first, r1 = read_folder(root, cache_dir=cache, workers=1)
    assert count_decodes[0] == 7 and r1.decoded == 7 and r1.cache_hits == 0
    assert len(tree(cache)) == 3, "one pack per split"
    second, r2 = read_folder(root, cache_dir=cache, workers=1)
    assert count_decodes[0] == 7, "a warm load must not decode"
    assert r2.cache_hits == 7 and r2.decoded == 0
    np.testing.assert_array_equal(first.pixels, second.pixels)
    assert second.ids.tolist() == first.ids.tolist() and second.split.tolist() == first.split.tolist()
    assert r2.formats == r1.formats and r2.modes == r1.modes and r2.conversions == r1.conversions


def test_cache_is_keyed_by_content(tmp_path: Path, count_decodes: list[int]) -> None:
    root = make_task(tmp_path / "dev")
    cache = tmp_path / "cache"
    load_dev(root, cache_dir=cache, workers=1)
    moved = tmp_path / "moved"
    root.rename(moved)  # new path, same bytes: still cached
    load_dev(moved, cache_dir=cache, workers=1)
    assert count_decodes[0] == 7
    save(moved / "generated" / "generated_000.png", gray(1234))  # new bytes: that split again
    images = load_dev(moved, cache_dir=cache, workers=1)
    assert count_decodes[0] == 7 + DEV["generated"]
    np.testing.assert_array_equal(images.pixels[0], gray(1234))
    load_dev(moved, size=96, cache_dir=cache, workers=1)  # another size is another pack
    assert count_decodes[0] == 14 + DEV["generated"]


def test_skip_bad_is_cached_too(tmp_path: Path, count_decodes: list[int]) -> None:
    root = make_task(tmp_path / "dev")
    (root / "real_used" / "real_used_000.png").write_text("bad")
    _, r1 = read_folder(root, skip_bad=True, cache_dir=tmp_path / "cache", workers=1)
    _, r2 = read_folder(root, skip_bad=True, cache_dir=tmp_path / "cache", workers=1)
    assert count_decodes[0] == 7 and r2.cache_hits == 6 and r2.skipped == r1.skipped
    with pytest.raises(TrainprintError, match="real_used_000.png: not an image file"):
        load_dev(root, cache_dir=tmp_path / "cache", workers=1)  # still an error without skip_bad


@pytest.mark.parametrize("damage", ["truncate", "garbage", "flip a pixel byte"])
def test_corrupt_cache_pack_is_rebuilt(damage: str, tmp_path: Path, count_decodes: list[int]) -> None:
    root = make_task(tmp_path / "dev", {"generated": 3, "real_used": 1, "real_not_used": 1})
    (root / "real_used" / "real_used_000.png").rename(root / "real_used" / "u.png")
    cache = tmp_path / "cache"
    expected = load_dev(root, cache_dir=cache, workers=1)
    packs = sorted(cache.rglob("*.tpk"), key=lambda p: p.stat().st_size)
    entry = packs[-1]  # the largest: generated/, 3 images
    blob = entry.read_bytes()
    if damage == "truncate":
        entry.write_bytes(blob[:-10])
    elif damage == "garbage":
        entry.write_bytes(b"not a cache entry")
    else:
        entry.write_bytes(blob[:-1] + bytes([blob[-1] ^ 0xFF]))
    again = load_dev(root, cache_dir=cache, workers=1)
    np.testing.assert_array_equal(again.pixels, expected.pixels)
    assert count_decodes[0] == 5 + 3, "only the damaged split is decoded again"
    assert entry.read_bytes() == blob, "the pack is rewritten"


def test_cache_off_and_default_location(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRAINPRINT_CACHE", str(tmp_path / "envcache"))
    assert default_cache_dir() == tmp_path / "envcache"
    root = make_task(tmp_path / "dev")
    load_dev(root, cache_dir=False)
    assert tree(tmp_path / "envcache") == []
    load_dev(root)
    assert len(tree(tmp_path / "envcache")) == 3


def test_failed_load_writes_no_cache_entry(tmp_path: Path) -> None:
    root = make_task(tmp_path / "dev")
    save(root / "generated" / "generated_000.png", gray(0, 96))  # sizes now differ
    with pytest.raises(TrainprintError, match="images differ in size"):
        load_dev(root, cache_dir=tmp_path / "cache")
    assert tree(tmp_path / "cache") == []


def test_unwritable_cache_is_not_fatal(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    root = make_task(tmp_path / "dev")
    blocker = tmp_path / "cache"
    blocker.write_text("a file where the cache folder should be")
    with caplog.at_level(logging.WARNING, logger="trainprint.data"):
        images = load_dev(root, cache_dir=blocker)
    assert len(images) == 7
    assert "decode cache not written" in caplog.text


def test_cache_pack_roundtrip(tmp_path: Path) -> None:
    cache = DecodeCache(tmp_path)
    item = data_decode.decode_image(_encode(COLOR, "PNG"))  # type: ignore[arg-type]
    cache.put("k", Pack(("a", "b"), (item, "not an image file")))
    back = cache.get("k", ["a", "b"])
    assert back is not None and back.items[1] == "not an image file"
    got = back.items[0]
    assert isinstance(got, data_decode.Decoded) and got.conversions == item.conversions and got.native == (64, 64)
    np.testing.assert_array_equal(got.pixels, item.pixels)
    assert cache.get("k", ["a", "c"]) is None and cache.get("other", ["a", "b"]) is None


# --- inspect and the shared benchmark ---------------------------------------------------------


def test_inspect_root_with_dev_and_test_of_different_sizes(tmp_path: Path) -> None:
    make_task(tmp_path / "d" / "dev")
    make_task(tmp_path / "d" / "test", TEST, side=96)
    report = inspect_folder(tmp_path / "d", cache_dir=False)
    assert [r.source for r in report.folders] == ["dev", "test"]
    assert len(report.problems) == 1 and "differ in image size" in report.problems[0]
    assert inspect_folder(tmp_path / "d", size=64, cache_dir=False).problems == ()


def test_reads_ctmem64(benchmark_dir, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    root = benchmark_dir("ctmem64")
    dev = load_dev(root / "dev", cache_dir=tmp_path / "cache")
    assert dev.counts() == {"generated": 500, "real_used": 80, "real_not_used": 80}
    assert dev.pixels.shape == (660, 64, 64) and dev.source == "dev"
    report = inspect_folder(root / "dev", cache_dir=tmp_path / "cache")
    assert report.folders[0].cache_hits == 660 and report.folders[0].formats == {"PNG": 660}
    assert report.all_problems == []


# --- one array, no second copy -----------------------------------------------------------------


def test_rows_as_one_views_consecutive_rows_only() -> None:
    from trainprint.data.read import rows_as_one

    a = np.arange(5 * 4 * 4, dtype=np.uint8).reshape(5, 4, 4)
    v = rows_as_one([a[1], a[2], a[3]])
    assert v is not None and np.shares_memory(v, a) and v.shape == (3, 4, 4)
    np.testing.assert_array_equal(v, a[1:4])
    assert rows_as_one([a[1], a[3]]) is None, "a gap"
    assert rows_as_one([a[2], a[1]]) is None, "another order"
    assert rows_as_one([a[0].copy(), a[1]]) is None, "rows of two arrays"
    assert rows_as_one([a[0, :, :2], a[1, :, :2]]) is None, "not contiguous"
    assert rows_as_one([]) is None


@pytest.mark.parametrize("skip", [False, True])
def test_plain_folder_pixels_are_the_decoded_rows_cold_and_warm(tmp_path: Path, skip: bool) -> None:
    """A folder's (N, S, S) pixels equal the files' decoded pixels, cold (decoded) and warm (from the
    cache's pack), writable, and (without a skipped file) the decoded rows themselves, not a copy."""
    from trainprint.data.plain import load_plain_folders

    folder = tmp_path / "real"
    folder.mkdir()
    want = {f"r{i:02d}": gray(i) for i in range(70)}  # > PARALLEL_MIN_FILES: decoded by the pool
    for name, px in want.items():
        save(folder / f"{name}.png", px)
    if skip:
        (folder / "r05.png").write_text("not an image")
        del want["r05"]
    for run in ("cold", "warm"):
        (images,) = load_plain_folders([(folder, "real_unknown", "REAL_DIR")], cache_dir=tmp_path / "cache",
                                       skip_bad=skip)
        assert images.ids.tolist() == sorted(want)
        np.testing.assert_array_equal(images.pixels, np.stack([want[i] for i in images.ids]))
        assert images.pixels.flags.writeable, run
        assert (images.pixels.base is None) == skip, run  # a gap (the skipped file): one copy
