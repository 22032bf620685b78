"""Similarity of given pairs ``(X[i], Y[i])``, not of every pair: the exact stage of two-stage search.

    pair_similarity(space, X, Y) -> (n,) float32      X, Y: (n, H, W) in [0, 1] (pixel spaces)
                                                             or (n, D) fingerprints

Same definitions as ``spaces.pairwise`` (tested equal to its diagonal): SSIM with the same window,
'valid' positions and stride, computed as separable convolutions of the pair's products; NCC as
the dot product of centred unit vectors; pixel as -RMS; fingerprints as -L2 (in float64).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from trainprint.core.device import resolve_device
from trainprint.similarity.ssim import SSIMWindow

#: pairs computed at once (64 px SSIM: ~6 maps of 64 x 64 floats per pair)
PAIR_BLOCK = 512


def pair_similarity(space: str, X: np.ndarray, Y: np.ndarray, *, device: str = "cpu",
                    ssim_window: SSIMWindow | None = None) -> np.ndarray:
    """(n,) float32 similarity of ``X[i]`` to ``Y[i]`` in ``space``; ``X``, ``Y`` (n, ...) float32."""
    if X.shape != Y.shape:
        raise ValueError(f"pair_similarity: X {X.shape} and Y {Y.shape} differ")
    n = X.shape[0]
    out = np.empty(n, dtype=np.float32)
    if space not in ("ssim", "ncc"):
        d = X.reshape(n, -1).astype(np.float64) - Y.reshape(n, -1)
        out[:] = -np.sqrt((d * d).sum(1))
        if space == "pixel":
            out /= np.float32(np.sqrt(d.shape[1]))
        return out
    dev = resolve_device(device)
    win = ssim_window or SSIMWindow()
    with torch.no_grad():
        for s in range(0, n, PAIR_BLOCK):
            x = torch.as_tensor(np.ascontiguousarray(X[s:s + PAIR_BLOCK]), device=dev).float()
            y = torch.as_tensor(np.ascontiguousarray(Y[s:s + PAIR_BLOCK]), device=dev).float()
            out[s:s + x.shape[0]] = (_ssim(x, y, win) if space == "ssim" else _ncc(x, y)).cpu().numpy()
    return out


def _ncc(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """(b, H, W) x2 -> (b,): correlation of centred images (0 when one is constant), in [-1, 1]."""
    a = x.reshape(x.shape[0], -1)
    b = y.reshape(y.shape[0], -1)
    a = a - a.mean(1, keepdim=True)
    b = b - b.mean(1, keepdim=True)
    a = a / a.norm(dim=1, keepdim=True).clamp_min(1e-12)
    b = b / b.norm(dim=1, keepdim=True).clamp_min(1e-12)
    return (a * b).sum(1).clamp(-1.0, 1.0)


def _ssim(x: torch.Tensor, y: torch.Tensor, win: SSIMWindow) -> torch.Tensor:
    """(b, H, W) x2 -> (b,) mean SSIM over the window's valid positions, sampled every stride px."""
    c1, c2 = (0.01 * win.data_range) ** 2, (0.03 * win.data_range) ** 2
    stride = win.stride_for(min(x.shape[1], x.shape[2]))
    k = torch.as_tensor(win.kernel_1d(), dtype=torch.float32, device=x.device)
    kh, kw = k.reshape(1, 1, -1, 1), k.reshape(1, 1, 1, -1)
    b = x.shape[0]
    maps = torch.cat([x, y, x * x, y * y, x * y])[:, None]  # (5b, 1, H, W)
    f = F.conv2d(F.conv2d(maps, kh), kw)[:, 0, ::stride, ::stride]  # (5b, L_h, L_w), 'valid'
    mu_x, mu_y, xx, yy, xy = f[:b], f[b:2 * b], f[2 * b:3 * b], f[3 * b:4 * b], f[4 * b:]
    var_x, var_y, cov = xx - mu_x * mu_x, yy - mu_y * mu_y, xy - mu_x * mu_y
    num = (2 * mu_x * mu_y + c1) * (2 * cov + c2)
    den = (mu_x * mu_x + mu_y * mu_y + c1) * (var_x + var_y + c2)
    return (num / den).mean(dim=(1, 2))
