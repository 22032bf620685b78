"""Scale: shard stores, streamed reading, the bounded decode cache, searching a generated set on disk
(exhaustive and two-stage), FAISS index choice, and streaming ``submit`` equal to the in-memory one."""

from __future__ import annotations

import filecmp
import os
from pathlib import Path

import numpy as np
import pytest

from helpers_data import save
from helpers_eval import make_images, write_task
from trainprint.cli.main import main
from trainprint.core.errors import TrainprintError
from trainprint.data.cache import DecodeCache
from trainprint.data.load import load_test
from trainprint.data.shards import ShardStore, ShardWriter, complete
from trainprint.data.stream import GeneratedStream, write_pixel_shards
from trainprint.extractors.registry import make_extractor
from trainprint.similarity import nearest_stats, pairwise
from trainprint.similarity import search as search_mod
from trainprint.similarity.generated import GeneratedSet, SearchPlan
from trainprint.similarity.pairs import indexed_pair_similarity, pair_similarity
from trainprint.similarity.search import faiss_available
from trainprint.similarity.twostage import candidate_recall


def _images(n: int, seed: int = 0, side: int = 64) -> np.ndarray:
    """(n, side, side) uint8: noisy copies of a few smooth blobs (near neighbours exist)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:side, :side] / side
    base = [np.clip(128 + 100 * np.sin(6 * (xx * np.cos(a) + yy * np.sin(a)) + a), 0, 255) for a in rng.uniform(0, 6, 7)]
    pick = rng.integers(0, len(base), n)
    return np.clip(np.stack([base[i] for i in pick]) + rng.normal(0, 12, (n, side, side)), 0, 255).astype(np.uint8)


def _store(root: Path, X: np.ndarray, rows: int, divisor: float | None = 255.0) -> ShardStore:
    w = ShardWriter(root, "test", X.shape[1:], str(X.dtype), divisor=divisor)
    n = -(-len(X) // rows)
    for i in range(n):
        w.write(i, X[i * rows:(i + 1) * rows], np.arange(i * rows, min(len(X), (i + 1) * rows)).astype(str))
    return w.finish(n)


# --- shard stores ---------------------------------------------------------------------------------

def test_shard_store_reads_what_was_written_as_the_raw_extractor_would(tmp_path) -> None:
    X = _images(50)
    st = _store(tmp_path / "s", X, rows=16)
    raw = make_extractor("raw").fit(X, np.array(["generated"] * 50)).transform(X)
    assert st.shape == (50, 64, 64) and st.n_shards == 4
    assert np.array_equal(st.block(0, 50), raw)  # bit for bit: X.astype(float32) / 255.0
    assert np.array_equal(st.block(10, 40), raw[10:40])
    idx = np.array([49, 0, 17, 17, 33])
    assert np.array_equal(st.take(idx), raw[idx])
    assert list(st.ids()) == [str(i) for i in range(50)]


def test_shard_writer_resumes_and_a_new_key_clears(tmp_path) -> None:
    X = np.arange(40, dtype=np.float32).reshape(10, 4)
    w = ShardWriter(tmp_path, "k1", (4,), "float32")
    w.write(0, X[:5], np.arange(5))
    assert not complete(tmp_path, "k1")
    w2 = ShardWriter(tmp_path, "k1", (4,), "float32")  # same key: shard 0 is kept
    assert w2.has(0) and not w2.has(1)
    w2.write(1, X[5:], np.arange(5, 10))
    assert np.array_equal(w2.finish(2).block(0, 10), X) and complete(tmp_path, "k1")
    w3 = ShardWriter(tmp_path, "k2", (4,), "float32")  # another key: nothing stale survives
    assert not w3.has(0) and not complete(tmp_path, "k1")
    with pytest.raises(TrainprintError, match="shard missing"):
        w3.finish(1)
    with pytest.raises(TrainprintError, match="NaN"):
        w3.write(0, np.full((2, 4), np.nan, np.float32), np.arange(2))


# --- streaming a folder ------------------------------------------------------------------------------

@pytest.fixture
def gen_folder(tmp_path) -> Path:
    X = _images(37, seed=3)
    folder = tmp_path / "test" / "generated"
    for i, x in enumerate(X):
        save(folder / f"g{i:03d}.png", x)
    save(tmp_path / "test" / "real_unknown" / "r0.png", X[0])
    return folder


def test_stream_chunks_equal_the_loaded_folder_and_the_cache_serves_a_second_pass(gen_folder, tmp_path) -> None:
    whole = load_test(gen_folder.parent, cache_dir=False).where("generated")
    cache = DecodeCache(tmp_path / "cache")
    stream = GeneratedStream(gen_folder, chunk=10, cache=cache, workers=1)
    parts = list(stream.chunks())
    assert [i for i, _, _ in parts] == [0, 1, 2, 3] and stream.report.decoded == 37
    assert np.array_equal(np.concatenate([p for _, _, p in parts]), whole.pixels)
    assert list(np.concatenate([ids for _, ids, _ in parts])) == list(whole.ids)
    again = GeneratedStream(gen_folder, chunk=10, cache=cache, workers=1)
    assert np.array_equal(np.concatenate([p for _, _, p in again.chunks()]), whole.pixels)
    assert again.report.cache_hits == 37 and again.report.decoded == 0
    store = write_pixel_shards(again, tmp_path / "px")
    assert np.array_equal(store.raw_block(0, 37), whole.pixels) and store.n_shards == 4


def test_stream_key_changes_with_the_folder_and_errors_name_the_file(gen_folder) -> None:
    key = GeneratedStream(gen_folder, chunk=10).key
    assert GeneratedStream(gen_folder, chunk=10).key == key
    assert GeneratedStream(gen_folder, chunk=11).key != key
    save(gen_folder / "g999.png", _images(1, seed=9)[0])
    assert GeneratedStream(gen_folder, chunk=10).key != key
    bad = gen_folder / "g500.png"
    bad.write_bytes(b"not an image")
    with pytest.raises(TrainprintError, match="g500.png"):
        list(GeneratedStream(gen_folder, chunk=10, workers=1).chunks())
    skipping = GeneratedStream(gen_folder, chunk=10, workers=1, skip_bad=True)
    assert sum(len(ids) for _, ids, _ in skipping.chunks()) == 38 and len(skipping.report.skipped) == 1
    save(gen_folder / "g600.png", np.zeros((64, 80), np.uint8))
    with pytest.raises(TrainprintError, match="g600.png.*not square"):
        list(GeneratedStream(gen_folder, chunk=100, workers=1, skip_bad=True).chunks())


def test_decode_cache_is_bounded_least_recently_used_first(tmp_path) -> None:
    from trainprint.data.cache import Pack
    from trainprint.data.decode import Decoded

    cache = DecodeCache(tmp_path, max_bytes=3 * 64 * 64 + 3000)  # room for about two packs
    item = Decoded(np.zeros((64, 64), np.uint8), "PNG", "L", (64, 64), ())
    for i, key in enumerate(["a", "b", "c"]):
        cache.put(key, Pack((f"id{i}",), (item,)))
        os.utime(cache.path(key), ns=(i * 10**9, i * 10**9))  # a, b, c: oldest to newest
    assert cache.get("a", ["id0"]) is not None  # a hit: a is now the most recent
    cache.put("d", Pack(("id3",), (item,)))
    left = sorted(p.stem for p in cache.dir.glob("*.tpk"))
    assert "d" in left and "a" in left and "b" not in left


# --- similarity of pairs and search over a store -------------------------------------------------------

@pytest.mark.parametrize("space", ["ssim", "ncc", "pixel", "vectornet-1"])
def test_pair_similarities_equal_the_pairwise_diagonal(space: str) -> None:
    rng = np.random.default_rng(1)
    shape = (9, 64, 64) if space != "vectornet-1" else (9, 16)
    A = rng.random(shape, dtype=np.float32)
    B = np.clip(A + 0.2 * rng.random(shape, dtype=np.float32), 0, 1).astype(np.float32)
    assert np.allclose(pair_similarity(space, A, B), np.diag(pairwise(space, A, B)), atol=2e-6)
    if space in ("ssim", "ncc"):
        ia, ib = rng.integers(0, 9, 30), rng.integers(0, 9, 30)
        assert np.array_equal(indexed_pair_similarity(space, A, ia, B, ib), pair_similarity(space, A[ia], B[ib]))


@pytest.mark.parametrize("space", ["ssim", "ncc", "pixel"])
def test_search_over_a_store_equals_the_in_memory_search(space: str, tmp_path) -> None:
    G = _images(90, seed=4)
    C = _images(12, seed=5).astype(np.float32) / 255
    st = _store(tmp_path / "g", G, rows=32)
    mem = nearest_stats(space, C, G.astype(np.float32) / 255, k=5)
    disk = nearest_stats(space, C, GeneratedSet(st, SearchPlan(block_rows=64)), k=5)
    assert np.array_equal(mem.topk_idx, disk.topk_idx) and np.array_equal(mem.nearest_real, disk.nearest_real)
    assert np.allclose(mem.topk_sim, disk.topk_sim, atol=1e-6) and np.allclose(mem.nearest_sim, disk.nearest_sim, atol=1e-6)
    if space in ("ssim", "ncc"):  # two-stage with every generated / real image a candidate = exhaustive
        full = SearchPlan("two-stage", candidates=90, real_candidates=12, block_rows=50)
        two = nearest_stats(space, C, GeneratedSet(st, full), k=5)
        assert np.array_equal(mem.topk_idx, two.topk_idx) and np.array_equal(mem.nearest_real, two.nearest_real)
        assert np.allclose(mem.topk_sim, two.topk_sim, atol=1e-5) and np.allclose(mem.nearest_sim, two.nearest_sim, atol=1e-5)
        # the defaults find these near-duplicates' exhaustive top-1 and nearest real images
        r = candidate_recall(space, C, G.astype(np.float32) / 255, SearchPlan("two-stage", candidates=16))
        assert r["recall@1"] == 1.0 and r["nearest_real_recall"] >= 0.95


@pytest.mark.parametrize("backend", ["torch", "faiss"])
def test_fingerprint_search_over_a_store_equals_numpy(backend: str, tmp_path) -> None:
    if backend == "faiss" and not faiss_available():
        pytest.skip("faiss is not installed (pip install 'trainprint[faiss]')")
    rng = np.random.default_rng(2)
    F = rng.normal(size=(300, 16)).astype(np.float32)
    C = F[:20] + 0.05 * rng.normal(size=(20, 16)).astype(np.float32)
    ref = nearest_stats("vectornet-1", C, F, k=4, backend="torch")
    got = nearest_stats("vectornet-1", C, _store(tmp_path / "f", F, rows=64, divisor=None), k=4, backend=backend)
    for a, b in zip((ref.topk_idx, ref.nearest_real), (got.topk_idx, got.nearest_real)):
        assert np.array_equal(a, b)
    assert np.array_equal(ref.topk_sim, got.topk_sim) and np.array_equal(ref.nearest_sim, got.nearest_sim)


def test_faiss_ivf_above_its_size_finds_the_neighbours(tmp_path, monkeypatch) -> None:
    if not faiss_available():
        pytest.skip("faiss is not installed (pip install 'trainprint[faiss]')")
    rng = np.random.default_rng(3)
    centres = rng.normal(size=(30, 8)).astype(np.float32) * 5
    F = (centres[rng.integers(0, 30, 3000)] + rng.normal(size=(3000, 8))).astype(np.float32)
    C = F[:25] + 0.01
    exact = nearest_stats("vectornet-1", C, F, k=5, backend="torch")
    monkeypatch.setattr(search_mod, "FAISS_IVF_MIN", 1000)
    ivf = nearest_stats("vectornet-1", C, _store(tmp_path / "f", F, rows=500, divisor=None), k=5, backend="faiss")
    hits = np.mean([len(set(a) & set(b)) / 5 for a, b in zip(exact.topk_idx, ivf.topk_idx)])
    assert hits >= 0.9  # IVF is approximate; its reported similarities are exact for what it found
    assert np.allclose(np.sort(ivf.topk_sim, 1), np.sort(
        -np.linalg.norm(C[:, None] - F[ivf.topk_idx], axis=2), 1), atol=1e-5)
    assert np.array_equal(exact.nearest_real, ivf.nearest_real)  # nearest real images: always exact


# --- streaming submit -------------------------------------------------------------------------------------

def _submit(dev: Path, test: Path, out: Path, *extra: str) -> Path:
    try:
        main(["submit", str(dev), str(test), "--out", str(out), "--methods",
              "sim-ssim/realmax,sim-ncc/threshold,sim-pixel/nn,dae-gu/real/svm-2", "--folds", "3", "--permutations",
              "5", "--device", "cpu", "--no-progress", "--preset", "smoke", "--no-cache", "--chunk", "16", *extra])
    except SystemExit as e:
        assert e.code == 0
    return out


def test_streaming_submit_writes_the_in_memory_run_files(tmp_path) -> None:
    dev, _ = make_images(n_used=8, n_not=8, n_gen=16, seed=1, source="dev")
    test, _ = make_images(n_used=5, n_not=5, n_gen=40, seed=2, source="test", unknown=True)
    write_task(tmp_path / "dev", dev)
    write_task(tmp_path / "test", test)
    mem = _submit(tmp_path / "dev", tmp_path / "test", tmp_path / "mem", "--engine", "memory")
    loc = _submit(tmp_path / "dev", tmp_path / "test", tmp_path / "loc", "--engine", "local", "--search", "exhaustive")
    two = _submit(tmp_path / "dev", tmp_path / "test", tmp_path / "two", "--engine", "local", "--search", "two-stage",
                  "--candidates", "40", "--real-candidates", "10")
    names = sorted(p.name for p in (mem / "runs").iterdir())
    assert len(names) == 4
    for out in (loc, two):
        assert sorted(p.name for p in (out / "runs").iterdir()) == names
        for n in names:
            assert filecmp.cmp(mem / "runs" / n, out / "runs" / n, shallow=False), (out.name, n)
        assert filecmp.cmp(mem / "recommended.csv", out / "recommended.csv", shallow=False)
    assert filecmp.cmp(mem / "scores_test.csv", loc / "scores_test.csv", shallow=False)  # same numbers, too
    assert (loc / "generated" / "pixels" / "manifest.json").is_file() and (loc / "generated" / "dae-gu").is_dir()
    import json

    run = json.loads((two / "run.json").read_text())
    assert run["engine"] == "local" and run["search"]["search"] == "two-stage" and run["n_generated"] == 40


def test_streaming_submit_refuses_bad_settings_in_one_line(tmp_path, capsys) -> None:
    for args, message in ((["--engine", "spark"], "--engine 'spark'"), (["--search", "fast"], "--search 'fast'"),
                          (["--candidates", "0"], "candidates=0"), (["--chunk", "0"], "--chunk 0")):
        with pytest.raises(SystemExit) as e:
            main(["submit", str(tmp_path), str(tmp_path), "--out", str(tmp_path / "o"), "--no-progress", *args])
        assert e.value.code == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0], err


@pytest.mark.slow
def test_ctmem64_run_files_are_the_same_with_two_stage_search(benchmark_dir) -> None:
    """On ctmem64 test (2,000 generated, 200 real): the label-free SSIM and NCC methods' run files
    with two-stage search at the default K equal those of the exhaustive search."""
    from trainprint.methods import MethodOptions, parse_method

    test = load_test(benchmark_dir("ctmem64") / "test", cache_dir=False)
    R = test.where("real_unknown").pixels.astype(np.float32) / 255
    G = test.where("generated").pixels.astype(np.float32) / 255
    for method in ("sim-ssim/realmax", "sim-ssim/nn", "sim-ncc/realmax"):
        spec = parse_method(method)
        answers = []
        for g in (G, GeneratedSet(G, SearchPlan("two-stage"))):
            est = spec.factory(0, "cpu", MethodOptions()).fit(R, None, g, R)
            answers.append(est.predict(R))
        assert np.array_equal(answers[0], answers[1]), method


def test_auto_engine_streams_from_its_threshold_and_searches_two_stage_then() -> None:
    from dataclasses import replace

    from trainprint.evaluation.config import EvalConfig
    from trainprint.submit.pipeline import STREAM_MIN, SubmitConfig

    cfg = SubmitConfig(test_dir="test", evaluation=EvalConfig(dev_dir="dev"))
    assert cfg.engine_for(STREAM_MIN - 1) == "memory" and cfg.engine_for(STREAM_MIN) == "local"
    assert replace(cfg, engine="ray").engine_for(10) == "ray"
    assert cfg.search_for("memory") == "exhaustive" and cfg.search_for("local") == "two-stage"
    assert replace(cfg, search="exhaustive").search_for("local") == "exhaustive"
