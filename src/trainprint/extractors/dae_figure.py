"""Evidence a person can look at: what the deforming autoencoder does to a few images.

``dae_reconstructions.png``: one row per image; columns ``input``, then for the start and the end
of training ``texture`` (the undeformed template), ``grid`` (the deformation: a mesh drawn where
every 4th row / column of output pixels samples the texture; a regular square mesh is identity)
and ``recon`` (the texture warped by the grid), each reconstruction titled with its mean squared
error.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from trainprint.core.files import atomic_path

FIGURE = "dae_reconstructions.png"


@torch.no_grad()
def snapshot(model: nn.Module, x: torch.Tensor) -> dict[str, np.ndarray]:
    """The model's texture, grid and reconstruction for ``x`` ``(K, 1, N, N)``, in eval mode.

    Returns numpy arrays: ``texture`` and ``recon`` ``(K, N, N)``, ``grid`` ``(K, 2, N, N)``.
    The model's train/eval mode is restored afterwards; no state (BN statistics) changes.
    """
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    out = model(x.to(device))
    model.train(was_training)
    return {
        "texture": out.texture[:, 0].float().cpu().numpy(),
        "grid": out.grid.float().cpu().numpy(),
        "recon": out.recon[:, 0].float().cpu().numpy(),
    }


def save_reconstruction_figure(path: str | Path, x: np.ndarray, start: dict[str, np.ndarray],
                               end: dict[str, np.ndarray], *, ids: list[str] | None = None,
                               title: str = "") -> Path:
    """Write the PNG. ``x``: ``(K, N, N)`` inputs in [0, 1]; ``start``/``end``: ``snapshot`` outputs."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    cols = ["input", "start: texture", "start: grid", "start: recon",
            "end: texture", "end: grid", "end: recon"]
    k = x.shape[0]
    fig, axes = plt.subplots(k, len(cols), figsize=(1.6 * len(cols), 1.7 * k + 0.5), dpi=100,
                             squeeze=False)
    for i in range(k):
        panels = [("img", x[i], None)]
        for snap in (start, end):
            err = float(np.mean((snap["recon"][i] - x[i]) ** 2))
            panels += [("img", snap["texture"][i], None), ("grid", snap["grid"][i], None),
                       ("img", snap["recon"][i], f"mse {err:.4f}")]
        for j, (kind, data, note) in enumerate(panels):
            ax = axes[i, j]
            if kind == "img":
                ax.imshow(data, cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
            else:
                _draw_grid(ax, data)
            ax.set_xticks([])
            ax.set_yticks([])
            label = cols[j] if i == 0 else ""
            if note:
                label = f"{label}\n{note}" if label else note
            ax.set_title(label, fontsize=7)
            if j == 0 and ids is not None:
                ax.set_ylabel(ids[i], fontsize=6)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return path


def _draw_grid(ax: "object", grid: np.ndarray, every: int = 4) -> None:
    """Mesh of sampling positions (pixel coordinates) of every ``every``-th output row and column."""
    n = grid.shape[-1]
    px = (grid[0] + 1) * (n - 1) / 2  # (N, N) x positions in pixels
    py = (grid[1] + 1) * (n - 1) / 2  # (N, N) y positions in pixels
    idx = list(range(0, n, every)) + ([n - 1] if (n - 1) % every else [])
    for r in idx:
        ax.plot(px[r, :], py[r, :], color="tab:blue", lw=0.4)  # an output row
        ax.plot(px[:, r], py[:, r], color="tab:red", lw=0.4)  # an output column
    ax.set_xlim(-0.5, n - 0.5)
    ax.set_ylim(n - 0.5, -0.5)
    ax.set_aspect("equal")
