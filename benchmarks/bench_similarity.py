"""Throughput of the pairwise similarities: n_real x n_gen images of side px, against a per-pair loop.

    python benchmarks/bench_similarity.py                       # 200 x 10,000 at 256 px, all spaces
    python benchmarks/bench_similarity.py --spaces ssim --n-gen 1000

Generated images are made (seeded, smooth random textures) and scored a chunk of ``--chunk`` at a
time, so the 2.6 GB of float32 pixels of 10,000 256-px images never sit in memory at once. The
per-pair baseline is a plain Python loop over pairs with NumPy per pair (SSIM: the textbook
windowed formula with the same window and stride), timed on a few pairs and extrapolated.
Figures are also given as a ratio to this machine's matmul FLOP/s (benchmarks/_machine.py).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

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


def loop_pair(space: str, a: np.ndarray, b: np.ndarray, win: SSIMWindow) -> float:
    if space == "pixel":
        return -float(np.sqrt(np.mean((a - b) ** 2)))
    if space == "ncc":
        ac, bc = a - a.mean(), b - b.mean()
        return float((ac * bc).sum() / np.sqrt((ac * ac).sum() * (bc * bc).sum()))
    k = win.kernel_1d().astype(np.float32)
    w = np.outer(k, k)
    s = win.stride_for(a.shape[0])
    pa, pb = sliding_window_view(a, w.shape)[::s, ::s], sliding_window_view(b, w.shape)[::s, ::s]
    ma, mb = (pa * w).sum((-2, -1)), (pb * w).sum((-2, -1))
    va, vb = (pa * pa * w).sum((-2, -1)) - ma**2, (pb * pb * w).sum((-2, -1)) - mb**2
    cab = (pa * pb * w).sum((-2, -1)) - ma * mb
    c1, c2 = 1e-4, 9e-4
    return float((((2 * ma * mb + c1) * (2 * cab + c2)) / ((ma**2 + mb**2 + c1) * (va + vb + c2))).mean())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-real", type=int, default=200)
    ap.add_argument("--n-gen", type=int, default=10_000)
    ap.add_argument("--side", type=int, default=256)
    ap.add_argument("--chunk", type=int, default=1000, help="generated images made and scored at once")
    ap.add_argument("--spaces", nargs="+", default=["pixel", "ncc", "ssim"])
    ap.add_argument("--loop-pairs", type=int, default=40, help="pairs timed in the per-pair loop")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--ssim-stride", type=int, default=None, help="SSIM map sampling step (default side // 64)")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    args = ap.parse_args()
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)

    flops = measure_matmul_flops()
    import torch

    print(f"torch threads {torch.get_num_threads()}; machine: matmul {flops / 1e9:.1f} GFLOP/s (float32, measured now; the CPU is shared, figures are noisy)")
    R = images(args.n_real, args.side, seed=0)
    win = SSIMWindow(stride=args.ssim_stride)
    pairs = args.n_real * args.n_gen
    print(f"{args.n_real} real x {args.n_gen} generated at {args.side} px = {pairs:,} pairs"
          f" (SSIM: Gaussian 11x11, map sampled every {win.stride_for(args.side)} px)")
    for space in args.spaces:
        t = 0.0
        for start in range(0, args.n_gen, args.chunk):
            G = images(min(args.chunk, args.n_gen - start), args.side, seed=1 + start)
            t0 = time.perf_counter()
            pairwise(space, R, G, device=args.device, ssim_window=win)
            t += time.perf_counter() - t0
        G = images(args.loop_pairs, args.side, seed=99)
        t0 = time.perf_counter()
        for j in range(args.loop_pairs):
            loop_pair(space, R[j % len(R)], G[j], win)
        per_pair = (time.perf_counter() - t0) / args.loop_pairs
        ops = 2 * args.side**2 if space != "ssim" else 2 * 122 * ((args.side - 11) // win.stride_for(args.side) + 1) ** 2
        print(f"{space:5s}: {t:8.1f} s  {pairs / t:12,.0f} pairs/s  "
              f"(per-pair loop: {1 / per_pair:9,.0f} pairs/s, would take {per_pair * pairs:9,.0f} s; "
              f"speed-up x{per_pair * pairs / t:,.0f}; core arithmetic {ops * pairs / t / flops:.0%} of matmul peak)")


if __name__ == "__main__":
    main()
