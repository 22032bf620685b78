"""One real x generated similarity matrix per fit (issue 11's speed gap): the nearest-neighbour search
is read from the cached full matrix, which the VCMI ranks and rules and the ``mia-*`` distances
share, with the same numbers as the streaming search."""

from __future__ import annotations

import numpy as np
import pytest

from trainprint.membership import scores as scores_mod
from trainprint.membership.mia.fusion import FusionMethod
from trainprint.membership.scores import clear_cache, membership_scores, shares_matrix
from trainprint.methods import parse_method
from trainprint.similarity.spaces import ssim as spaces_mod  # the SSIM space calls the kernel from here
from trainprint.similarity.generated import GeneratedSet
from trainprint.similarity.search import nearest_stats, stats_from_matrix
from trainprint.similarity.matrix import pairwise


def _images(n: int, seed: int, side: int = 32) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.random((n, side // 4, side // 4), dtype=np.float32)
    x = np.repeat(np.repeat(x, 4, 1), 4, 2)
    return np.clip(x + 0.05 * rng.standard_normal(x.shape, dtype=np.float32), 0, 1)


R = _images(12, 1)
G = np.concatenate([R[:4] + 0.01, _images(21, 2)]).clip(0, 1).astype(np.float32)  # 25: near-copies + others
FP_R = np.random.default_rng(3).standard_normal((12, 6)).astype(np.float32)
FP_G = np.random.default_rng(4).standard_normal((25, 6)).astype(np.float32)
FIELDS = ("max", "topk", "nn", "calibrated", "real_max", "topk_idx", "topk_sim", "rank_gen", "rank_real")


def _space_data(space: str) -> tuple[np.ndarray, np.ndarray]:
    return (R, G) if space in ("pixel", "ncc", "ssim") else (FP_R, FP_G)


@pytest.mark.parametrize("space", ["pixel", "ncc", "ssim", "contrastive"])
@pytest.mark.parametrize("opts", [{}, {"block_entries": 40, "ssim_b_block": 3}])
def test_stats_from_matrix_is_the_streaming_search(space: str, opts: dict) -> None:
    A, B = _space_data(space)
    streamed = nearest_stats(space, A, B, k=3, backend="torch", **opts)
    replayed = stats_from_matrix(space, A, B, pairwise(space, A, B, **opts), k=3, **opts)
    for f in ("topk_sim", "topk_idx", "nearest_real", "nearest_sim"):
        np.testing.assert_array_equal(getattr(replayed, f), getattr(streamed, f), err_msg=f)


@pytest.mark.parametrize("space", ["pixel", "ncc", "ssim", "contrastive"])
def test_membership_scores_same_numbers_shared_or_streamed(space: str, monkeypatch: pytest.MonkeyPatch) -> None:
    A, B = _space_data(space)
    clear_cache()
    assert shares_matrix(space, A, B, "torch")
    shared = membership_scores(space, A[:7], B, A, k=3, backend="torch", ranks=True)
    clear_cache()
    monkeypatch.setattr(scores_mod, "MATRIX_MAX_ENTRIES", 0)  # the streaming search, as before
    assert not shares_matrix(space, A, B, "torch")
    streamed = membership_scores(space, A[:7], B, A, k=3, backend="torch", ranks=True)
    for f in FIELDS:
        np.testing.assert_array_equal(getattr(shared, f), getattr(streamed, f), err_msg=f)
    clear_cache()


def test_generated_set_on_disk_streams() -> None:
    """A GeneratedSet (streaming submit) never makes the full matrix, and gets the same answer."""
    gs = GeneratedSet(G)
    assert not shares_matrix("ssim", R, gs)
    clear_cache()
    a = membership_scores("ssim", R, gs, R, k=3)
    clear_cache()
    b = membership_scores("ssim", R, G, R, k=3)
    for f in ("max", "topk", "nn", "calibrated", "real_max"):
        np.testing.assert_array_equal(getattr(a, f), getattr(b, f), err_msg=f)
    clear_cache()


@pytest.fixture
def ssim_passes(monkeypatch: pytest.MonkeyPatch) -> dict[int, int]:
    """Counts calls of the SSIM kernel by the number of B images (25 = the generated set)."""
    counts: dict[int, int] = {}
    real = spaces_mod.ssim_pairwise_blocks

    def spy(A, B, **kw):  # noqa: ANN001, ANN202
        counts[len(B)] = counts.get(len(B), 0) + 1
        return real(A, B, **kw)

    monkeypatch.setattr(spaces_mod, "ssim_pairwise_blocks", spy)
    clear_cache()
    yield counts
    clear_cache()


@pytest.mark.parametrize("method", ["sim-ssim/realmax", "sim-ssim/ranking", "sim-ssim/clustering",
                                    "sim-ssim/ensemble", "mia-ssim/domias-knn", "mia-ssim/gan-leaks-cal",
                                    "mia-fusion/rank"])
def test_ssim_matrix_computed_once_per_fit(method: str, ssim_passes: dict[int, int]) -> None:
    est = parse_method(method).factory(0, "cpu")
    est.fit(R, None, G, R)
    d1 = est.decision_function(R[:5])
    d2 = est.decision_function(R)
    assert np.isfinite(d1).all() and np.isfinite(d2).all()
    assert ssim_passes.get(len(G)) == 1, ssim_passes  # one real x generated SSIM pass for fit and scoring
    assert ssim_passes.get(len(R), 0) <= 1, ssim_passes  # and at most one real x real


def test_rules_of_one_space_share_the_matrix(ssim_passes: dict[int, int]) -> None:
    """Fitted one after the other (as evaluate does in a fold), the SSIM rules and scores read one matrix."""
    for method in ("sim-ssim/realmax", "sim-ssim/clustering", "sim-ssim/ranking", "mia-ssim/domias-knn"):
        parse_method(method).factory(0, "cpu").fit(R, None, G, R).decision_function(R)
    assert ssim_passes.get(len(G)) == 1, ssim_passes


def test_fusion_same_numbers_shared_or_streamed(monkeypatch: pytest.MonkeyPatch) -> None:
    clear_cache()
    shared = FusionMethod("rank").fit(R, None, G, R).decision_function(R)
    clear_cache()
    monkeypatch.setattr(scores_mod, "MATRIX_MAX_ENTRIES", 0)
    streamed = FusionMethod("rank").fit(R, None, G, R).decision_function(R)
    np.testing.assert_array_equal(shared, streamed)
    clear_cache()


def test_an_array_changed_between_fits_is_never_served_stale() -> None:
    """The content digest is memoised only inside one fit / decision (``one_pass``): change G in place
    between two fits and the second one computes its similarities again."""
    G2 = G.copy()
    clear_cache()
    est = parse_method("sim-ssim/clustering").factory(0, "cpu")
    before = est.fit(R, None, G2, R).decision_function(R)
    G2[:4] = _images(4, 9)  # the near-copies are gone
    after = est.fit(R, None, G2, R).decision_function(R)
    clear_cache()
    fresh = parse_method("sim-ssim/clustering").factory(0, "cpu").fit(R, None, G2.copy(), R).decision_function(R)
    np.testing.assert_array_equal(after, fresh)
    assert not np.array_equal(before, after)
    clear_cache()


def test_the_cache_is_bounded_in_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Oldest results go first once the cached arrays pass ``_CACHE_BYTES``; the newest always stays."""
    clear_cache()
    monkeypatch.setattr(scores_mod, "_CACHE_BYTES", 3 * 12 * 25 * 4)  # three (12, 25) float32 matrices
    for i in range(5):
        scores_mod.cached_pairwise("pixel", R, (G + 0.001 * i).astype(np.float32))
    assert len(scores_mod._CACHE) == 3
    monkeypatch.setattr(scores_mod, "_CACHE_BYTES", 1)
    scores_mod.cached_pairwise("pixel", R, G)
    assert len(scores_mod._CACHE) == 1
    clear_cache()
