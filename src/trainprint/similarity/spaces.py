"""Pairwise similarities between real and generated images, in pixel or fingerprint space.

Every similarity is "higher = more alike" and is computed in chunks, so memory stays bounded
however many generated images there are (the ``N x M x H x W`` tensor is never built):

    space      representation                      similarity
    pixel      (N, H, W) float32 in [0, 1] (raw)   -RMS difference = -||a - b||_2 / sqrt(H W)
    ncc        (N, H, W) float32 in [0, 1] (raw)   normalised cross-correlation, in [-1, 1]
    ssim       (N, H, W) float32 in [0, 1] (raw)   mean SSIM (Gaussian 11x11, sigma 1.5, or uniform)
    <extractor>(N, D) float32 fingerprints         -||a - b||_2 (for unit vectors: monotone in cosine)

``pairwise(space, A, B)`` returns the full ``(n, m)`` matrix; ``iter_blocks`` yields it a block of
``B`` at a time for streaming reductions (``search.nearest_stats``). The SSIM code lives in
``ssim.py``, top-k search (numpy/torch or FAISS) in ``search.py``. The membership scores and
decision rules built on these similarities are in ``trainprint.membership``.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch

from trainprint.core.device import resolve_device
from trainprint.core.errors import TrainprintError
from trainprint.data.shards import ShardStore
from trainprint.similarity.generated import GeneratedSet
from trainprint.similarity.ssim import SSIMWindow, default_b_block, ssim_pairwise_blocks

#: spaces computed on the ``raw`` extractor's images; any other space name is an extractor name
PIXEL_SPACES = ("pixel", "ncc", "ssim")

#: default number of pairwise entries (n x m) computed at once for matrix-product spaces
DEFAULT_BLOCK_ENTRIES = 4_000_000


def needs_images(space: str) -> bool:
    """True for pixel spaces (``(N, H, W)`` inputs), False for fingerprint spaces (``(N, D)``)."""
    return space in PIXEL_SPACES


def check_representation(space: str, X: np.ndarray, what: str = "X") -> np.ndarray:
    """``X`` as a float32 array of the shape ``space`` needs, or a TrainprintError.

    A ``GeneratedSet`` or ``ShardStore`` (rows on disk) is checked for its shape and returned as
    it is: its rows are read a block at a time where they are used (their values were checked
    finite when they were written)."""
    want = 3 if needs_images(space) else 2
    if isinstance(X, (GeneratedSet, ShardStore)):
        if X.ndim != want or len(X) == 0:
            shape = "(N, H, W) images" if want == 3 else "(N, D) fingerprints"
            raise TrainprintError(f"similarity {space!r}: {what} must be non-empty {shape}, got shape {X.shape}")
        return X  # type: ignore[return-value]
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


def _flat(X: np.ndarray, device: torch.device) -> torch.Tensor:
    """(N, ...) -> (N, D) float32 tensor on ``device``."""
    return torch.as_tensor(np.ascontiguousarray(X), device=device).reshape(X.shape[0], -1).float()


def _prepare(space: str, A: np.ndarray, B: np.ndarray, device: torch.device) -> tuple[torch.Tensor, torch.Tensor, float]:
    """Flattened, transformed (A, B) such that the similarity is a function of ``A @ B.T``.

    Returns ``(a, b, scale)``. For ``ncc``, rows are centred and scaled to unit norm; for the
    Euclidean spaces both sets are centred on a common mean (distances do not change, the
    ``|a|^2 + |b|^2 - 2ab`` expansion loses less precision in float32).
    """
    a, b = _flat(A, device), _flat(B, device)
    if a.shape[1] != b.shape[1]:
        raise TrainprintError(f"similarity {space!r}: A has {tuple(A.shape[1:])} per item, B has {tuple(B.shape[1:])}")
    d = a.shape[1]
    if space == "ncc":
        a = a - a.mean(1, keepdim=True)
        b = b - b.mean(1, keepdim=True)
        # a constant image has no correlation with anything: its unit vector is 0 -> NCC 0
        a = a / a.norm(dim=1, keepdim=True).clamp_min(1e-12)
        b = b / b.norm(dim=1, keepdim=True).clamp_min(1e-12)
        return a, b, 1.0
    centre = (a.sum(0) + b.sum(0)) / (a.shape[0] + b.shape[0])
    scale = 1.0 / np.sqrt(d) if space == "pixel" else 1.0
    return a - centre, b - centre, scale


def _block_from_products(space: str, a: torch.Tensor, b: torch.Tensor, a2: torch.Tensor,
                         b2: torch.Tensor, scale: float) -> torch.Tensor:
    """(n, D) x (mb, D) -> (n, mb) similarity block from one matrix product."""
    prod = a @ b.T  # (n, mb)
    if space == "ncc":
        return prod.clamp(-1.0, 1.0)
    d2 = (a2[:, None] + b2[None, :] - 2.0 * prod).clamp_min(0.0)  # squared distances
    return -d2.sqrt() * scale


def block_columns(space: str, n_a: int, item_shape: tuple[int, ...], *, block_entries: int = DEFAULT_BLOCK_ENTRIES,
                  ssim_window: SSIMWindow | None = None, ssim_b_block: int | None = None, **_: object) -> int:
    """How many items of ``B`` each block of ``iter_blocks`` holds, for ``n_a`` items of ``A`` of
    shape ``item_shape`` (the last block may hold fewer). ``search.stats_from_matrix`` replays a
    full matrix in these blocks, so that it answers exactly as the streaming search does."""
    if space == "ssim":
        return int(ssim_b_block or default_b_block(ssim_window or SSIMWindow(), *item_shape[-2:]))
    return max(1, block_entries // max(1, n_a))


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
    dev = resolve_device(device)
    step = block_columns(space, A.shape[0], A.shape[1:], block_entries=block_entries, ssim_window=ssim_window,
                         ssim_b_block=ssim_b_block)
    if space == "ssim":
        yield from ssim_pairwise_blocks(A, B, window=ssim_window or SSIMWindow(), device=dev, b_block=step)
        return
    a, b, scale = _prepare(space, A, B, dev)
    a2, b2 = (a * a).sum(1), (b * b).sum(1)
    for start in range(0, b.shape[0], step):
        stop = start + step
        yield start, _block_from_products(space, a, b[start:stop], a2, b2[start:stop], scale)


def pairwise(space: str, A: np.ndarray, B: np.ndarray, **opts) -> np.ndarray:
    """The full ``(n, m)`` float32 similarity matrix of ``A`` (n, ...) to ``B`` (m, ...).

    ``opts`` go to ``iter_blocks`` (``device``, ``block_entries``, ``ssim_window``, ``ssim_b_block``).
    """
    if isinstance(B, ShardStore):
        B = GeneratedSet(B)
    if isinstance(B, GeneratedSet):  # rows on disk: a block of B at a time (the (n, m) result must fit)
        out = np.empty((np.asarray(A).shape[0], len(B)), dtype=np.float32)
        for start, rows in B.blocks(B.plan.block_rows):
            out[:, start:start + rows.shape[0]] = pairwise(space, A, rows, **opts)
        return out
    n, m = np.asarray(A).shape[0], np.asarray(B).shape[0]
    out = np.empty((n, m), dtype=np.float32)
    for start, block in iter_blocks(space, A, B, **opts):
        out[:, start:start + block.shape[1]] = block.cpu().numpy()
    return out
