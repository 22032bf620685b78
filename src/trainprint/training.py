"""The one training loop every trained extractor shares (Vector-Net, the deforming autoencoder).

The loop knows nothing about a particular model. It is given

- ``model``: an ``nn.Module``;
- ``objective(model, batch) -> dict[str, Tensor]``: named, already weighted scalar terms; the loss
  that is minimised is their sum and every term is logged under its name;
- ``source.batches(epoch, generator) -> Iterable[batch]``: the batches of one epoch, drawn from a
  ``torch.Generator`` seeded from ``(seed, epoch)`` so an epoch is the same whether or not the run
  was interrupted before it;
- ``cfg``: a frozen ``TrainConfig`` (optimiser and schedule of the run).

It runs Adam (``weight_decay`` added to the gradient, as ``torch.optim.Adam`` does), checks that every
term is finite at every step (``TrainprintError`` naming epoch, step and term otherwise), uses bf16
autocast and channels_last on CUDA, shows a rich progress bar with the running loss, and, when
``run_dir`` is given, writes ``checkpoint.pt`` (weights + optimiser + config + epoch + history),
``train_log.csv`` (one row per epoch, one column per term) and ``train_curve.png``. Called again with
the same ``run_dir`` and config it resumes from the checkpoint and reaches the same weights as an
uninterrupted run (bitwise on CPU). ``epochs`` may differ from the checkpoint's: a finished run can
be extended, and a longer checkpoint than asked for is an error.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Iterable, Mapping
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from torch import Tensor, nn

from trainprint.core.errors import TrainprintError
from trainprint.core.progress import new_progress
from trainprint.core.torchstate import cpu_state_dict, load_state, plain, save_state
from trainprint.core.files import atomic_path, write_csv

CHECKPOINT = "checkpoint.pt"
TRAIN_LOG = "train_log.csv"
TRAIN_CURVE = "train_curve.png"
_FORMAT = "trainprint-checkpoint/1"

Batch = Any  # a tensor, or a tuple / list / dict of tensors (and other values, passed through)
Objective = Callable[[nn.Module, Batch], dict[str, Tensor]]


class BatchSource(Protocol):
    """Anything that yields the batches of one epoch from a seeded generator (CPU tensors)."""

    def batches(self, epoch: int, generator: torch.Generator) -> Iterable[Batch]: ...


@dataclass(frozen=True)
class TrainConfig:
    """Optimiser and schedule of one training run (the model's own settings live elsewhere)."""

    epochs: int  # passes over the source; see each BatchSource for what one epoch is
    batch_size: int  # read by the BatchSource; stored here so the checkpoint records it
    lr: float  # Adam learning rate
    weight_decay: float = 0.0  # L2 penalty added to the gradient (torch.optim.Adam's weight_decay)
    betas: tuple[float, float] = (0.9, 0.999)  # Adam betas
    grad_clip: float = 0.0  # clip the gradient's global L2 norm to this value; 0 = no clipping
    checkpoint_every_s: float = 60.0  # save a checkpoint at most this often (and after the last epoch)

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1:
            raise TrainprintError(
                f"TrainConfig: epochs and batch_size must be >= 1, got {self.epochs} and {self.batch_size}"
            )
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise TrainprintError(f"TrainConfig: lr must be a positive number, got {self.lr}")


def epoch_seed(seed: int, epoch: int) -> int:
    """The seed of epoch ``epoch`` (1-based) of a run seeded with ``seed``: independent streams."""
    return int(np.random.SeedSequence([int(seed) % 2**63, int(epoch)]).generate_state(1, np.uint64)[0] >> 1)


def train(
    model: nn.Module,
    objective: Objective,
    source: BatchSource,
    cfg: TrainConfig,
    *,
    device: str | torch.device,
    seed: int,
    run_dir: str | Path | None = None,
    progress: bool = False,
    desc: str = "",
    meta: Mapping[str, Any] | None = None,
) -> list[dict[str, float]]:
    """Train ``model`` in place; return per-epoch means of every term and of ``"loss"``.

    Args:
        model: the module to train; moved to ``device`` (channels_last on CUDA).
        objective: ``(model, batch) -> {name: scalar tensor}``, weighted terms summed into the loss.
        source: yields the batches of an epoch; batches are moved to ``device`` by the loop.
        cfg: optimiser and schedule.
        device: where to train.
        seed: seeds each epoch's batch generator and torch's global RNG (dropout, ...).
        run_dir: folder for ``checkpoint.pt``, ``train_log.csv``, ``train_curve.png``; resumes
            from its checkpoint when there is one. ``None``: nothing is written.
        progress: show a rich progress bar with the loss.
        desc: label of the progress bar.
        meta: JSON-like settings of the model and objective, embedded in the checkpoint; a
            resume with different ``meta`` (or config other than ``epochs``) is an error.
    """
    device = torch.device(device)
    model.to(device)
    if device.type == "cuda":
        model.to(memory_format=torch.channels_last)
    optimizer = make_adam(model, cfg)
    meta = dict(meta or {})
    history: list[dict[str, float]] = []
    ckpt_path = Path(run_dir) / CHECKPOINT if run_dir is not None else None
    if ckpt_path is not None and ckpt_path.exists():
        history = _resume(ckpt_path, model, optimizer, cfg, seed, meta)
    start = len(history) + 1
    last_save = time.monotonic()

    with _Bar(progress, desc, cfg.epochs, done=start - 1) as bar:
        for epoch in range(start, cfg.epochs + 1):
            t0 = time.perf_counter()
            torch.manual_seed(epoch_seed(seed, epoch) ^ 0x5EED)  # global RNG: dropout and the like
            gen = torch.Generator().manual_seed(epoch_seed(seed, epoch))
            means = _train_epoch(model, objective, optimizer, source.batches(epoch, gen), cfg, device, epoch, bar)
            history.append({"epoch": float(epoch), **means, "seconds": time.perf_counter() - t0})
            bar.epoch_done(means["loss"])
            last = epoch == cfg.epochs
            if ckpt_path is not None and (last or time.monotonic() - last_save >= cfg.checkpoint_every_s):
                save_checkpoint(ckpt_path, model, optimizer, cfg, seed, meta, history)
                write_train_log(ckpt_path.parent, history)
                last_save = time.monotonic()
    if run_dir is not None:
        write_train_log(Path(run_dir), history)
        plot_train_curve(Path(run_dir) / TRAIN_CURVE, history, title=desc)
    return history


def _train_epoch(
    model: nn.Module,
    objective: Objective,
    optimizer: torch.optim.Optimizer,
    batches: Iterable[Batch],
    cfg: TrainConfig,
    device: torch.device,
    epoch: int,
    bar: "_Bar",
) -> dict[str, float]:
    """One pass over ``batches``; returns the mean of every term and of ``"loss"`` over its steps."""
    cuda = device.type == "cuda"
    model.train()
    sums: dict[str, float] = {}
    steps = 0
    for step, batch in enumerate(batches, start=1):
        batch = to_device(batch, device)
        with torch.autocast("cuda", dtype=torch.bfloat16) if cuda else nullcontext():
            terms = objective(model, batch)
        values = _check_finite(terms, epoch, step)  # one device sync per step
        loss = torch.stack([t.float().reshape(()) for t in terms.values()]).sum()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.grad_clip > 0:
            nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        optimizer.step()
        for k, v in values.items():
            sums[k] = sums.get(k, 0.0) + v
        steps += 1
        bar.step(epoch, step, values["loss"])
    if steps == 0:
        raise TrainprintError(f"training: epoch {epoch} produced no batches (too few images?)")
    return {k: v / steps for k, v in sums.items()}


def make_adam(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    """Adam, fused (one kernel for all parameters, ~2x faster on CPU) where torch supports it."""
    kw = dict(lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay)
    try:
        return torch.optim.Adam(model.parameters(), fused=True, **kw)
    except (RuntimeError, TypeError, ValueError):  # older torch, or parameters it cannot fuse
        return torch.optim.Adam(model.parameters(), **kw)


# --------------------------------------------------------------------------------------------
# batches on the device


def to_device(batch: Batch, device: torch.device) -> Batch:
    """Move every tensor of a (nested) batch to ``device``; 4-D tensors become channels_last on CUDA."""
    if isinstance(batch, Tensor):
        batch = batch.to(device, non_blocking=True)
        if device.type == "cuda" and batch.dim() == 4:
            batch = batch.contiguous(memory_format=torch.channels_last)
        return batch
    if isinstance(batch, Mapping):
        return {k: to_device(v, device) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)):
        return type(batch)(to_device(v, device) for v in batch)
    return batch


def _check_finite(terms: Mapping[str, Tensor], epoch: int, step: int) -> dict[str, float]:
    """Term values as floats (one device sync), plus ``"loss"``; raise on NaN / inf."""
    if not terms:
        raise TrainprintError("training: the objective returned no loss terms")
    names = list(terms)
    vals = torch.stack([terms[k].detach().float().reshape(()) for k in names]).tolist()
    out = dict(zip(names, vals))
    for k, v in out.items():
        if not math.isfinite(v):
            raise TrainprintError(
                f"training: loss term {k!r} is {v} at epoch {epoch}, step {step}; "
                "lower the learning rate or check the input images"
            )
    out["loss"] = float(sum(vals))
    return out


# --------------------------------------------------------------------------------------------
# checkpoints


def save_checkpoint(
    path: Path,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    cfg: TrainConfig,
    seed: int,
    meta: Mapping[str, Any],
    history: list[dict[str, float]],
) -> None:
    """Write ``checkpoint.pt`` atomically: weights, optimiser, config, seed, meta, history."""
    state = {
        "config": dataclasses.asdict(cfg),
        "meta": dict(meta),
        "seed": int(seed),
        "epoch": len(history),
        "history": history,
        "model": cpu_state_dict(model),
        "optimizer": _to_cpu(optimizer.state_dict()),
    }
    save_state(path, state, _FORMAT)


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint written by ``save_checkpoint`` (tensors on CPU)."""
    return load_state(path, _FORMAT, "trainprint checkpoint")


def _resume(
    path: Path,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    cfg: TrainConfig,
    seed: int,
    meta: Mapping[str, Any],
) -> list[dict[str, float]]:
    state = load_checkpoint(path)
    want = {**plain(dataclasses.asdict(cfg)), "seed": int(seed), "meta": plain(dict(meta))}
    have = {**plain(state["config"]), "seed": state["seed"], "meta": plain(state["meta"])}
    differ = sorted(k for k in set(want) | set(have) if k != "epochs" and want.get(k) != have.get(k))
    if differ:
        detail = ", ".join(f"{k}: checkpoint {have.get(k)!r} vs now {want.get(k)!r}" for k in differ)
        raise TrainprintError(
            f"{path}: made with other settings ({detail}); use another run folder or delete the checkpoint"
        )
    if state["epoch"] > cfg.epochs:
        raise TrainprintError(
            f"{path}: already trained {state['epoch']} epochs, more than the {cfg.epochs} asked for"
        )
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])  # moves the moments to the parameters' device
    return [dict(r) for r in state["history"]]


def _to_cpu(obj: Any) -> Any:
    if isinstance(obj, Tensor):
        return obj.detach().cpu()
    if isinstance(obj, dict):
        return {k: _to_cpu(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_to_cpu(v) for v in obj)
    return obj


# --------------------------------------------------------------------------------------------
# logs


def write_train_log(run_dir: Path, history: list[dict[str, float]]) -> None:
    """``train_log.csv``: epoch, loss, every term, seconds; one row per epoch."""
    if not history:
        return
    terms = [k for k in history[0] if k not in ("epoch", "loss", "seconds")]
    rows = [{**r, "epoch": int(r["epoch"])} for r in history]
    write_csv(run_dir / TRAIN_LOG, rows, ["epoch", "loss", *terms, "seconds"])


def plot_train_curve(path: Path, history: list[dict[str, float]], title: str = "") -> None:
    """``train_curve.png``: the loss and each term per epoch."""
    if not history:
        return
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    epochs = [r["epoch"] for r in history]
    fig, ax = plt.subplots(figsize=(6, 3.6), dpi=100)
    for k in [k for k in history[0] if k not in ("epoch", "seconds")]:
        ax.plot(epochs, [r[k] for r in history], label=k, lw=2 if k == "loss" else 1,
                marker="o" if len(history) <= 30 else None, ms=3)
    ax.set_xlabel("epoch")
    ax.set_ylabel("mean over the epoch's steps")
    ax.set_title(title or "training")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)


class _Bar:
    """A rich progress bar over epochs that shows the latest step's loss (or nothing)."""

    def __init__(self, enabled: bool, desc: str, epochs: int, done: int) -> None:
        from rich.progress import (BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn,
                                   TimeRemainingColumn)

        self.progress = new_progress(
            enabled,
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("epoch {task.fields[epoch]} step {task.fields[step]}"),
            TextColumn("loss {task.fields[loss]}"), TimeElapsedColumn(), TimeRemainingColumn(),
            transient=False,
        )
        if self.progress is not None:
            self.task = self.progress.add_task(
                desc or "train", total=epochs, completed=done, epoch=done, step=0, loss="-"
            )

    def __enter__(self) -> "_Bar":
        if self.progress is not None:
            self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.stop()

    def step(self, epoch: int, step: int, loss: float) -> None:
        if self.progress is not None:
            self.progress.update(self.task, epoch=epoch, step=step, loss=f"{loss:.4f}")

    def epoch_done(self, mean_loss: float) -> None:
        if self.progress is not None:
            self.progress.update(self.task, advance=1, loss=f"{mean_loss:.4f} (epoch mean)")
