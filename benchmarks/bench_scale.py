"""Scale benchmark: ``submit`` on 10^4 .. 10^6 generated images, streaming (docs/scale.md).

Builds a synthetic generated set on disk (no download): perturbed copies (a shift of up to 2 px,
Gaussian noise of sd 4 grey levels) of the benchmark's dev generated images, written as 64 px
PNGs; a test folder per N holds the first N of them (hard links) and the benchmark's 200 test real
images. Then, per N and per space, runs ``trainprint submit`` as a child process (streaming,
``--engine local``, decode cache off) and prints a table: wall time, generated images per second,
peak RSS of the run (``os.wait4``'s ``ru_maxrss``: the largest process of the run), and for
SSIM the two-stage candidate recall (of the exhaustive top-1 / top-10 per real image, on a sample
of real images, and of each generated image's exhaustive nearest real image on a sample of
generated images), then the exponent ``b`` of a fit ``wall = a N^b``.

    flock /tmp/trainprint-heavy.lock python benchmarks/bench_scale.py --n 10000 100000 1000000 \\
        --work /tmp/h12-scale --out /tmp/h12-scale/table.md
    python benchmarks/bench_scale.py --n 100000 --size 256 ...     # the 256 px run

Heavy: 10^6 takes tens of minutes and ~8 GB of disk under ``--work`` (delete it afterwards).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from multiprocessing import Pool
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _child import run_child  # noqa: E402

BENCH = Path(__file__).resolve().parents[2] / "shared" / "benchmarks"
SPACES = {"dae-gu": "sim-dae-gu/realmax", "ssim": "sim-ssim/realmax"}
#: stages of a streaming submit whose time grows with N (the strict CV on the dev set does not)
SCALING_STAGES = ("decode generated", "fingerprints", "methods")


def _write(args: tuple[str, int, int, int]) -> int:
    """Write generated images ``lo .. hi - 1`` of the synthetic set (child process)."""
    folder, lo, hi, seed = args
    base = np.load(Path(folder).parent / "base.npy")  # (b, 64, 64) uint8
    for i in range(lo, hi):
        if (Path(folder) / f"g{i:07d}.png").exists():  # a larger set reuses a smaller one's files
            continue
        rng = np.random.default_rng([seed, i])
        img = base[i % len(base)].astype(np.int16)
        img = np.roll(img, tuple(rng.integers(-2, 3, 2)), axis=(0, 1))
        img = np.clip(img + rng.normal(0, 4, img.shape), 0, 255).astype(np.uint8)
        Image.fromarray(img).save(Path(folder) / f"g{i:07d}.png", compress_level=1)
    return hi - lo


def build(work: Path, n_max: int, bench: str, seed: int = 0) -> Path:
    """``work/generated`` with ``n_max`` synthetic images (kept when already there)."""
    from trainprint.data import load_dev

    folder = work / "generated"
    done = work / f"generated-{n_max}.done"
    if done.exists():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    base = load_dev(BENCH / bench / "dev", cache_dir=False).where("generated").pixels
    np.save(work / "base.npy", base)
    step = 5000
    jobs = [(str(folder), lo, min(n_max, lo + step), seed) for lo in range(0, n_max, step)]
    t0 = time.perf_counter()
    with Pool(min(2, os.cpu_count() or 1)) as pool:
        for _ in pool.imap_unordered(_write, jobs):
            pass
    print(f"built {n_max} images in {time.perf_counter() - t0:.0f} s", flush=True)
    done.touch()
    return folder


def test_folder(work: Path, n: int, bench: str) -> Path:
    """``work/test-n``: the first n synthetic images (hard links) and the benchmark's test reals."""
    root = work / f"test-{n}"
    gen, real = root / "generated", root / "real_unknown"
    if not (root / ".done").exists():
        gen.mkdir(parents=True, exist_ok=True)
        real.mkdir(parents=True, exist_ok=True)
        for i in range(n):
            dst = gen / f"g{i:07d}.png"
            if not dst.exists():
                os.link(work / "generated" / f"g{i:07d}.png", dst)
        for p in sorted((BENCH / bench / "test" / "real_unknown").iterdir()):
            if not (real / p.name).exists():
                shutil.copyfile(p, real / p.name)
        (root / ".done").touch()
    return root


def run_submit(dev: Path, test: Path, out: Path, method: str, size: int | None, extra: list[str]) -> dict[str, float]:
    """One ``trainprint submit`` child: wall seconds and peak RSS (GB) from ``os.wait4``."""
    cmd = [sys.executable, "-m", "trainprint", "submit", str(dev), str(test), "--out", str(out), "--methods", method,
           "--engine", "local", "--no-cache", "--folds", "3", "--permutations", "0", "--preset", "smoke",
           "--device", "cpu", "--no-progress", *(["--size", str(size)] if size else []), *extra]
    wall, peak = run_child(cmd, out)  # a fresh run: a resumed one would skip the decoding and embedding
    run = json.loads((out / "run.json").read_text())
    return {"wall_s": wall, "peak_rss_gb": peak / 1e9, "stages": run.get("timings_s", {})}


