"""Streaming nearest-neighbour statistics between candidate real images C and generated images G.

One pass over G, a block at a time, keeps for every candidate its k most similar generated images
and, for every generated image, its most similar candidate. Memory: O(|C| k + |G|) plus one block.

G is an array in memory, or a ``GeneratedSet``: rows on disk (a ``data.shards.ShardStore``, read a
block at a time) or in memory, with a ``SearchPlan`` (``twostage.py``): ``exhaustive``, or
``two-stage`` for SSIM and NCC (cheap candidates, then the exact similarity on them only).

For fingerprint spaces the same answer can come from FAISS (``pip install trainprint[faiss]``);
``backend="auto"`` uses it when it is installed and the space is a fingerprint space,
numpy/torch otherwise. The index type is chosen by the number of generated vectors m:
exact search (``IndexFlatL2`` in memory; ``faiss.knn`` a block at a time from disk) while
m < ``FAISS_IVF_MIN``, an ``IndexIVFFlat`` (``ivf_lists(m)`` lists, ``FAISS_NPROBE`` probed) from
there. Whichever index finds the neighbours, the similarities reported are recomputed exactly.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import torch

from trainprint.core.device import resolve_device
from trainprint.core.errors import TrainprintError
from trainprint.similarity.pairs import pair_similarity
from trainprint.similarity.generated import GeneratedSet
from trainprint.similarity.matrix import block_columns, check_representation, iter_blocks
from trainprint.similarity.spaces import space_of
from trainprint.similarity.twostage import two_stage_stats

BACKENDS = ("auto", "torch", "faiss")
#: generated vectors from which FAISS searches an IVF index instead of searching exhaustively
FAISS_IVF_MIN = 2_000_000
#: IVF lists probed per query
FAISS_NPROBE = 32


def ivf_lists(m: int) -> int:
    """Inverted lists of the IVF index for m vectors: 4 sqrt(m), FAISS's usual rule."""
    return max(1, int(4 * np.sqrt(m)))


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
    image, by ``space``'s similarity. ``G``: an array, a ``ShardStore`` or a ``GeneratedSet`` (whose
    plan may ask for two-stage search). ``opts`` go to ``similarity.iter_blocks``."""
    if backend not in BACKENDS:
        raise TrainprintError(f"nearest_stats: backend {backend!r}; expected one of {', '.join(BACKENDS)}")
    C = check_representation(space, C, "real images")
    G = check_representation(space, G, "generated images")
    k = max(1, min(int(k), G.shape[0]))
    on_images = space_of(space).on_images
    use_faiss = backend == "faiss" or (backend == "auto" and not on_images and faiss_available())
    if use_faiss:
        if on_images:
            raise TrainprintError(f"nearest_stats: the faiss backend works in fingerprint spaces, not {space!r}")
        if not faiss_available():
            raise TrainprintError("nearest_stats: faiss is not installed (pip install 'trainprint[faiss]')")
    if isinstance(G, GeneratedSet):  # a ShardStore is one now (check_representation)
        if G.shape[1:] != C.shape[1:]:
            raise TrainprintError(f"similarity {space!r}: real items are {C.shape[1:]}, generated {G.shape[1:]}")
        return _set_stats(space, C, G, k, use_faiss, **opts)
    if use_faiss:
        stats = _faiss_stats(C, G, k)
    else:
        stats = _streaming_stats(space, C, G, k, **opts)
    return exact_distances(space, C, G, stats) if space_of(space).exact_rerank else stats


def _set_stats(space: str, C: np.ndarray, G: GeneratedSet, k: int, use_faiss: bool, **opts) -> NearestStats:
    """``nearest_stats`` against a ``GeneratedSet``: a block of G at a time (or two-stage)."""
    plan = G.plan
    if plan.two_stage(space):
        sims, idx, near, near_sim = two_stage_stats(space, C, G, k, plan, device=opts.get("device", "cpu"),
                                                    ssim_window=opts.get("ssim_window"))
        return NearestStats(sims, idx, near, near_sim)
    c, m = C.shape[0], len(G)
    best: tuple[np.ndarray, np.ndarray] | None = None
    nearest_real = np.empty(m, dtype=np.int64)
    nearest_sim = np.empty(m, dtype=np.float32)
    index = _ivf_index(G) if use_faiss and m >= FAISS_IVF_MIN else None
    for start, Gb in G.blocks(G.block_rows):
        if use_faiss:
            st = _faiss_stats(C, Gb, min(k, Gb.shape[0]), topk=index is None)
        else:
            st = _streaming_stats(space, C, Gb, min(k, Gb.shape[0]), **opts)
        if index is None:
            best = _merge_np(best, st.topk_sim, st.topk_idx + start, k)
        nearest_real[start:start + Gb.shape[0]] = st.nearest_real
        nearest_sim[start:start + Gb.shape[0]] = st.nearest_sim
    if index is not None:
        d2, idx = index.search(np.ascontiguousarray(C.reshape(c, -1), dtype=np.float32), k)
        best = (-np.sqrt(np.maximum(d2, 0.0)).astype(np.float32), idx.astype(np.int64))
    assert best is not None
    stats = NearestStats(best[0], best[1], nearest_real, nearest_sim)
    if not space_of(space).exact_rerank:
        return stats
    return _exact_set(space, C, G, stats, G.block_rows)


def _merge_np(best: tuple[np.ndarray, np.ndarray] | None, sims: np.ndarray, idx: np.ndarray,
              k: int) -> tuple[np.ndarray, np.ndarray]:
    """Running top-k per row (descending; ties keep the earlier block first)."""
    if best is not None:
        sims, idx = np.concatenate([best[0], sims], 1), np.concatenate([best[1], idx], 1)
    order = np.argsort(-sims, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(sims, order, 1), np.take_along_axis(idx, order, 1)


def _ivf_index(G: GeneratedSet):  # noqa: ANN202 - a faiss index
    """An ``IndexIVFFlat`` of every row of G, trained on an evenly spaced sample (deterministic)."""
    import faiss

    m, d = len(G), int(np.prod(G.shape[1:]))
    nlist = ivf_lists(m)
    sample = np.unique(np.linspace(0, m - 1, min(m, 64 * nlist)).astype(np.int64))
    train = np.ascontiguousarray(G.take(sample).reshape(len(sample), d), dtype=np.float32)
    index = faiss.IndexIVFFlat(faiss.IndexFlatL2(d), d, nlist)
    index.cp.seed = 0
    index.train(train)
    for _, Gb in G.blocks(G.block_rows):
        index.add(np.ascontiguousarray(Gb.reshape(Gb.shape[0], d), dtype=np.float32))
    index.nprobe = min(FAISS_NPROBE, nlist)
    return index


def _exact_set(space: str, C: np.ndarray, G: GeneratedSet, stats: NearestStats, rows: int) -> NearestStats:
    """``exact_distances`` for a ``GeneratedSet``: G read a block at a time."""
    c, k = stats.topk_idx.shape
    top = np.empty((c, k), dtype=np.float32)
    per = max(1, rows // max(1, k))
    for r in range(0, c, per):
        idx = stats.topk_idx[r:r + per]
        top[r:r + per] = pair_similarity(space, np.repeat(C[r:r + per], k, axis=0),
                                         G.take(idx.reshape(-1))).reshape(idx.shape)
    order = np.argsort(-top, axis=1, kind="stable")
    near = np.empty(len(G), dtype=np.float32)
    for start, Gb in G.blocks(rows):
        near[start:start + Gb.shape[0]] = pair_similarity(space, Gb, C[stats.nearest_real[start:start + Gb.shape[0]]])
    return NearestStats(np.take_along_axis(top, order, 1), np.take_along_axis(stats.topk_idx, order, 1),
                        stats.nearest_real, near)


def exact_distances(space: str, C: np.ndarray, G: np.ndarray, stats: NearestStats) -> NearestStats:
    """``stats`` with every reported similarity recomputed from the pair's difference.

    The search ranks by ``|a|^2 + |b|^2 - 2 a.b`` in float32 (one matrix product), whose error grows
    with the vectors' norms: a pair 0.1 apart at norm 10 comes out 1e-5 off, and by how much depends
    on the backend (FAISS computes small searches directly). The values we report and compare are
    therefore recomputed exactly for the k matches and the nearest real images (in float64, then
    stored as float32); the top-k are re-sorted by the exact values. Costs O((c k + m) D)."""
    c, k = stats.topk_idx.shape
    sp = space_of(space)
    top = sp.indexed_pairs(C, np.repeat(np.arange(c), k), G, stats.topk_idx.reshape(-1),
                           device=resolve_device("cpu")).reshape(c, k)
    order = np.argsort(-top, axis=1, kind="stable")
    near = sp.indexed_pairs(G, np.arange(G.shape[0]), C, stats.nearest_real, device=resolve_device("cpu"))
    return NearestStats(np.take_along_axis(top, order, 1), np.take_along_axis(stats.topk_idx, order, 1),
                        stats.nearest_real, near)


def stats_from_matrix(space: str, C: np.ndarray, G: np.ndarray, S: np.ndarray, *, k: int = 5, **opts) -> NearestStats:
    """``nearest_stats(space, C, G, k=k, backend="torch", **opts)`` for an in-memory ``G``, read from
    ``S`` (c, m) = ``pairwise(space, C, G, **opts)`` instead of computing the similarities again.

    ``S`` is replayed in the blocks ``iter_blocks`` would yield (``spaces.block_columns``), on the
    same device, through the same reduction and the same exact recomputation: the answer is the
    streaming search's, bit for bit (tests/test_shared_matrix.py)."""
    C = check_representation(space, C, "real images")
    G = check_representation(space, G, "generated images")
    c, m = C.shape[0], G.shape[0]
    if S.shape != (c, m):
        raise TrainprintError(f"stats_from_matrix: S is {S.shape}, expected ({c}, {m})")
    k = max(1, min(int(k), m))
    dev = resolve_device(opts.get("device", "cpu"))
    step = block_columns(space, c, C.shape[1:], **opts)
    blocks = ((start, torch.from_numpy(np.ascontiguousarray(S[:, start:start + step])).to(dev))
              for start in range(0, m, step))
    stats = _reduce_blocks(blocks, c, m, k)
    return exact_distances(space, C, G, stats) if space_of(space).exact_rerank else stats


