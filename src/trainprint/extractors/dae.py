"""``dae-gu``, ``dae-gnu``, ``dae-gunu``: the deforming autoencoder's 128-d code as the fingerprint.

``fit`` trains the DAE (unsupervised: reconstruction + warping loss) on exactly the images whose
split is in ``train_sets``, through the shared loop ``trainprint.training.train``; ``transform``
applies the encoder to any images. The split names are read only to choose the training images,
but choosing U or NU is a use of the labels (``uses_labels``), so strict CV refits it per fold.
"""

from __future__ import annotations

import copy
import hashlib
import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
from torch import nn

from trainprint.config import get_preset, override
from trainprint.dae_figure import FIGURE, save_reconstruction_figure, snapshot
from trainprint.device import resolve_device
from trainprint.errors import TrainprintError
from trainprint.torch_io import cpu_state_dict, load_state, plain, save_state
from trainprint.extractors.base import FingerprintExtractor
from trainprint.imageset import ALL_SPLITS, REAL_NOT_USED, REAL_USED
from trainprint.losses.deform import RECON_KINDS, DAEObjective, DeformLoss
from trainprint.nets.dae import DAEArch, DeformingAutoencoder
from trainprint.seeding import seed_everything
from trainprint.training import TrainConfig, train

_SAVE_FORMAT = "trainprint-dae/1"
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
            yield to_float(self.images[idx])


def to_float(images: torch.Tensor) -> torch.Tensor:
    """``(B, N, N)`` uint8 -> ``(B, 1, N, N)`` float32 in [0, 1]."""
    return images.unsqueeze(1).float().div_(255.0)


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
        model(to_float(chunk).to(device))
    for m, mom in zip(bns, momenta):
        m.momentum = mom
    return model.eval()


