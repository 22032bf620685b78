"""Pairwise scores of two aligned image stacks, a block of pairs at a time (``pair_scores``)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

#: pairs scored per block
PAIR_BLOCK = 512


def pair_scores(X: np.ndarray, Y: np.ndarray, score: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], *,
                device: torch.device) -> np.ndarray:
    """(n,) float32 ``score(x, y)`` of ``X[i]`` and ``Y[i]``, X and Y (n, ...) float32; ``score``
    takes two (b, ...) float32 tensors on ``device`` and returns (b,)."""
    n = X.shape[0]
    out = np.empty(n, dtype=np.float32)
    with torch.no_grad():
        for s in range(0, n, PAIR_BLOCK):
            x = torch.as_tensor(np.ascontiguousarray(X[s:s + PAIR_BLOCK]), device=device).float()
            y = torch.as_tensor(np.ascontiguousarray(Y[s:s + PAIR_BLOCK]), device=device).float()
            out[s:s + x.shape[0]] = score(x, y).cpu().numpy()
    return out
