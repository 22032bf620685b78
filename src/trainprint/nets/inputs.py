"""How images enter every network: 8-bit gray pixels scaled to [0, 1]."""

from __future__ import annotations

from torch import Tensor


def to_input(pixels: Tensor) -> Tensor:
    """uint8 images ``(B, N, N)`` -> network input ``(B, 1, N, N)`` float32 in [0, 1]."""
    return pixels.unsqueeze(1).float().div_(255.0)
