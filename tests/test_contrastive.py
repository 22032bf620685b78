"""The ``contrastive`` extractor: its loss (pytorch-metric-learning's NT-Xent against the formula
written out), its augmentations, label-freeness, determinism, save / load and every preset; and
every preset of the ``mia-disc`` discriminator."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from trainprint.core.config import PRESET_NAMES
from trainprint.core.errors import TrainprintError
from trainprint.extractors import make_extractor
from trainprint.extractors.augment import AugmentConfig, augment
from trainprint.extractors.contrastive import ContrastiveExtractor
from trainprint.losses.contrastive import info_nce_reference, ntxent
from trainprint.membership.mia.discriminator import DiscriminatorMethod


def _tiny(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    split = np.array(["generated"] * 6 + ["real_used"] * 3 + ["real_not_used"] * 3)
    pixels = rng.integers(0, 256, (len(split), 64, 64)).astype(np.uint8)
    return pixels, split


@pytest.mark.parametrize("t", [0.05, 0.1, 0.5])
def test_ntxent_equals_the_written_out_info_nce(t: float) -> None:
    z = torch.randn(12, 8, generator=torch.Generator().manual_seed(0))
    assert ntxent(t)(z).item() == pytest.approx(info_nce_reference(z, t).item(), rel=1e-5)


def test_ntxent_rejects_bad_input() -> None:
    with pytest.raises(TrainprintError, match="temperature"):
        ntxent(0.0)
    with pytest.raises(ValueError, match="2B"):
        ntxent(0.1)(torch.randn(5, 3))


def test_augment_is_seeded_bounded_and_identity_without_jitter() -> None:
    x = torch.rand(4, 1, 64, 64, generator=torch.Generator().manual_seed(0))
    a = augment(x, torch.Generator().manual_seed(1))
    b = augment(x, torch.Generator().manual_seed(1))
    c = augment(x, torch.Generator().manual_seed(2))
    assert a.shape == x.shape and torch.equal(a, b) and not torch.equal(a, c)
    assert a.min() >= 0 and a.max() <= 1
    none = AugmentConfig(crop=(1.0, 1.0), rotate_deg=0.0, shift=0.0, contrast=0.0, brightness=0.0, gamma=1.0, noise=0.0)
    torch.testing.assert_close(augment(x, torch.Generator().manual_seed(3), none), x, atol=1e-5, rtol=0)


def test_contrastive_is_label_free_deterministic_and_round_trips(tmp_path) -> None:
    X, split = _tiny()
    ext = make_extractor("contrastive", preset="smoke", device="cpu", random_state=0)
    assert ext.uses_labels is False and isinstance(ext, ContrastiveExtractor)
    F = ext.fit(X, split).transform(X)
    assert F.shape == (12, 64) and F.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(F, axis=1), 1.0, atol=1e-5)
    relabelled = np.where(np.isin(split, ("real_used", "real_not_used")), "real_unknown", split)
    F2 = make_extractor("contrastive", preset="smoke", device="cpu", random_state=0).fit(X, relabelled).transform(X)
    np.testing.assert_array_equal(F, F2)  # labels change nothing
    loaded = ContrastiveExtractor.load(ext.save(tmp_path / "c.pt"), device="cpu")
    np.testing.assert_array_equal(loaded.transform(X), F)


def test_contrastive_bad_settings_are_one_line_errors() -> None:
    X, split = _tiny()
    with pytest.raises(TrainprintError, match="temperature"):
        make_extractor("contrastive", temperature=-1.0, device="cpu").fit(X, split)
    with pytest.raises(TrainprintError, match="preset"):
        make_extractor("contrastive", preset="nosuch", device="cpu").fit(X, split)


@pytest.mark.parametrize("preset", PRESET_NAMES)
def test_every_contrastive_preset_runs_an_epoch(preset: str, tmp_path) -> None:
    X, split = _tiny()
    ext = make_extractor("contrastive", preset=preset, epochs=1, batch_size=4, device="cpu", random_state=0,
                         run_dir=str(tmp_path))
    F = ext.fit(X, split).transform(X)
    assert np.isfinite(F).all() and F.shape[0] == 12
    assert (tmp_path / "train_log.csv").read_text().count("\n") == 2


@pytest.mark.parametrize("preset", PRESET_NAMES)
def test_every_discriminator_preset_runs_an_epoch(preset: str) -> None:
    X, split = _tiny()
    Xf = X.astype(np.float32) / 255
    m = DiscriminatorMethod(preset, epochs=1, batch_size=4, n_folds=2).fit(Xf[6:], None, Xf[:6])
    assert np.isfinite(m.decision_function(Xf[6:])).all() and len(m.history_) == 2
