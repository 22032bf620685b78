"""SSIM of every image of ``A`` with every image of ``B``, and of given pairs (no Python loop over pairs).

SSIM (Wang et al. 2004) of images x, y with local statistics from a window w (``*`` = filtering,
'valid' positions only, i.e. windows entirely inside the image):

    mu_x = w * x,   var_x = w * x^2 - mu_x^2,   cov_xy = w * (x y) - mu_x mu_y
    SSIM = mean_p [(2 mu_x mu_y + C1)(2 cov_xy + C2)] / [(mu_x^2 + mu_y^2 + C1)(var_x + var_y + C2)]

with C1 = (0.01 L)^2, C2 = (0.03 L)^2 and data range L = 1, over every window position by default
(the full map: scikit-image's ``structural_similarity(..., gaussian_weights=True, sigma=1.5,
use_sample_covariance=False, data_range=1)``, tests/test_ssim_parity.py); ``SSIMWindow(stride=s)``
samples every s-th position instead. ``mu`` and ``var`` depend on one image: for all pairs of a
block (``ssim_pairwise_blocks``) they are computed once per image and 8 rows of positions, and the
one per-pair term ``w * (x y)``, at a row of positions, is one batched matrix product; for given
pairs (the exact stage of two-stage search, ``ssim_indexed_pairs``) they are computed once per
image (``moments``: the separable window as shifted adds, ``window_filter``), and ``w * (x y)`` is
the filtered product image of each pair.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch

from trainprint.core.errors import TrainprintError
from trainprint.similarity.blocks import pair_scores

#: elements of one (positions, n, mb) tile of the per-pair SSIM map (2 MB of float32: it stays in cache)
BLOCK_ELEMENTS = 2**19
#: B images that ``BLOCK_ELEMENTS`` is sized for (positions per tile = BLOCK_ELEMENTS // (n TILE_B))
TILE_B = 256
#: bytes that one block of B images may take in ``ssim_pairwise_blocks`` (the images twice and one
#: row of windows; 256 px: 415 images, 64 px: the 512 of ``MAX_B_BLOCK``). Not smaller: A's windows
#: are rebuilt for every block, and blocks of 97 images at 256 px took SSIM from 46% to 36% of the
#: one-thread peak, 53% to 25% of the two-thread one (docs/similarity.md)
B_BLOCK_BYTES = 2**28
#: most B images per block (more does not make the matrix products faster)
MAX_B_BLOCK = 512
#: images filtered at once by ``window_filter`` at stride 1 (16 maps of 256 x 256 floats, 4 MB: the
#: s shifted adds per axis run on data in cache)
FILTER_BLOCK = 16


@dataclass(frozen=True)
class SSIMWindow:
    """The local window of SSIM."""

    kind: str = "gaussian"  # "gaussian" (Wang et al.'s 11x11, sigma 1.5) or "uniform" (box)
    size: int = 11  # window side in pixels (odd)
    sigma: float = 1.5  # Gaussian standard deviation in pixels (ignored for "uniform")
    data_range: float = 1.0  # L in C1 = (0.01 L)^2, C2 = (0.03 L)^2
    stride: int = 1  # SSIM map sampled every `stride` px; 1 = every window position (the exact map)

    def __post_init__(self) -> None:
        if self.kind not in ("gaussian", "uniform"):
            raise TrainprintError(f"SSIM window kind {self.kind!r}: expected 'gaussian' or 'uniform'")
        if self.size < 1 or self.size % 2 == 0:
            raise TrainprintError(f"SSIM window size {self.size}: expected an odd number >= 1")
        if not isinstance(self.stride, int) or isinstance(self.stride, bool) or self.stride < 1:
            raise TrainprintError(f"SSIM stride {self.stride!r}: expected an integer >= 1")

    def kernel_1d(self) -> np.ndarray:
        """(size,) float64 weights summing to 1."""
        if self.kind == "uniform":
            return np.full(self.size, 1.0 / self.size)
        x = np.arange(self.size) - (self.size - 1) / 2
        g = np.exp(-(x**2) / (2 * self.sigma**2))
        return g / g.sum()

    def stride_for(self, side: int) -> int:
        """The stride of the map for images of ``side`` px (the same at every side)."""
        return self.stride

    def positions(self, h: int, w: int) -> tuple[int, int]:
        """(L_h, L_w): window positions sampled down and across an h x w image."""
        return (h - self.size) // self.stride + 1, (w - self.size) // self.stride + 1


def default_b_block(window: SSIMWindow, h: int, w: int) -> int:
    """B images per block of ``ssim_pairwise_blocks`` when ``b_block`` is not given: a block's
    images (twice while they are centred) and one row of windows take at most ``B_BLOCK_BYTES`` (and
    never more than ``MAX_B_BLOCK`` images)."""
    _, lw = window.positions(h, w)
    per_image = 4 * (2 * h * w + (window.size**2 + 2) * lw)
    return max(1, min(MAX_B_BLOCK, B_BLOCK_BYTES // per_image))


def tile_positions(n: int) -> int:
    """Window positions per tile of ``ssim_pairwise_blocks`` for ``n`` A images: about
    ``BLOCK_ELEMENTS`` floats, and an even number (the batched product of a tile splits evenly over 2
    threads: at 256 px, 5 positions ran at 35% of the 2-thread peak, 8 at 49%; docs/similarity.md).
    A function of n alone, never of the thread count, so every thread count sums the same way."""
    per = BLOCK_ELEMENTS // (n * TILE_B)
    return max(1, per - per % 2) if per > 1 else 1


def window_filter(x: torch.Tensor, k: torch.Tensor, stride: int) -> torch.Tensor:
    """(N, H, W) -> (N, L_h, L_w): ``x`` filtered by the separable window ``k`` (s,) at its 'valid'
    positions, sampled every ``stride`` px.

    Stride 1 (the full map): s shifted, scaled adds down each column, then s across each row,
    ``FILTER_BLOCK`` images at a time (4 s flops per position; at 256 px 5x faster here than the banded
    matrix products, which do 2 (H + L_w) flops per position, most of them on zeros). Stride > 1:
    the two banded matrix products ``band(k, H) @ x @ band(k, W).T``, which also sample."""
    n, h, w = x.shape
    if stride > 1:
        return band(k, h, stride) @ x @ band(k, w, stride).T
    s = k.shape[0]
    lh, lw = h - s + 1, w - s + 1
    out = torch.empty(n, lh, lw, dtype=x.dtype, device=x.device)
    for b in range(0, n, FILTER_BLOCK):
        cols = _shifted_sum(x[b:b + FILTER_BLOCK], k, 1, lh)  # (b, L_h, W)
        _shifted_sum(cols, k, 2, lw, out=out[b:b + FILTER_BLOCK])
    return out


def _shifted_sum(x: torch.Tensor, k: torch.Tensor, dim: int, n: int, stride: int = 1,
                 out: torch.Tensor | None = None) -> torch.Tensor:
    """The window ``k`` (s,) along axis ``dim`` of ``x`` at n positions, every ``stride``-th:
    ``sum_i k[i] x[.., i + stride j, ..]`` for j < n, as s shifted, scaled adds (element-wise: the
    same sums on any thread count); written into ``out`` when given."""
    span = (n - 1) * stride + 1
    lead = (slice(None),) * dim
    weights = [float(v) for v in k]
    out = torch.mul(x[lead + (slice(0, span, stride),)], weights[0], out=out)
    for i in range(1, len(weights)):
        out.add_(x[lead + (slice(i, i + span, stride),)], alpha=weights[i])
    return out


def moments(x: torch.Tensor, k: torch.Tensor,
            stride: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Images x (n, H, W) -> (x0, mu0, mean, var): x0 = x minus its mean (n, 1, 1) (the cross terms
    are computed on it, which loses less precision), mu0 its local means (n, L_h, L_w) (those of x are
    mu0 + mean), var the local variances."""
    mean = x.mean(dim=(1, 2), keepdim=True)
    x0 = x - mean
    mu0 = window_filter(x0, k, stride)
    var = window_filter(x0 * x0, k, stride) - mu0 * mu0
    return x0, mu0, mean, var


