"""Matplotlib figures of the report, returned as base64 PNG strings (Agg backend, no display)."""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.metrics import roc_curve  # noqa: E402

#: colours of the image sets, used by every figure
SET_COLOURS = {"generated": "#9e9e9e", "real_used": "#d62728", "real_not_used": "#1f77b4",
               "real_unknown": "#2ca02c"}
SET_LABELS = {"generated": "G (generated)", "real_used": "U (used)", "real_not_used": "NU (not used)",
              "real_unknown": "unknown"}


def fig_to_base64(fig: plt.Figure) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def image_to_base64(pixels: np.ndarray, scale: int = 2) -> str:
    """(h, w) uint8 gray image -> base64 PNG, enlarged ``scale`` times with nearest neighbour."""
    from PIL import Image

    img = Image.fromarray(np.ascontiguousarray(pixels, dtype=np.uint8), mode="L")
    if scale > 1:
        img = img.resize((img.width * scale, img.height * scale), Image.NEAREST)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def roc_figure(curves: Mapping[str, tuple[np.ndarray, np.ndarray]], fold_mean: Mapping[str, float] | None = None,
               recommended: str | None = None) -> str:
    """ROC curves, one per method: ``{method: (labels (n,) 0/1, scores (n,))}``; the legend (outside
    the axes) gives each method's pooled AUC and, from ``fold_mean``, its mean AUC over folds. The
    ``recommended`` method is drawn thicker and marked; chance is a reference line."""
    from sklearn.metrics import auc

    fig, ax = plt.subplots(figsize=(9.6, 5.4))
    fold_mean = fold_mean or {}
    for name, (y, s) in curves.items():
        fpr, tpr, _ = roc_curve(y, s)
        fm = fold_mean.get(name, float("nan"))
        label = f"{'★ ' if name == recommended else ''}{name}: pooled AUC {auc(fpr, tpr):.3f}" + (
            f", fold-mean AUC {fm:.3f}" if np.isfinite(fm) else "")
        ax.plot(fpr, tpr, lw=2.8 if name == recommended else 1.4, label=label)
    ax.plot([0, 1], [0, 1], ls="--", c="k", lw=0.8, label="chance (reference line; baselines lie on it)")
    ax.set(xlabel="false positive rate (NU called used)", ylabel="true positive rate (U called used)",
           xlim=(0, 1), ylim=(0, 1.01), title="ROC of the held-out scores, pooled over folds")
    ax.set_aspect("equal")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0)
    return fig_to_base64(fig)


def score_hist_figure(title: str, groups: Mapping[str, np.ndarray]) -> str:
    """Overlaid histograms of scores per set (``{split name: scores}``)."""
    fig, ax = plt.subplots(figsize=(4.6, 3.0))
    values = np.concatenate([v for v in groups.values() if len(v)]) if groups else np.zeros(1)
    bins = np.histogram_bin_edges(values, bins=20)
    for split, v in groups.items():
        if len(v):
            ax.hist(v, bins=bins, alpha=0.55, color=SET_COLOURS.get(split), density=True,
                    label=f"{SET_LABELS.get(split, split)} (n={len(v)})")
    ax.set(title=title, xlabel="score (higher = more likely used)", ylabel="density")
    ax.title.set_fontsize(9)
    ax.legend(fontsize=7)
    return fig_to_base64(fig)


def map_figure(title: str, xy: np.ndarray, split: np.ndarray, method: str) -> str:
    """2-D scatter of embedded fingerprints ``xy`` (N, 2), coloured by set."""
    fig, ax = plt.subplots(figsize=(4.8, 4.2))
    for name in ("generated", "real_not_used", "real_used", "real_unknown"):
        m = split == name
        if m.any():
            ax.scatter(xy[m, 0], xy[m, 1], s=9 if name == "generated" else 16, alpha=0.5 if name == "generated" else 0.85,
                       c=SET_COLOURS[name], label=f"{SET_LABELS[name]} ({int(m.sum())})", edgecolors="none")
    ax.set(title=f"{title} ({method})", xticks=[], yticks=[])
    ax.title.set_fontsize(9)
    ax.legend(fontsize=7, markerscale=1.5)
    return fig_to_base64(fig)


def curves_figure(title: str, epochs: Sequence[float], series: Mapping[str, Sequence[float]]) -> str:
    """Training curves: one line per logged term against the epoch (log scale when all > 0)."""
    fig, ax = plt.subplots(figsize=(4.8, 3.0))
    for name, v in series.items():
        ax.plot(epochs, v, marker="o", ms=2.5, lw=1.2, label=name)
    vals = np.concatenate([np.asarray(v, dtype=float) for v in series.values()]) if series else np.ones(1)
    if np.all(vals[np.isfinite(vals)] > 0):
        ax.set_yscale("log")
    ax.set(title=title, xlabel="epoch", ylabel="loss")
    ax.title.set_fontsize(9)
    ax.legend(fontsize=7)
    return fig_to_base64(fig)
