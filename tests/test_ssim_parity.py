"""Our batched SSIM against scikit-image's ``structural_similarity`` on real benchmark images.

scikit-image with ``gaussian_weights=True, sigma=1.5`` uses an 11 x 11 Gaussian window (truncated at
3.5 sigma), averages the SSIM map over the positions whose window lies inside the image, and with
``use_sample_covariance=False`` uses the population (co)variances of Wang et al. 2004, as we do.
``data_range`` is 1 for images scaled to [0, 1]. The full map is the default at every side
(``SSIMWindow(stride=s)`` samples every s-th position instead; docs/similarity.md measures what that
changes). The arithmetic is float32; the same code in float64 checks what float32 costs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from skimage.metrics import structural_similarity

import torch

from trainprint.core.errors import TrainprintError
from trainprint.similarity import SSIMWindow, pairwise
from trainprint.similarity.ssim import ssim_pairwise_blocks


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
    """Largest |ours - scikit-image| over every pair, with the default window (the full map)."""
    ours = pairwise("ssim", A, B)
    ref = np.array([[skimage_ssim(a, b) for b in B] for a in A])
    return float(np.abs(ours - ref).max())


def _smooth(n: int, side: int, seed: int) -> np.ndarray:
    """(n, side, side) float32 in [0, 1]: structured synthetic images (cumulative sums of noise)."""
    smooth = np.random.default_rng(seed).random((n, side, side)).cumsum(1).cumsum(2)
    return (smooth / smooth.max(axis=(1, 2), keepdims=True)).astype(np.float32)


def _blocks(A: np.ndarray, B: np.ndarray, dtype: torch.dtype, **kw: object) -> np.ndarray:
    parts = ssim_pairwise_blocks(A, B, window=SSIMWindow(), device=torch.device("cpu"), dtype=dtype, **kw)
    return torch.cat([S for _, S in parts], 1).double().numpy()


@pytest.mark.parametrize("bench,side", [("ctmem64", 64), ("cxrmem64", 64), ("ctmem64", 256), ("cxrmem64", 256)])
def test_ssim_equals_skimage_on_real_images(benchmark_dir, bench: str, side: int) -> None:
    dev = benchmark_dir(bench) / "dev"
    n = 6 if side == 64 else 3
    A = real_images(dev / "real_used", n, side, seed=1)
    B = np.concatenate([real_images(dev / "generated", n, side, seed=2), A[:1]])  # and one identical pair
    assert _parity(A, B) <= 1e-4


@pytest.mark.parametrize("side", [64, 256])
def test_ssim_equals_skimage_on_smooth_images(side: int) -> None:
    """The same check without ../shared, on structured synthetic images (always runs in CI)."""
    X = _smooth(5 if side == 64 else 3, side, seed=0)
    X[-1] = np.clip(X[0] + 0.05 * np.random.default_rng(1).standard_normal(X[0].shape), 0, 1)  # a near copy
    assert _parity(X[:2], X) <= 1e-4


def test_float32_arithmetic_equals_float64() -> None:
    """The float32 kernel against the same kernel in float64, and the float64 one against
    scikit-image (which computes in float64): float32 costs well under the 1e-4 tolerance."""
    A, B = _smooth(3, 64, seed=2), _smooth(9, 64, seed=3)
    B[0] = A[1]
    s32, s64 = _blocks(A, B, torch.float32), _blocks(A, B, torch.float64)
    ref = np.array([[skimage_ssim(a, b) for b in B] for a in A])
    assert np.abs(s64 - ref).max() <= 1e-9
    assert np.abs(s32 - s64).max() <= 1e-5
    assert abs(s32[1, 0] - 1.0) <= 1e-5  # an identical pair


def test_blocks_and_threads_do_not_change_the_answer() -> None:
    """1 or 2 threads give the same matrix, bit for bit; other blocks of B the same to float32 rounding."""
    A, B = _smooth(4, 40, seed=4), _smooth(11, 40, seed=5)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = _blocks(A, B, torch.float32)
        torch.set_num_threads(2)
        two = _blocks(A, B, torch.float32)
    finally:
        torch.set_num_threads(threads)
    np.testing.assert_array_equal(one, two)
    # another cut of B changes the matrix products' shapes, and the BLAS kernels their summation
    # order: float32 rounding, nothing more
    np.testing.assert_allclose(one, _blocks(A, B, torch.float32, b_block=3), rtol=0, atol=1e-6)


@pytest.mark.parametrize("side", [64, 256])
def test_given_pairs_equal_skimage_and_the_matrix_in_any_chunks(side: int, monkeypatch) -> None:
    """The exact stage of two-stage search (``ssim_indexed_pairs``: shifted-add filtering, moments once
    per image, B's moments a chunk at a time) equals scikit-image and the pairwise matrix; 1 or 2
    threads give the same values bit for bit, other chunks the same to float32 rounding."""
    import trainprint.similarity.ssim as ssim

    A, B = _smooth(3, side, seed=6), _smooth(5, side, seed=7)
    B[4] = A[2]  # an identical pair
    ia = np.array([0, 2, 1, 2, 0, 1, 2, 2, 0])
    ib = np.array([4, 4, 0, 1, 3, 3, 2, 0, 1])
    run = lambda: ssim.ssim_indexed_pairs(A, ia, B, ib, window=SSIMWindow(), device=torch.device("cpu"))  # noqa: E731
    whole = run()
    ref = np.array([skimage_ssim(A[i], B[j]) for i, j in zip(ia, ib)])
    assert np.abs(whole - ref).max() <= 1e-4 and abs(whole[1] - 1.0) <= 1e-5
    np.testing.assert_allclose(whole, pairwise("ssim", A, B)[ia, ib], rtol=0, atol=1e-6)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1 if threads != 1 else 2)
        np.testing.assert_array_equal(run(), whole)
    finally:
        torch.set_num_threads(threads)
    monkeypatch.setattr(ssim, "INDEXED_B_BYTES", 1)  # one B image per chunk
    monkeypatch.setattr(ssim, "PAIR_PIXELS", 1)  # one pair per block
    monkeypatch.setattr(ssim, "FILTER_BLOCK", 1)
    # the mean over a map sums in an order that may follow the batch's size: float32 rounding only
    np.testing.assert_allclose(run(), whole, rtol=0, atol=1e-6)


@pytest.mark.parametrize("n_a,n_b", [(1, 1), (1, 4), (3, 1)])
def test_the_inputs_are_never_written(n_a: int, n_b: int) -> None:
    """One image on a side: its images-last copy is a view torch would call contiguous, and centring
    it in place would write into the caller's array; the centring works on a copy."""
    A, B = _smooth(n_a, 24, seed=8), _smooth(n_b, 24, seed=9)
    A0, B0 = A.copy(), B.copy()
    S = _blocks(A, B, torch.float32)
    assert np.array_equal(A, A0) and np.array_equal(B, B0)
    assert np.abs(S - np.array([[skimage_ssim(a, b) for b in B] for a in A])).max() <= 1e-4


@pytest.mark.parametrize("stride", [0, -1, None, 1.5])
def test_a_bad_stride_is_one_error_line(stride: object) -> None:
    with pytest.raises(TrainprintError, match=r"^SSIM stride .*expected an integer >= 1$"):
        SSIMWindow(stride=stride)  # type: ignore[arg-type]
