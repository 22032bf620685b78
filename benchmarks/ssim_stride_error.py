"""How far the strided SSIM map (stride 4, the 256-px default until 2026-12-07) is from the full map (the default), on real benchmark images.

    python benchmarks/ssim_stride_error.py [--benchmarks ../shared/benchmarks] [--n-real 40] [--n-gen 200]

For each benchmark, ``n_real`` dev real images and ``n_gen`` dev generated images are resized to
256 px (Lanczos, as ``--size 256`` does) and compared with SSIM twice: the full map (stride 1) and
stride 4 (``SSIMWindow(stride=4)``). Printed: the largest and the mean absolute difference of
the SSIM values, the Spearman correlation of the two matrices, and how often a real image's best
generated match is the same image under both.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from test_ssim_parity import real_images  # noqa: E402

from trainprint.similarity import SSIMWindow, pairwise  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--benchmarks", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "benchmarks")
    ap.add_argument("--names", nargs="+", default=["ctmem64", "cxrmem64"])
    ap.add_argument("--n-real", type=int, default=40)
    ap.add_argument("--n-gen", type=int, default=200)
    ap.add_argument("--side", type=int, default=256)
    args = ap.parse_args()
    print("| benchmark | pairs | max abs diff | mean abs diff | Spearman | same best match | seconds (full / strided) |")
    print("|---|---|---|---|---|---|---|")
    for name in args.names:
        dev = args.benchmarks / name / "dev"
        R = real_images(dev / "real_used", args.n_real // 2, args.side, seed=1)
        R = np.concatenate([R, real_images(dev / "real_not_used", args.n_real - len(R), args.side, seed=1)])
        G = real_images(dev / "generated", args.n_gen, args.side, seed=2)
        t0 = time.perf_counter()
        full = pairwise("ssim", R, G, ssim_window=SSIMWindow(stride=1))
        t1 = time.perf_counter()
        strided = pairwise("ssim", R, G, ssim_window=SSIMWindow(stride=4))
        t2 = time.perf_counter()
        d = np.abs(full - strided)
        rho = spearmanr(full.ravel(), strided.ravel()).statistic
        same = float(np.mean(full.argmax(1) == strided.argmax(1)))
        print(f"| {name} | {full.size:,} | {d.max():.4f} | {d.mean():.4f} | {rho:.4f} | {same:.3f} | "
              f"{t1 - t0:.1f} / {t2 - t1:.1f} |")


if __name__ == "__main__":
    main()