def _streaming_stats(space: str, C: np.ndarray, G: np.ndarray, k: int, **opts) -> NearestStats:
    return _reduce_blocks(iter_blocks(space, C, G, **opts), C.shape[0], G.shape[0], k)


def _reduce_blocks(blocks: Iterable[tuple[int, torch.Tensor]], c: int, m: int, k: int) -> NearestStats:
    """The running top-k of every candidate and nearest candidate of every generated image, over
    ``(start, S (c, mb))`` blocks of the similarity matrix in column order."""
    best_sim = best_idx = None  # running (c, <=k) top-k
    nearest_real = np.empty(m, dtype=np.int64)
    nearest_sim = np.empty(m, dtype=np.float32)
    for start, S in blocks:  # S: (c, mb)
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


def _faiss_stats(C: np.ndarray, G: np.ndarray, k: int, topk: bool = True) -> NearestStats:
    """Exact FAISS search (``IndexFlatL2``); ``topk=False`` skips the top-k of C (an empty (c, 0))."""
    import faiss

    C2 = np.ascontiguousarray(C.reshape(C.shape[0], -1), dtype=np.float32)
    G2 = np.ascontiguousarray(G.reshape(G.shape[0], -1), dtype=np.float32)
    if topk:
        index_g = faiss.IndexFlatL2(G2.shape[1])
        index_g.add(G2)
        d2, idx = index_g.search(C2, k)  # squared L2, ascending
    else:
        d2, idx = np.zeros((C2.shape[0], 0), np.float32), np.zeros((C2.shape[0], 0), np.int64)
    index_c = faiss.IndexFlatL2(C2.shape[1])
    index_c.add(C2)
    d2c, idxc = index_c.search(G2, 1)
    neg = lambda d: -np.sqrt(np.maximum(d, 0.0)).astype(np.float32)  # noqa: E731
    return NearestStats(neg(d2), idx.astype(np.int64), idxc[:, 0].astype(np.int64), neg(d2c[:, 0]))
