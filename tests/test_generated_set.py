"""Generated images kept as uint8 and divided by 255 a block at a time (``GeneratedSet(divisor=255)``)
give the membership scores of the float32 array they stand for: bit for bit in one block, to
float32 rounding in many (tests/test_audit.py checks the audit that reads them so)."""

from __future__ import annotations

import numpy as np
import pytest

from trainprint.core.errors import TrainprintError
from trainprint.membership.scores import clear_cache, membership_scores
from trainprint.similarity.generated import AUTO_TWO_STAGE_WORK, GeneratedSet, SearchPlan, resolve_search

FIELDS = ("max", "topk", "nn", "calibrated", "real_max", "topk_idx", "topk_sim")


def _images(n: int, seed: int, side: int = 32) -> np.ndarray:
    """(n, side, side) uint8 smooth textures."""
    rng = np.random.default_rng(seed)
    x = rng.random((n, side // 4, side // 4))
    x = np.repeat(np.repeat(x, 4, 1), 4, 2) + 0.2 * rng.random((n, side, side))
    return np.clip(x * 200, 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    G = _images(37, seed=1)
    real = np.concatenate([G[:6], _images(10, seed=2)])  # six members: copies of generated images
    pool = np.concatenate([real, _images(8, seed=3)])
    groups = np.array([f"p{i // 2}" for i in range(len(pool))])  # siblings two by two
    return G, real, pool, groups


@pytest.mark.parametrize("space", ["pixel", "ncc", "ssim"])
@pytest.mark.parametrize("block_rows", [4096, 5])
def test_uint8_generated_set_gives_the_scores_of_the_float_array(data, space: str, block_rows: int) -> None:
    G, real, pool, groups = data
    f = lambda x: x.astype(np.float32) / np.float32(255.0)  # noqa: E731 - as the raw extractor
    clear_cache()
    want = membership_scores(space, f(real), f(G), f(pool), k=3, pool_groups=groups)
    clear_cache()
    gset = GeneratedSet(G, SearchPlan(block_rows=block_rows), divisor=255.0)
    got = membership_scores(space, f(real), gset, f(pool), k=3, pool_groups=groups)
    assert np.array_equal(gset.block(3, 9), f(G[3:9])) and np.array_equal(gset.take(np.array([4, 1])), f(G[[4, 1]]))
    for name in FIELDS:
        a, b = getattr(want, name), getattr(got, name)
        if block_rows >= len(G) or a.dtype.kind == "i":  # one block: the same arithmetic; indices: no ties here
            assert np.array_equal(a, b), (space, name)
        else:
            np.testing.assert_allclose(b, a, rtol=0, atol=2e-6, err_msg=f"{space} {name}")
    assert want.calibrated[:6].min() > want.calibrated[6:16].max()  # the copies stand out: the data test something


def test_generated_set_names_its_content_and_divisor() -> None:
    G = _images(4, seed=5)
    a, b = GeneratedSet(G, divisor=255.0), GeneratedSet(G)
    c = GeneratedSet(G.copy(), divisor=255.0)
    G2 = G.copy()
    G2[0, 0, 0] ^= 1
    assert repr(a) == repr(c) and repr(a) != repr(b) and repr(a) != repr(GeneratedSet(G2, divisor=255.0))


def test_search_auto_turns_two_stage_from_the_work_threshold() -> None:
    side = 256 * 256
    n_gen = AUTO_TWO_STAGE_WORK // (400 * side) + 1
    assert resolve_search("auto", 400, n_gen, (256, 256)) == "two-stage"
    assert resolve_search("auto", 400, n_gen - 2, (256, 256)) == "exhaustive"
    assert resolve_search("auto", 400, 10_000, (64, 64)) == "exhaustive"
    assert resolve_search("exhaustive", 400, 10**7, (256, 256)) == "exhaustive"
    with pytest.raises(TrainprintError, match="--search 'fast'"):
        resolve_search("fast", 1, 1, (8, 8))


MIA = [("pixel", "domias-knn"), ("ncc", "gan-leaks-cal"), ("ssim", "domias-knn"), ("ssim", "gan-leaks-cal"),
       ("pixel", "domias-kde"), ("ncc", "domias-clf")]


@pytest.mark.parametrize("space,score", MIA)
def test_mia_scores_read_a_generated_set_a_block_at_a_time(data, space: str, score: str) -> None:
    """``mia-<space>/<score>`` fitted on the uint8 generated set, read 5 rows at a time, scores as
    fitted on the float32 array (the audit streams them so)."""
    from trainprint.membership.mia import MiaMethod

    G, real, pool, groups = data
    f = lambda x: x.astype(np.float32) / np.float32(255.0)  # noqa: E731 - as the raw extractor
    clear_cache()
    want = MiaMethod(space, score, random_state=3).fit(f(pool), None, f(G), f(pool), groups).decision_function(f(real))
    clear_cache()
    gset = GeneratedSet(G, SearchPlan(block_rows=5), divisor=255.0)
    got = MiaMethod(space, score, random_state=3).fit(f(pool), None, gset, f(pool), groups).decision_function(f(real))
    # NCC's distance sqrt(2 - 2 ncc) turns float32 rounding of an ncc near 1 (a near-copy) into ~sqrt(2e-7)
    atol = 2e-3 if space == "ncc" else 1e-4
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=atol, err_msg=f"mia-{space}/{score}")
    assert want[:6].mean() > want[6:16].mean(), \
        "the copies score higher: the data test something"


@pytest.mark.parametrize("space", ["ncc", "ssim"])
@pytest.mark.parametrize("score", ["domias-knn", "gan-leaks-cal"])
def test_mia_distance_scores_under_two_stage_search_equal_the_exhaustive_ones(data, space: str, score: str) -> None:
    """A two-stage plan (8 candidates of 37 generated images) gives the ``mia-*`` distance scores of the
    full exhaustive matrix wherever its candidates hold each image's exhaustive nearest generated
    images, checked here with ``candidate_recall``."""
    from trainprint.membership.mia import MiaMethod
    from trainprint.membership.mia.density import gan_leaks_cal, knn_log_ratio
    from trainprint.membership.mia.geometry import distances
    from trainprint.membership.scores import siblings_of
    from trainprint.similarity.twostage import candidate_recall

    G, real, pool, groups = data
    f = lambda x: x.astype(np.float32) / np.float32(255.0)  # noqa: E731
    plan = SearchPlan(search="two-stage", candidates=8, real_candidates=2, block_rows=7)
    assert candidate_recall(space, f(pool), f(G), plan, tops=(1,))["recall@1"] == 1.0  # k = 1: the nearest one
    clear_cache()
    gset = GeneratedSet(G, plan, divisor=255.0)
    m = MiaMethod(space, score, random_state=3).fit(f(pool), None, gset, f(pool), groups)
    got = m.decision_function(f(real))
    # by hand, from the full matrices: the real image is pool row i, its siblings left out of its reference
    D_g = distances(space, f(real), f(G))
    D_r = distances(space, f(real), f(pool))
    D_r[siblings_of(groups, len(pool))[:len(real)]] = np.inf
    want = gan_leaks_cal(D_g, D_r) if score == "gan-leaks-cal" else knn_log_ratio(D_g, len(G), D_r, 1, m.dim_)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=2e-3 if space == "ncc" else 1e-5)
    assert want[:6].mean() > want[6:16].mean()


def test_mia_scores_and_membership_scores_share_one_search(data, monkeypatch) -> None:
    """The ``mia-*`` distance scores and ``membership_scores`` (k = 5, as the audit's neighbour list)
    of one pool against one generated set search G once."""
    from trainprint.membership.mia import MiaMethod
    from trainprint.similarity import search

    G, real, pool, groups = data
    f = lambda x: x.astype(np.float32) / np.float32(255.0)  # noqa: E731
    calls = []
    real_search = search.two_stage_stats
    monkeypatch.setattr(search, "two_stage_stats", lambda *a, **kw: calls.append(1) or real_search(*a, **kw))
    clear_cache()
    gset = GeneratedSet(G, SearchPlan(search="two-stage", candidates=8, block_rows=7), divisor=255.0)
    for score in ("domias-knn", "gan-leaks-cal"):
        MiaMethod("ssim", score).fit(f(pool), None, gset, f(pool), groups).decision_function(f(pool))
    membership_scores("ssim", f(real), gset, f(pool), k=5, pool_groups=groups, device="cpu")
    assert len(calls) == 1


def test_fusion_reads_a_generated_set_a_block_at_a_time(data) -> None:
    from trainprint.membership.mia.fusion import FusionMethod

    G, real, pool, groups = data
    f = lambda x: x.astype(np.float32) / np.float32(255.0)  # noqa: E731
    clear_cache()
    want = FusionMethod("rank", random_state=1).fit(f(pool), None, f(G), f(pool), groups).components(f(real))
    clear_cache()
    gset = GeneratedSet(G, SearchPlan(block_rows=5), divisor=255.0)
    got = FusionMethod("rank", random_state=1).fit(f(pool), None, gset, f(pool), groups).components(f(real))
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=2e-3)  # 2e-3: NCC distances of near-copies (above)


