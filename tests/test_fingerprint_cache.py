"""The fingerprint cache keys a fit on what the extractor read: a label-free extractor (``contrastive``)
is fitted once for every fold and every relabelling, and never sees a label; an extractor that reads
labels is refitted when its fold or its labels change."""

from __future__ import annotations

import numpy as np
import pytest

from helpers_eval import LabelFreeSpy, SpyExtractor, make_images, register_spies
from trainprint.data.imageset import GENERATED, REAL_NOT_USED, REAL_UNKNOWN, REAL_USED, ImageSet
from trainprint.evaluation.config import EvalConfig
from trainprint.evaluation.fingerprint_cache import cache_key, fingerprints
from trainprint.evaluation.protocol import fit_view, label_free_view
from trainprint.evaluation.representations import fold_reps
from trainprint.extractors.contrastive import ContrastiveExtractor
from trainprint.methods import parse_method

K = 3
PARAMS = dict(preset="smoke", epochs=None, device="cpu", random_state=0, progress=False)


def _folds(images: ImageSet) -> list[np.ndarray]:
    real = np.flatnonzero(images.split != GENERATED)
    return [real[k::K] for k in range(K)]


def _reps(images: ImageSet, out, methods: list[str], held_out_rows: np.ndarray, k: int) -> dict[str, np.ndarray]:
    cfg = EvalConfig(dev_dir="/nonexistent/dev", methods=tuple(methods), folds=K, device="cpu", preset="smoke")
    specs = [parse_method(m) for m in methods]
    label_users = {"spy": True, "spy-free": False, "contrastive": False}
    return fold_reps(images, cfg, out, k, held_out_rows, specs, label_users, PARAMS)


def _relabel(images: ImageSet, seed: int) -> ImageSet:
    """The same images with the used / not-used labels of the real ones permuted."""
    split = images.split.copy()
    real = np.flatnonzero(split != GENERATED)
    split[real] = np.random.default_rng(seed).permutation(split[real])
    assert not np.array_equal(split, images.split)
    return ImageSet(images.ids, split, images.pixels, images.source)


def test_label_free_fit_serves_every_fold_and_labelling(tmp_path, monkeypatch):
    images, _ = make_images()
    register_spies(monkeypatch, images)
    methods = ["spy/real/svm-2", "spy-free/real/svm-2"]
    first = {k: _reps(images, tmp_path, methods, held, k) for k, held in enumerate(_folds(images))}
    assert len(SpyExtractor.calls) == K  # reads labels: one fit per fold
    assert len(LabelFreeSpy.calls) == 1  # reads none: one fit for every fold
    ids, splits = LabelFreeSpy.calls[0]
    assert set(ids) == set(images.ids) and set(splits) == {GENERATED, REAL_UNKNOWN}  # every image, no label
    for k in range(K):
        np.testing.assert_array_equal(first[k]["spy-free"], first[0]["spy-free"])
        assert (tmp_path / "fingerprints" / f"fold-{k}" / "spy-free.npz").exists()
    # other labels (a permutation of the null test, a relabelled dev set): label-free reused, label-reading refitted
    again = {k: _reps(_relabel(images, 7), tmp_path, methods, held, k) for k, held in enumerate(_folds(images))}
    assert len(LabelFreeSpy.calls) == 1
    assert len(SpyExtractor.calls) == 2 * K
    for k in range(K):
        np.testing.assert_array_equal(again[k]["spy-free"], first[k]["spy-free"])


def test_label_reading_key_keeps_the_labels_and_label_free_key_drops_them():
    images, _ = make_images()
    other = _relabel(images, 3)
    held = np.zeros(len(images), dtype=bool)
    held[_folds(images)[0]] = True
    px, sp = fit_view(images, held, True)
    px2, sp2 = fit_view(other, held, True)
    assert cache_key("contrastive", images, px, sp, PARAMS) != cache_key("contrastive", other, px2, sp2, PARAMS)
    assert cache_key("contrastive", images, px, sp, PARAMS, label_free=True) == cache_key("contrastive", other, px2, sp2, PARAMS,
                                                                                   label_free=True)
    # a changed setting is another key either way
    assert cache_key("contrastive", images, px, sp, PARAMS, label_free=True) != cache_key(
        "contrastive", images, px, sp, {**PARAMS, "random_state": 1}, label_free=True)
    assert list(label_free_view(np.array([GENERATED, REAL_USED, REAL_NOT_USED, REAL_UNKNOWN]))) == [
        GENERATED, REAL_UNKNOWN, REAL_UNKNOWN, REAL_UNKNOWN]


def test_contrastive_is_trained_once_across_folds_and_labels(tmp_path, monkeypatch):
    """The real label-free extractor: one training for three folds and a relabelling, same fingerprints."""
    images, _ = make_images(n_used=6, n_not=6, n_gen=8)
    fits: list[np.ndarray] = []
    real_fit = ContrastiveExtractor._fit

    def counted(self, X, y):  # noqa: ANN001, ANN202
        fits.append(np.asarray(y).copy())
        return real_fit(self, X, y)

    monkeypatch.setattr(ContrastiveExtractor, "_fit", counted)
    out = [_reps(images, tmp_path, ["sim-contrastive/realmax"], held, k)["contrastive"]
           for k, held in enumerate(_folds(images))]
    relabelled = _reps(_relabel(images, 5), tmp_path, ["sim-contrastive/realmax"], _folds(images)[1], 1)["contrastive"]
    assert len(fits) == 1 and set(fits[0]) == {GENERATED, REAL_UNKNOWN}
    for X in out[1:] + [relabelled]:
        np.testing.assert_array_equal(X, out[0])
    # another setting refits
    fingerprints("contrastive", images, images.pixels, images.split, tmp_path / "fingerprints" / "x" / "contrastive.npz",
                 **{**PARAMS, "random_state": 1})
    assert len(fits) == 2


@pytest.mark.parametrize("label_free", [True, False])
def test_a_stale_file_is_never_reused(tmp_path, monkeypatch, label_free: bool):
    images, _ = make_images()
    register_spies(monkeypatch, images)
    name = "spy-free" if label_free else "spy"
    calls = LabelFreeSpy.calls if label_free else SpyExtractor.calls
    path = tmp_path / "fingerprints" / "fold-0" / f"{name}.npz"
    fingerprints(name, images, images.pixels, images.split, path, **PARAMS)
    fingerprints(name, images, images.pixels, images.split, path, **PARAMS)
    assert len(calls) == 1
    moved = ImageSet(images.ids, images.split, (images.pixels // 2).astype(np.uint8), images.source)
    SpyExtractor.id_of.update({p.tobytes(): i for i, p in zip(moved.ids, moved.pixels)})
    fingerprints(name, moved, moved.pixels, moved.split, path, **PARAMS)  # other pixels
    assert len(calls) == 2
