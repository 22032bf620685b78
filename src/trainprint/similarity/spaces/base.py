"""What a similarity space is: one object that answers every question the library asks of it.

    Space.blocks(A, B, ...)         -> (start, (n, mb) similarities) for every block of B
    Space.pairs(X, Y, ...)          -> (n,) similarities of the pairs (X[i], Y[i])
    Space.indexed_pairs(A, ia, B, ib, ...) -> (n,) similarities of (A[ia[i]], B[ib[i]])
    Space.distance(S)               -> distances >= 0 for the density scores
    Space.vectors(X)                -> (N, D) vectors whose Euclidean distances are the distances
    Space.cheap_stage(C, ...)       -> the first stage of two-stage search (spaces that have one)

Similarities are "higher = more alike". The registry of spaces is ``registry.py``; one file per
space (``pixel.py``, ``ncc.py``, ``ssim.py``; ``euclidean.py`` for every fingerprint space).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import torch

from trainprint.core.errors import TrainprintError
from trainprint.similarity.ssim import SSIMWindow

#: default number of pairwise entries (n x m) computed at once for matrix-product spaces
DEFAULT_BLOCK_ENTRIES = 4_000_000

#: the first stage of two-stage search: a block of generated images (mb, ...) -> (c, mb) approximate similarities
CheapStage = Callable[[np.ndarray], torch.Tensor]


def flat(X: np.ndarray, device: torch.device) -> torch.Tensor:
    """(N, ...) -> (N, D) float32 tensor on ``device``."""
    return torch.as_tensor(np.ascontiguousarray(X), device=device).reshape(X.shape[0], -1).float()


@dataclass(frozen=True)
class Space:
    """A similarity space. ``name`` is what the user wrote (``ssim``, an extractor's name, ...).

    ``on_images``: its items are (N, H, W) images (else (N, D) fingerprints); ``two_stage``: it has
    a cheap first stage for two-stage search; ``exact_rerank``: the search ranks by a fast, less
    precise formula, and the similarities reported are recomputed from the pairs (``indexed_pairs``);
    ``similarity``: what a similarity value is, in words (reports show it beside the values)."""

    name: str
    similarity: str = "-L2 distance"
    on_images: bool = True
    two_stage: bool = False
    exact_rerank: bool = False
    has_vectors: bool = True

    def block_columns(self, n_a: int, item_shape: tuple[int, ...], *, block_entries: int = DEFAULT_BLOCK_ENTRIES,
                      ssim_window: SSIMWindow | None = None, ssim_b_block: int | None = None) -> int:
        """Items of B per block of ``blocks`` for ``n_a`` items of A of shape ``item_shape``."""
        return max(1, block_entries // max(1, n_a))

    def blocks(self, A: np.ndarray, B: np.ndarray, *, step: int, device: torch.device,
               ssim_window: SSIMWindow | None = None) -> Iterator[tuple[int, torch.Tensor]]:
        """``(start, S)``: S (n, mb) similarities of A (n, ...) to ``B[start:start + step]``, float32."""
        raise NotImplementedError

    def pairs(self, X: np.ndarray, Y: np.ndarray, *, device: torch.device,
              ssim_window: SSIMWindow | None = None) -> np.ndarray:
        """(n,) float32 similarities of ``X[i]`` to ``Y[i]``; X, Y (n, ...) float32."""
        raise NotImplementedError

    def indexed_pairs(self, A: np.ndarray, ia: np.ndarray, B: np.ndarray, ib: np.ndarray, *, device: torch.device,
                      ssim_window: SSIMWindow | None = None) -> np.ndarray:
        """(n,) float32 similarities of ``(A[ia[i]], B[ib[i]])``; equal to ``pairs(A[ia], B[ib])``."""
        return self.pairs(A[ia], B[ib], device=device, ssim_window=ssim_window)

    def distance(self, S: np.ndarray) -> np.ndarray:
        """Similarities ``S`` (any shape) -> float64 distances >= 0 (default: -S, for -L2 spaces)."""
        return np.clip(-np.asarray(S, dtype=np.float64), 0.0, None)

    def vectors(self, X: np.ndarray) -> np.ndarray:
        """(N, ...) -> (N, D) float32 vectors whose Euclidean distances are the space's distances
        up to a constant factor (default: the flattened items)."""
        return np.asarray(X, dtype=np.float32).reshape(len(X), -1)

    def cheap_stage(self, C: np.ndarray, *, low_side: int, coarse: int, device: torch.device,
                    ssim_window: SSIMWindow | None = None) -> CheapStage:
        """Stage 1 of two-stage search against real images C (c, H, W)."""
        raise TrainprintError(f"similarity {self.name!r}: no two-stage search (it is one matrix product already)")


@dataclass(frozen=True)
class ProductSpace(Space):
    """A space whose similarity is a function of one matrix product ``a @ b.T`` of transformed items
    and their squared norms (``from_products``). A is transformed once (``prepare``), B one block
    at a time (``transform_b``): the transformed copy of all of B is never held."""

    def prepare(self, a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, object, float]:
        """(n, D) A, (m, D) all of B (read only) -> transformed A, what ``transform_b`` needs, and a
        scale for ``from_products``."""
        raise NotImplementedError

    def transform_b(self, b: torch.Tensor, ctx: object) -> torch.Tensor:
        """(mb, D) rows of B -> the same rows transformed; a row's result does not depend on the others."""
        raise NotImplementedError

    def from_products(self, prod: torch.Tensor, a2: torch.Tensor, b2: torch.Tensor, scale: float) -> torch.Tensor:
        """(n, mb) products, (n,) and (mb,) squared norms -> (n, mb) similarities."""
        raise NotImplementedError

    def blocks(self, A: np.ndarray, B: np.ndarray, *, step: int, device: torch.device,
               ssim_window: SSIMWindow | None = None) -> Iterator[tuple[int, torch.Tensor]]:
        a, b = flat(A, device), flat(B, device)  # no copy for float32 arrays on the CPU
        if a.shape[1] != b.shape[1]:
            raise TrainprintError(f"similarity {self.name!r}: A has {tuple(A.shape[1:])} per item, "
                                  f"B has {tuple(B.shape[1:])}")
        a, ctx, scale = self.prepare(a, b)
        a2 = (a * a).sum(1)
        for start in range(0, b.shape[0], step):
            bb = self.transform_b(b[start:start + step], ctx)
            yield start, self.from_products(a @ bb.T, a2, (bb * bb).sum(1), scale)
