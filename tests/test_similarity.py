"""Pairwise similarities against brute-force per-pair references; chunking; FAISS fallback."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view

from trainprint.core.errors import TrainprintError
from trainprint.similarity import iter_blocks, nearest_stats, pairwise
from trainprint.similarity.search import faiss_available
from trainprint.similarity.ssim import SSIMWindow


def _images(n: int, side: int = 24, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    smooth = rng.random((n, side, side)).cumsum(1).cumsum(2)  # structured, not white noise
    return (smooth / smooth.max(axis=(1, 2), keepdims=True)).astype(np.float32)


def ref_ssim(x: np.ndarray, y: np.ndarray, win: SSIMWindow, stride: int = 1) -> float:
    """SSIM of one pair, window by window, in float64 (the textbook definition)."""
    k = win.kernel_1d()
    w = np.outer(k, k)
    x, y = x.astype(np.float64), y.astype(np.float64)
    px = sliding_window_view(x, w.shape)[::stride, ::stride]
    py = sliding_window_view(y, w.shape)[::stride, ::stride]
    mx, my = (px * w).sum((-2, -1)), (py * w).sum((-2, -1))
    vx = (px * px * w).sum((-2, -1)) - mx**2
    vy = (py * py * w).sum((-2, -1)) - my**2
    cxy = (px * py * w).sum((-2, -1)) - mx * my
    c1, c2 = (0.01 * win.data_range) ** 2, (0.03 * win.data_range) ** 2
    return float((((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx**2 + my**2 + c1) * (vx + vy + c2))).mean())


def brute(space: str, A: np.ndarray, B: np.ndarray, win: SSIMWindow | None = None) -> np.ndarray:
    out = np.empty((len(A), len(B)))
    for i, a in enumerate(A):
        for j, b in enumerate(B):
            a64, b64 = a.astype(np.float64).ravel(), b.astype(np.float64).ravel()
            if space == "pixel":
                out[i, j] = -np.sqrt(np.mean((a64 - b64) ** 2))
            elif space == "ncc":
                ac, bc = a64 - a64.mean(), b64 - b64.mean()
                out[i, j] = ac @ bc / (np.linalg.norm(ac) * np.linalg.norm(bc))
            elif space == "ssim":
                out[i, j] = ref_ssim(a, b, win or SSIMWindow(), (win or SSIMWindow()).stride_for(a.shape[0]))
            else:
                out[i, j] = -np.linalg.norm(a64 - b64)
    return out


@pytest.mark.parametrize("space", ["pixel", "ncc", "ssim"])
def test_image_spaces_match_brute_force(space: str) -> None:
    A, B = _images(4, seed=1), _images(7, seed=2)
    B[0] = A[2]  # an exact copy: the best similarity there is
    got = pairwise(space, A, B)
    np.testing.assert_allclose(got, brute(space, A, B), atol=2e-4)
    assert got[2].argmax() == 0


@pytest.mark.parametrize("win", [SSIMWindow(kind="uniform", size=7), SSIMWindow(stride=3),
                                 SSIMWindow(sigma=2.0, size=9, data_range=2.0)])
def test_ssim_windows_and_stride_match_reference(win: SSIMWindow) -> None:
    A, B = _images(3, seed=3), _images(5, seed=4)
    np.testing.assert_allclose(pairwise("ssim", A, B, ssim_window=win), brute("ssim", A, B, win), atol=2e-4)


def test_ssim_of_identical_images_is_one() -> None:
    A = _images(3)
    np.testing.assert_allclose(np.diag(pairwise("ssim", A, A)), 1.0, atol=1e-5)


def test_fingerprint_space_is_negative_euclidean() -> None:
    rng = np.random.default_rng(0)
    A, B = rng.normal(size=(6, 16)).astype(np.float32), rng.normal(size=(9, 16)).astype(np.float32)
    np.testing.assert_allclose(pairwise("vectornet-12", A, B), brute("fp", A, B), atol=1e-4)


@pytest.mark.parametrize("space", ["pixel", "ncc", "ssim", "dae-gu"])
def test_chunked_equals_unchunked(space: str) -> None:
    A = _images(5, seed=5)
    B = _images(23, seed=6)
    if space == "dae-gu":
        A, B = A.reshape(5, -1), B.reshape(23, -1)
    full = pairwise(space, A, B, block_entries=10**9, ssim_b_block=1000)
    small = pairwise(space, A, B, block_entries=7, ssim_b_block=3)
    np.testing.assert_allclose(small, full, atol=1e-5)
    starts = [s for s, _ in iter_blocks(space, A, B, block_entries=5 * 4, ssim_b_block=4)]
    assert starts == list(range(0, 23, 4))


def test_nearest_stats_matches_full_matrix() -> None:
    C, G = _images(6, seed=7), _images(30, seed=8)
    S = brute("pixel", C, G)
    st = nearest_stats("pixel", C, G, k=3, block_entries=6 * 7)
    np.testing.assert_allclose(st.topk_sim, -np.sort(-S, axis=1)[:, :3], atol=1e-4)
    np.testing.assert_array_equal(st.nearest_real, S.argmax(0))
    np.testing.assert_allclose(st.nearest_sim, S.max(0), atol=1e-4)
    np.testing.assert_allclose(np.take_along_axis(S, st.topk_idx, 1), st.topk_sim, atol=1e-4)


def test_faiss_backend_equals_numpy() -> None:
    if not faiss_available():
        pytest.skip("faiss is not installed (pip install 'trainprint[faiss]')")
    rng = np.random.default_rng(1)
    C, G = rng.normal(size=(12, 8)).astype(np.float32), rng.normal(size=(300, 8)).astype(np.float32)
    a = nearest_stats("vectornet-1", C, G, k=4, backend="torch")
    b = nearest_stats("vectornet-1", C, G, k=4, backend="faiss")
    np.testing.assert_allclose(a.topk_sim, b.topk_sim, rtol=1e-6)  # both recomputed exactly
    np.testing.assert_array_equal(a.topk_idx, b.topk_idx)
    np.testing.assert_array_equal(a.nearest_real, b.nearest_real)


@pytest.mark.parametrize("space", ["vectornet-12", "pixel"])
def test_reported_similarities_are_exact_far_from_the_origin(space: str) -> None:
    """Neighbours are ranked by a float32 matrix product, whose error grows with the vectors' norm;
    the similarities reported are recomputed from the differences, so they are exact to float32
    rounding (rtol 1e-6) with any BLAS and either backend."""
    rng = np.random.default_rng(3)
    shape = (16,) if space != "pixel" else (8, 8)
    C = (100.0 + rng.normal(size=(5, *shape))).astype(np.float32)
    G = np.concatenate([C + 0.01 * rng.normal(size=C.shape), 100.0 + rng.normal(size=(20, *shape))]).astype(np.float32)
    st = nearest_stats(space, C, G, k=3)
    np.testing.assert_allclose(np.take_along_axis(brute(space, C, G), st.topk_idx, 1), st.topk_sim, rtol=1e-6)
    np.testing.assert_allclose(brute(space, C, G)[st.nearest_real, np.arange(len(G))], st.nearest_sim, rtol=1e-6)
    assert (np.diff(st.topk_sim, axis=1) <= 0).all()  # still best first
    np.testing.assert_array_equal(st.topk_idx[:, 0], np.arange(5))  # each one's noisy copy


@pytest.mark.parametrize("space, A, B, message", [
    ("pixel", np.zeros((2, 8)), np.zeros((3, 8, 8)), "(N, H, W) images"),
    ("vectornet-12", np.zeros((2, 4, 4)), np.zeros((3, 4)), "(N, D) fingerprints"),
    ("ncc", np.zeros((2, 8, 8)), np.zeros((3, 9, 9)), "per item"),
    ("ssim", np.zeros((2, 8, 8)), np.zeros((3, 8, 8)), "smaller than"),
    ("pixel", np.full((2, 8, 8), np.nan), np.zeros((3, 8, 8)), "NaN"),
])
def test_bad_inputs_name_the_problem(space: str, A: np.ndarray, B: np.ndarray, message: str) -> None:
    with pytest.raises(TrainprintError, match=message.replace("(", r"\(").replace(")", r"\)")):
        pairwise(space, A, B)
