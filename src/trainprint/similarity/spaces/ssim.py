"""The ``ssim`` space: mean SSIM of raw images (the arithmetic is ``similarity/ssim.py``).

Distance 1 - SSIM (a pseudo-distance); no vector form. Two-stage search: SSIM itself on a grid of
window positions ``coarse x max(1, side // 128)`` times coarser than the exact one.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace

import numpy as np
import torch

from trainprint.core.errors import TrainprintError
from trainprint.similarity.spaces.base import DEFAULT_BLOCK_ENTRIES, CheapStage, Space
from trainprint.similarity.ssim import (SSIMWindow, default_b_block, ssim_indexed_pairs, ssim_pairs,
                                        ssim_pairwise_blocks)


@dataclass(frozen=True)
class SSIMSpace(Space):
    name: str = "ssim"
    similarity: str = "SSIM"
    two_stage: bool = True
    has_vectors: bool = False

    def block_columns(self, n_a: int, item_shape: tuple[int, ...], *, block_entries: int = DEFAULT_BLOCK_ENTRIES,
                      ssim_window: SSIMWindow | None = None, ssim_b_block: int | None = None) -> int:
        return int(ssim_b_block or default_b_block(ssim_window or SSIMWindow(), *item_shape[-2:]))

    def blocks(self, A: np.ndarray, B: np.ndarray, *, step: int, device: torch.device,
               ssim_window: SSIMWindow | None = None) -> Iterator[tuple[int, torch.Tensor]]:
        yield from ssim_pairwise_blocks(A, B, window=ssim_window or SSIMWindow(), device=device, b_block=step)

    def pairs(self, X: np.ndarray, Y: np.ndarray, *, device: torch.device,
              ssim_window: SSIMWindow | None = None) -> np.ndarray:
        return ssim_pairs(X, Y, window=ssim_window or SSIMWindow(), device=device)

    def indexed_pairs(self, A: np.ndarray, ia: np.ndarray, B: np.ndarray, ib: np.ndarray, *, device: torch.device,
                      ssim_window: SSIMWindow | None = None) -> np.ndarray:
        return ssim_indexed_pairs(A, ia, B, ib, window=ssim_window or SSIMWindow(), device=device)

    def distance(self, S: np.ndarray) -> np.ndarray:
        return np.clip(1.0 - np.asarray(S, dtype=np.float64), 0.0, None)

    def vectors(self, X: np.ndarray) -> np.ndarray:
        raise TrainprintError(f"space {self.name!r} has no vector form; the KDE and classifier scores need one "
                              "(use pixel, ncc or an extractor's fingerprints)")

    def cheap_stage(self, C: np.ndarray, *, low_side: int, coarse: int, device: torch.device,
                    ssim_window: SSIMWindow | None = None) -> CheapStage:
        win = ssim_window or SSIMWindow()
        # every (coarse x side/128)-th position, whatever the exact map's stride: every 4th at 64 and 128 px,
        # every 8th at 256 px (every 16th there kept a generated image's nearest real image for 0.79 of them,
        # every 8th for 0.97, at 14% more search time: docs/similarity.md, "Two-stage search")
        window = replace(win, stride=win.stride * coarse * max(1, min(C.shape[1:]) // 128))

        def block(Gb: np.ndarray) -> torch.Tensor:
            return torch.cat([S for _, S in ssim_pairwise_blocks(C, Gb, window=window, device=device)], 1)

        return block