def test_generated_set_rows_by_slice_and_index() -> None:
    G = _images(9, seed=4)
    gset = GeneratedSet(G, SearchPlan(block_rows=2), divisor=255.0)
    f = lambda x: x.astype(np.float32) / np.float32(255.0)  # noqa: E731
    assert np.array_equal(gset[2:7], f(G[2:7])) and np.array_equal(gset[np.array([8, 0, 8])], f(G[[8, 0, 8]]))
    assert np.array_equal(gset[5:100], f(G[5:]))
    with pytest.raises(TrainprintError, match="step 1"):
        gset[::2]
    with pytest.raises(TrainprintError, match="slice or a 1-d array"):
        gset[np.array([0.5])]


def test_discriminator_reads_a_generated_set_a_batch_at_a_time(data, tmp_path) -> None:
    """``mia-disc/cnn`` trained on the uint8 generated set, or on shards on disk (rows read by
    number, a batch at a time), is the one trained on the float32 array: the same batches, the same
    scores."""
    from trainprint.data.shards import ShardWriter
    from trainprint.membership.mia.discriminator import DiscriminatorMethod

    G, real, pool, groups = data
    f = lambda x: x.astype(np.float32) / np.float32(255.0)  # noqa: E731
    w = ShardWriter(tmp_path / "shards", "test", G.shape[1:], str(G.dtype), divisor=255.0)
    for i in range(0, len(G), 10):
        w.write(i // 10, G[i:i + 10], np.arange(i, min(i + 10, len(G))).astype(str))
    store = w.finish(-(-len(G) // 10))
    want = DiscriminatorMethod("smoke", n_folds=2, random_state=2).fit(f(pool), None, f(G), f(pool), groups)
    for G_set in (GeneratedSet(G, SearchPlan(block_rows=5), divisor=255.0), store):
        got = DiscriminatorMethod("smoke", n_folds=2, random_state=2).fit(f(pool), None, G_set, f(pool), groups)
        np.testing.assert_array_equal(got.decision_function(f(real)), want.decision_function(f(real)))
    assert np.ptp(want.decision_function(f(real))) > 0
