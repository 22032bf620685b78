"""The ``ncc`` space: normalised cross-correlation of raw images, in [-1, 1].

Each image is centred and scaled to unit norm (a constant image gets the zero vector: NCC 0 with
anything); NCC is the dot product of two such vectors. Distance sqrt(2 - 2 NCC), the Euclidean
distance of the unit vectors. Two-stage search: NCC of ``low_side``-px area-downsampled images.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from trainprint.similarity.blocks import PAIR_BLOCK, pair_scores, pairs_per_block
from trainprint.similarity.spaces.base import CheapStage, ProductSpace
from trainprint.similarity.ssim import SSIMWindow


def unit(x: torch.Tensor) -> torch.Tensor:
    """(n, ...) -> (n, D) centred unit vectors (0 for a constant item)."""
    v = x.reshape(x.shape[0], -1)
    v = v - v.mean(1, keepdim=True)
    return v / v.norm(dim=1, keepdim=True).clamp_min(1e-12)


def cheap_vectors(X: np.ndarray, low_side: int, device: torch.device) -> torch.Tensor:
    """(n, H, W) float32 images -> (n, low_side^2) centred unit vectors (area-downsampled)."""
    x = torch.as_tensor(np.ascontiguousarray(X), device=device).float()[:, None]
    side = min(low_side, x.shape[-1], x.shape[-2])
    v = F.adaptive_avg_pool2d(x, side).reshape(x.shape[0], -1)
    v = v - v.mean(1, keepdim=True)
    return v / v.norm(dim=1, keepdim=True).clamp_min(1e-12)


@dataclass(frozen=True)
class NCCSpace(ProductSpace):
    name: str = "ncc"
    similarity: str = "NCC"
    two_stage: bool = True

    def prepare(self, a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, object, float]:
        return self.transform_b(a, None), None, 1.0

    def transform_b(self, b: torch.Tensor, ctx: object) -> torch.Tensor:
        """Rows centred and scaled to unit norm (a constant row: the zero vector)."""
        b = b - b.mean(1, keepdim=True)
        return b / b.norm(dim=1, keepdim=True).clamp_min(1e-12)

    def from_products(self, prod: torch.Tensor, a2: torch.Tensor, b2: torch.Tensor, scale: float) -> torch.Tensor:
        return prod.clamp(-1.0, 1.0)

    def pairs(self, X: np.ndarray, Y: np.ndarray, *, device: torch.device,
              ssim_window: SSIMWindow | None = None) -> np.ndarray:
        return pair_scores(X, Y, lambda x, y: (unit(x) * unit(y)).sum(1).clamp(-1.0, 1.0), device=device)

    def indexed_pairs(self, A: np.ndarray, ia: np.ndarray, B: np.ndarray, ib: np.ndarray, *, device: torch.device,
                      ssim_window: SSIMWindow | None = None) -> np.ndarray:
        """Each image's centred unit vector computed once, not once per pair."""
        out = np.empty(len(ia), dtype=np.float32)
        with torch.no_grad():
            va = unit(torch.as_tensor(np.ascontiguousarray(A), device=device).float())
            vb = unit(torch.as_tensor(np.ascontiguousarray(B), device=device).float())
            step = pairs_per_block(va.shape[1], 4 * PAIR_BLOCK)  # the rows gathered for a block of pairs
            for s in range(0, len(ia), step):
                i, j = torch.as_tensor(ia[s:s + step]), torch.as_tensor(ib[s:s + step])
                out[s:s + len(i)] = (va[i] * vb[j]).sum(1).clamp(-1.0, 1.0).cpu().numpy()
        return out

    def distance(self, S: np.ndarray) -> np.ndarray:
        return np.sqrt(np.clip(2.0 - 2.0 * np.asarray(S, dtype=np.float64), 0.0, None))

    def vectors(self, X: np.ndarray) -> np.ndarray:
        V = np.asarray(X, dtype=np.float32).reshape(len(X), -1)
        V = V - V.mean(axis=1, keepdims=True)
        return V / np.maximum(np.linalg.norm(V, axis=1, keepdims=True), 1e-12)

    def cheap_stage(self, C: np.ndarray, *, low_side: int, coarse: int, device: torch.device,
                    ssim_window: SSIMWindow | None = None) -> CheapStage:
        """NCC of images area-downsampled to ``low_side`` px: one small matrix product per block."""
        Cl = cheap_vectors(C, low_side, device)
        return lambda Gb: Cl @ cheap_vectors(Gb, low_side, device).T
