"""Membership scores on hand-made examples whose answers can be worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from trainprint.core.errors import TrainprintError
from trainprint.membership.scores import SCORE_NAMES, clear_cache, membership_scores, real_real_similarities

# three real fingerprints far apart, and generated ones near r0 (two) and r1 (one)
R = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]], dtype=np.float32)
G = np.array([[0.1, 0.0], [0.0, 0.2], [10.0, 0.5]], dtype=np.float32)


@pytest.fixture(autouse=True)
def _fresh_cache():
    clear_cache()
    yield
    clear_cache()


def test_each_score_by_hand() -> None:
    # rtol 1e-5 holds on any BLAS and backend: the best-match similarities are recomputed from the
    # differences (similarity/search.py, exact_distances); the float32 matrix-product expansion alone
    # is ~1e-5 off here (norms ~3.8 after centring, distance 0.1), and FAISS, when installed, was exact
    ms = membership_scores("vectornet-12", R, G, k=2)
    # r2 = (0, 10): nearest g1 = (0, 0.2) at 9.8, then g0 = (0.1, 0)
    np.testing.assert_allclose(ms.max, [-0.1, -0.5, -9.8], rtol=1e-5)
    np.testing.assert_allclose(ms.topk, [-(0.1 + 0.2) / 2, -(0.5 + 9.9) / 2, -(9.8 + np.hypot(0.1, 10)) / 2],
                               rtol=1e-5)
    np.testing.assert_array_equal(ms.nn, [2, 1, 0])
    np.testing.assert_allclose(ms.real_max, [-10.0, -10.0, -10.0], rtol=1e-6)
    np.testing.assert_allclose(ms.calibrated, ms.max - ms.real_max, rtol=1e-6)
    np.testing.assert_array_equal(ms.topk_idx[0], [0, 1])
    assert ms.features().shape == (3, len(SCORE_NAMES))


def test_pool_competes_for_nearest_and_never_matches_itself() -> None:
    pool = np.concatenate([R, [[0.1, -0.05]]]).astype(np.float32)  # another real right beside r0 and g0
    ms = membership_scores("vectornet-12", R[:2], G, pool, k=1)
    # g0 (0.1, 0) is now nearest to the pool image, g1 (0, 0.2) stays with r0
    np.testing.assert_array_equal(ms.nn, [1, 1])
    np.testing.assert_allclose(ms.real_max[0], -np.hypot(0.1, 0.05), atol=1e-4)  # not itself (0)
    np.testing.assert_allclose(ms.real_max[1], -np.hypot(9.9, 0.05), atol=1e-4)


def test_single_real_has_no_real_competitor() -> None:
    ms = membership_scores("vectornet-12", R[:1], G, k=1)
    assert np.isnan(ms.real_max[0])
    assert ms.calibrated[0] == ms.max[0]


def test_real_real_similarities_are_distinct_pairs() -> None:
    rr = real_real_similarities("vectornet-12", np.concatenate([R, R[:1]]))  # a duplicate counts once
    np.testing.assert_allclose(np.sort(rr), np.sort([-10.0, -10.0, -np.hypot(10, 10)]), rtol=1e-6)
    with pytest.raises(TrainprintError, match="at least 2"):
        real_real_similarities("vectornet-12", R[:1])


def test_pixel_space_copy_is_its_own_best_match() -> None:
    rng = np.random.default_rng(0)
    reals = rng.random((4, 16, 16)).astype(np.float32)
    gen = np.concatenate([reals[[2]], rng.random((5, 16, 16)).astype(np.float32)])
    ms = membership_scores("pixel", reals, gen, k=2)
    assert ms.max.argmax() == 2 and abs(ms.max[2]) < 1e-3
    assert ms.topk_idx[2, 0] == 0


def test_shape_mismatch_is_an_error() -> None:
    with pytest.raises(TrainprintError, match="R_pool"):
        membership_scores("vectornet-12", R, G, np.zeros((2, 3), np.float32))