class DAEExtractor(FingerprintExtractor):
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
    """

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

    def _sets(self) -> tuple[str, ...]:
        """``train_sets`` as a tuple (a single name is accepted too)."""
        return (self.train_sets,) if isinstance(self.train_sets, str) else tuple(self.train_sets)

    # ------------------------------------------------------------------ settings

    def config(self) -> DAEConfig:
        """The preset with ``epochs`` / ``batch_size`` overrides applied."""
        cfg = get_preset(PRESETS, self.preset, "DAEExtractor")
        return override(cfg, epochs=self.epochs, batch_size=self.batch_size)

    def _check_params(self) -> tuple[DAEConfig, DeformLoss]:
        sets = self._sets()
        bad = [s for s in sets if s not in ALL_SPLITS]
        if not sets or bad:
            raise TrainprintError(f"DAEExtractor: train_sets {self.train_sets!r}: expected split names "
                                  f"from {', '.join(ALL_SPLITS)}")
        if self.recon_loss not in RECON_KINDS:
            raise TrainprintError(f"DAEExtractor: recon_loss {self.recon_loss!r}: expected one of "
                                  f"{', '.join(RECON_KINDS)}")
        cfg = self.config()
        if cfg.epochs < 1 or cfg.batch_size < 1:
            raise TrainprintError(f"DAEExtractor: epochs and batch_size must be >= 1, got "
                                  f"{cfg.epochs} and {cfg.batch_size}")
        return cfg, DeformLoss(recon=self.recon_loss, w_tv=cfg.w_tv, w_bias=cfg.w_bias)

    def _arch(self, cfg: DAEConfig, size: int) -> DAEArch:
        if size & (size - 1):
            raise TrainprintError(f"DAEExtractor: image side {size} px is not a power of two; "
                                  "load the images with --size 64 (or 128, 256)")
        return DAEArch(image_size=size, texture_dim=cfg.texture_dim, warp_dim=cfg.warp_dim,
                       base_channels=cfg.base_channels)

    # ------------------------------------------------------------------ fit / transform

    def _fit(self, X: np.ndarray, y: np.ndarray) -> None:
        cfg, loss = self._check_params()
        sets = self._sets()
        train_idx = np.flatnonzero(np.isin(y, sets))
        if train_idx.size == 0:
            raise TrainprintError(f"DAEExtractor.fit: no images of {', '.join(sets)} "
                                  f"(got {', '.join(sorted(set(y.tolist())))})")
        arch = self._arch(cfg, X.shape[1])
        device = resolve_device(self.device)
        seed_everything(self.random_state)
        model = DeformingAutoencoder(arch)
        images = X[train_idx]  # (M, N, N) uint8

        run_dir = Path(self.run_dir) if self.run_dir is not None else None
        fig_x = to_float(torch.from_numpy(images[_figure_rows(y[train_idx])]))  # (K, 1, N, N)
        start = None
        if run_dir is not None:  # the seeded initial model, BN statistics of the training images
            start = snapshot(recalibrate_batchnorm(copy.deepcopy(model), images, device), fig_x)

        tcfg = TrainConfig(epochs=cfg.epochs, batch_size=cfg.batch_size, lr=cfg.lr,
                           weight_decay=cfg.weight_decay, betas=cfg.betas)
        meta = {  # a resume with other settings or other images is refused by the loop
            "extractor": "dae", "arch": dataclasses.asdict(arch), "loss": dataclasses.asdict(loss),
            "dae": {k: v for k, v in dataclasses.asdict(cfg).items() if k != "epochs"},
            "train_sets": list(sets), "n_train": int(len(images)),
            "images_sha1": hashlib.sha1(np.ascontiguousarray(images).tobytes()).hexdigest(),
        }
        source = ImageBatches(images, cfg.batch_size, cfg.steps_per_epoch)
        self.history_ = train(model, DAEObjective(loss), source, tcfg, device=device,
                              seed=self.random_state, run_dir=run_dir, progress=self.progress,
                              desc=f"DAE({'+'.join(sets)})", meta=meta)
        recalibrate_batchnorm(model, images, device)
        self.model_ = model
        self.arch_ = arch
        self.n_train_ = int(len(images))
        if run_dir is not None and start is not None:
            end = snapshot(model, fig_x)
            title = (f"DAE trained on {'+'.join(sets)} ({len(images)} images, "
                     f"{len(self.history_)} epochs, {self.recon_loss} reconstruction)")
            save_reconstruction_figure(run_dir / FIGURE, fig_x[:, 0].numpy(), start, end, title=title)

    @torch.no_grad()
    def _transform(self, X: np.ndarray, batch_size: int = 256) -> np.ndarray:
        model = self.model_
        device = next(model.parameters()).device
        model.eval()
        out = []
        for chunk in torch.from_numpy(np.ascontiguousarray(X)).split(batch_size):
            x = to_float(chunk).to(device)
            if device.type == "cuda":
                x = x.contiguous(memory_format=torch.channels_last)
            out.append(model.encode(x).float().cpu())
        return torch.cat(out).numpy().astype(np.float32)  # (N, code_dim)

    # ------------------------------------------------------------------ persistence

    def save(self, path: str | Path) -> Path:
        """Write the fitted extractor (parameters, architecture, weights, history) atomically."""
        if not hasattr(self, "model_"):
            raise TrainprintError("DAEExtractor.save: fit the extractor first")
        state = {"params": plain(self.get_params()),
                 "arch": dataclasses.asdict(self.arch_), "image_size": self.image_size_,
                 "n_train": self.n_train_, "history": self.history_,
                 "model": cpu_state_dict(self.model_)}
        return save_state(path, state, _SAVE_FORMAT)

    @classmethod
    def load(cls, path: str | Path, device: str = "cpu") -> "DAEExtractor":
        """Read a file written by ``save``; the model is placed on ``device``."""
        state = load_state(path, _SAVE_FORMAT, "DAE extractor file")
        params = dict(state["params"])
        params["train_sets"] = tuple(params["train_sets"])
        ext = cls(**params)
        ext.arch_ = DAEArch(**state["arch"])
        model = DeformingAutoencoder(ext.arch_)
        model.load_state_dict(state["model"])
        ext.model_ = model.to(resolve_device(device)).eval()
        ext.image_size_ = int(state["image_size"])
        ext.n_train_ = int(state["n_train"])
        ext.history_ = [dict(r) for r in state["history"]]
        return ext


def _figure_rows(split: np.ndarray, k: int = _FIGURE_IMAGES) -> np.ndarray:
    """Indices of the figure's ``k`` images: taken in turn from each split, spread within it."""
    groups = [np.flatnonzero(split == s) for s in dict.fromkeys(split.tolist())]
    per = [k // len(groups) + (i < k % len(groups)) for i in range(len(groups))]
    rows = [g[np.linspace(0, len(g) - 1, min(n, len(g))).round().astype(int)] for g, n in zip(groups, per)]
    return np.unique(np.concatenate(rows))[:k]
