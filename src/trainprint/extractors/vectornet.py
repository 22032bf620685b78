"""``vectornet-1|12|123``: Vector-Net fingerprints trained with triplet constraints (paper Section 2.1).

    ext = make_extractor("vectornet-12", preset="fast", random_state=0)
    ext.fit(X, y)              # X: (N, H, W) uint8, y: (N,) split names; trains on G, U, NU
    F = ext.transform(X_any)   # (M, 64) float32 unit vectors

Each training step draws ``batch_size`` images of every role the constraints need (g: generated,
u: real_used, nu: real_not_used; real_unknown images are never trained on), embeds them in one
forward pass and forms all triplets of each constraint from those embeddings
(``trainprint.losses.triplet``). One epoch is ``ceil(max(|U|, |NU|) / batch_size)`` steps, so every
labelled real image is seen about once per epoch; each role is walked through in a fresh random
order, and generated images are drawn afresh every epoch.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from trainprint.core.config import get_preset, override
from trainprint.core.errors import TrainprintError
from trainprint.core.torchstate import plain
from trainprint.data.imageset import GENERATED, REAL_NOT_USED, REAL_USED
from trainprint.extractors.trained import TrainedExtractor
from trainprint.losses.triplet import (DEFAULT_MARGIN, MININGS, TripletObjective, check_constraints,
                                       roles_needed, triplet_terms)
from trainprint.nets.inputs import to_input
from trainprint.nets.vectornet import VectorNet, VectorNetArch
from trainprint.training import TrainConfig

ROLE_SPLITS = {"g": GENERATED, "u": REAL_USED, "nu": REAL_NOT_USED}
_FORMAT = "trainprint-vectornet/2"


@dataclass(frozen=True)
class VectorNetConfig:
    """Everything that decides a Vector-Net training, besides the data, constraints and seed."""

    train: TrainConfig  # optimiser and schedule; batch_size = images of EACH role per step
    margin: float = DEFAULT_MARGIN  # triplet margin m on plain L2 distances of unit vectors (range 0..2)
    mining: str = "all"  # "all": every triplet of the batch; "hard": batch-hard per anchor
    reducer: str = "nonzero"  # "nonzero": mean over margin-violating triplets; "mean": over all
    steps_per_epoch: int = 0  # 0: ceil(max(|U|, |NU|) / batch_size); > 0: this many steps
    arch: VectorNetArch = field(default_factory=VectorNetArch)  # layer sizes (paper defaults)
    transform_batch: int = 256  # images per forward pass in transform


PRESETS: dict[str, VectorNetConfig] = {
    # The paper: Adam lr 1e-5, weight decay 1e-4, batch 32, 500 epochs, 256 x 256 images.
    "paper": VectorNetConfig(TrainConfig(epochs=500, batch_size=32, lr=1e-5, weight_decay=1e-4)),
    # This 2-core CPU, 64 px: 15 steps of 3 x 16 images on a ctmem64 CV fold (~16 s); lr 1e-3 so
    # that so few steps still learn (see docs/vectornet.md for the measured losses).
    "fast": VectorNetConfig(TrainConfig(epochs=3, batch_size=16, lr=1e-3, weight_decay=1e-4)),
    # Two steps, for the test suite.
    "smoke": VectorNetConfig(TrainConfig(epochs=2, batch_size=4, lr=1e-3), steps_per_epoch=1),
}


class TripletBatches:
    """BatchSource: ``{role: (B, 1, N, N) float, f"{role}_index": (B,) long}`` per step."""

    def __init__(self, pixels: Mapping[str, torch.Tensor], batch_size: int, steps_per_epoch: int = 0) -> None:
        self.pixels = dict(pixels)  # role -> (n_role, N, N) uint8
        self.batch_size = batch_size
        real = [len(p) for r, p in self.pixels.items() if r != "g"] or [len(p) for p in self.pixels.values()]
        self.steps = steps_per_epoch or math.ceil(max(real) / batch_size)

    def batches(self, epoch: int, generator: torch.Generator) -> Iterator[dict[str, torch.Tensor]]:
        need = self.steps * self.batch_size
        order = {}
        for role, pix in self.pixels.items():  # fixed role order: the generator's draws are reproducible
            reps = math.ceil(need / len(pix))
            order[role] = torch.cat([torch.randperm(len(pix), generator=generator) for _ in range(reps)])[:need]
        for s in range(self.steps):
            batch: dict[str, torch.Tensor] = {}
            for role, pix in self.pixels.items():
                idx = order[role][s * self.batch_size : (s + 1) * self.batch_size]
                batch[role] = to_input(pix[idx])
                batch[f"{role}_index"] = idx
            yield batch


class VectorNetExtractor(TrainedExtractor):
    """Vector-Net(constraints) as a scikit-learn transformer; see the module docstring.

    Parameters (stored verbatim): ``constraints`` subset of (1, 2, 3); ``margin``, ``mining``,
    ``lr``, ``epochs``, ``batch_size`` override the preset when not None; ``preset`` one of
    ``paper | fast | smoke``; ``device`` ``auto | cpu | cuda``; ``random_state`` seeds the init and
    every batch; ``run_dir`` gets checkpoint.pt / train_log.csv / train_curve.png (and resumes);
    ``progress`` shows a progress bar.

    Fitted attributes: ``model_`` (VectorNet, eval mode), ``config_``, ``history_`` (per-epoch
    losses), ``image_size_``.
    """

    uses_labels = True
    save_format = _FORMAT
    config_type = VectorNetConfig
    tuple_params = ("constraints",)

    def __init__(
        self,
        constraints: tuple[int, ...] = (1, 2),
        margin: float | None = None,
        mining: str | None = None,
        preset: str = "fast",
        epochs: int | None = None,
        batch_size: int | None = None,
        lr: float | None = None,
        device: str = "auto",
        random_state: int = 0,
        run_dir: str | Path | None = None,
        progress: bool = False,
    ) -> None:
        self.constraints = constraints
        self.margin = margin
        self.mining = mining
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
        return "vectornet-" + "".join(str(c) for c in self._constraints())

    def _constraints(self) -> tuple[int, ...]:
        try:
            return check_constraints(self.constraints)
        except ValueError as e:
            raise TrainprintError(f"vectornet: {e}") from None

    def config(self) -> VectorNetConfig:
        """The preset with this extractor's overrides applied (errors name the bad value)."""
        cfg = get_preset(PRESETS, self.preset, "vectornet")
        if self.mining is not None and self.mining not in MININGS:
            raise TrainprintError(f"vectornet: mining {self.mining!r}: expected one of {', '.join(MININGS)}")
        if self.margin is not None and not float(self.margin) >= 0:
            raise TrainprintError(f"vectornet: margin must be >= 0, got {self.margin}")
        train_cfg = override(cfg.train, epochs=self.epochs, batch_size=self.batch_size, lr=self.lr)
        margin = None if self.margin is None else float(self.margin)
        return override(cfg, train=train_cfg, margin=margin, mining=self.mining)

    # ------------------------------------------------------------------ hooks of TrainedExtractor
    def _role_pixels(self, X: np.ndarray, y: np.ndarray) -> dict[str, torch.Tensor]:
        """role -> (n_role, N, N) uint8 training images; errors when a role has too few."""
        constraints = self._constraints()
        pixels = {r: torch.from_numpy(np.ascontiguousarray(X[y == ROLE_SPLITS[r]])) for r in roles_needed(constraints)}
        for r, p in pixels.items():
            least = 2 if (r == "u" and 3 in constraints) else 1
            if len(p) < least:
                raise TrainprintError(
                    f"{self.name}.fit: needs at least {least} '{ROLE_SPLITS[r]}' image(s), got {len(p)}"
                )
        return pixels

    def _batches(self, cfg: VectorNetConfig, X: np.ndarray, y: np.ndarray) -> TripletBatches:
        return TripletBatches(self._role_pixels(X, y), cfg.train.batch_size, cfg.steps_per_epoch)

    def _build_model(self, cfg: VectorNetConfig, image_size: int) -> nn.Module:
        return VectorNet(cfg.arch)

    def _objective(self, cfg: VectorNetConfig) -> TripletObjective:
        constraints = self._constraints()
        return TripletObjective(triplet_terms(constraints, cfg.margin, cfg.mining, cfg.reducer),
                                roles_needed(constraints))

    def _train_config(self, cfg: VectorNetConfig) -> TrainConfig:
        return cfg.train

    def _meta(self, cfg: VectorNetConfig, X: np.ndarray, y: np.ndarray) -> dict:
        pixels = self._role_pixels(X, y)
        return {
            "extractor": self.name,
            "constraints": list(self._constraints()),
            # the train config is checked by train() itself (epochs may grow on resume)
            "vectornet": plain({k: v for k, v in dataclasses.asdict(cfg).items() if k != "train"}),
            "images": {r: len(p) for r, p in pixels.items()},
            "image_size": int(X.shape[1]),
            "data_sha1": hashlib.sha1(b"".join(p.numpy().tobytes() for p in pixels.values())).hexdigest(),
        }

    def _embed(self, model: nn.Module, x: torch.Tensor) -> torch.Tensor:
        return model(x)  # (B, 64) unit vectors

    def _transform_batch(self, cfg: VectorNetConfig) -> int:
        return cfg.transform_batch
