"""Two-stage search for the expensive spaces (SSIM, NCC): a cheap candidate stage, then the exact
similarity of the candidates only.

Stage 1 (cheap), one block of generated images at a time, a (c, mb) matrix of approximate
similarities:
- ``ssim``: SSIM itself on a grid of window positions ``coarse x max(1, side // 128)`` times
  coarser than the exact one (64 and 128 px: every 4th position in each direction, 16x fewer;
  256 px: every 8th);
- ``ncc``: NCC of the images area-downsampled to ``low_side x low_side`` (32; one matrix product).
From it, a running top-K gives every real image its ``candidates`` best generated images, and
each generated image gets its ``real_candidates`` best real images.

Stage 2 (exact): the space's own similarity (``pairs.indexed_pair_similarity``, equal to
``matrix.pairwise``) on those pairs only. A real image's top-k is the best k of its candidates; a
generated image's nearest real image is the best of its real candidates.

Cost for c real and m generated images of side S, SSIM window w, exact stride s: the exhaustive
search is c m (S/s)^2 w^2; stage 1 is that divided by (coarse max(1, S/64))^2 (SSIM; NCC: c m low_side^2),
stage 2 (c K + m K_r) (S/s)^2 w^2. The answer equals the exhaustive one whenever the exhaustive
top-k of a real image is among its K candidates and a generated image's nearest real among its
K_r; ``candidate_recall`` measures how often that holds (docs/similarity.md has the numbers
behind the defaults).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from trainprint.core.device import resolve_device
from trainprint.similarity.generated import GeneratedSet, SearchPlan
from trainprint.similarity.pairs import indexed_pair_similarity
from trainprint.similarity.matrix import pairwise
from trainprint.similarity.spaces import space_of
from trainprint.similarity.spaces.base import CheapStage
from trainprint.similarity.ssim import SSIMWindow


def cheap_stage(space: str, C: np.ndarray, plan: SearchPlan, device: torch.device,
                ssim_window: SSIMWindow | None = None) -> CheapStage:
    """Stage 1 of ``space`` against real images ``C``: a function, block Gb -> (c, mb) approximate
    similarities (the space's ``cheap_stage``)."""
    return space_of(space).cheap_stage(C, low_side=plan.low_side, coarse=plan.coarse, device=device,
                                       ssim_window=ssim_window)


def _merge(best: tuple[torch.Tensor, torch.Tensor] | None, S: torch.Tensor, start: int,
           k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Running top-k of each row: ``best`` (sims, idx) merged with block ``S`` (rows, mb) at ``start``."""
    idx = torch.arange(start, start + S.shape[1], device=S.device).expand(S.shape[0], S.shape[1])
    if best is not None:
        S, idx = torch.cat([best[0], S], 1), torch.cat([best[1], idx], 1)
    sims, pos = torch.topk(S, min(k, S.shape[1]), dim=1)
    return sims, torch.gather(idx, 1, pos)


def two_stage_stats(space: str, C: np.ndarray, G: Any, k: int, plan: SearchPlan, *, device: str = "cpu",
                    ssim_window: SSIMWindow | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(topk_sim (c, k), topk_idx (c, k), nearest_real (m,), nearest_sim (m,))`` of real images
    ``C`` (c, H, W) against generated ``G`` (a ``GeneratedSet``: read ``G.block_rows`` rows at a
    time), by two-stage search."""
    dev = resolve_device(device)
    c, m = C.shape[0], len(G)
    K = max(k, min(plan.candidates, m))
    Kr = min(plan.real_candidates, c)
    cheap = cheap_stage(space, C, plan, dev, ssim_window)
    best: tuple[torch.Tensor, torch.Tensor] | None = None
    nearest_real = np.empty(m, dtype=np.int64)
    nearest_sim = np.empty(m, dtype=np.float32)
    opts = dict(device=device, ssim_window=ssim_window)
    with torch.no_grad():
        for start, Gb in G.blocks(G.block_rows):
            S = cheap(Gb)  # (c, mb) cheap similarities
            best = _merge(best, S, start, K)
            rc = torch.topk(S, Kr, dim=0).indices.T.cpu().numpy()  # (mb, Kr) real candidates
            sims = indexed_pair_similarity(space, C, rc.reshape(-1), Gb, np.repeat(np.arange(Gb.shape[0]), Kr),
                                           **opts).reshape(rc.shape)
            j = sims.argmax(1)  # the best of its real candidates
            rows = np.arange(rc.shape[0])
            nearest_real[start:start + rc.shape[0]] = rc[rows, j]
            nearest_sim[start:start + rc.shape[0]] = sims[rows, j]
    assert best is not None
    cand = best[1].cpu().numpy().astype(np.int64)  # (c, K)
    exact = np.empty(cand.shape, dtype=np.float32)
    per = max(1, G.block_rows // cand.shape[1])  # real images per batch: <= block_rows generated read
    for r in range(0, c, per):
        idx = cand[r:r + per]
        rows_g, inverse = np.unique(idx.reshape(-1), return_inverse=True)
        exact[r:r + per] = indexed_pair_similarity(space, C, np.repeat(np.arange(r, r + idx.shape[0]), idx.shape[1]),
                                                   G.take(rows_g), inverse, **opts).reshape(idx.shape)
    order = np.argsort(-exact, axis=1, kind="stable")[:, :k]
    return (np.take_along_axis(exact, order, 1), np.take_along_axis(cand, order, 1), nearest_real, nearest_sim)


def candidate_recall(space: str, C: np.ndarray, G: "np.ndarray | GeneratedSet", plan: SearchPlan, *, tops: tuple[int, ...] = (1, 10),
                     device: str = "cpu", ssim_window: SSIMWindow | None = None,
                     exact: np.ndarray | None = None) -> dict[str, float]:
    """How often stage 1 keeps what the exhaustive search finds (an exhaustive (c, m) matrix is
    computed: pass a sample of real images when m is large).

    ``recall@t``: mean over real images of the share of their exhaustive top-t generated images
    among their ``candidates``; ``nearest_real_recall``: share of generated images whose exhaustive
    nearest real image is among their ``real_candidates``. Ties at the cut count as found.
    ``exact``: the (c, m) exhaustive similarities when already computed."""
    dev = resolve_device(device)
    S = pairwise(space, C, G, device=device, ssim_window=ssim_window) if exact is None else exact  # (c, m)
    cheap = cheap_stage(space, C, plan, dev, ssim_window)
    Gs = G if isinstance(G, GeneratedSet) else GeneratedSet(G, plan)
    Sl = np.empty(S.shape, dtype=np.float32)
    with torch.no_grad():
        for start, Gb in Gs.blocks(Gs.block_rows):
            Sl[:, start:start + Gb.shape[0]] = cheap(Gb).cpu().numpy()
    c, m = S.shape
    K, Kr = min(plan.candidates, m), min(plan.real_candidates, c)
    cand = np.argsort(-Sl, axis=1, kind="stable")[:, :K]
    out: dict[str, float] = {}
    for t in tops:
        t = min(t, m)
        kth = -np.sort(-S, axis=1)[:, t - 1]  # (c,) t-th best exact similarity
        got = np.take_along_axis(S, cand, 1) >= kth[:, None]
        out[f"recall@{t}"] = float(np.mean(np.minimum(got.sum(1), t) / t))
    real_cand = np.argsort(-Sl, axis=0, kind="stable")[:Kr]  # (Kr, m)
    best = S.max(0)
    out["nearest_real_recall"] = float(np.mean((np.take_along_axis(S, real_cand, 0) >= best[None]).any(0)))
    out.update(candidates=float(K), real_candidates=float(Kr))
    return out
