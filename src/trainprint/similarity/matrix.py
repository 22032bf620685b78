"""Pairwise similarity matrices of real and generated images, a block at a time, in any space.

Every similarity is "higher = more alike" and is computed in chunks, so memory stays bounded
however many generated images there are (the ``N x M x H x W`` tensor is never built):

    space      representation                      similarity
    pixel      (N, H, W) float32 in [0, 1] (raw)   -RMS difference = -||a - b||_2 / sqrt(H W)
    ncc        (N, H, W) float32 in [0, 1] (raw)   normalised cross-correlation, in [-1, 1]
    ssim       (N, H, W) float32 in [0, 1] (raw)   mean SSIM (Gaussian 11x11, sigma 1.5, or uniform)
    <extractor>(N, D) float32 fingerprints         -||a - b||_2 (for unit vectors: monotone in cosine)

``pairwise(space, A, B)`` returns the full ``(n, m)`` matrix; ``iter_blocks`` yields it a block of
``B`` at a time for streaming reductions (``search.nearest_stats``). How each space computes a
block is its registry entry's (``registry.py``).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch

from trainprint.core.device import resolve_device
from trainprint.core.errors import TrainprintError
from trainprint.data.shards import ShardStore
from trainprint.similarity.generated import GeneratedSet
from trainprint.similarity.spaces import DEFAULT_BLOCK_ENTRIES, space_of
from trainprint.similarity.ssim import SSIMWindow


def needs_images(space: str) -> bool:
    """True for pixel spaces (``(N, H, W)`` inputs), False for fingerprint spaces (``(N, D)``)."""
    return space_of(space).on_images


def check_representation(space: str, X: np.ndarray, what: str = "X") -> np.ndarray:
    """``X`` as a float32 array of the shape ``space`` needs, or a TrainprintError.

    A ``GeneratedSet`` is checked for its shape and returned as it is, a ``ShardStore`` (rows on
    disk) as a ``GeneratedSet`` of it (the default plan), so that every caller reads either by
    block or by row number: their rows are read where they are used (their values were checked
    finite when they were written)."""
    want = 3 if needs_images(space) else 2
    if isinstance(X, (GeneratedSet, ShardStore)):
        if X.ndim != want or len(X) == 0:
            shape = "(N, H, W) images" if want == 3 else "(N, D) fingerprints"
            raise TrainprintError(f"similarity {space!r}: {what} must be non-empty {shape}, got shape {X.shape}")
        return GeneratedSet(X) if isinstance(X, ShardStore) else X  # type: ignore[return-value]
    X = np.asarray(X)
    if X.ndim != want or X.shape[0] == 0:
        shape = "(N, H, W) images" if want == 3 else "(N, D) fingerprints"
        raise TrainprintError(f"similarity {space!r}: {what} must be non-empty {shape}, got shape {X.shape}")
    if not np.issubdtype(X.dtype, np.number):
        raise TrainprintError(f"similarity {space!r}: {what} must be numeric, got {X.dtype}")
    X = X.astype(np.float32, copy=False)
    if not np.isfinite(X).all():
        raise TrainprintError(f"similarity {space!r}: {what} contains NaN or inf")
    return X


def block_columns(space: str, n_a: int, item_shape: tuple[int, ...], *, block_entries: int = DEFAULT_BLOCK_ENTRIES,
                  ssim_window: SSIMWindow | None = None, ssim_b_block: int | None = None, **_: object) -> int:
    """How many items of ``B`` each block of ``iter_blocks`` holds, for ``n_a`` items of ``A`` of
    shape ``item_shape`` (the last block may hold fewer). ``search.stats_from_matrix`` replays a
    full matrix in these blocks, so that it answers exactly as the streaming search does."""
    return space_of(space).block_columns(n_a, item_shape, block_entries=block_entries, ssim_window=ssim_window,
                                         ssim_b_block=ssim_b_block)


def iter_blocks(
    space: str,
    A: np.ndarray,
    B: np.ndarray,
    *,
    device: str = "cpu",
    block_entries: int = DEFAULT_BLOCK_ENTRIES,
    ssim_window: SSIMWindow | None = None,
    ssim_b_block: int | None = None,
) -> Iterator[tuple[int, torch.Tensor]]:
    """Yield ``(start, S)`` with ``S`` the ``(n, mb)`` similarities of all of ``A`` to
    ``B[start:start + mb]``, on ``device``. Memory is bounded by ``block_entries`` (and, for
    SSIM, by ``ssim_b_block`` generated images at a time)."""
    A = check_representation(space, A, "A")
    B = check_representation(space, B, "B")
    step = block_columns(space, A.shape[0], A.shape[1:], block_entries=block_entries, ssim_window=ssim_window,
                         ssim_b_block=ssim_b_block)
    yield from space_of(space).blocks(A, B, step=step, device=resolve_device(device), ssim_window=ssim_window)


def pairwise(space: str, A: np.ndarray, B: np.ndarray, **opts) -> np.ndarray:
    """The full ``(n, m)`` float32 similarity matrix of ``A`` (n, ...) to ``B`` (m, ...).

    ``opts`` go to ``iter_blocks`` (``device``, ``block_entries``, ``ssim_window``, ``ssim_b_block``).
    """
    if isinstance(B, ShardStore):
        B = GeneratedSet(B)
    if isinstance(B, GeneratedSet):  # rows on disk: a block of B at a time (the (n, m) result must fit)
        out = np.empty((np.asarray(A).shape[0], len(B)), dtype=np.float32)
        for start, rows in B.blocks(B.block_rows):
            out[:, start:start + rows.shape[0]] = pairwise(space, A, rows, **opts)
        return out
    n, m = np.asarray(A).shape[0], np.asarray(B).shape[0]
    out = np.empty((n, m), dtype=np.float32)
    for start, block in iter_blocks(space, A, B, **opts):
        out[:, start:start + block.shape[1]] = block.cpu().numpy()
    return out
