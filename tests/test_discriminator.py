"""The ``mia-disc`` discriminator's front end and schedule: the fixed low-pass against scipy, the area
resize against block means, the same noise on both classes, and training by optimiser steps."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter

from trainprint.core.errors import TrainprintError
from trainprint.membership.mia import discriminator as disc_mod
from trainprint.membership.mia.discriminator import BalancedBatches, DiscriminatorMethod
from trainprint.nets.discriminator import Discriminator, DiscriminatorArch, LowPass


def test_low_pass_is_scipys_gaussian_filter_with_mirrored_borders() -> None:
    x = np.random.default_rng(0).random((2, 1, 20, 17)).astype(np.float32)
    for sigma in (0.7, 1.0, 2.0):
        got = LowPass(sigma)(torch.from_numpy(x)).numpy()
        want = gaussian_filter(x.astype(np.float64), sigma=(0, 0, sigma, sigma), mode="mirror", truncate=3.0)
        np.testing.assert_allclose(got, want, atol=1e-5)


def test_network_sees_an_area_resized_low_passed_image() -> None:
    torch.manual_seed(0)
    net = Discriminator(DiscriminatorArch(blocks=3, width=4, blur=1.0, max_side=16)).eval()
    x = torch.rand(3, 1, 64, 64)
    small = x.reshape(3, 1, 16, 4, 16, 4).mean(dim=(3, 5))  # 4 x 4 block means
    seen = {}
    net.features.register_forward_hook(lambda m, inp, out: seen.update({"in": inp[0]}))
    with torch.no_grad():
        net(x)
    np.testing.assert_allclose(seen["in"].numpy(), LowPass(1.0)(small).numpy(), atol=1e-5)
    assert net.input_side(64) == 16 and net.input_side(12) == 12
    with pytest.raises(ValueError, match="N >= 8"):
        net(torch.rand(1, 1, 4, 4))


def test_balanced_batches_add_the_same_noise_to_both_classes() -> None:
    real, gen = torch.full((8, 16, 16), 0.5), torch.full((20, 16, 16), 0.5)
    src = BalancedBatches(real, gen, 4, noise=0.1)
    g = torch.Generator().manual_seed(0)
    for x, t in src.batches(1, g):
        assert x.shape == (8, 1, 16, 16) and t.tolist() == [1.0] * 4 + [0.0] * 4
        sd_gen, sd_real = float((x[:4] - 0.5).std()), float((x[4:] - 0.5).std())
        assert sd_gen == pytest.approx(0.1, rel=0.15) and sd_real == pytest.approx(0.1, rel=0.15)
    clean = next(iter(BalancedBatches(real, gen, 4).batches(1, torch.Generator().manual_seed(0))))[0]
    assert float(clean.std()) == 0.0


def test_training_length_is_set_in_steps_whatever_the_pool_size(monkeypatch: pytest.MonkeyPatch) -> None:
    epochs: list[int] = []
    real_train = disc_mod.train

    def spy(model, objective, source, cfg, **kw):  # noqa: ANN001, ANN003
        epochs.append(cfg.epochs * source.steps)  # optimiser steps of this fold
        return real_train(model, objective, source, cfg, **kw)

    monkeypatch.setattr(disc_mod, "train", spy)
    rng = np.random.default_rng(0)
    R, G = rng.random((20, 16, 16)).astype(np.float32), rng.random((10, 16, 16)).astype(np.float32)
    m = DiscriminatorMethod("smoke", steps=6, batch_size=4, n_folds=2).fit(R, None, G, R)
    assert epochs == [6, 6]  # 10 reals per fold, 3 steps per epoch, 2 epochs
    epochs.clear()
    DiscriminatorMethod("smoke", epochs=1, batch_size=4, n_folds=2).fit(R, None, G, R)
    assert epochs == [3, 3]  # explicit epochs win over steps
    assert "steps asked" in m.notes_[0]
    with pytest.raises(TrainprintError, match="steps=0"):
        DiscriminatorMethod("smoke", steps=0).fit(R, None, G, R)
    with pytest.raises(TrainprintError, match="noise=-0.1"):
        DiscriminatorMethod("smoke", noise=-0.1).fit(R, None, G, R)
