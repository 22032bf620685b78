"""``mia-disc``: a CNN trained to tell generated images from the real pool, cross-fitted over the reals.

For each of ``n_folds`` folds of the real images, a ``nets.discriminator.Discriminator`` is trained
with the one training loop (``trainprint.training.train``) on every generated image (target 1) and the
real images outside the fold (target 0), each step a balanced batch of both. A real image's score is
the "generated" logit of the model that never saw it: with balanced classes that logit estimates
``log p_G(x) - log p_real(x)``, high where the generator puts more density than the real
distribution has (DOMIAS's idea, with a learned classifier on pixels). Label-free.

What keeps it on where the density sits rather than on what marks every generated image
(docs/membership.md):

- the network sees a smoothed image (``DiscriminatorArch.blur`` / ``max_side``: a fixed Gaussian
  low-pass after an area resize), so a generator's fine-scale artifacts are mostly gone;
- every training image, generated or real, gets fresh Gaussian noise of sd ``noise`` at each step,
  so what fine-scale noise is left says nothing about the class;
- training runs a set number of optimiser ``steps`` whatever the pool's size (with 40 reals per
  fold, 15 passes over them were 30 steps: far too few to learn where G's images sit).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted
from torch import nn

from trainprint.core.config import get_preset, override
from trainprint.core.device import resolve_device
from trainprint.core.errors import TrainprintError
from trainprint.core.seeding import torch_seeded
from trainprint.core.torchstate import plain
from trainprint.membership.mia.crossfit import pool_folds
from trainprint.membership.scores import union_groups, union_of_reals
from trainprint.nets.discriminator import Discriminator, DiscriminatorArch
from trainprint.similarity import check_representation
from trainprint.training import TrainConfig, train


@dataclass(frozen=True)
class DiscriminatorConfig:
    """One discriminator training (each fold's).

    ``train.epochs`` is replaced at fit time by ``ceil(steps / steps per epoch)`` (one epoch = one
    pass over the fold's reals), unless the method is given ``epochs``."""

    train: TrainConfig  # batch_size = images of EACH class per step
    arch: DiscriminatorArch = field(default_factory=DiscriminatorArch)
    steps: int = 300  # optimiser steps per fold (at least; whole epochs)
    noise: float = 0.05  # sd of the Gaussian noise added to every training image, both classes


PRESETS: dict[str, DiscriminatorConfig] = {
    # ctmem64 dev (128 training reals per fold, 64 px): 4 steps x 64 images per epoch, 75 epochs, on
    # 32 px inputs (a quarter of the convolution work at 64 px: ~12 s per fit here, not ~45 s)
    "fast": DiscriminatorConfig(TrainConfig(epochs=1, batch_size=32, lr=1e-3),
                                DiscriminatorArch(blur=1.0, max_side=32), steps=300, noise=0.05),
    "paper": DiscriminatorConfig(TrainConfig(epochs=1, batch_size=32, lr=5e-4),
                                 DiscriminatorArch(blur=1.0, max_side=64), steps=600, noise=0.05),
    # for the test suite
    "smoke": DiscriminatorConfig(TrainConfig(epochs=1, batch_size=8, lr=1e-3),
                                 DiscriminatorArch(blocks=3, width=8, blur=1.0, max_side=64), steps=4, noise=0.05),
}


class BalancedBatches:
    """BatchSource: ``(x (2B, 1, N, N) float, t (2B,) float)``: B real images (a fresh random pass over
    them each epoch) and B generated images drawn at random, per step, each image plus fresh
    Gaussian noise of sd ``noise`` (both classes alike; drawn from the epoch's generator).

    ``gen``: (m, N, N) float32 in [0, 1], an array or a ``similarity.GeneratedSet`` (uint8 or on disk,
    rows read by number: the float32 copy of every generated image is never made); its rows are read
    a batch at a time."""

    def __init__(self, real: torch.Tensor, gen: Any, batch_size: int, noise: float = 0.0) -> None:
        self.real, self.gen, self.batch_size = real, gen, batch_size  # (n, N, N) tensor, (m, N, N) rows
        self.noise = noise
        self.steps = math.ceil(len(real) / batch_size)

    def batches(self, epoch: int, generator: torch.Generator) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        order = torch.randperm(len(self.real), generator=generator)
        for s in range(self.steps):
            r = self.real[order[s * self.batch_size:(s + 1) * self.batch_size]]
            pick = torch.randint(len(self.gen), (len(r),), generator=generator).numpy()
            g = torch.from_numpy(np.asarray(self.gen[pick]))
            x = torch.cat([g, r]).unsqueeze(1)
            if self.noise > 0:
                x = x + self.noise * torch.randn(x.shape, generator=generator)
            t = torch.cat([torch.ones(len(g)), torch.zeros(len(r))])
            yield x, t


def bce_objective(model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> dict[str, torch.Tensor]:
    x, t = batch
    return {"bce": nn.functional.binary_cross_entropy_with_logits(model(x).float(), t)}


class DiscriminatorMethod(BaseEstimator):
    """``mia-disc`` (see the module docstring). Method contract: ``fit(R, y, G, R_pool)`` (``y`` is
    ignored), ``decision_function``, ``predict`` (logit > 0), ``notes_``.

    Parameters (stored verbatim): ``preset`` (``fast | paper | smoke``), ``steps``, ``noise``,
    ``batch_size``, ``lr`` (override the preset when not None), ``epochs`` (when not None: passes
    over the fold's reals, instead of ``steps``), ``n_folds``, ``device``, ``random_state``.
    Fitted attributes: ``ref_`` (the real images), ``folds_``, ``models_`` (one per fold),
    ``scores_`` (out-of-fold logit of each real image), ``history_`` (per fold), ``config_``.
    """

    def __init__(self, preset: str = "fast", *, steps: int | None = None, noise: float | None = None,
                 epochs: int | None = None, batch_size: int | None = None, lr: float | None = None,
                 n_folds: int = 5, device: str = "cpu", random_state: int = 0) -> None:
        self.preset = preset
        self.steps = steps
        self.noise = noise
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.n_folds = n_folds
        self.device = device
        self.random_state = random_state

    def config(self) -> DiscriminatorConfig:
        cfg = get_preset(PRESETS, self.preset, "mia-disc")
        cfg = override(cfg, steps=self.steps, noise=self.noise,
                       train=override(cfg.train, epochs=self.epochs, batch_size=self.batch_size, lr=self.lr))
        if cfg.steps < 1 or not (cfg.noise >= 0 and math.isfinite(cfg.noise)):
            raise TrainprintError(f"mia-disc: steps={cfg.steps} must be >= 1 and noise={cfg.noise} >= 0")
        return cfg

    def fold_epochs(self, cfg: DiscriminatorConfig, n_real: int) -> int:
        """Passes over a fold's ``n_real`` reals: ``epochs`` when given, else enough for ``cfg.steps``."""
        if self.epochs is not None:
            return int(self.epochs)
        return max(1, math.ceil(cfg.steps / math.ceil(n_real / cfg.train.batch_size)))

    def fit(self, R: np.ndarray, y: np.ndarray | None, G: Any, R_pool: np.ndarray | None = None,
            pool_groups: np.ndarray | None = None) -> "DiscriminatorMethod":
        """R (n, N, N) and R_pool (p, N, N) real images in [0, 1] (their union is the real side), G (m, N, N)
        an array or a ``GeneratedSet`` (read a batch at a time);
        ``pool_groups`` (p,): sibling groups of the pool, which then share a cross-fitting fold (no
        image is scored by a discriminator that saw its siblings as real)."""
        cfg = self.config()
        R = check_representation("pixel", R, "R")
        G = check_representation("pixel", G, "G")  # an array or a GeneratedSet (a ShardStore made one)
        pool = None if R_pool is None else check_representation("pixel", R_pool, "R_pool")
        self.ref_, _ = union_of_reals(R, pool)
        side = min(self.ref_.shape[1:])
        if (min(side, cfg.arch.max_side) if cfg.arch.max_side > 0 else side) < 2**cfg.arch.blocks:
            raise TrainprintError(f"mia-disc: images of {self.ref_.shape[1:]} px; needs at least {2**cfg.arch.blocks}")
        self.folds_ = pool_folds(len(self.ref_), self.n_folds, self.random_state, union_groups(R, pool, pool_groups))
        device = resolve_device(self.device)
        real = torch.from_numpy(self.ref_)
        self.models_: list[nn.Module] = []
        self.history_: list[list[dict[str, float]]] = []
        self.scores_ = np.empty(len(self.ref_), dtype=np.float64)
        for f in range(int(self.folds_.max()) + 1):
            seed = int(self.random_state) * 1000 + f
            fold_real = real[self.folds_ != f]
            train_cfg = override(cfg.train, epochs=self.fold_epochs(cfg, len(fold_real)))
            with torch_seeded(seed):
                model = Discriminator(cfg.arch)
                self.history_.append(train(model, bce_objective,
                                           BalancedBatches(fold_real, G, cfg.train.batch_size, noise=cfg.noise),
                                           train_cfg, device=device, seed=seed, desc=f"mia-disc fold {f}",
                                           meta={"mia-disc": plain(dataclasses.asdict(cfg.arch)), "noise": cfg.noise,
                                                 "fold": f}))
            model.eval()
            self.models_.append(model)
            self.scores_[self.folds_ == f] = self._logits(model, self.ref_[self.folds_ == f])
        self.config_ = cfg
        self.notes_ = [f"mia-disc: {len(self.models_)} discriminators cross-fitted over {len(self.ref_)} real images, "
                       f"{len(self.history_[0])} epochs each ({cfg.steps} steps asked), input noise sd "
                       f"{cfg.noise:g}, low-pass sd {cfg.arch.blur:g} px; final loss per fold "
                       + ", ".join(f"{h[-1]['loss']:.3f}" for h in self.history_)]
        return self

    @torch.no_grad()
    def _logits(self, model: nn.Module, X: np.ndarray) -> np.ndarray:
        dev = next(model.parameters()).device
        out = [model(torch.from_numpy(np.ascontiguousarray(X[i:i + 256])).unsqueeze(1).to(dev)).cpu()
               for i in range(0, len(X), 256)]
        return torch.cat(out).double().numpy()

    def decision_function(self, R: np.ndarray) -> np.ndarray:
        """(n,) float64: a real image of the fitted pool gets its out-of-fold logit; any other image the
        mean logit of the fold models."""
        check_is_fitted(self, "models_")
        R = check_representation("pixel", R, "R")
        C, r_to_c = union_of_reals(R, self.ref_)
        out = np.empty(len(R), dtype=np.float64)
        known = r_to_c < len(self.ref_)
        out[known] = self.scores_[r_to_c[known]]
        if (~known).any():
            out[~known] = np.mean([self._logits(m, R[~known]) for m in self.models_], axis=0)
        return out

    def predict(self, R: np.ndarray) -> np.ndarray:
        return (self.decision_function(R) > 0).astype(np.int64)
