"""``dae-gu``, ``dae-gnu``, ``dae-gunu``: the deforming autoencoder's 128-d code as the fingerprint.

``fit`` trains the DAE (unsupervised: reconstruction + warping loss) on exactly the images whose
split is in ``train_sets``, through the shared loop ``trainprint.training.train``; ``transform``
applies the encoder to any images. The split names are read only to choose the training images,
but choosing U or NU is a use of the labels (``uses_labels``), so strict CV refits it per fold.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
from torch import nn

from trainprint.core.config import get_preset, override
from trainprint.core.errors import TrainprintError
from trainprint.data.imageset import ALL_SPLITS, REAL_NOT_USED, REAL_USED
from trainprint.extractors.dae_figure import FIGURE, save_reconstruction_figure, snapshot
from trainprint.extractors.trained import TrainedExtractor
from trainprint.losses.deform import RECON_KINDS, DAEObjective, DeformLoss
from trainprint.nets.dae import DAEArch, DeformingAutoencoder
from trainprint.nets.inputs import to_input
from trainprint.training import TrainConfig

_SAVE_FORMAT = "trainprint-dae/2"
_FIGURE_IMAGES = 4  # rows of dae_reconstructions.png


@dataclass(frozen=True)
class DAEConfig:
    """Training settings of one DAE run (architecture sizes follow the image side)."""

    epochs: int  # passes over the training images
    batch_size: int  # images per step
    lr: float = 2e-4  # Adam learning rate (paper: 2e-4)
    betas: tuple[float, float] = (0.5, 0.999)  # Adam betas (reference code: beta1 0.5)
    weight_decay: float = 0.0  # Adam's L2 weight decay (paper: "decay 1e-4", read as this)
    base_channels: int = 32  # encoder's first width, doubling (paper: 32)
    texture_dim: int = 16  # texture code size (reference code: 16)
    warp_dim: int = 128  # deformation code size (reference code: 128)
    w_tv: float = 1e-6  # weight of the total variation of (grid - identity)
    w_bias: float = 1e-2  # weight of the batch-mean (grid - identity) pulled to zero
    steps_per_epoch: int = 0  # stop each epoch after this many steps; 0 = a full pass


PRESETS: dict[str, DAEConfig] = {
    # Section 3 of the paper: Adam lr 2e-4, batch 32, 1000 epochs, "decay 1e-4"; 256 px images
    # give n_e = 5, n_d = 7 (load the data with --size 256 for the paper's resolution).
    "paper": DAEConfig(epochs=1000, batch_size=32, weight_decay=1e-4),
    # sized for a 2-core CPU: a quarter of the paper's widths, 10 epochs, a larger step;
    # ~580 images of 64 px train in ~10 s on an idle 2-core CPU (docs/dae.md)
    "fast": DAEConfig(epochs=10, batch_size=16, lr=2e-3, base_channels=8),
    # two optimiser steps on tiny data, for the test suite
    "smoke": DAEConfig(epochs=2, batch_size=4, base_channels=8, steps_per_epoch=1),
}


class ImageBatches:
    """Shuffled ``(B, 1, N, N)`` float batches in [0, 1] of uint8 images (a ``BatchSource``)."""

    def __init__(self, images: np.ndarray, batch_size: int, steps_per_epoch: int = 0) -> None:
        self.images = torch.from_numpy(np.ascontiguousarray(images))  # (M, N, N) uint8
        self.batch_size = batch_size
        self.steps_per_epoch = steps_per_epoch

    def batches(self, epoch: int, generator: torch.Generator) -> Iterator[torch.Tensor]:
        order = torch.randperm(len(self.images), generator=generator)
        chunks = order.split(self.batch_size)
        if self.steps_per_epoch:
            chunks = chunks[: self.steps_per_epoch]
        for idx in chunks:
            yield to_input(self.images[idx])


@torch.no_grad()
def recalibrate_batchnorm(model: nn.Module, images: np.ndarray, device: torch.device,
                          batch_size: int = 64) -> nn.Module:
    """Set every BatchNorm's running statistics to their average over ``images``; eval mode.

    BN's running averages (momentum 0.1, starting at mean 0 / var 1) lag far behind the weights in a
    short run: the DAE's activations start tiny (weights N(0, 0.02)), so after ~50 steps the initial
    variance of 1 still dominates and eval-mode outputs are wrong. One pass over the training
    images in a fixed order with cumulative averaging ("precise BN") gives the statistics of the
    final weights. Nothing else changes; no randomness is used.
    """
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    momenta = [m.momentum for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative moving average
    model.to(device).train()
    for chunk in torch.from_numpy(np.ascontiguousarray(images)).split(batch_size):
        model(to_input(chunk).to(device))
    for m, mom in zip(bns, momenta):
        m.momentum = mom
    return model.eval()


class DAEExtractor(TrainedExtractor):
    """Deforming autoencoder trained on the images of ``train_sets``; fingerprint = 128-d code.

    Args:
        train_sets: split names whose images train the DAE (``dae-gu``: generated + real_used).
        preset: ``paper``, ``fast`` or ``smoke`` (``PRESETS``).
        epochs, batch_size: override the preset when not ``None``.
        device: ``auto``, ``cpu`` or ``cuda``.
        random_state: seeds initialisation and batch order.
        run_dir: where ``fit`` writes checkpoint, training log and curve, and
            ``dae_reconstructions.png``; a rerun resumes from its checkpoint.
        progress: show a progress bar while training.
        recon_loss: ``l2`` (the paper) or ``l1`` (the DAE reference code).

    Fitted attributes: ``model_``, ``config_``, ``arch_``, ``history_``, ``image_size_``,
    ``n_train_`` (images trained on).
    """

    save_format = _SAVE_FORMAT
    config_type = DAEConfig
    tuple_params = ("train_sets",)
    saved_attributes = ("n_train_",)

    def __init__(self, train_sets: tuple[str, ...] = ("generated", "real_used"), preset: str = "fast",
                 epochs: int | None = None, batch_size: int | None = None, device: str = "auto",
                 random_state: int = 0, run_dir: str | Path | None = None, progress: bool = False,
                 recon_loss: str = "l2") -> None:
        self.train_sets = train_sets
        self.preset = preset
        self.epochs = epochs
        self.batch_size = batch_size
        self.device = device
        self.random_state = random_state
        self.run_dir = run_dir
        self.progress = progress
        self.recon_loss = recon_loss

    @property
    def uses_labels(self) -> bool:  # type: ignore[override]
        """True when the training images are chosen by membership label (U or NU)."""
        return any(s in (REAL_USED, REAL_NOT_USED) for s in self._sets())

    @property
    def name(self) -> str:
        return f"DAE({'+'.join(self._sets())})"

    @property
    def arch_(self) -> DAEArch:
        """The architecture of the fitted model."""
        return self.model_.arch

    def _sets(self) -> tuple[str, ...]:
        """``train_sets`` as a tuple (a single name is accepted too)."""
        return (self.train_sets,) if isinstance(self.train_sets, str) else tuple(self.train_sets)

    # ------------------------------------------------------------------ settings

    def config(self) -> DAEConfig:
        """The preset with ``epochs`` / ``batch_size`` overrides applied; every setting checked."""
        sets = self._sets()
        bad = [s for s in sets if s not in ALL_SPLITS]
        if not sets or bad:
            raise TrainprintError(f"DAEExtractor: train_sets {self.train_sets!r}: expected split names "
                                  f"from {', '.join(ALL_SPLITS)}")
        if self.recon_loss not in RECON_KINDS:
            raise TrainprintError(f"DAEExtractor: recon_loss {self.recon_loss!r}: expected one of "
                                  f"{', '.join(RECON_KINDS)}")
        cfg = override(get_preset(PRESETS, self.preset, "DAEExtractor"), epochs=self.epochs,
                       batch_size=self.batch_size)
        if cfg.epochs < 1 or cfg.batch_size < 1:
            raise TrainprintError(f"DAEExtractor: epochs and batch_size must be >= 1, got "
                                  f"{cfg.epochs} and {cfg.batch_size}")
        return cfg

    def _loss(self, cfg: DAEConfig) -> DeformLoss:
        return DeformLoss(recon=self.recon_loss, w_tv=cfg.w_tv, w_bias=cfg.w_bias)

    # ------------------------------------------------------------------ hooks of TrainedExtractor

    def _train_rows(self, X: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Indices of the training images (split in ``train_sets``); errors when there is none, or
        when the image side cannot be built."""
        sets = self._sets()
        rows = np.flatnonzero(np.isin(y, sets))
        if rows.size == 0:
            raise TrainprintError(f"DAEExtractor.fit: no images of {', '.join(sets)} "
                                  f"(got {', '.join(sorted(set(y.tolist())))})")
        size = int(X.shape[1])
        if size & (size - 1):
            raise TrainprintError(f"DAEExtractor: image side {size} px is not a power of two; "
                                  "load the images with --size 64 (or 128, 256)")
        return rows

    def _batches(self, cfg: DAEConfig, X: np.ndarray, y: np.ndarray) -> ImageBatches:
        return ImageBatches(X[self._train_rows(X, y)], cfg.batch_size, cfg.steps_per_epoch)

    def _arch(self, cfg: DAEConfig, image_size: int) -> DAEArch:
        return DAEArch(image_size=image_size, texture_dim=cfg.texture_dim, warp_dim=cfg.warp_dim,
                       base_channels=cfg.base_channels)

    def _build_model(self, cfg: DAEConfig, image_size: int) -> nn.Module:
        return DeformingAutoencoder(self._arch(cfg, image_size))

    def _objective(self, cfg: DAEConfig) -> DAEObjective:
        return DAEObjective(self._loss(cfg))

    def _train_config(self, cfg: DAEConfig) -> TrainConfig:
        return TrainConfig(epochs=cfg.epochs, batch_size=cfg.batch_size, lr=cfg.lr,
                           weight_decay=cfg.weight_decay, betas=cfg.betas)

    def _meta(self, cfg: DAEConfig, X: np.ndarray, y: np.ndarray) -> dict:
        images = X[self._train_rows(X, y)]
        arch = self._arch(cfg, int(X.shape[1]))
        return {  # a resume with other settings or other images is refused by the loop
            "extractor": "dae", "arch": dataclasses.asdict(arch), "loss": dataclasses.asdict(self._loss(cfg)),
            "dae": {k: v for k, v in dataclasses.asdict(cfg).items() if k != "epochs"},
            "train_sets": list(self._sets()), "n_train": int(len(images)),
            "images_sha1": hashlib.sha1(np.ascontiguousarray(images).tobytes()).hexdigest(),
        }

    def _embed(self, model: nn.Module, x: torch.Tensor) -> torch.Tensor:
        return model.encode(x)  # (B, code_dim)

    def _before_train(self, model: nn.Module, cfg: DAEConfig, X: np.ndarray, y: np.ndarray,
                      device: torch.device) -> dict | None:
        """The figure's images and the seeded initial model's outputs on them (BN statistics of the
        training images), when there is a run folder to draw the figure in."""
        if self.run_dir is None:
            return None
        rows = self._train_rows(X, y)
        images = X[rows]
        fig_x = to_input(torch.from_numpy(images[_figure_rows(y[rows])]))  # (K, 1, N, N)
        start = snapshot(recalibrate_batchnorm(copy.deepcopy(model), images, device), fig_x)
        return {"x": fig_x, "start": start}

    def _after_train(self, model: nn.Module, cfg: DAEConfig, X: np.ndarray, y: np.ndarray,
                     device: torch.device, before: dict | None) -> None:
        images = X[self._train_rows(X, y)]
        recalibrate_batchnorm(model, images, device)
        self.n_train_ = int(len(images))
        if before is not None and self.run_dir is not None:
            end = snapshot(model, before["x"])
            title = (f"DAE trained on {'+'.join(self._sets())} ({len(images)} images, "
                     f"{len(self.history_)} epochs, {self.recon_loss} reconstruction)")
            save_reconstruction_figure(Path(self.run_dir) / FIGURE, before["x"][:, 0].numpy(), before["start"],
                                       end, title=title)


def _figure_rows(split: np.ndarray, k: int = _FIGURE_IMAGES) -> np.ndarray:
    """Indices of the figure's ``k`` images: taken in turn from each split, spread within it."""
    groups = [np.flatnonzero(split == s) for s in dict.fromkeys(split.tolist())]
    per = [k // len(groups) + (i < k % len(groups)) for i in range(len(groups))]
    rows = [g[np.linspace(0, len(g) - 1, min(n, len(g))).round().astype(int)] for g, n in zip(groups, per)]
    return np.unique(np.concatenate(rows))[:k]