def recall(out: Path, test: Path, size: int | None, n_real: int, n_gen: int, seed: int = 0) -> dict[str, float]:
    """Two-stage candidate recall of the run ``out``, on samples (the exhaustive SSIM of a sample):
    recall@1 / @10 of ``n_real`` real images against every generated image, nearest-real recall of
    ``n_gen`` generated images against every real image."""
    from trainprint.data.load import read_folder
    from trainprint.data.shards import ShardStore
    from trainprint.similarity.generated import GeneratedSet, SearchPlan
    from trainprint.similarity.twostage import candidate_recall

    real, _ = read_folder(test, "test", size=size, cache_dir=False, splits=("real_unknown",))
    C = real.pixels.astype(np.float32) / 255.0
    store = ShardStore(out / "generated" / "pixels")
    plan = SearchPlan("two-stage")
    rng = np.random.default_rng(seed)
    pick = np.sort(rng.choice(len(C), min(n_real, len(C)), replace=False))
    res = candidate_recall("ssim", C[pick], GeneratedSet(store, plan), plan)
    gi = np.sort(rng.choice(len(store), min(n_gen, len(store)), replace=False))
    res["nearest_real_recall"] = candidate_recall("ssim", C, store.take(gi), plan)["nearest_real_recall"]
    res.update(sample_real=float(len(pick)), sample_gen=float(len(gi)))
    return res


def recall_table(benches: list[str]) -> str:
    """Two-stage candidate recall on benchmark test folders (all generated, all real images) for a
    grid of K and K_r: the table of docs/similarity.md."""
    from trainprint.data import load_test
    from trainprint.similarity import pairwise
    from trainprint.similarity.generated import SearchPlan
    from trainprint.similarity.twostage import candidate_recall

    lines = ["| benchmark | space | K | K_r | recall of top-1 | recall of top-10 | nearest-real recall |",
             "|---|---|---|---|---|---|---|"]
    for name in benches:
        test = load_test(BENCH / name / "test", cache_dir=False)
        C = test.where("real_unknown").pixels.astype(np.float32) / 255
        G = test.where("generated").pixels.astype(np.float32) / 255
        for space in ("ssim", "ncc"):
            S = pairwise(space, C, G)
            for K, Kr in ((16, 4), (32, 8), (64, 8), (64, 16)):
                r = candidate_recall(space, C, G, SearchPlan("two-stage", K, Kr), exact=S)
                lines.append(f"| {name} | {space} | {K} | {Kr} | {r['recall@1']:.4f} | {r['recall@10']:.4f} | "
                             f"{r['nearest_real_recall']:.4f} |")
                print(lines[-1], flush=True)
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    ap.add_argument("--work", type=Path, default=Path("/tmp/trainprint-scale"))
    ap.add_argument("--bench", default="ctmem64")
    ap.add_argument("--size", type=int, default=None, help="resize every image (e.g. 256)")
    ap.add_argument("--spaces", nargs="+", default=list(SPACES), choices=list(SPACES))
    ap.add_argument("--ssim-max-n", type=int, default=None, help="run SSIM only up to this N")
    ap.add_argument("--recall-real", type=int, default=20, help="real images in the recall sample (0: no recall)")
    ap.add_argument("--recall-gen", type=int, default=2000, help="generated images in the nearest-real recall sample")
    ap.add_argument("--out", type=Path, default=None, help="also write the table (markdown) and rows (json) here")
    ap.add_argument("--recall", nargs="+", default=None, metavar="BENCH",
                    help="only the two-stage recall table on these benchmarks' test folders")
    args = ap.parse_args()
    if args.recall:
        recall_table(args.recall)
        return
    from _machine import measure_matmul_flops

    flops = measure_matmul_flops()
    args.work.mkdir(parents=True, exist_ok=True)
    build(args.work, max(args.n), args.bench)
    rows = []
    for n in sorted(args.n):
        test = test_folder(args.work, n, args.bench)
        for space in args.spaces:
            if space == "ssim" and args.ssim_max_n and n > args.ssim_max_n:
                continue
            out = args.work / f"run-{space}-{n}-{args.size or 'n'}"
            r = run_submit(BENCH / args.bench / "dev", test, out, SPACES[space], args.size, [])
            row = {"n": n, "space": space, "size": args.size or 64, **r, "img_per_s": n / r["wall_s"]}
            if space == "ssim" and args.recall_real > 0:
                row.update(recall(out, test, args.size, args.recall_real, args.recall_gen))
            rows.append(row)
            print(json.dumps(row), flush=True)
    lines = [f"matmul {flops / 1e9:.1f} GFLOP/s (1 thread: OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')})", "",
             "| space | side | N generated | wall (s) | of which N-dependent (s) | images/s (N-dep.) | peak RSS (GB) "
             "| recall@1 | recall@10 | nearest-real recall |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        r["scaling_s"] = sum(v for k, v in r["stages"].items() if k in SCALING_STAGES)
        rec = [f"{r[k]:.3f}" if k in r else "" for k in ("recall@1", "recall@10", "nearest_real_recall")]
        lines.append(f"| {r['space']} | {r['size']} | {r['n']:,} | {r['wall_s']:.0f} | {r['scaling_s']:.0f} | "
                     f"{r['n'] / r['scaling_s']:.0f} | {r['peak_rss_gb']:.2f} | {' | '.join(rec)} |")
    for space in args.spaces:
        for what, key in (("wall", "wall_s"), ("N-dependent stages", "scaling_s")):
            pts = [(r["n"], r[key]) for r in rows if r["space"] == space]
            if len(pts) >= 2:
                b = np.polyfit(np.log([p[0] for p in pts]), np.log([p[1] for p in pts]), 1)[0]
                lines.append(f"{space}: {what} ~ N^{b:.2f} (fit over N = {', '.join(f'{p[0]:,}' for p in pts)})")
    text = "\n".join(lines)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
        args.out.with_suffix(".json").write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
