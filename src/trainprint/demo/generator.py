"""The demo's generative model: a small DCGAN trained on the "used" real slices, then sampled.

Radford et al.'s DCGAN layout, scaled down: the generator maps a latent ``z`` ``(B, Z)`` through a
4x4 transposed convolution and ``log2(size / 4)`` stride-2 up-sampling stages (BatchNorm + ReLU)
to ``(B, 1, size, size)`` in [-1, 1] (Tanh); the discriminator mirrors it with stride-2
convolutions (LeakyReLU 0.2) down to one logit. Non-saturating GAN loss, Adam (2e-4, 0.5, 0.999),
weights N(0, 0.02). Trained on a small set for many passes, it reproduces its training slices
closely (memorises), which is what makes membership detectable in the demo.

Optional coverage term (``coverage_weight > 0``; the demo's ``fast`` preset uses 20): a GAN drops
some training images (mode dropping), so how much it memorises varies from patient to patient. With
the term, each step draws ``batch * coverage_candidates`` latents, finds the generated image nearest (pixel L2) to
each real image of the batch, and adds ``coverage_weight`` times the mean absolute difference
between it and that real image to the generator's loss (implicit maximum likelihood estimation, Li
and Malik 2018), so that every training image keeps a close sample. It costs about twice the time
per step (``benchmarks/demo_memorisation.py --coverage``; docs/evaluation.md).

Every random draw (weights, batches, latents) comes from generators seeded with ``seed``, so a CPU
run is repeatable bit for bit on one machine.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from trainprint.core.errors import TrainprintError
from trainprint.core.torchstate import cpu_state_dict, load_state, save_state

_CKPT_FORMAT = "trainprint-demo-gan/1"


@dataclass(frozen=True)
class GanConfig:
    """Settings of the demo DCGAN."""

    latent_dim: int = 64  # size of the latent vector z
    width: int = 16  # channels of the widest-resolution stage; deeper stages double it
    batch_size: int = 32  # training images per step (drawn from the used slices)
    steps: int = 900  # optimiser steps of each network
    lr: float = 2e-4  # Adam learning rate, both networks
    beta1: float = 0.5  # Adam beta1
    beta2: float = 0.999  # Adam beta2
    coverage_weight: float = 0.0  # weight of the coverage term (0: a plain DCGAN); see train_gan
    coverage_candidates: int = 8  # latents drawn per training image of the batch for that term


def _stages(size: int) -> int:
    """Number of stride-2 stages between 4x4 and ``size`` (size must be 4 * 2**k)."""
    k = int(round(np.log2(size / 4)))
    if size < 8 or 4 * 2**k != size:
        raise ValueError(f"DCGAN image size must be 4 * 2**k >= 8, got {size}")
    return k


class Generator(nn.Module):
    """``z (B, Z) -> images (B, 1, size, size)`` in [-1, 1]."""

    def __init__(self, size: int, latent_dim: int, width: int) -> None:
        super().__init__()
        k = _stages(size)
        chans = [width * 2 ** (k - 1 - i) for i in range(k)]  # e.g. 128, 64, 32, 16 for k=4, w=16
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(latent_dim, chans[0], 4, 1, 0, bias=False),  # (B, C0, 4, 4)
            nn.BatchNorm2d(chans[0]), nn.ReLU(True),
        ]
        for c_in, c_out in zip(chans[:-1], chans[1:]):  # each doubles H and W
            layers += [nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(True)]
        layers += [nn.ConvTranspose2d(chans[-1], 1, 4, 2, 1), nn.Tanh()]  # (B, 1, size, size)
        self.net = nn.Sequential(*layers)
        self.latent_dim = latent_dim

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z[:, :, None, None])


class Discriminator(nn.Module):
    """``images (B, 1, size, size) -> logits (B,)``."""

    def __init__(self, size: int, width: int) -> None:
        super().__init__()
        k = _stages(size)
        chans = [width * 2**i for i in range(k)]  # 16, 32, 64, 128 for k=4, w=16
        layers: list[nn.Module] = [nn.Conv2d(1, chans[0], 4, 2, 1), nn.LeakyReLU(0.2, True)]
        for c_in, c_out in zip(chans[:-1], chans[1:]):  # each halves H and W
            layers += [nn.Conv2d(c_in, c_out, 4, 2, 1, bias=False), nn.BatchNorm2d(c_out), nn.LeakyReLU(0.2, True)]
        layers += [nn.Conv2d(chans[-1], 1, 4, 1, 0)]  # (B, 1, 1, 1)
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).flatten()


def _init_weights(module: nn.Module, g: torch.Generator) -> None:
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, 0.02, generator=g)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02, generator=g)
            nn.init.zeros_(m.bias)


@dataclass
class TrainedGan:
    """A trained generator with what its training recorded."""

    generator: Generator
    losses: list[dict[str, float]]  # every 50th step: step, d_loss, g_loss
    seconds: float  # wall time of training


def train_gan(
    images: np.ndarray,
    cfg: GanConfig,
    *,
    seed: int,
    device: torch.device,
    on_step: Callable[[int], None] | None = None,
    checkpoint: str | Path | None = None,
    checkpoint_every_s: float = 20.0,
) -> TrainedGan:
    """Train a DCGAN on ``images`` ``(N, S, S)`` uint8; ``on_step(k)`` is called after step k.

    With ``checkpoint`` the whole training state (both networks, both optimisers, the batch order,
    the random generator, the losses) is saved there at most every ``checkpoint_every_s`` seconds,
    and a checkpoint left by an interrupted run with the same images, settings and seed is resumed:
    on CPU the result is the same as an uninterrupted run's. The caller deletes it when done."""
    if not cfg.coverage_weight >= 0 or cfg.coverage_candidates < 1:
        raise TrainprintError(
            f"demo GAN: coverage_weight {cfg.coverage_weight} and coverage_candidates {cfg.coverage_candidates}: "
            "expected a weight >= 0 and at least 1 candidate"
        )
    n, size = images.shape[0], images.shape[1]
    g = torch.Generator().manual_seed(seed)
    gen, disc = Generator(size, cfg.latent_dim, cfg.width), Discriminator(size, cfg.width)
    _init_weights(gen, g)
    _init_weights(disc, g)
    gen.to(device).train()
    disc.to(device).train()
    opt_g = torch.optim.Adam(gen.parameters(), cfg.lr, betas=(cfg.beta1, cfg.beta2))
    opt_d = torch.optim.Adam(disc.parameters(), cfg.lr, betas=(cfg.beta1, cfg.beta2))
    data = torch.from_numpy(images).float().div(127.5).sub(1.0)[:, None].to(device)  # (N, 1, S, S)
    batch = min(cfg.batch_size, n)
    order = torch.randperm(n, generator=g)
    pos, losses, done, spent = 0, [], 0, 0.0
    key = json.dumps([dataclasses.asdict(cfg), int(seed), hashlib.sha1(np.ascontiguousarray(images)).hexdigest()])
    ckpt = Path(checkpoint) if checkpoint is not None else None
    if ckpt is not None and ckpt.exists():
        state = load_state(ckpt, _CKPT_FORMAT, "demo generator checkpoint")
        if state["key"] == key:
            gen.load_state_dict(state["gen"])
            disc.load_state_dict(state["disc"])
            opt_g.load_state_dict(state["opt_g"])
            opt_d.load_state_dict(state["opt_d"])
            g.set_state(state["rng"])
            order, pos, losses = state["order"], int(state["pos"]), list(state["losses"])
            done, spent = int(state["step"]), float(state["seconds"])
            if on_step is not None:
                on_step(done)
    t0 = time.perf_counter() - spent
    last_save = time.monotonic()
    for step in range(done + 1, cfg.steps + 1):
        if pos + batch > n:  # a new pass over the used slices, in a new order
            order, pos = torch.randperm(n, generator=g), 0
        real = data[order[pos:pos + batch].to(device)]
        pos += batch
        z = torch.randn(batch, cfg.latent_dim, generator=g).to(device)
        if cfg.coverage_weight > 0:
            # coverage (implicit maximum likelihood): the generated image nearest to each real image
            # of the batch, among batch * candidates drawn at random, is pulled towards it
            zc = torch.randn(batch * cfg.coverage_candidates, cfg.latent_dim, generator=g).to(device)
            with torch.no_grad():
                cand = gen(zc).flatten(1)  # (B * K, S * S)
            nearest = torch.cdist(real.flatten(1), cand).argmin(dim=1)  # (B,)
            both = gen(torch.cat([z, zc[nearest]]))  # (2B, 1, S, S)
            fake, pulled = both[:batch], both[batch:]
        else:
            fake = gen(z)  # (B, 1, S, S)

        d_real, d_fake = disc(real), disc(fake.detach())
        d_loss = F.softplus(-d_real).mean() + F.softplus(d_fake).mean()  # -log D(x) - log(1 - D(G(z)))
        opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        opt_d.step()

        g_loss = F.softplus(-disc(fake)).mean()  # non-saturating: -log D(G(z))
        if cfg.coverage_weight > 0:
            g_loss = g_loss + cfg.coverage_weight * (pulled - real).abs().mean()
        opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        opt_g.step()

        if not (torch.isfinite(d_loss) and torch.isfinite(g_loss)):
            raise TrainprintError(
                f"demo GAN: loss not finite at step {step} (d_loss {d_loss.item()}, g_loss {g_loss.item()}); "
                "try another --seed"
            )
        if step % 50 == 0 or step == cfg.steps:
            losses.append({"step": step, "d_loss": d_loss.item(), "g_loss": g_loss.item()})
        if on_step is not None:
            on_step(step)
        if ckpt is not None and step < cfg.steps and time.monotonic() - last_save >= checkpoint_every_s:
            save_state(ckpt, {"key": key, "gen": cpu_state_dict(gen), "disc": cpu_state_dict(disc),
                              "opt_g": opt_g.state_dict(), "opt_d": opt_d.state_dict(), "rng": g.get_state(),
                              "order": order, "pos": pos, "losses": losses, "step": step,
                              "seconds": time.perf_counter() - t0}, _CKPT_FORMAT)
            last_save = time.monotonic()
    return TrainedGan(gen.eval(), losses, time.perf_counter() - t0)


@torch.no_grad()
def sample(gen: Generator, n: int, *, seed: int, device: torch.device, batch: int = 256) -> np.ndarray:
    """``n >= 1`` images from ``gen`` as ``(n, S, S)`` uint8 (BatchNorm in eval mode: no batch effects)."""
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(n, gen.latent_dim, generator=g)
    out = [gen(z[i:i + batch].to(device)).cpu() for i in range(0, n, batch)]
    x = torch.cat(out)[:, 0]  # (n, S, S)
    return ((x + 1.0) * 127.5).round().clamp(0, 255).to(torch.uint8).numpy()
