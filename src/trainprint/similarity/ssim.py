"""SSIM of every image of ``A`` with every image of ``B``, and of given pairs (no Python loop over pairs).

SSIM (Wang et al. 2004) of images x, y with local statistics from a window w (``*`` = filtering,
'valid' positions only, i.e. windows entirely inside the image):

    mu_x = w * x,   var_x = w * x^2 - mu_x^2,   cov_xy = w * (x y) - mu_x mu_y
    SSIM = mean_p [(2 mu_x mu_y + C1)(2 cov_xy + C2)] / [(mu_x^2 + mu_y^2 + C1)(var_x + var_y + C2)]

with C1 = (0.01 L)^2, C2 = (0.03 L)^2 and data range L = 1, over every window position by default
(the full map: scikit-image's ``structural_similarity(..., gaussian_weights=True, sigma=1.5,
use_sample_covariance=False, data_range=1)``, tests/test_ssim_parity.py); ``SSIMWindow(stride=s)``
samples every s-th position instead. ``mu`` and ``var`` are per image, computed once per image
(separable banded matrix products); only the cross term ``w * (x y)`` is per pair: for all pairs of
a block, at a row of positions, one batched matrix product (``ssim_pairwise_blocks``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch

from trainprint.core.errors import TrainprintError
from trainprint.similarity.blocks import PAIR_BLOCK, pair_scores

#: elements of one (positions, n, mb) tile of the per-pair SSIM map (1 MB of float32: it stays in cache)
BLOCK_ELEMENTS = 2**18
#: B images that ``BLOCK_ELEMENTS`` is sized for (positions per tile = BLOCK_ELEMENTS // (n TILE_B))
TILE_B = 256
#: bytes that one block of B images may take in ``ssim_pairwise_blocks`` (the images twice, their
#: three moment maps and one row of windows; 256 px: 391 images)
B_BLOCK_BYTES = 2**29
#: most B images per block (more does not make the matrix products faster)
MAX_B_BLOCK = 512


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
    images, moments and one row of windows take at most ``B_BLOCK_BYTES`` (and never more than
    ``MAX_B_BLOCK`` images)."""
    lh, lw = window.positions(h, w)
    per_image = 4 * (2 * h * w + 3 * lh * lw + (window.size**2 + 2) * lw)
    return max(1, min(MAX_B_BLOCK, B_BLOCK_BYTES // per_image))


def moments(x: torch.Tensor, window: SSIMWindow) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-image statistics of images x (N, H, W), once per image.

    Returns ``(x0, mu0, mu, var)``: x0 = x minus its mean (N, H, W) (the cross terms are computed on
    it, which loses less precision), mu0 and mu its local means (N, L_h, L_w), var its local
    variances. The separable window as two banded matrix products that also do the striding."""
    k = torch.as_tensor(window.kernel_1d(), dtype=x.dtype, device=x.device)
    kh, kw = band(k, x.shape[1], window.stride), band(k, x.shape[2], window.stride)
    mean = x.mean(dim=(1, 2), keepdim=True)
    x0 = x - mean
    mu0 = kh @ x0 @ kw.T
    var = kh @ (x0 * x0) @ kw.T - mu0 * mu0
    return x0, mu0, mu0 + mean, var


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
    What depends on one image (local means, variances) is computed once per image
    (``moments``). The one per-pair term, 2 cov_xy + C2 at a position, is a dot product of the two
    images' windows (s^2 weighted pixels, plus two columns that fold in -2 mu_x mu_y and C2), so a
    row of positions for all pairs of a block is one batched matrix product
    ``(L_w, n, s^2 + 2) @ (L_w, s^2 + 2, mb)``; the rest of the SSIM formula
    (2 mu_x mu_y + C1 and (mu_x^2 + mu_y^2 + C1)(var_x + var_y + C2)) are rank-2 and rank-4
    batched products, applied to a cache-sized tile of positions at a time. ``dtype``: the
    arithmetic's (float32; float64 for checks). Memory: A's moments (2 n L floats), a block of
    ``b_block`` B images with their moments, one row of windows of each, and one tile.
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
    per = max(1, BLOCK_ELEMENTS // (n * TILE_B))
    with torch.no_grad():
        a0, mu0_a, mu_a, var_a = moments(torch.as_tensor(np.asarray(A), device=device).to(dtype), window)
        at = a0.permute(1, 2, 0).contiguous()  # (H, W, n): images last
        del a0
        for start in range(0, B.shape[0], b_block):
            b0, mu0_b, mu_b, var_b = moments(torch.as_tensor(np.asarray(B[start:start + b_block]),
                                                             device=device).to(dtype), window)
            mb = b0.shape[0]
            bt = b0.permute(1, 2, 0).contiguous()  # (H, W, mb)
            del b0
            # (L_w, s^2 + 2, .) windows of one map row: A's (weighted, doubled) and B's, with two extra
            # rows that fold in -2 mu0_x mu0_y and C2: their product is 2 E_w[x0 y0] - 2 mu0_x mu0_y + C2
            wa = torch.empty(lw, s2 + 2, n, dtype=dtype, device=device)
            wb = torch.empty(lw, s2 + 2, mb, dtype=dtype, device=device)
            wa[:, s2 + 1] = c2
            wb[:, s2 + 1] = 1.0
            acc = torch.zeros(n, mb, dtype=dtype, device=device)
            for r in range(lh):
                ma, va = mu_a[:, r].T, var_a[:, r].T  # (L_w, n)
                mb_, vb = mu_b[:, r].T, var_b[:, r].T  # (L_w, mb)
                _windows_into(wa[:, :s2], at, r, window, 2 * wgt)
                _windows_into(wb[:, :s2], bt, r, window, None)
                wa[:, s2] = -2 * mu0_a[:, r].T
                wb[:, s2] = mu0_b[:, r].T
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


#: pairs computed at once by ``ssim_pairs`` / ``ssim_indexed_pairs`` (64 px: ~6 maps of 64 x 64 floats per pair)


def band(k: torch.Tensor, n: int, stride: int) -> torch.Tensor:
    """(L, n) matrix whose row i is the window ``k`` placed at position i * stride ('valid' only):
    ``band @ x`` filters the columns of x and samples every ``stride``-th position."""
    size = k.shape[0]
    starts = torch.arange(0, n - size + 1, stride, device=k.device)
    out = torch.zeros(starts.shape[0], n, dtype=k.dtype, device=k.device)
    out[torch.arange(starts.shape[0], device=k.device)[:, None], starts[:, None] + torch.arange(size, device=k.device)] = k
    return out


def _ssim_pair_block(x: torch.Tensor, y: torch.Tensor, win: SSIMWindow) -> torch.Tensor:
    """(b, H, W) x2 -> (b,) mean SSIM over the window's valid positions, sampled every stride px.

    The separable window as two matrix products per map (``Kh @ m @ Kw.T``, banded matrices that
    also do the striding): 20x faster on CPU than single-channel ``conv2d``."""
    c1, c2 = (0.01 * win.data_range) ** 2, (0.03 * win.data_range) ** 2
    stride = win.stride_for(min(x.shape[1], x.shape[2]))
    k = torch.as_tensor(win.kernel_1d(), dtype=torch.float32, device=x.device)
    kh, kw = band(k, x.shape[1], stride), band(k, x.shape[2], stride)
    b = x.shape[0]
    maps = torch.cat([x, y, x * x, y * y, x * y])  # (5b, H, W)
    f = kh @ maps @ kw.T  # (5b, L_h, L_w)
    mu_x, mu_y, xx, yy, xy = f[:b], f[b:2 * b], f[2 * b:3 * b], f[3 * b:4 * b], f[4 * b:]
    var_x, var_y, cov = xx - mu_x * mu_x, yy - mu_y * mu_y, xy - mu_x * mu_y
    num = (2 * mu_x * mu_y + c1) * (2 * cov + c2)
    den = (mu_x * mu_x + mu_y * mu_y + c1) * (var_x + var_y + c2)
    return (num / den).mean(dim=(1, 2))


def ssim_pairs(X: np.ndarray, Y: np.ndarray, *, window: SSIMWindow, device: torch.device) -> np.ndarray:
    """(n,) float32 SSIM of ``X[i]`` to ``Y[i]``; X, Y (n, H, W) float32."""
    return pair_scores(X, Y, lambda x, y: _ssim_pair_block(x, y, window), device=device)


def _moments(x: torch.Tensor, kh: torch.Tensor, kw: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Local means and variances (n, L_h, L_w) of images x (n, H, W) under the window."""
    mu, xx = [], []
    for s in range(0, x.shape[0], PAIR_BLOCK):
        f = kh @ torch.cat([x[s:s + PAIR_BLOCK], x[s:s + PAIR_BLOCK] ** 2]) @ kw.T
        n = f.shape[0] // 2
        mu.append(f[:n])
        xx.append(f[n:] - f[:n] * f[:n])
    return torch.cat(mu), torch.cat(xx)


def ssim_indexed_pairs(A: np.ndarray, ia: np.ndarray, B: np.ndarray, ib: np.ndarray, *, window: SSIMWindow,
                       device: torch.device) -> np.ndarray:
    """(n,) float32 SSIM of the pairs ``(A[ia[i]], B[ib[i]])``; A (a, H, W), B (b, H, W) float32.
    Each image's local means and variances are computed once, not once per pair."""
    out = np.empty(len(ia), dtype=np.float32)
    with torch.no_grad():
        a = torch.as_tensor(np.ascontiguousarray(A), device=device).float()
        b = torch.as_tensor(np.ascontiguousarray(B), device=device).float()
        c1, c2 = (0.01 * window.data_range) ** 2, (0.03 * window.data_range) ** 2
        stride = window.stride_for(min(a.shape[1], a.shape[2]))
        k = torch.as_tensor(window.kernel_1d(), dtype=torch.float32, device=device)
        kh, kw = band(k, a.shape[1], stride), band(k, a.shape[2], stride)
        mu_a, var_a = _moments(a, kh, kw)
        mu_b, var_b = _moments(b, kh, kw)
        for s in range(0, len(ia), PAIR_BLOCK):
            i, j = torch.as_tensor(ia[s:s + PAIR_BLOCK]), torch.as_tensor(ib[s:s + PAIR_BLOCK])
            mx, my = mu_a[i], mu_b[j]
            cov = kh @ (a[i] * b[j]) @ kw.T - mx * my
            num = (2 * mx * my + c1) * (2 * cov + c2)
            den = (mx * mx + my * my + c1) * (var_a[i] + var_b[j] + c2)
            out[s:s + len(i)] = (num / den).mean(dim=(1, 2)).cpu().numpy()
    return out
