"""``contrastive``: a self-supervised (SimCLR / InfoNCE) encoder trained on G and the real pool, no label.

    ext = make_extractor("contrastive", preset="fast", random_state=0)
    ext.fit(X, y)              # X: (N, H, W) uint8; y is read only to know the images exist: every
                               # image, generated or real (used, not used or unknown), is trained on
    F = ext.transform(X_any)   # (M, dim) float32 unit vectors

Each step takes ``batch_size`` images of the training set (a fresh random pass each epoch), draws two
augmented views of each (``extractors.augment``: crops of 80-100 %, small rotations and shifts,
contrast / brightness / gamma jitter, noise) and minimises NT-Xent (``losses.contrastive``, from
pytorch-metric-learning) between the views' Vector-Net embeddings. The idea of Dar et al. (2023/24)
for finding memorised training images of medical generative models: an embedding in which two
views of one image are near and other images are far makes a near-copy stand out.
Label-free (``uses_labels = False``): strict CV shows it the held-out images as unlabelled.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from trainprint.core.config import get_preset, override
from trainprint.core.errors import TrainprintError
from trainprint.core.torchstate import plain
from trainprint.extractors.augment import AugmentConfig, augment
from trainprint.extractors.trained import TrainedExtractor
from trainprint.losses.contrastive import ntxent
from trainprint.nets.inputs import to_input
from trainprint.nets.vectornet import VectorNet, VectorNetArch
from trainprint.training import TrainConfig

_FORMAT = "trainprint-contrastive/1"


@dataclass(frozen=True)
class ContrastiveConfig:
    train: TrainConfig  # batch_size = images per step (2 views each)
    temperature: float = 0.1
    arch: VectorNetArch = field(default_factory=lambda: VectorNetArch(width=8))
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    steps_per_epoch: int = 0  # 0: one pass over the training images


PRESETS: dict[str, ContrastiveConfig] = {
    # ctmem64 dev (660 images): 11 steps of 2 x 64 views per epoch, 8 epochs.
    "fast": ContrastiveConfig(TrainConfig(epochs=8, batch_size=64, lr=1e-3, weight_decay=1e-5)),
    # SimCLR-like length at Vector-Net's full width.
    "paper": ContrastiveConfig(TrainConfig(epochs=200, batch_size=128, lr=5e-4, weight_decay=1e-5),
                               arch=VectorNetArch()),
    # two steps, for the test suite
    "smoke": ContrastiveConfig(TrainConfig(epochs=2, batch_size=8, lr=1e-3), steps_per_epoch=1),
}


class ViewPairs:
    """BatchSource: ``(v1, v2)``, each (B, 1, N, N) float in [0, 1]: two views of B images per step."""

    def __init__(self, pixels: torch.Tensor, batch_size: int, aug: AugmentConfig, steps_per_epoch: int = 0) -> None:
        self.pixels = pixels  # (n, N, N) uint8
        self.batch_size = int(min(batch_size, len(pixels)))
        self.aug = aug
        self.steps = steps_per_epoch or math.ceil(len(pixels) / self.batch_size)

    def batches(self, epoch: int, generator: torch.Generator) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        need = self.steps * self.batch_size
        reps = math.ceil(need / len(self.pixels))
        order = torch.cat([torch.randperm(len(self.pixels), generator=generator) for _ in range(reps)])[:need]
        for s in range(self.steps):
            x = to_input(self.pixels[order[s * self.batch_size:(s + 1) * self.batch_size]])
            yield augment(x, generator, self.aug), augment(x, generator, self.aug)


class ContrastiveObjective:
    """``(model, (v1, v2)) -> {"ntxent": loss}``."""

    def __init__(self, temperature: float) -> None:
        self.loss = ntxent(temperature)

    def __call__(self, model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> dict[str, torch.Tensor]:
        v1, v2 = batch
        return {"ntxent": self.loss(model(torch.cat([v1, v2])))}


class ContrastiveExtractor(TrainedExtractor):
    """See the module docstring. Parameters (stored verbatim): ``temperature``, ``epochs``,
    ``batch_size``, ``lr`` (override the preset when not None), ``preset`` (``fast | paper | smoke``),
    ``device``, ``random_state``, ``run_dir``, ``progress``."""

    uses_labels = False
    save_format = _FORMAT
    config_type = ContrastiveConfig

    def __init__(self, temperature: float | None = None, preset: str = "fast", epochs: int | None = None,
                 batch_size: int | None = None, lr: float | None = None, device: str = "auto",
                 random_state: int = 0, run_dir: str | Path | None = None, progress: bool = False) -> None:
        self.temperature = temperature
        self.preset = preset
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.device = device
        self.random_state = random_state
        self.run_dir = run_dir
        self.progress = progress

    @property
    def name(self) -> str:
        return "contrastive"

    def config(self) -> ContrastiveConfig:
        cfg = get_preset(PRESETS, self.preset, "contrastive")
        if self.temperature is not None and not float(self.temperature) > 0:
            raise TrainprintError(f"contrastive: temperature must be > 0, got {self.temperature}")
        t = None if self.temperature is None else float(self.temperature)
        return override(cfg, train=override(cfg.train, epochs=self.epochs, batch_size=self.batch_size, lr=self.lr),
                        temperature=t)

    def _batches(self, cfg: ContrastiveConfig, X: np.ndarray, y: np.ndarray) -> ViewPairs:
        if len(X) < 2:
            raise TrainprintError(f"contrastive.fit: needs at least 2 images, got {len(X)}")
        return ViewPairs(torch.from_numpy(np.ascontiguousarray(X)), cfg.train.batch_size, cfg.augment,
                         cfg.steps_per_epoch)

    def _build_model(self, cfg: ContrastiveConfig, image_size: int) -> nn.Module:
        if image_size < 2**cfg.arch.blocks:
            raise TrainprintError(f"contrastive: images of {image_size} px; needs at least {2**cfg.arch.blocks}")
        return VectorNet(cfg.arch)

    def _objective(self, cfg: ContrastiveConfig) -> ContrastiveObjective:
        return ContrastiveObjective(cfg.temperature)

    def _train_config(self, cfg: ContrastiveConfig) -> TrainConfig:
        return cfg.train

    def _meta(self, cfg: ContrastiveConfig, X: np.ndarray, y: np.ndarray) -> dict:
        return {"extractor": "contrastive",
                "contrastive": plain({k: v for k, v in dataclasses.asdict(cfg).items() if k != "train"}),
                "images": int(len(X)), "image_size": int(X.shape[1]),
                "data_sha1": hashlib.sha1(np.ascontiguousarray(X).tobytes()).hexdigest()}

    def _embed(self, model: nn.Module, x: torch.Tensor) -> torch.Tensor:
        return model(x)  # (B, dim) unit vectors
