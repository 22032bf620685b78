"""Similarity of given pairs ``(X[i], Y[i])``, not of every pair: the exact stage of two-stage search.

    pair_similarity(space, X, Y) -> (n,) float32      X, Y: (n, H, W) in [0, 1] (pixel spaces)
                                                             or (n, D) fingerprints

Same definitions as ``spaces.pairwise`` (tested equal to its diagonal); each space's registry entry
(``spaces/``) computes them: SSIM with the same window, 'valid' positions and stride, as separable
filters of the pair's products; NCC as the dot product of centred unit vectors; pixel as -RMS;
fingerprints as -L2 (in float64).
"""

from __future__ import annotations

import numpy as np

from trainprint.core.device import resolve_device
from trainprint.similarity.spaces import space_of
from trainprint.similarity.ssim import SSIMWindow


def pair_similarity(space: str, X: np.ndarray, Y: np.ndarray, *, device: str = "cpu",
                    ssim_window: SSIMWindow | None = None) -> np.ndarray:
    """(n,) float32 similarity of ``X[i]`` to ``Y[i]`` in ``space``; ``X``, ``Y`` (n, ...) float32."""
    if X.shape != Y.shape:
        raise ValueError(f"pair_similarity: X {X.shape} and Y {Y.shape} differ")
    return space_of(space).pairs(X, Y, device=resolve_device(device), ssim_window=ssim_window)


def indexed_pair_similarity(space: str, A: np.ndarray, ia: np.ndarray, B: np.ndarray, ib: np.ndarray, *,
                            device: str = "cpu", ssim_window: SSIMWindow | None = None) -> np.ndarray:
    """(n,) float32 similarity of the pairs ``(A[ia[i]], B[ib[i]])``; A (a, ...), B (b, ...) float32.
    What depends on one image only (SSIM's local means and second moments, NCC's centred unit
    vectors) is computed once per image, not once per pair; equal to
    ``pair_similarity(space, A[ia], B[ib])`` (tests/test_scale.py)."""
    ia, ib = np.asarray(ia, dtype=np.int64), np.asarray(ib, dtype=np.int64)
    return space_of(space).indexed_pairs(A, ia, B, ib, device=resolve_device(device), ssim_window=ssim_window)
