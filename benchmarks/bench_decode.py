"""Decode throughput of the data layer: images/s cold (no cache; serial, threads, processes) and
warm (every image from the decode cache), on synthetic CT-like PNG task folders.

    python benchmarks/bench_decode.py                      # 10,000 PNGs at 64 px and at 256 px
    python benchmarks/bench_decode.py --n 2000 --sizes 64  # quicker
    python benchmarks/bench_decode.py --folder ../shared/benchmarks/ctmem64/test

"Cold" means no decode cache; the files themselves are in the OS page cache (just written or
read once), so the figures measure decoding, not the disk. "Warm" reads every image from the
cache (best of two runs; a warm load hashes the files serially and decodes nothing). "read+hash" is the floor of a warm
run: reading every file and hashing its bytes, which a content-keyed cache cannot skip.
Throughput is also given as images/s per GFLOP/s of this machine's matmul (``_machine.py``),
so figures from different machines can be compared.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

from trainprint.data.load import read_folder


def machine_gflops() -> float:
    """Matmul GFLOP/s from ``benchmarks/_machine.py``, or a small NumPy measurement without it."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    try:
        from _machine import measure_matmul_flops  # type: ignore[import-not-found]

        return float(measure_matmul_flops()) / 1e9
    except Exception:  # noqa: BLE001 - _machine.py is written by another module's owner
        a = np.random.default_rng(0).standard_normal((1024, 1024), dtype=np.float32)
        a @ a
        t0, reps = time.perf_counter(), 10
        for _ in range(reps):
            a @ a
        return 2 * 1024**3 * reps / (time.perf_counter() - t0) / 1e9


def phantom(seed: int, side: int) -> np.ndarray:
    """A CT-like ``(side, side)`` uint8 slice: body ellipse, two lungs, spine, noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[-1 : 1 : side * 1j, -1 : 1 : side * 1j]
    sx, sy, dx = rng.uniform(0.8, 0.95), rng.uniform(0.6, 0.75), rng.uniform(0.3, 0.45)
    body = (xx / sx) ** 2 + (yy / sy) ** 2 < 1
    lungs = (((np.abs(xx) - dx) / 0.25) ** 2 + (yy / 0.45) ** 2) < 1
    spine = (xx / 0.08) ** 2 + ((yy - 0.5) / 0.08) ** 2 < 1
    img = 20 + 130 * body - 100 * lungs + 90 * spine + rng.normal(0, 8, (side, side))
    return np.clip(img, 0, 255).astype(np.uint8)


def make_folder(root: Path, n: int, side: int) -> Path:
    """A dev folder of ``n`` PNGs: 80 real_used, 80 real_not_used, the rest generated."""
    layout = {"real_used": 80, "real_not_used": 80, "generated": max(1, n - 160)}
    names = [(s, i) for s, m in layout.items() for i in range(m)]
    jobs = [(root / s / f"{s}_{i:05d}.png", seed) for seed, (s, i) in enumerate(names)]
    for s in layout:
        (root / s).mkdir(parents=True, exist_ok=True)
    with ThreadPoolExecutor(os.cpu_count()) as ex:
        list(ex.map(lambda j: Image.fromarray(phantom(j[1], side)).save(j[0]), jobs))
    return root


def read_and_hash(root: Path) -> int:
    n = 0
    for f in sorted(root.rglob("*.png")):
        hashlib.sha256(f.read_bytes()).digest()
        n += 1
    return n


def timed(fn) -> tuple[float, object]:  # type: ignore[no-untyped-def]
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def bench_folder(root: Path, label: str, workers: list[int], pools: list[str], tmp: Path) -> list[tuple]:
    rows: list[tuple] = []
    n = read_and_hash(root)  # also warms the OS page cache
    sec, _ = timed(lambda: read_and_hash(root))
    rows.append((label, "read+hash only (floor of warm)", 1, sec, n / sec))
    serial = None
    for pool in pools:
        for w in workers:
            if pool == "process" and w == 1:
                continue
            sec, (images, _) = timed(lambda: read_folder(root, None, cache_dir=False, workers=w, pool=pool))
            assert len(images) == n
            name = "cold, no cache" if w == 1 else f"cold, {pool} pool"
            rows.append((label, name, w, sec, n / sec))
            serial = serial or sec
    cache = tmp / f"cache-{label}"
    w_best = max(workers)
    sec, _ = timed(lambda: read_folder(root, None, cache_dir=cache, workers=w_best))
    rows.append((label, "cold, filling the cache", w_best, sec, n / sec))
    best = float("inf")
    for _ in range(2):  # a warm load neither decodes nor uses workers: best of two
        sec, (_, rep) = timed(lambda: read_folder(root, None, cache_dir=cache))
        assert rep.cache_hits == n and rep.decoded == 0
        best = min(best, sec)
    rows.append((label, "warm, all from cache", 1, best, n / best))
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=10_000, help="images per synthetic folder")
    p.add_argument("--sizes", type=int, nargs="+", default=[64, 256], help="image sides to generate")
    p.add_argument("--workers", type=int, nargs="+", default=None, help="worker counts (default 1, 2, cpus)")
    p.add_argument("--pools", nargs="+", default=["thread", "process"], choices=["thread", "process"])
    p.add_argument("--folder", type=Path, nargs="*", default=[], help="task folders to measure instead")
    args = p.parse_args()
    cpus = os.cpu_count() or 1
    workers = args.workers or sorted({1, 2, min(8, cpus)})
    gflops = machine_gflops()
    print(f"machine: {cpus} CPUs, matmul {gflops:.1f} GFLOP/s; workers {workers}")
    rows: list[tuple] = []
    with tempfile.TemporaryDirectory(prefix="bench_decode_") as tmp_s:
        tmp = Path(tmp_s)
        if args.folder:
            for f in args.folder:
                rows += bench_folder(f, f.name, workers, args.pools, tmp)
        for side in [] if args.folder else args.sizes:
            t0 = time.perf_counter()
            root = make_folder(tmp / f"dev{side}", args.n, side)
            print(f"generated {args.n} PNGs at {side} px in {time.perf_counter() - t0:.1f} s", flush=True)
            rows += bench_folder(root, f"{side}px", workers, args.pools, tmp)
    base = {}
    print(f"\n{'folder':<10} {'case':<32} {'workers':>7} {'seconds':>8} {'images/s':>9} "
          f"{'x serial':>8} {'img/s per GFLOP/s':>18}")
    for label, name, w, sec, rate in rows:
        if name == "cold, no cache":
            base[label] = rate
        ratio = f"{rate / base[label]:.2f}" if label in base else ""
        print(f"{label:<10} {name:<32} {w:>7} {sec:>8.2f} {rate:>9.0f} {ratio:>8} {rate / gflops:>18.1f}")


if __name__ == "__main__":
    main()
