"""Throughput of the pairwise similarities: pairs/s, fraction of this machine's matmul peak, ratio to
a per-pair reference (scikit-image for SSIM), on 1 and 2 threads, side by side in one run.

    python benchmarks/bench_similarity.py --spaces ssim --sides 64 256 --threads 1 2
    python benchmarks/bench_similarity.py --spaces pixel ncc --sides 256 --n-gen 10000
    python benchmarks/bench_similarity.py --spaces ssim --given-pairs 4000   # also the two-stage exact stage

Real and generated images are made (seeded, smooth random textures). For every thread count the
matmul FLOP/s of this machine is measured first (``_machine.measure_matmul_flops``, float32, the
same threads), then every space and side is timed on ``--n-real`` x ``--n-gen`` pairs
(``pairwise``, a chunk of ``--chunk`` generated images at a time).

How the work is counted (the "of peak" column):
- pixel, ncc: 2 H W flops per pair (the one matrix product of the flattened images);
- ssim: 2 (s^2 + 2) flops per pair and window position (s = 11; every position of the full map,
  (H - 10)(W - 10) of them): the batched matrix product that gives each pair's 2 cov + C2 as a
  dot product of the two images' weighted windows (``similarity/ssim.py``). The per-image moments
  and the element-wise rest of the formula are not counted: they are overhead against this peak.

The per-pair reference: scikit-image's ``structural_similarity(a, b, gaussian_weights=True,
sigma=1.5, use_sample_covariance=False, data_range=1)`` for SSIM (float64, as scikit-image computes)
and a NumPy formula per pair for pixel / NCC, timed on ``--loop-pairs`` pairs on the same threads.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import measure_matmul_flops  # noqa: E402

from trainprint.similarity.matrix import pairwise  # noqa: E402
from trainprint.similarity.ssim import SSIMWindow  # noqa: E402


def images(n: int, side: int, seed: int) -> np.ndarray:
    """(n, side, side) float32 in [0, 1]: smooth random textures (blurred noise)."""
    rng = np.random.default_rng(seed)
    x = rng.random((n, side // 8, side // 8)).astype(np.float32)
    x = np.repeat(np.repeat(x, 8, 1), 8, 2)
    return np.clip(x + 0.1 * rng.standard_normal(x.shape).astype(np.float32), 0, 1)


def reference_pair(space: str, a: np.ndarray, b: np.ndarray, win: SSIMWindow) -> float:
    """One pair's similarity the usual way (scikit-image for SSIM at stride 1)."""
    if space == "pixel":
        return -float(np.sqrt(np.mean((a - b) ** 2)))
    if space == "ncc":
        ac, bc = a - a.mean(), b - b.mean()
        return float((ac * bc).sum() / np.sqrt((ac * ac).sum() * (bc * bc).sum()))
    from skimage.metrics import structural_similarity

    return float(structural_similarity(a.astype(np.float64), b.astype(np.float64), gaussian_weights=True,
                                       sigma=1.5, use_sample_covariance=False, data_range=1.0))


def work_per_pair(space: str, side: int, win: SSIMWindow) -> float:
    """Flops counted per pair (see the module docstring)."""
    if space != "ssim":
        return 2.0 * side * side
    lh, lw = win.positions(side, side)
    return 2.0 * (win.size**2 + 2) * lh * lw


