"""Fingerprint spaces (any extractor's name): similarity -||a - b||_2 of (N, D) fingerprints."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from trainprint.similarity.spaces.base import ProductSpace
from trainprint.similarity.ssim import SSIMWindow

#: entries of a (rows, D) difference computed at once when similarities are recomputed exactly
EXACT_CHUNK_ENTRIES = 2**22


@dataclass(frozen=True)
class EuclideanSpace(ProductSpace):
    """-||a - b||_2, times ``1 / sqrt(D)`` when ``rms`` (the pixel space's RMS difference).

    The search ranks by ``|a|^2 + |b|^2 - 2 a.b`` (one float32 matrix product, both sets first
    centred on their common mean); the similarities reported are recomputed from the differences
    in float64 (``indexed_pairs``: ``exact_rerank``)."""

    on_images: bool = False
    exact_rerank: bool = True
    rms: bool = False

    def prepare(self, a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, float]:
        centre = (a.sum(0) + b.sum(0)) / (a.shape[0] + b.shape[0])  # (D,): A's and B's common mean
        scale = 1.0 / np.sqrt(a.shape[1]) if self.rms else 1.0
        return a - centre, centre, scale

    def transform_b(self, b: torch.Tensor, ctx: object) -> torch.Tensor:
        assert isinstance(ctx, torch.Tensor)
        return b - ctx

    def from_products(self, prod: torch.Tensor, a2: torch.Tensor, b2: torch.Tensor, scale: float) -> torch.Tensor:
        d2 = (a2[:, None] + b2[None, :] - 2.0 * prod).clamp_min(0.0)  # squared distances
        return -d2.sqrt() * scale

    def pairs(self, X: np.ndarray, Y: np.ndarray, *, device: torch.device | None = None,
              ssim_window: SSIMWindow | None = None) -> np.ndarray:
        n = X.shape[0]
        return self.indexed_pairs(X, np.arange(n), Y, np.arange(n))

    def indexed_pairs(self, A: np.ndarray, ia: np.ndarray, B: np.ndarray, ib: np.ndarray, *,
                      device: torch.device | None = None, ssim_window: SSIMWindow | None = None) -> np.ndarray:
        """From the differences themselves, in float64, a chunk of pairs at a time (bounded memory)."""
        d_item = int(np.prod(A.shape[1:]))
        step = max(1, EXACT_CHUNK_ENTRIES // max(1, d_item))
        out = np.empty(len(ia), dtype=np.float32)
        for i in range(0, len(ia), step):
            a = A[ia[i:i + step]].reshape(-1, d_item).astype(np.float64)
            d = a - B[ib[i:i + step]].reshape(-1, d_item)
            out[i:i + step] = -np.sqrt((d * d).sum(1))
        if self.rms:
            out /= np.float32(np.sqrt(d_item))
        return out
