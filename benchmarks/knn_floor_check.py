"""By hand: does the ``domias-knn`` distance floor decide any score on the benchmarks' dev sets?

``membership.mia.density.knn_log_ratio`` raises both k-th-neighbour distances to a floor, 10^-3 x
the median distance between the reference images. Until 2026-12-07 that median also took every
real x generated distance. For each dev set and space this prints both floors and how many real
images have their nearest generated or nearest other real image below either one (the rows the
change could move; the pool is the dev set's real images, each one left out of its own reference).
Label-free (reads the generated and real folders, not which real image is used).

    python benchmarks/knn_floor_check.py ../shared/benchmarks/ctmem64/dev ../shared/benchmarks/cxrmem64/dev
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from trainprint.data.imageset import GENERATED, REAL_NOT_USED, REAL_USED
from trainprint.data.load import load_dev
from trainprint.membership.mia.density import _floor
from trainprint.membership.mia.geometry import distances
from trainprint.similarity import PIXEL_SPACES


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dev", nargs="+", type=Path, help="dev folders (generated/, real_used/, real_not_used/)")
    args = ap.parse_args()
    print("| dev set | space | floor before (all distances) | floor now (reference only) | images below either |")
    print("|---|---|---|---|---|")
    for dev in args.dev:
        images = load_dev(dev)
        X = images.pixels.astype(np.float32) / np.float32(255.0)
        G, R = X[images.mask(GENERATED)], X[images.mask(REAL_USED, REAL_NOT_USED)]
        for space in PIXEL_SPACES:
            D_g = distances(space, R, G)  # (n, m)
            D_r = distances(space, R, R)
            np.fill_diagonal(D_r, np.inf)
            before = _floor(np.concatenate([D_g.ravel(), D_r[np.isfinite(D_r)]]))
            now = _floor(D_r)
            top = max(before, now)
            below = int(((D_g.min(1) < top) | (D_r.min(1) < top)).sum())
            print(f"| {dev} | {space} | {before:.3g} | {now:.3g} | {below} of {len(R)} |", flush=True)


if __name__ == "__main__":
    main()
