"""Streaming nearest-neighbour statistics between candidate real images C and generated images G.

One pass over G, a block at a time, keeps for every candidate its k most similar generated images
and, for every generated image, its most similar candidate. Memory: O(|C| k + |G|) plus one block.

For fingerprint spaces the same answer can come from FAISS (``pip install trainprint[faiss]``),
exact L2 search (``IndexFlatL2``), for millions of generated vectors; ``backend="auto"`` uses it
when it is installed and the space is a fingerprint space, numpy/torch otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from trainprint.core.errors import TrainprintError
from trainprint.similarity.spaces import check_representation, iter_blocks, needs_images

BACKENDS = ("auto", "torch", "faiss")


@dataclass(frozen=True)
class NearestStats:
    """Nearest-neighbour statistics of candidates C (c items) against generated images G (m)."""

    topk_sim: np.ndarray  # (c, k) float32: similarities of each candidate's k best G, descending
    topk_idx: np.ndarray  # (c, k) int64: their indices in G
    nearest_real: np.ndarray  # (m,) int64: for each G, index in C of its most similar candidate
    nearest_sim: np.ndarray  # (m,) float32: that similarity


def faiss_available() -> bool:
    try:
        import faiss  # noqa: F401
    except ImportError:
        return False
    return True


def nearest_stats(
    space: str,
    C: np.ndarray,
    G: np.ndarray,
    *,
    k: int = 5,
    backend: str = "auto",
    **opts,
) -> NearestStats:
    """Top-``k`` generated images of every candidate, and the nearest candidate of every generated
    image, by ``space``'s similarity. ``opts`` go to ``similarity.iter_blocks``."""
    if backend not in BACKENDS:
        raise TrainprintError(f"nearest_stats: backend {backend!r}; expected one of {', '.join(BACKENDS)}")
    C = check_representation(space, C, "real images")
    G = check_representation(space, G, "generated images")
    k = max(1, min(int(k), G.shape[0]))
    use_faiss = backend == "faiss" or (backend == "auto" and not needs_images(space) and faiss_available())
    if use_faiss:
        if needs_images(space):
            raise TrainprintError(f"nearest_stats: the faiss backend works in fingerprint spaces, not {space!r}")
        if not faiss_available():
            raise TrainprintError("nearest_stats: faiss is not installed (pip install 'trainprint[faiss]')")
        stats = _faiss_stats(C, G, k)
    else:
        stats = _streaming_stats(space, C, G, k, **opts)
    return exact_distances(space, C, G, stats) if space == "pixel" or not needs_images(space) else stats


#: rows of a (rows, D) difference computed at once when distances are recomputed exactly
EXACT_CHUNK_ENTRIES = 2**22


def _exact(space: str, A: np.ndarray, ia: np.ndarray, B: np.ndarray, ib: np.ndarray) -> np.ndarray:
    """(n,) float32 similarity of the pairs (A[ia[i]], B[ib[i]]), from the differences themselves:
    -||a - b|| (``pixel``: divided by sqrt(H W), the RMS difference). Chunked: bounded memory."""
    d_item = int(np.prod(A.shape[1:]))
    step = max(1, EXACT_CHUNK_ENTRIES // max(1, d_item))
    out = np.empty(len(ia), dtype=np.float32)
    for i in range(0, len(ia), step):
        a = A[ia[i:i + step]].reshape(-1, d_item).astype(np.float64)
        d = a - B[ib[i:i + step]].reshape(-1, d_item)
        out[i:i + step] = -np.sqrt((d * d).sum(1))
    if space == "pixel":
        out /= np.float32(np.sqrt(d_item))
    return out


def exact_distances(space: str, C: np.ndarray, G: np.ndarray, stats: NearestStats) -> NearestStats:
    """``stats`` with every reported similarity recomputed from the pair's difference.

    The search ranks by ``|a|^2 + |b|^2 - 2 a.b`` in float32 (one matrix product), whose error grows
    with the vectors' norms: a pair 0.1 apart at norm 10 comes out 1e-5 off, and by how much depends
    on the backend (FAISS computes small searches directly). The values we report and compare are
    therefore recomputed exactly for the k matches and the nearest real images (in float64, then
    stored as float32); the top-k are re-sorted by the exact values. Costs O((c k + m) D)."""
    c, k = stats.topk_idx.shape
    top = _exact(space, C, np.repeat(np.arange(c), k), G, stats.topk_idx.reshape(-1)).reshape(c, k)
    order = np.argsort(-top, axis=1, kind="stable")
    near = _exact(space, G, np.arange(G.shape[0]), C, stats.nearest_real)
    return NearestStats(np.take_along_axis(top, order, 1), np.take_along_axis(stats.topk_idx, order, 1),
                        stats.nearest_real, near)


def _streaming_stats(space: str, C: np.ndarray, G: np.ndarray, k: int, **opts) -> NearestStats:
    c, m = C.shape[0], G.shape[0]
    best_sim = best_idx = None  # running (c, <=k) top-k
    nearest_real = np.empty(m, dtype=np.int64)
    nearest_sim = np.empty(m, dtype=np.float32)
    for start, S in iter_blocks(space, C, G, **opts):  # S: (c, mb)
        mb = S.shape[1]
        idx = torch.arange(start, start + mb, device=S.device).expand(c, mb)
        if best_sim is not None:
            S_all, idx_all = torch.cat([best_sim, S], 1), torch.cat([best_idx, idx], 1)
        else:
            S_all, idx_all = S, idx
        kk = min(k, S_all.shape[1])
        best_sim, pos = torch.topk(S_all, kk, dim=1)  # ties: torch's order; values are what count
        best_idx = torch.gather(idx_all, 1, pos)
        col_sim, col_arg = S.max(dim=0)  # (mb,)
        nearest_real[start:start + mb] = col_arg.cpu().numpy()
        nearest_sim[start:start + mb] = col_sim.cpu().numpy()
    return NearestStats(best_sim.cpu().numpy().astype(np.float32), best_idx.cpu().numpy().astype(np.int64),
                        nearest_real, nearest_sim)


def _faiss_stats(C: np.ndarray, G: np.ndarray, k: int) -> NearestStats:
    import faiss

    C2 = np.ascontiguousarray(C.reshape(C.shape[0], -1), dtype=np.float32)
    G2 = np.ascontiguousarray(G.reshape(G.shape[0], -1), dtype=np.float32)
    index_g = faiss.IndexFlatL2(G2.shape[1])
    index_g.add(G2)
    d2, idx = index_g.search(C2, k)  # squared L2, ascending
    index_c = faiss.IndexFlatL2(C2.shape[1])
    index_c.add(C2)
    d2c, idxc = index_c.search(G2, 1)
    neg = lambda d: -np.sqrt(np.maximum(d, 0.0)).astype(np.float32)  # noqa: E731
    return NearestStats(neg(d2), idx.astype(np.int64), idxc[:, 0].astype(np.int64), neg(d2c[:, 0]))
