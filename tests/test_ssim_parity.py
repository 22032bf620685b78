"""Our batched SSIM against scikit-image's ``structural_similarity`` on real benchmark images.

scikit-image with ``gaussian_weights=True, sigma=1.5`` uses an 11 x 11 Gaussian window (truncated at
3.5 sigma), averages the SSIM map over the positions whose window lies inside the image, and with
``use_sample_covariance=False`` uses the population (co)variances of Wang et al. 2004, as we do.
``data_range`` is 1 for images scaled to [0, 1]. The strided map of the 256-px default is measured
against the full map in docs/similarity.md.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from skimage.metrics import structural_similarity

from trainprint.similarity import SSIMWindow, pairwise


def skimage_ssim(a: np.ndarray, b: np.ndarray) -> float:
    return float(structural_similarity(a.astype(np.float64), b.astype(np.float64), data_range=1.0,
                                       gaussian_weights=True, sigma=1.5, use_sample_covariance=False))


def real_images(folder: Path, n: int, side: int, seed: int = 0) -> np.ndarray:
    """``n`` images of ``folder`` in [0, 1], at ``side`` px (Lanczos, as ``--size`` resizes)."""
    files = sorted(folder.glob("*.png"))
    pick = np.random.default_rng(seed).choice(len(files), n, replace=False)
    out = []
    for i in pick:
        im = Image.open(files[i]).convert("L")
        if im.size != (side, side):
            im = im.resize((side, side), Image.Resampling.LANCZOS)
        out.append(np.asarray(im, dtype=np.float32) / 255.0)
    return np.stack(out)


def _parity(A: np.ndarray, B: np.ndarray) -> float:
    ours = pairwise("ssim", A, B, ssim_window=SSIMWindow(stride=1))
    ref = np.array([[skimage_ssim(a, b) for b in B] for a in A])
    return float(np.abs(ours - ref).max())


@pytest.mark.parametrize("bench,side", [("ctmem64", 64), ("cxrmem64", 64), ("ctmem64", 256), ("cxrmem64", 256)])
def test_ssim_equals_skimage_on_real_images(benchmark_dir, bench: str, side: int) -> None:
    dev = benchmark_dir(bench) / "dev"
    n = 6 if side == 64 else 3
    A = real_images(dev / "real_used", n, side, seed=1)
    B = np.concatenate([real_images(dev / "generated", n, side, seed=2), A[:1]])  # and one identical pair
    assert _parity(A, B) <= 1e-4


def test_ssim_equals_skimage_on_smooth_images() -> None:
    """The same check without ../shared, on structured synthetic images (always runs in CI)."""
    rng = np.random.default_rng(0)
    smooth = rng.random((5, 64, 64)).cumsum(1).cumsum(2)
    X = (smooth / smooth.max(axis=(1, 2), keepdims=True)).astype(np.float32)
    assert _parity(X[:2], X) <= 1e-4