def given_pairs(space: str, R: np.ndarray, side: int, n_pairs: int, win: SSIMWindow, device: str, threads: int,
                peak: float, ref_rate: float) -> tuple:
    """The exact stage of two-stage search: ``n_pairs`` given (real, generated) pairs, as it meets
    them (each generated image with its 4 real candidates), timed through ``Space.indexed_pairs``.
    Its work is not a matrix product: the "of peak" column is left empty (NaN)."""
    import torch

    from trainprint.similarity.spaces import space_of

    G = images(max(1, n_pairs // 4), side, seed=7)
    rng = np.random.default_rng(0)
    ia = rng.integers(0, len(R), len(G) * 4)
    ib = np.repeat(np.arange(len(G)), 4)
    sp = space_of(space)
    sp.indexed_pairs(R, ia[:8], G, ib[:8], device=torch.device(device), ssim_window=win)  # warm-up
    t0 = time.perf_counter()
    sp.indexed_pairs(R, ia, G, ib, device=torch.device(device), ssim_window=win)
    t = time.perf_counter() - t0
    rate = len(ia) / t
    print(f"  {space:5s} {side:4d} px, given pairs: {len(ia):,} in {t:.1f} s = {rate:,.0f} pairs/s", flush=True)
    return (f"{space} (given pairs)", side, threads, len(ia), t, rate, peak, float("nan"), ref_rate)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-real", type=int, default=200)
    ap.add_argument("--n-gen", type=int, default=None,
                    help="generated images (default: 10,000 for pixel / ncc; for ssim 1,000 at 64 px, 300 from 128 px)")
    ap.add_argument("--sides", type=int, nargs="+", default=[64, 256])
    ap.add_argument("--chunk", type=int, default=1000, help="generated images made and scored at once")
    ap.add_argument("--spaces", nargs="+", default=["pixel", "ncc", "ssim"])
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--loop-pairs", type=int, default=20, help="pairs timed with the per-pair reference")
    ap.add_argument("--ssim-stride", type=int, default=1, help="SSIM map sampling step (1: the full map, the default)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--given-pairs", type=int, default=0,
                    help="also time this many given pairs (the exact stage of two-stage search; 0: not)")
    args = ap.parse_args()
    import torch

    win = SSIMWindow(stride=args.ssim_stride)
    rows = []
    for threads in args.threads:
        torch.set_num_threads(threads)
        peak = measure_matmul_flops()
        print(f"threads {threads}: matmul {peak / 1e9:.1f} GFLOP/s (float32, measured now)", flush=True)
        for side in args.sides:
            R = images(args.n_real, side, seed=0)
            for space in args.spaces:
                n_gen = args.n_gen or (10_000 if space != "ssim" else (1000 if side <= 64 else 300))
                pairwise(space, R, images(8, side, seed=98), device=args.device, ssim_window=win)  # warm-up
                t = 0.0
                for start in range(0, n_gen, args.chunk):
                    G = images(min(args.chunk, n_gen - start), side, seed=1 + start)
                    t0 = time.perf_counter()
                    pairwise(space, R, G, device=args.device, ssim_window=win)
                    t += time.perf_counter() - t0
                pairs = args.n_real * n_gen
                G = images(args.loop_pairs, side, seed=99)
                reference_pair(space, R[0], G[0], win)  # warm-up (imports)
                t0 = time.perf_counter()
                for j in range(args.loop_pairs):
                    reference_pair(space, R[j % len(R)], G[j], win)
                ref_rate = args.loop_pairs / (time.perf_counter() - t0)
                rate = pairs / t
                frac = work_per_pair(space, side, win) * rate / peak
                rows.append((space, side, threads, pairs, t, rate, peak, frac, ref_rate))
                print(f"  {space:5s} {side:4d} px: {pairs:,} pairs in {t:.1f} s = {rate:,.0f} pairs/s, "
                      f"{frac:.0%} of peak; reference {ref_rate:,.0f} pairs/s (x{rate / ref_rate:,.0f})", flush=True)
                if args.given_pairs and space in ("ssim", "ncc"):
                    rows.append(given_pairs(space, R, side, args.given_pairs, win, args.device, threads, peak,
                                            ref_rate))
    ref = "scikit-image" if args.spaces == ["ssim"] else "per-pair reference"
    print(f"\n| space | side | threads | pairs | time (s) | pairs/s | matmul peak (GFLOP/s) | of peak | {ref}, pairs/s | ratio |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for space, side, threads, pairs, t, rate, peak, frac, ref_rate in rows:
        name = space if space != "ssim" or win.stride == 1 else f"ssim, stride {win.stride}"
        of_peak = "-" if np.isnan(frac) else f"{frac:.0%}"
        print(f"| {name} | {side} | {threads} | {pairs:,} | {t:.1f} | {rate:,.0f} | {peak / 1e9:.1f} | {of_peak} | "
              f"{ref_rate:,.0f} | x{rate / ref_rate:,.0f} |")


if __name__ == "__main__":
    main()
