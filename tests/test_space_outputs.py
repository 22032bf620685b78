"""What every similarity space answers, pinned against straightforward float64 references.

Each public entry point (``pairwise``, ``pair_similarity``, ``indexed_pair_similarity``,
``nearest_stats`` exhaustive and two-stage, the membership distances and vectors) is compared with a
per-pair textbook formula on a small case, so that the way a space is wired in (today: one registry
entry per space) can change without its answers changing."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from numpy.lib.stride_tricks import sliding_window_view

from trainprint.core.errors import TrainprintError
from trainprint.membership.mia.geometry import to_distance, vectors
from trainprint.similarity import PIXEL_SPACES, SPACES, Space, SSIMWindow, nearest_stats, pairwise, space_of
from trainprint.similarity.generated import GeneratedSet, SearchPlan
from trainprint.similarity.pairs import indexed_pair_similarity, pair_similarity

WINDOWS = [SSIMWindow(), SSIMWindow(stride=3), SSIMWindow(kind="uniform", size=7)]


def _images(n: int, side: int, seed: int) -> np.ndarray:
    """(n, side, side) float32 in [0, 1], smooth (cumulative sums of noise)."""
    s = np.random.default_rng(seed).random((n, side, side)).cumsum(1).cumsum(2)
    return (s / s.max(axis=(1, 2), keepdims=True)).astype(np.float32)


def _ref(space: str, a: np.ndarray, b: np.ndarray, win: SSIMWindow) -> float:
    """The similarity of one pair in float64, from its definition (docs/similarity.md)."""
    x, y = a.astype(np.float64), b.astype(np.float64)
    if space == "pixel":
        return -float(np.sqrt(np.mean((x - y) ** 2)))
    if space == "ncc":
        xc, yc = x.ravel() - x.mean(), y.ravel() - y.mean()
        return float(xc @ yc / (np.linalg.norm(xc) * np.linalg.norm(yc)))
    if space == "ssim":
        k = win.kernel_1d()
        w = np.outer(k, k)
        s = win.stride_for(min(x.shape))
        px, py = sliding_window_view(x, w.shape)[::s, ::s], sliding_window_view(y, w.shape)[::s, ::s]
        mx, my = (px * w).sum((-2, -1)), (py * w).sum((-2, -1))
        vx, vy = (px * px * w).sum((-2, -1)) - mx**2, (py * py * w).sum((-2, -1)) - my**2
        cxy = (px * py * w).sum((-2, -1)) - mx * my
        c1, c2 = (0.01 * win.data_range) ** 2, (0.03 * win.data_range) ** 2
        return float((((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx**2 + my**2 + c1) * (vx + vy + c2))).mean())
    return -float(np.linalg.norm(x - y))


def _ref_matrix(space: str, A: np.ndarray, B: np.ndarray, win: SSIMWindow) -> np.ndarray:
    return np.array([[_ref(space, a, b, win) for b in B] for a in A])


def _case(space: str) -> tuple[np.ndarray, np.ndarray]:
    if space == "fingerprint":
        rng = np.random.default_rng(3)
        return rng.standard_normal((5, 16)).astype(np.float32), rng.standard_normal((30, 16)).astype(np.float32)
    A, B = _images(5, 32, 1), _images(30, 32, 2)
    B[3] = A[1]  # an exact copy
    return A, B


CASES = [("pixel", WINDOWS[0]), ("ncc", WINDOWS[0]), ("fingerprint", WINDOWS[0])] + [("ssim", w) for w in WINDOWS]


@pytest.mark.parametrize("space,win", CASES)
def test_pairwise_and_pairs_equal_the_definition(space: str, win: SSIMWindow) -> None:
    A, B = _case(space)
    ref = _ref_matrix(space, A, B, win)
    np.testing.assert_allclose(pairwise(space, A, B, ssim_window=win), ref, atol=2e-5)
    np.testing.assert_allclose(pairwise(space, A, B, ssim_window=win, block_entries=17, ssim_b_block=7), ref,
                               atol=2e-5)
    ia, ib = np.array([0, 1, 4, 2, 1]), np.array([3, 3, 0, 29, 7])
    np.testing.assert_allclose(pair_similarity(space, A[ia], B[ib], ssim_window=win), ref[ia, ib], atol=2e-5)
    if space in ("ncc", "ssim"):
        np.testing.assert_allclose(indexed_pair_similarity(space, A, ia, B, ib, ssim_window=win), ref[ia, ib],
                                   atol=2e-5)


@pytest.mark.parametrize("space,win", CASES)
def test_nearest_stats_equal_the_definition(space: str, win: SSIMWindow) -> None:
    """Exhaustive, and two-stage with every pair a candidate, give the reference's top-3 and
    nearest real image of every generated one."""
    A, B = _case(space)
    ref = _ref_matrix(space, A, B, win)
    plans = [None] + ([SearchPlan(search="two-stage", candidates=len(B), real_candidates=len(A), block_rows=9,
                                  low_side=8, coarse=2)] if space in ("ncc", "ssim") else [])
    for plan in plans:
        G = B if plan is None else GeneratedSet(B, plan)
        st = nearest_stats(space, A, G, k=3, backend="torch", ssim_window=win)
        np.testing.assert_allclose(st.topk_sim, -np.sort(-ref, axis=1)[:, :3], atol=2e-5)
        np.testing.assert_allclose(np.take_along_axis(ref, st.topk_idx, 1), st.topk_sim, atol=2e-5)
        np.testing.assert_allclose(st.nearest_sim, ref.max(0), atol=2e-5)
        np.testing.assert_allclose(ref[st.nearest_real, np.arange(len(B))], ref.max(0), atol=2e-5)


@pytest.mark.parametrize("space", ["pixel", "ncc", "ssim", "fingerprint"])
def test_distances_and_vectors_follow_the_definition(space: str) -> None:
    A, B = _case(space)
    ref = _ref_matrix(space, A, B, WINDOWS[0])
    S = pairwise(space, A, B)
    np.testing.assert_allclose(S, ref, atol=5e-5)
    # the distance of the similarity computed (from the reference's, NCC's sqrt(2 - 2 s) would turn the
    # float32 rounding of an identical pair's 1 - 6e-8 into 3.5e-4)
    S64 = S.astype(np.float64)
    want = {"pixel": -S64, "ncc": np.sqrt(np.clip(2 - 2 * S64, 0, None)), "ssim": np.clip(1 - S64, 0, None),
            "fingerprint": -S64}[space]
    np.testing.assert_allclose(to_distance(space, S), want, rtol=1e-12, atol=1e-12)
    if space == "ssim":
        with pytest.raises(Exception, match="no vector form"):
            vectors(space, A)
        return
    VA, VB = vectors(space, A), vectors(space, B)
    d = np.linalg.norm(VA[:, None].astype(np.float64) - VB[None], axis=2)
    scale = np.sqrt(A[0].size) if space == "pixel" else 1.0  # pixel: distance = ||a - b|| / sqrt(H W)
    # squared: sqrt's slope at 0 would turn an identical pair's float32 rounding into 3.5e-4 (above)
    np.testing.assert_allclose((d / scale) ** 2, want**2, rtol=1e-6, atol=1e-6)


@dataclass(frozen=True)
class _L1Space(Space):
    """A made-up space for the test: -mean |a - b| of images."""

    name: str = "l1"

    def blocks(self, A, B, *, step, device, ssim_window=None):  # noqa: ANN001, ANN201
        for start in range(0, len(B), step):
            d = np.abs(A[:, None].astype(np.float64) - B[None, start:start + step]).mean(axis=(2, 3))
            yield start, torch.as_tensor(-d, dtype=torch.float32)

    def pairs(self, X, Y, *, device, ssim_window=None):  # noqa: ANN001, ANN201
        return (-np.abs(X.astype(np.float64) - Y).mean(axis=(1, 2))).astype(np.float32)


def test_a_new_space_is_one_registry_entry(monkeypatch: pytest.MonkeyPatch) -> None:
    """A ``Space`` added to ``SPACES`` is computed by ``pairwise``, the pairs, the search and the
    distances, with nothing else changed."""
    monkeypatch.setitem(SPACES, "l1", _L1Space())
    A, B = _case("pixel")
    ref = np.array([[-np.abs(a.astype(np.float64) - b).mean() for b in B] for a in A])
    np.testing.assert_allclose(pairwise("l1", A, B, block_entries=17), ref, atol=1e-6)
    np.testing.assert_allclose(pair_similarity("l1", A[:3], B[:3]), ref[[0, 1, 2], [0, 1, 2]], atol=1e-6)
    st = nearest_stats("l1", A, B, k=2, backend="torch")
    np.testing.assert_allclose(st.nearest_sim, ref.max(0), atol=1e-6)
    np.testing.assert_allclose(to_distance("l1", ref), -ref)
    with pytest.raises(TrainprintError, match="'l1': no two-stage search"):
        space_of("l1").cheap_stage(A, low_side=8, coarse=2, device=torch.device("cpu"))


def test_every_image_space_is_a_registry_entry_and_other_names_are_fingerprints() -> None:
    assert PIXEL_SPACES == ("pixel", "ncc", "ssim") and all(isinstance(SPACES[s], Space) for s in PIXEL_SPACES)
    assert all(space_of(s).on_images for s in PIXEL_SPACES)
    fp = space_of("vectornet-12")
    assert not fp.on_images and fp.name == "vectornet-12" and fp.exact_rerank
    assert {s for s in PIXEL_SPACES if space_of(s).two_stage} == {"ncc", "ssim"}


SIMILARITY = Path(__file__).resolve().parents[1] / "src" / "trainprint" / "similarity"


def test_no_module_branches_on_a_space_name() -> None:
    """Outside the registry entries, no similarity module (nor the membership geometry) compares
    a space name with a string: what differs between spaces is each space's object."""
    files = [p for p in SIMILARITY.rglob("*.py") if p.parent.name != "spaces"]
    files.append(SIMILARITY.parent / "membership" / "mia" / "geometry.py")
    found = []
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Compare) and isinstance(node.left, ast.Name) and node.left.id == "space":
                found.append(f"{path.name}:{node.lineno}")
    assert files and not found, found


@pytest.mark.parametrize("space", ["pixel", "ncc", "fingerprint"])
def test_matrix_product_spaces_transform_b_a_block_at_a_time(space: str) -> None:
    """B is transformed a block at a time (never all of it at once), with the same bits as the
    transform of all of B, sliced."""
    A, B = _case(space)
    sp = space_of(space if space != "fingerprint" else "vectornet-12")
    a, b = torch.as_tensor(A).reshape(len(A), -1), torch.as_tensor(B).reshape(len(B), -1)
    a_t, ctx, scale = sp.prepare(a, b)
    b_all = sp.transform_b(b, ctx)
    for step in (1, 7, 30):
        for start, S in sp.blocks(A, B, step=step, device=torch.device("cpu")):
            bb = b_all[start:start + step]
            want = sp.from_products(a_t @ bb.T, (a_t * a_t).sum(1), (bb * bb).sum(1), scale)
            assert torch.equal(S, want), (space, step, start)
