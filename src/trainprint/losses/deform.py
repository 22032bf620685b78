"""The deforming autoencoder's objective as named, weighted terms.

    loss = w_recon * recon(recon_image, x)          "recon": mean L2 (paper) or mean L1 (reference code)
         + w_tv    * tv(grid - identity)            "tv":    summed L1 total variation, weight 1e-6
         + w_bias  * bias(grid - identity)          "bias":  MSE of the batch-mean residual to 0, weight 1e-2

The smoothness and bias terms are the DAE's "warping loss": the first keeps the deformation
smooth, the second keeps the average deformation at identity so that the texture stays a
centred template. Both are computed exactly as in the reference code (TV summed over the batch
and every pixel, not averaged), so their weights carry over.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from trainprint.losses.base import WeightedTerms

RECON_KINDS = ("l2", "l1")


def reconstruction_loss(recon: Tensor, target: Tensor, kind: str = "l2") -> Tensor:
    """Mean squared (``l2``) or absolute (``l1``) error over every element. ``(B, C, N, N)`` -> ``()``."""
    if kind == "l2":
        return torch.mean((recon - target) ** 2)
    if kind == "l1":
        return torch.mean(torch.abs(recon - target))
    raise ValueError(f"reconstruction loss {kind!r}: expected one of {', '.join(RECON_KINDS)}")


def total_variation(residual: Tensor) -> Tensor:
    """Summed absolute differences of horizontal and vertical neighbours. ``(B, 2, N, N)`` -> ``()``."""
    dx = residual[:, :, :, 1:] - residual[:, :, :, :-1]  # (B, 2, N, N-1)
    dy = residual[:, :, 1:, :] - residual[:, :, :-1, :]  # (B, 2, N-1, N)
    return dx.abs().sum() + dy.abs().sum()


def bias_reduce(residual: Tensor) -> Tensor:
    """Mean square of the batch-mean residual (pulls the average grid to identity).

    ``(B, 2, N, N)`` -> ``()``.
    """
    return torch.mean(residual.mean(dim=0) ** 2)


@dataclass(frozen=True)
class DeformLoss:
    """Weights of the three terms and the reconstruction norm."""

    recon: str = "l2"  # "l2" (the paper) or "l1" (the reference code)
    w_recon: float = 1.0  # weight of the reconstruction term
    w_tv: float = 1e-6  # weight of the total variation of (grid - identity)
    w_bias: float = 1e-2  # weight of the batch-mean (grid - identity) pulled to zero

    def __post_init__(self) -> None:
        if self.recon not in RECON_KINDS:
            raise ValueError(f"reconstruction loss {self.recon!r}: expected one of {', '.join(RECON_KINDS)}")

    def weighted_terms(self) -> WeightedTerms:
        """The three named terms with their weights (``losses.base.WeightedTerms``).

        Inputs: ``x``, ``recon`` ``(B, C, N, N)``; ``residual`` = grid - identity ``(B, 2, N, N)``.
        """
        return WeightedTerms({"recon": _RECON_TERMS[self.recon], "tv": _tv_term, "bias": _bias_term},
                             weights={"recon": self.w_recon, "tv": self.w_tv, "bias": self.w_bias})

    def terms(self, x: Tensor, recon: Tensor, grid: Tensor, identity: Tensor) -> dict[str, Tensor]:
        """Weighted terms; their sum is the loss.

        Args:
            x, recon: ``(B, C, N, N)`` input and reconstruction.
            grid: ``(B, 2, N, N)``; identity: ``(1, 2, N, N)``.
        """
        return self.weighted_terms()({"x": x, "recon": recon, "residual": grid - identity})


def _recon_l2(inputs: Mapping[str, Tensor]) -> Tensor:
    return reconstruction_loss(inputs["recon"].float(), inputs["x"].float(), "l2")


def _recon_l1(inputs: Mapping[str, Tensor]) -> Tensor:
    return reconstruction_loss(inputs["recon"].float(), inputs["x"].float(), "l1")


def _tv_term(inputs: Mapping[str, Tensor]) -> Tensor:
    return total_variation(inputs["residual"])


def _bias_term(inputs: Mapping[str, Tensor]) -> Tensor:
    return bias_reduce(inputs["residual"])


_RECON_TERMS = {"l2": _recon_l2, "l1": _recon_l1}


class DAEObjective:
    """``objective(model, x) -> {"recon", "tv", "bias"}`` for the shared training loop.

    ``x`` is a ``(B, 1, N, N)`` float batch in [0, 1]; ``model`` a ``DeformingAutoencoder``.
    """

    def __init__(self, loss: DeformLoss = DeformLoss()) -> None:
        self.loss = loss
        self.terms = loss.weighted_terms()

    def __call__(self, model: nn.Module, x: Tensor) -> dict[str, Tensor]:
        out = model(x)
        return self.terms({"x": x, "recon": out.recon, "residual": out.grid - model.identity})
