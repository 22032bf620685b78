"""Pairwise scores of two aligned image stacks, a block of pairs at a time (``pair_scores``)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

#: pairs scored per block ...
PAIR_BLOCK = 512
#: ... and at most this many elements of each side's images at once (32 MB of float32: 512 pairs at
#: 64 px, 128 at 256 px; blocks of 2,048 pairs of 256 px, 0.5 GB per side and its product, took the
#: audit's two-stage NCC search of 10,000 generated images to 2.2 GiB: docs/scale.md)
PAIR_ELEMENTS = 2**23


def pairs_per_block(item_elements: int, most: int = PAIR_BLOCK) -> int:
    """Pairs per block for items of ``item_elements`` floats: ``most``, and at most ``PAIR_ELEMENTS``
    per side."""
    return max(1, min(int(most), PAIR_ELEMENTS // max(1, int(item_elements))))


def pair_scores(X: np.ndarray, Y: np.ndarray, score: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], *,
                device: torch.device) -> np.ndarray:
    """(n,) float32 ``score(x, y)`` of ``X[i]`` and ``Y[i]``, X and Y (n, ...) float32; ``score``
    takes two (b, ...) float32 tensors on ``device`` and returns (b,)."""
    n = X.shape[0]
    out = np.empty(n, dtype=np.float32)
    step = pairs_per_block(int(np.prod(X.shape[1:])))
    with torch.no_grad():
        for s in range(0, n, step):
            x = torch.as_tensor(np.ascontiguousarray(X[s:s + step]), device=device).float()
            y = torch.as_tensor(np.ascontiguousarray(Y[s:s + step]), device=device).float()
            out[s:s + x.shape[0]] = score(x, y).cpu().numpy()
    return out
