"""Building blocks shared by losses: a distance, a reducer, and named weighted terms.

Following pytorch-metric-learning, a loss is composed rather than configured with flags:

    distance  EuclideanDistance().pairwise(x (A, D), y (B, D)) -> (A, B)
    reducer   reduce(losses (...), valid (...) bool) -> scalar
    terms     WeightedTerms({"c1": term1, "c2": term2}, weights={"c2": 0.5})(inputs)
              -> {"c1": 1.0 * term1(inputs), "c2": 0.5 * term2(inputs)}

A term is any callable ``inputs -> scalar tensor`` where ``inputs`` is a mapping of named tensors
(e.g. embeddings by role). The dict of weighted terms is exactly what a training ``Objective``
returns: the loop sums it into the loss and logs each term under its name.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from torch import Tensor, nn

Term = Callable[[Mapping[str, Any]], Tensor]


class EuclideanDistance(nn.Module):
    """Plain (not squared) L2 distance. The square root is taken of ``max(d^2, eps)`` so that the
    gradient stays finite where two embeddings coincide (e.g. an anchor against itself)."""

    def __init__(self, eps: float = 1e-12) -> None:
        super().__init__()
        self.eps = eps

    def pairwise(self, x: Tensor, y: Tensor) -> Tensor:
        """``x`` (A, D), ``y`` (B, D) -> (A, B) distances ``||x_i - y_j||_2``."""
        if x.dim() != 2 or y.dim() != 2 or x.shape[1] != y.shape[1]:
            raise ValueError(f"pairwise distance: expected (A, D) and (B, D), got {tuple(x.shape)} and {tuple(y.shape)}")
        diff = x.float()[:, None, :] - y.float()[None, :, :]  # (A, B, D)
        return diff.pow(2).sum(-1).clamp_min(self.eps).sqrt()


class MeanReducer:
    """Mean over the valid entries."""

    def __call__(self, losses: Tensor, valid: Tensor) -> Tensor:
        valid = valid.expand_as(losses)
        return (losses * valid).sum() / valid.sum().clamp_min(1)


class AvgNonZeroReducer:
    """Mean over the valid entries whose loss is > 0 (0 when there is none): triplets that already
    satisfy the margin do not dilute the gradient of those that do not."""

    def __call__(self, losses: Tensor, valid: Tensor) -> Tensor:
        valid = valid.expand_as(losses)
        active = valid & (losses > 0)
        return (losses * valid).sum() / active.sum().clamp_min(1)


REDUCERS: dict[str, Callable[[], Any]] = {"mean": MeanReducer, "nonzero": AvgNonZeroReducer}


class WeightedTerms(nn.Module):
    """Named terms with weights; ``forward(inputs)`` returns ``{name: weight * term(inputs)}``."""

    def __init__(self, terms: Mapping[str, Term], weights: Mapping[str, float] | None = None) -> None:
        super().__init__()
        weights = dict(weights or {})
        unknown = sorted(set(weights) - set(terms))
        if unknown:
            raise ValueError(f"WeightedTerms: weights for unknown terms {unknown}; terms are {sorted(terms)}")
        if not terms:
            raise ValueError("WeightedTerms: at least one term is needed")
        self.names = list(terms)
        self.weights = {k: float(weights.get(k, 1.0)) for k in self.names}
        # Keep module terms registered (so .to(device) reaches them) without requiring modules.
        self.term_modules = nn.ModuleDict({k: t for k, t in terms.items() if isinstance(t, nn.Module)})
        self._terms = dict(terms)

    def forward(self, inputs: Mapping[str, Any]) -> dict[str, Tensor]:
        return {k: self.weights[k] * self._terms[k](inputs) for k in self.names}
