"""Deformation grids for the deforming autoencoder: identity grid, integration, bilinear warping.

Conventions (those of the DAE authors' reference code, see docs/dae.md):

- A grid is a ``(B, 2, N, N)`` tensor of sampling positions in ``[-1, 1]``; channel 0 is ``x``
  (varies along the width, the last axis), channel 1 is ``y`` (varies along the height).
- The identity grid samples every pixel centre: ``-1, -1 + 2/(N-1), ..., 1`` (step ``2/(N-1)``),
  which is exactly what ``grid_sample(..., align_corners=True)`` reads as "the pixel itself".
- The shape decoder outputs non-negative increments (a Sigmoid). They are scaled by ``5/N``,
  summed cumulatively (``x`` along the width, ``y`` along the height), offset by ``-1.2`` and
  clamped to ``[-1, 1]``. Non-negative increments make the grid monotone: the warp cannot fold.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

#: increments are multiplied by ``WARP_SCALE / N`` before integration (N = image side)
WARP_SCALE = 5.0
#: constant added to the cumulative sums, so that zero increments sit left of the image
WARP_OFFSET = -1.2


def identity_grid(size: int, *, device: torch.device | str | None = None,
                  dtype: torch.dtype = torch.float32) -> Tensor:
    """The grid that samples every pixel at its own centre.

    Returns:
        ``(1, 2, N, N)``: ``[0, 0, i, j] = -1 + 2 j / (N - 1)`` (x),
        ``[0, 1, i, j] = -1 + 2 i / (N - 1)`` (y).
    """
    a = torch.linspace(-1.0, 1.0, size, device=device, dtype=dtype)  # (N,)
    x = a.view(1, size).expand(size, size)  # (N, N), varies along width
    y = a.view(size, 1).expand(size, size)  # (N, N), varies along height
    return torch.stack([x, y]).unsqueeze(0)  # (1, 2, N, N)


def integrate(increments: Tensor) -> Tensor:
    """Integrate per-pixel increments into a sampling grid.

    Args:
        increments: ``(B, 2, N, N)``, normally in ``[0, 1]`` (the shape decoder's Sigmoid).
    Returns:
        ``(B, 2, N, N)`` grid in ``[-1, 1]``:
        ``clamp(cumsum(increments * 5 / N) - 1.2, -1, 1)``, channel 0 summed along the width,
        channel 1 along the height.
    """
    n = increments.shape[-1]
    step = increments * (WARP_SCALE / n)  # (B, 2, N, N)
    gx = torch.cumsum(step[:, 0], dim=2)  # (B, N, N): along width
    gy = torch.cumsum(step[:, 1], dim=1)  # (B, N, N): along height
    grid = torch.stack([gx, gy], dim=1) + WARP_OFFSET  # (B, 2, N, N)
    return grid.clamp(-1.0, 1.0)


def identity_increments(size: int, *, device: torch.device | str | None = None,
                        dtype: torch.dtype = torch.float32) -> Tensor:
    """The increments that ``integrate`` turns into ``identity_grid(size)``.

    The first increment of each row/column must bridge the offset (``(-1 + 1.2) N / 5``,
    more than 1 for ``N > 25``: a Sigmoid reaches the image border only through the clamp);
    the others are ``2 N / (5 (N - 1))`` (about 0.4).

    Returns:
        ``(1, 2, N, N)``.
    """
    ident = identity_grid(size, device=device, dtype=dtype)  # (1, 2, N, N)
    dx = torch.diff(ident[:, 0], dim=2, prepend=torch.full_like(ident[:, 0, :, :1], WARP_OFFSET))
    dy = torch.diff(ident[:, 1], dim=1, prepend=torch.full_like(ident[:, 1, :1, :], WARP_OFFSET))
    return torch.stack([dx, dy], dim=1) * (size / WARP_SCALE)  # (1, 2, N, N)


def warp(texture: Tensor, grid: Tensor) -> Tensor:
    """Bilinearly resample ``texture`` at ``grid``.

    Args:
        texture: ``(B, C, N, N)``.
        grid: ``(B, 2, N, N)`` in ``[-1, 1]`` (x, y channels as above).
    Returns:
        ``(B, C, N, N)``: ``out[b, :, i, j] = texture[b, :, y, x]`` at ``(x, y) = grid[b, :, i, j]``.
    """
    return F.grid_sample(texture, grid.permute(0, 2, 3, 1), mode="bilinear",
                         padding_mode="border", align_corners=True)
