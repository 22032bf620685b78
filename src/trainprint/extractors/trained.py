"""The base of every trained extractor: one ``fit``, one ``transform``, one ``save`` / ``load``.

A subclass says what is particular to its model through hooks:

    config()                         the frozen config: preset + this extractor's overrides
    _build_model(cfg, image_size)    a new torch module (its weights drawn from torch's seeded RNG)
    _objective(cfg)                  (model, batch) -> {name: weighted scalar term}
    _batches(cfg, X, y)              the BatchSource of the training images
    _train_config(cfg)               the TrainConfig of the one loop (``trainprint.training``)
    _meta(cfg, X, y)                 settings embedded in the checkpoint (a resume must match them)
    _embed(model, x)                 (B, 1, N, N) float in [0, 1] -> (B, D) fingerprints
    _before_train / _after_train     optional: evidence figures, BatchNorm recalibration

``fit`` seeds torch inside ``torch_seeded`` (the caller's RNG and deterministic-algorithm setting
come back afterwards). ``save`` stores the parameters, the resolved config, the image size, the
training history and the weights; ``load`` rebuilds the model from the stored config, never from
today's presets.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from trainprint.core.config import config_from_dict
from trainprint.core.device import resolve_device
from trainprint.core.errors import TrainprintError
from trainprint.core.seeding import torch_seeded
from trainprint.core.torchstate import cpu_state_dict, load_state, plain, save_state
from trainprint.extractors.base import FingerprintExtractor
from trainprint.nets.inputs import to_input
from trainprint.training import BatchSource, Objective, TrainConfig, train

#: images per forward pass in ``transform``
TRANSFORM_BATCH = 256


class TrainedExtractor(FingerprintExtractor):
    """Shared fit / transform / save / load of the extractors trained by ``trainprint.training``.

    Subclasses store ``device``, ``random_state``, ``run_dir`` and ``progress`` among their
    ``__init__`` parameters and set the class attributes below.

    Fitted attributes: ``model_`` (eval mode, on ``device``), ``config_`` (the resolved config),
    ``history_`` (per-epoch losses), ``image_size_``.
    """

    #: format tag of the saved file (``trainprint.core.torchstate``)
    save_format: ClassVar[str] = ""
    #: the frozen config dataclass ``config()`` returns
    config_type: ClassVar[type] = object
    #: parameters that are tuples (they come back from a saved file as lists)
    tuple_params: ClassVar[tuple[str, ...]] = ()
    #: other fitted attributes (plain values) that ``save`` stores and ``load`` restores
    saved_attributes: ClassVar[tuple[str, ...]] = ()

    device: str
    random_state: int
    run_dir: str | Path | None
    progress: bool

    # ------------------------------------------------------------------ hooks
    def config(self) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def _build_model(self, cfg: Any, image_size: int) -> nn.Module:  # pragma: no cover - abstract
        raise NotImplementedError

    def _objective(self, cfg: Any) -> Objective:  # pragma: no cover - abstract
        raise NotImplementedError

    def _batches(self, cfg: Any, X: np.ndarray, y: np.ndarray) -> BatchSource:  # pragma: no cover - abstract
        raise NotImplementedError

    def _train_config(self, cfg: Any) -> TrainConfig:  # pragma: no cover - abstract
        raise NotImplementedError

    def _meta(self, cfg: Any, X: np.ndarray, y: np.ndarray) -> dict[str, Any]:
        return {}

    def _embed(self, model: nn.Module, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def _transform_batch(self, cfg: Any) -> int:
        """Images per forward pass in ``transform``."""
        return TRANSFORM_BATCH

    def _before_train(self, model: nn.Module, cfg: Any, X: np.ndarray, y: np.ndarray,
                      device: torch.device) -> Any:
        """Runs after the model is built, before training; its return value goes to ``_after_train``."""
        return None

    def _after_train(self, model: nn.Module, cfg: Any, X: np.ndarray, y: np.ndarray, device: torch.device,
                     before: Any) -> None:
        """Runs after training, before the model is put in eval mode."""

    @property
    def name(self) -> str:
        return type(self).__name__

    # ------------------------------------------------------------------ fit / transform
    def _fit(self, X: np.ndarray, y: np.ndarray) -> None:
        cfg = self.config()
        source = self._batches(cfg, X, y)  # checks the training images first
        device = resolve_device(self.device)
        with torch_seeded(self.random_state):
            model = self._build_model(cfg, int(X.shape[1]))
            before = self._before_train(model, cfg, X, y, device)
            self.history_ = train(model, self._objective(cfg), source, self._train_config(cfg), device=device,
                                  seed=self.random_state, run_dir=self.run_dir, progress=self.progress,
                                  desc=self.name, meta=self._meta(cfg, X, y))
            self._after_train(model, cfg, X, y, device, before)
        self.config_ = cfg
        self.model_ = model.eval()

    @torch.no_grad()
    def _transform(self, X: np.ndarray) -> np.ndarray:
        model = self.model_.eval()
        device = next(model.parameters()).device
        step = self._transform_batch(self.config_)
        out = []
        for i in range(0, len(X), step):
            x = to_input(torch.from_numpy(np.ascontiguousarray(X[i : i + step]))).to(device)
            if device.type == "cuda":
                x = x.contiguous(memory_format=torch.channels_last)
                with torch.autocast("cuda", dtype=torch.bfloat16):
                    out.append(self._embed(model, x).float().cpu())
            else:
                out.append(self._embed(model, x))
        return torch.cat(out).numpy().astype(np.float32, copy=False)  # (N, D)

    # ------------------------------------------------------------------ save / load
    def save(self, path: str | Path) -> Path:
        """Write the fitted extractor (parameters, config, image size, history, weights) atomically.
        The history is saved without each epoch's wall ``seconds`` (train_log.csv has them), so one
        training gives one file, byte for byte, however often it was interrupted and resumed (the
        file's digest keys the fingerprint shards made with it: ``engine/work.py``)."""
        if not hasattr(self, "model_"):
            raise TrainprintError(f"{self.name}.save: the extractor is not fitted")
        state = {"params": plain(self.get_params()), "config": plain(dataclasses.asdict(self.config_)),
                 "image_size": int(self.image_size_),
                 "history": [{k: v for k, v in r.items() if k != "seconds"} for r in self.history_],
                 "attributes": {k: getattr(self, k) for k in self.saved_attributes},
                 "model": cpu_state_dict(self.model_)}
        return save_state(path, state, self.save_format)

    @classmethod
    def load(cls, path: str | Path, device: str | None = None) -> "TrainedExtractor":
        """A fitted extractor read from ``save``'s file; ``device`` overrides the saved one. The model
        is rebuilt from the saved config, so a later change of a preset never changes it."""
        state = load_state(path, cls.save_format, f"saved {cls.__name__}")
        params = dict(state["params"])
        for k in cls.tuple_params:
            if isinstance(params.get(k), list):
                params[k] = tuple(params[k])
        if device is not None:
            params["device"] = device
        ext = cls(**params)
        ext.config_ = config_from_dict(cls.config_type, state["config"])
        ext.image_size_ = int(state["image_size"])
        model = ext._build_model(ext.config_, ext.image_size_)
        model.load_state_dict(state["model"])
        ext.model_ = model.to(resolve_device(ext.device)).eval()
        ext.history_ = [dict(r) for r in state["history"]]
        for k in cls.saved_attributes:
            setattr(ext, k, state["attributes"][k])
        return ext
