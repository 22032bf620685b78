"""Engines: the local engine's fingerprint shards, resumed and keyed; the Ray engine (a local cluster of
2 workers) writes the same numbers. The Ray test skips cleanly without ``trainprint[distributed]``."""

from __future__ import annotations

import numpy as np
import pytest

from trainprint.core.errors import TrainprintError
from trainprint.data.shards import ShardStore, ShardWriter
from trainprint.engine import EmbedSpec, embed_shards, ray_available
from trainprint.extractors.registry import make_extractor


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("engine")
    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, (40, 64, 64)).astype(np.uint8)
    y = np.array(["generated"] * 20 + ["real_used"] * 10 + ["real_not_used"] * 10)
    ext = make_extractor("dae-gu", preset="smoke", device="cpu", random_state=0).fit(X, y)
    spec = EmbedSpec("dae-gu", str(ext.save(root / "extractor.pt")), device="cpu")
    G = rng.integers(0, 256, (70, 64, 64)).astype(np.uint8)
    w = ShardWriter(root / "pixels", "pixels-test", (64, 64), "uint8", divisor=255.0)
    for i in range(3):
        w.write(i, G[i * 25:(i + 1) * 25], np.arange(i * 25, min(70, (i + 1) * 25)).astype(str))
    return root, ext, spec, G, w.finish(3)


def test_local_engine_writes_the_extractor_output_and_resumes(setup) -> None:
    root, ext, spec, G, pixels = setup
    store = embed_shards(pixels, spec, root / "local")
    assert store.shape == (70, ext.transform(G[:1]).shape[1]) and store.n_shards == 3
    assert np.allclose(store.block(0, 70), ext.transform(G), atol=1e-5)
    (root / "local" / "manifest.json").unlink()  # an interrupted run: shards 0..2 on disk, no manifest
    (root / "local" / "part-00001.npy").unlink()
    again = embed_shards(pixels, spec, root / "local")
    assert np.array_equal(again.block(0, 70), store.block(0, 70))
    assert list(again.ids()) == [str(i) for i in range(70)]
    with pytest.raises(TrainprintError, match="--engine 'spark'"):
        embed_shards(pixels, spec, root / "x", engine="spark")


def test_ray_engine_on_a_local_cluster_of_two_workers_equals_the_local_engine(setup) -> None:
    if not ray_available():
        pytest.skip("Ray is not installed (pip install 'trainprint[distributed]')")
    import ray

    root, _, spec, _, pixels = setup
    local = embed_shards(pixels, spec, root / "local-ref")
    try:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
        remote = embed_shards(pixels, spec, root / "ray", engine="ray", workers=2)
    finally:
        ray.shutdown()
    assert remote.n_shards == 3 and list(remote.ids()) == list(local.ids())
    assert np.array_equal(remote.block(0, 70), local.block(0, 70))
    assert ShardStore(root / "ray").key == local.key
