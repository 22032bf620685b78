"""Augmentations for grey medical images (the ``contrastive`` extractor's two views).

``augment(x, generator, cfg)``: x (B, 1, N, N) float in [0, 1] -> (B, 1, N, N) float in [0, 1], every
random draw from ``generator``:

- one affine warp: a crop of ``crop`` (80-100 %) of the side, a rotation of at most
  ``rotate_deg`` degrees and a shift of at most ``shift`` of the side (bilinear, border padding);
- intensity: contrast x [1 - c, 1 + c] about the image mean, brightness + [-b, b];
- gamma in [1 / g, g];
- Gaussian noise of standard deviation up to ``noise``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor


@dataclass(frozen=True)
class AugmentConfig:
    crop: tuple[float, float] = (0.8, 1.0)  # side of the crop, as a share of the image side
    rotate_deg: float = 10.0
    shift: float = 0.05
    contrast: float = 0.2
    brightness: float = 0.1
    gamma: float = 1.4
    noise: float = 0.03


def _uniform(n: int, lo: float, hi: float, g: torch.Generator) -> Tensor:
    return lo + (hi - lo) * torch.rand(n, generator=g)


def augment(x: Tensor, generator: torch.Generator, cfg: AugmentConfig = AugmentConfig()) -> Tensor:
    """One random view of every image of ``x`` (B, 1, N, N) in [0, 1] (see the module docstring)."""
    b = x.shape[0]
    scale = _uniform(b, cfg.crop[0], cfg.crop[1], generator)
    angle = _uniform(b, -cfg.rotate_deg, cfg.rotate_deg, generator) * math.pi / 180.0
    tx, ty = (_uniform(b, -cfg.shift, cfg.shift, generator) * 2.0 for _ in range(2))  # grid units: side = 2
    cos, sin = torch.cos(angle) * scale, torch.sin(angle) * scale
    theta = torch.stack([torch.stack([cos, -sin, tx], 1), torch.stack([sin, cos, ty], 1)], 1)  # (B, 2, 3)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    v = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    mean = v.mean(dim=(1, 2, 3), keepdim=True)
    c = _uniform(b, 1 - cfg.contrast, 1 + cfg.contrast, generator).view(b, 1, 1, 1)
    br = _uniform(b, -cfg.brightness, cfg.brightness, generator).view(b, 1, 1, 1)
    v = ((v - mean) * c + mean + br).clamp(0.0, 1.0)
    gam = torch.exp(_uniform(b, -math.log(cfg.gamma), math.log(cfg.gamma), generator)).view(b, 1, 1, 1)
    v = v.clamp_min(1e-6).pow(gam)
    sd = _uniform(b, 0.0, cfg.noise, generator).view(b, 1, 1, 1)
    v = v + sd * torch.randn(v.shape, generator=generator)
    return v.clamp(0.0, 1.0)
