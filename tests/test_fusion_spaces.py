"""``mia-fusion+<extractor>/<rule>``: fusion over fingerprint spaces too, under the strict protocol
(a label-free extractor sees every image and no label; one that reads labels sees only the training
images, and the method then reads labels and retrains it in the null test)."""

from __future__ import annotations

import numpy as np
import pytest

from helpers_eval import LabelFreeSpy, SpyExtractor, make_images, register_spies
from trainprint.core import files as io
from trainprint.core.errors import TrainprintError
from trainprint.data.imageset import GENERATED, REAL_UNKNOWN
from trainprint.evaluation.evaluate import EvalConfig, evaluate_images
from trainprint.membership.mia import fusion as fusion_mod
from trainprint.membership.mia.fusion import COMPONENTS, FusionMethod, component_list
from trainprint.membership.scores import clear_cache
from trainprint.methods import expand_methods, parse_method


@pytest.fixture(autouse=True)
def _fresh(monkeypatch):
    clear_cache()
    monkeypatch.setattr(fusion_mod, "_FITTED", type(fusion_mod._FITTED)())
    yield
    clear_cache()


def _task(monkeypatch):
    """64 px images in [0, 1] (the raw representation): 8 used, 8 not used, 16 generated."""
    images, key = make_images(n_used=8, n_not=8, n_gen=16)
    register_spies(monkeypatch, images)
    X = images.pixels.astype(np.float32) / 255.0
    gen, real = images.split == GENERATED, images.split != GENERATED
    return images, X[real], key, X[gen]


def test_ids_parse_and_say_who_reads_labels(monkeypatch) -> None:
    _task(monkeypatch)
    free = parse_method("mia-fusion+spy-free/rank")
    assert free.kind == "mia" and free.extractor == "raw" and not free.uses_labels and not free.trains_on_labels
    reads = parse_method("mia-fusion+spy/rank")
    assert reads.uses_labels and reads.trains_on_labels
    assert parse_method("mia-fusion+contrastive/features").uses_labels
    assert not parse_method("mia-fusion/rank").trains_on_labels
    assert "mia-fusion+contrastive/rank" in expand_methods("mia-fusion+*/rank")
    for bad, match in [("mia-fusion+raw/rank", "extractor 'raw'"), ("mia-fusion+nosuch/rank", "'nosuch'"),
                       ("mia-fusion+spy+spy/rank", "twice"), ("mia-fusion+spy-free/x", "fusion rule 'x'")]:
        with pytest.raises(TrainprintError, match=match):
            parse_method(bad)


def test_label_free_space_adds_its_components_and_never_sees_a_label(monkeypatch) -> None:
    images, R, y, G = _task(monkeypatch)
    m = FusionMethod("rank", extractors=("spy-free",)).fit(R[:10], None, G, R)
    assert m.components_ == component_list(("pixel", "ncc", "ssim", "spy-free"))
    assert len(m.components_) == len(COMPONENTS) + 8 and m.pool_scores_.shape == (16, len(COMPONENTS) + 8)
    assert len(LabelFreeSpy.calls) == 1
    ids, splits = LabelFreeSpy.calls[0]
    assert set(ids) == set(images.ids) and set(splits) == {GENERATED, REAL_UNKNOWN}  # every image, no label
    d = m.decision_function(R)
    assert d.shape == (16,) and np.isfinite(d).all() and (np.abs(d) <= 0.5).all()
    # one fit serves the next fold of the same run (same G and pool)
    FusionMethod("rank", extractors=("spy-free",)).fit(R[4:], None, G, R)
    assert len(LabelFreeSpy.calls) == 1


def test_label_reading_space_is_fitted_on_the_training_images_only_and_retrained_under_permutations(monkeypatch):
    images, R, y, G = _task(monkeypatch)
    train = np.r_[0:6, 8:14]  # 6 used + 6 not used; 4 held out
    m = FusionMethod("rank", extractors=("spy",)).fit(R[train], y[train], G, R)
    assert len(SpyExtractor.calls) == 1
    id_of = SpyExtractor.id_of
    seen = set(SpyExtractor.calls[0][0])
    held = {id_of[np.rint(r * 255).astype(np.uint8).tobytes()] for r in np.delete(R, train, axis=0)}
    assert not seen & held and len(seen) == len(G) + len(train)
    with pytest.raises(TrainprintError, match="needs labels y"):
        FusionMethod("rank", extractors=("spy",)).fit(R[train], None, G, R)
    refit = m.label_refitter(R[train], np.delete(R, train, axis=0))
    p = refit(np.random.default_rng(0).permutation(y[train]))
    assert p.shape == (4,) and len(SpyExtractor.calls) == 2  # the extractor was retrained on the permuted labels


def test_fusion_over_a_fingerprint_space_runs_under_strict_evaluate(tmp_path, monkeypatch) -> None:
    images, _, _, _ = _task(monkeypatch)
    methods = ("mia-fusion+spy-free/rank", "mia-fusion+spy-free/features", "mia-fusion+spy/rank")
    cfg = EvalConfig(dev_dir="/nonexistent/dev", methods=methods, folds=2, device="cpu", preset="smoke",
                     permutations=19)
    rows = evaluate_images(images, cfg, tmp_path / "run")
    assert [r["method"] for r in rows] == list(methods)
    assert len(LabelFreeSpy.calls) == 2  # one label-free fit per fold (seeded seed + fold), shared by both rules
    sel = io.read_json(tmp_path / "run" / "selection.json")
    # the label-reading fusion would retrain its extractor per permutation: out of the null test without --null-refits
    assert "mia-fusion+spy/rank" in sel["excluded"]