def _windows_into(out: torch.Tensor, xt: torch.Tensor, row: int, window: SSIMWindow,
                  scale: torch.Tensor | None) -> None:
    """Write into ``out`` (L_w, s^2, N) the windows of map row ``row`` of images ``xt`` (H, W, N)
    (images last: every copy moves N contiguous floats), times ``scale`` (s, s) when given."""
    s, st = window.size, window.stride
    _, w, n = xt.shape
    lw = out.shape[0]
    src = xt[row * st:row * st + s].as_strided((lw, s, s, n), (st * n, w * n, n, 1),
                                                xt.storage_offset() + row * st * w * n)
    dst = out.view(lw, s, s, n) if out.is_contiguous() else out.unflatten(1, (s, s))
    if scale is None:
        dst.copy_(src)
    else:
        torch.mul(src, scale[None, :, :, None], out=dst)


def _centred_last(X: np.ndarray, dtype: torch.dtype, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Images X (N, H, W) -> (xt (H, W, N): each minus its mean, images last (every window copy then
    moves N contiguous floats), the means (N,))."""
    x = torch.as_tensor(np.asarray(X), device=device).to(dtype)  # may share X's memory: never written
    mean = x.mean(dim=(1, 2))
    xt = torch.empty(x.shape[1], x.shape[2], x.shape[0], dtype=dtype, device=device)
    xt.copy_(x.permute(1, 2, 0))
    xt -= mean
    return xt, mean


#: map rows whose local moments ``ssim_pairwise_blocks`` computes at once
MOMENT_ROWS = 8


def _rows_moments(xt: torch.Tensor, r0: int, r1: int, k: torch.Tensor, kw: torch.Tensor,
                  stride: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Local means and variances (r1 - r0, L_w, N) of centred images xt (H, W, N) along map rows
    r0 .. r1 - 1: the image rows they cover filtered down (shifted adds), then across (``kw``
    (L_w, W), one matrix product for the rows and both moments). Computed a few rows at a time,
    not held for the whole map: 2 L_h L_w floats per image less to hold (at 256 px more than the
    image itself), for a few % more arithmetic."""
    rows = xt[r0 * stride:(r1 - 1) * stride + k.shape[0]]  # (h_rows, W, N)
    n = rows.shape[2]
    down = _shifted_sum(torch.cat([rows, rows * rows], 2), k, 0, r1 - r0, stride)  # (R, W, 2N): x and x^2
    r, w, _ = down.shape
    f = (kw @ down.transpose(0, 1).reshape(w, 2 * r * n)).reshape(-1, r, 2 * n).transpose(0, 1)  # (R, L_w, 2N)
    mu0 = f[:, :, :n]
    return mu0, f[:, :, n:] - mu0 * mu0


def ssim_pairwise_blocks(
    A: np.ndarray,
    B: np.ndarray,
    *,
    window: SSIMWindow,
    device: torch.device,
    b_block: int | None = None,
    dtype: torch.dtype = torch.float32,
) -> Iterator[tuple[int, torch.Tensor]]:
    """Yield ``(start, S)``: ``S`` (n, mb) = SSIM of every ``A`` (n, H, W) to ``B[start:start+mb]``.

    Every window position counts (``window.stride`` = 1, the default), as scikit-image's
    ``structural_similarity(..., gaussian_weights=True, sigma=1.5, use_sample_covariance=False)``.
    What depends on one image (local means, variances) is computed once per image and row of
    positions. The one per-pair term, 2 cov_xy + C2 at a position, is a dot product of the two
    images' windows (s^2 weighted pixels, plus two columns that fold in -2 mu_x mu_y and C2), so a
    row of positions for all pairs of a block is one batched matrix product
    ``(L_w, n, s^2 + 2) @ (L_w, s^2 + 2, mb)``; the rest of the SSIM formula
    (2 mu_x mu_y + C1 and (mu_x^2 + mu_y^2 + C1)(var_x + var_y + C2)) are rank-2 and rank-4
    batched products, applied to a cache-sized tile of positions at a time. ``dtype``: the
    arithmetic's (float32; float64 for checks). The local means and variances are computed a row of
    positions at a time (``_rows_moments``), not held. Memory: A's images, a block of ``b_block`` B
    images, one row of windows of each, and one tile.
    """
    n, h, w = A.shape
    if B.shape[1:] != (h, w):
        raise TrainprintError(f"similarity 'ssim': A images are {h}x{w}, B images are {B.shape[1]}x{B.shape[2]}")
    if min(h, w) < window.size:
        raise TrainprintError(f"similarity 'ssim': images of {h}x{w} are smaller than the {window.size} px window")
    c1, c2 = (0.01 * window.data_range) ** 2, (0.03 * window.data_range) ** 2
    lh, lw = window.positions(h, w)
    k = torch.as_tensor(window.kernel_1d(), dtype=dtype, device=device)
    wgt = torch.outer(k, k)  # (s, s), sum 1
    s2 = window.size**2
    if b_block is None:
        b_block = default_b_block(window, h, w)
    # positions per tile: a function of n only, so that the positions are summed in the same order
    # in every block of B (the matrix products' own rounding may still change with the block's
    # width, by float32 rounding: tests/test_ssim_parity.py)
    per = tile_positions(n)
    kw = band(k, w, window.stride)  # (L_w, W): the window across a row, sampled every stride px
    with torch.no_grad():
        at, mean_a = _centred_last(A, dtype, device)  # (H, W, n), (n,)
        for start in range(0, B.shape[0], b_block):
            bt, mean_b = _centred_last(B[start:start + b_block], dtype, device)  # (H, W, mb), (mb,)
            mb = bt.shape[2]
            # (L_w, s^2 + 2, .) windows of one map row: A's (weighted, doubled) and B's, with two extra
            # rows that fold in -2 mu0_x mu0_y and C2: their product is 2 E_w[x0 y0] - 2 mu0_x mu0_y + C2
            wa = torch.empty(lw, s2 + 2, n, dtype=dtype, device=device)
            wb = torch.empty(lw, s2 + 2, mb, dtype=dtype, device=device)
            wa[:, s2 + 1] = c2
            wb[:, s2 + 1] = 1.0
            acc = torch.zeros(n, mb, dtype=dtype, device=device)
            for r in range(lh):
                if r % MOMENT_ROWS == 0:
                    r1 = min(lh, r + MOMENT_ROWS)
                    rows_a = _rows_moments(at, r, r1, k, kw, window.stride)  # (R, L_w, n) x2
                    rows_b = _rows_moments(bt, r, r1, k, kw, window.stride)  # (R, L_w, mb) x2
                mu0_a, va = rows_a[0][r % MOMENT_ROWS], rows_a[1][r % MOMENT_ROWS]  # (L_w, n): centred means, variances
                mu0_b, vb = rows_b[0][r % MOMENT_ROWS], rows_b[1][r % MOMENT_ROWS]  # (L_w, mb)
                ma, mb_ = mu0_a + mean_a, mu0_b + mean_b  # the local means
                _windows_into(wa[:, :s2], at, r, window, 2 * wgt)
                _windows_into(wb[:, :s2], bt, r, window, None)
                wa[:, s2] = -2 * mu0_a
                wb[:, s2] = mu0_b
                lum_a = torch.stack([2 * ma, torch.full_like(ma, c1)], 2)  # (L_w, n, 2)
                lum_b = torch.stack([mb_, torch.ones_like(mb_)], 1)  # (L_w, 2, mb)
                # (mu_x^2 + mu_y^2 + C1)(var_x + var_y + C2), expanded into four rank-1 terms
                al, ga, be = ma * ma, va + c2, mb_ * mb_ + c1
                den_a = torch.stack([al * ga, al, ga, torch.ones_like(al)], 2)  # (L_w, n, 4)
                den_b = torch.stack([torch.ones_like(be), vb, be, be * vb], 1)  # (L_w, 4, mb)
                for j in range(0, lw, per):
                    sl = slice(j, j + per)
                    z = torch.bmm(wa[sl].transpose(1, 2), wb[sl])  # (per, n, mb): 2 cov + C2
                    z.mul_(torch.bmm(lum_a[sl], lum_b[sl])).div_(torch.bmm(den_a[sl], den_b[sl]))
                    acc += z.sum(0)
            yield start, acc / (lh * lw)


def band(k: torch.Tensor, n: int, stride: int) -> torch.Tensor:
    """(L, n) matrix whose row i is the window ``k`` placed at position i * stride ('valid' only):
    ``band @ x`` filters the columns of x and samples every ``stride``-th position."""
    size = k.shape[0]
    starts = torch.arange(0, n - size + 1, stride, device=k.device)
    out = torch.zeros(starts.shape[0], n, dtype=k.dtype, device=k.device)
    out[torch.arange(starts.shape[0], device=k.device)[:, None], starts[:, None] + torch.arange(size, device=k.device)] = k
    return out


#: pixels (pairs x H x W) per block of ``ssim_indexed_pairs``: 16 pairs at 256 px, 256 at 64 px (2^22 ran at
#: half the speed: the element-wise formula then works on maps out of cache)
PAIR_PIXELS = 2**20
#: bytes of the B images' moments ``ssim_indexed_pairs`` holds at once (90 images at 256 px)
INDEXED_B_BYTES = 2**26


def _pair_map_mean(mx: torch.Tensor, my: torch.Tensor, vx: torch.Tensor, vy: torch.Tensor, cov: torch.Tensor,
                   win: SSIMWindow) -> torch.Tensor:
    """(b,) mean over positions of the SSIM map from local means, variances and covariance (b, L_h, L_w)."""
    c1, c2 = (0.01 * win.data_range) ** 2, (0.03 * win.data_range) ** 2
    num = (2 * mx * my + c1) * (2 * cov + c2)
    den = (mx * mx + my * my + c1) * (vx + vy + c2)
    return (num / den).mean(dim=(1, 2))


def _pair_ssim(a: tuple[torch.Tensor, ...], b: tuple[torch.Tensor, ...], k: torch.Tensor, stride: int,
               win: SSIMWindow) -> torch.Tensor:
    """(b,) SSIM of pairs given each side's ``moments`` (rows aligned): only the covariance,
    E_w[x0 y0] - mu0_x mu0_y, is computed per pair."""
    (x0, mu0_x, mean_x, var_x), (y0, mu0_y, mean_y, var_y) = a, b
    cov = window_filter(x0 * y0, k, stride) - mu0_x * mu0_y
    return _pair_map_mean(mu0_x + mean_x, mu0_y + mean_y, var_x, var_y, cov, win)


def _ssim_pair_block(x: torch.Tensor, y: torch.Tensor, win: SSIMWindow) -> torch.Tensor:
    """(b, H, W) x2 -> (b,) mean SSIM over the window's valid positions, sampled every stride px."""
    k = torch.as_tensor(win.kernel_1d(), dtype=torch.float32, device=x.device)
    stride = win.stride_for(min(x.shape[1], x.shape[2]))
    return _pair_ssim(moments(x, k, stride), moments(y, k, stride), k, stride, win)


def ssim_pairs(X: np.ndarray, Y: np.ndarray, *, window: SSIMWindow, device: torch.device) -> np.ndarray:
    """(n,) float32 SSIM of ``X[i]`` to ``Y[i]``; X, Y (n, H, W) float32."""
    return pair_scores(X, Y, lambda x, y: _ssim_pair_block(x, y, window), device=device)


def _images(X: np.ndarray, rows: np.ndarray, device: torch.device) -> torch.Tensor:
    """(len(rows), H, W) float32 tensor of images ``X[rows]``."""
    return torch.as_tensor(np.ascontiguousarray(X[rows]), device=device).float()


def _moments_of(X: np.ndarray, rows: np.ndarray, k: torch.Tensor, stride: int, device: torch.device,
                per: int, keep_x0: bool = True) -> list[torch.Tensor | None]:
    """``moments`` of images ``X[rows]`` (rows not empty), ``per`` images at a time, each written into
    one tensor as it comes (no list of parts beside their concatenation: that held the moments
    twice). ``keep_x0=False``: the centred images are not kept (None; ``X[row] - mean`` gives them
    back, bit for bit), which at 256 px is a third of what the moments hold."""
    out: list[torch.Tensor | None] = []
    for s in range(0, len(rows), per):
        part = moments(_images(X, rows[s:s + per], device), k, stride)
        if not out:
            out = [torch.empty((len(rows), *t.shape[1:]), dtype=t.dtype, device=t.device) if j or keep_x0 else None
                   for j, t in enumerate(part)]
        for o, t in zip(out, part):
            if o is not None:
                o[s:s + len(t)] = t
    return out


def ssim_indexed_pairs(A: np.ndarray, ia: np.ndarray, B: np.ndarray, ib: np.ndarray, *, window: SSIMWindow,
                       device: torch.device) -> np.ndarray:
    """(n,) float32 SSIM of the pairs ``(A[ia[i]], B[ib[i]])``; A (a, H, W), B (b, H, W) float32.

    Each image's local moments are computed once, not once per pair: those of every A image named
    (A is the small side: the real images; their centred images are made again from A for each
    batch of pairs, not held), those of B ``INDEXED_B_BYTES`` of them at a time, with the pairs that
    name them; the pairs' covariances ``PAIR_PIXELS`` at a time (in cache)."""
    ia, ib = np.asarray(ia, dtype=np.int64), np.asarray(ib, dtype=np.int64)
    out = np.empty(len(ia), dtype=np.float32)
    if not len(ia):
        return out
    h, w = A.shape[1:]
    per = max(1, PAIR_PIXELS // (h * w))
    k = torch.as_tensor(window.kernel_1d(), dtype=torch.float32, device=device)
    stride = window.stride_for(min(h, w))
    lh, lw = window.positions(h, w)
    chunk = max(1, INDEXED_B_BYTES // (4 * (h * w + 2 * lh * lw)))  # B images whose moments are held at once
    with torch.no_grad():
        used_a, ja = np.unique(ia, return_inverse=True)
        _, *ma = _moments_of(A, used_a, k, stride, device, per, keep_x0=False)  # mu0, mean, var
        order = np.argsort(ib, kind="stable")  # the pairs, grouped by their B image
        used_b, jb = np.unique(ib[order], return_inverse=True)
        bounds = np.searchsorted(jb, np.arange(0, len(used_b) + chunk, chunk))
        for c, (lo, hi) in enumerate(zip(bounds[:-1], bounds[1:])):
            if lo == hi:
                continue
            mb = _moments_of(B, used_b[c * chunk:(c + 1) * chunk], k, stride, device, per)
            for s in range(lo, hi, per):
                pos = order[s:min(s + per, hi)]
                i = torch.as_tensor(ja[pos])
                j = torch.as_tensor(jb[s:s + len(pos)] - c * chunk)
                mu0_a, mean_a, var_a = (m[i] for m in ma)
                x0_a = _images(A, used_a[ja[pos]], device) - mean_a
                out[pos] = _pair_ssim((x0_a, mu0_a, mean_a, var_a), tuple(m[j] for m in mb), k, stride,
                                      window).cpu().numpy()
    return out
