"""The Vector-Net triplet constraints (paper Section 2.1), as terms of one objective.

With ``d`` the Euclidean distance between L2-normalised fingerprints and margin ``m``, each
constraint asks ``d(a, p) + m < d(a, n)`` for its roles of generated (g), used (u) and not-used
(nu) images:

    (1) anchor g,  positive u, negative nu
    (2) anchor u,  positive g, negative nu
    (3) anchor u1, positive g, negative u2, u1 != u2

and pays ``max(0, d(a, p) - d(a, n) + m)`` for each triplet. Triplets are formed inside a batch
that holds embeddings of every role (each image embedded once):

- ``mining="all"`` (default): every (a, p, n) combination of the batch, A x P x N triplets;
- ``mining="hard"``: per anchor, its farthest positive and nearest negative (batch-hard).

A reducer turns the triplet losses into a scalar: ``"nonzero"`` (default; mean over triplets that
still violate the margin) or ``"mean"``. Where anchor and negative share a role (constraint 3),
triplets whose anchor and negative are the same image (same ``<role>_index``) are excluded.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import Tensor, nn

from trainprint.losses.base import REDUCERS, EuclideanDistance, WeightedTerms

ROLES = ("g", "u", "nu")
#: constraint number -> (anchor, positive, negative) roles
CONSTRAINTS: dict[int, tuple[str, str, str]] = {1: ("g", "u", "nu"), 2: ("u", "g", "nu"), 3: ("u", "g", "u")}
MININGS = ("all", "hard")
DEFAULT_MARGIN = 0.2


class TripletTerm(nn.Module):
    """One constraint: reads ``inputs[anchor]`` (A, D), ``inputs[positive]`` (P, D),
    ``inputs[negative]`` (N, D) and optional ``inputs[f"{role}_index"]`` (image ids per row, used
    to tell images of the same role apart); returns a scalar loss."""

    def __init__(
        self,
        anchor: str,
        positive: str,
        negative: str,
        margin: float = DEFAULT_MARGIN,
        mining: str = "all",
        reducer: str = "nonzero",
        distance: EuclideanDistance | None = None,
    ) -> None:
        super().__init__()
        if mining not in MININGS:
            raise ValueError(f"triplet mining {mining!r}: expected one of {', '.join(MININGS)}")
        if reducer not in REDUCERS:
            raise ValueError(f"triplet reducer {reducer!r}: expected one of {', '.join(REDUCERS)}")
        if not margin >= 0:
            raise ValueError(f"triplet margin must be >= 0, got {margin}")
        self.anchor, self.positive, self.negative = anchor, positive, negative
        self.margin, self.mining = float(margin), mining
        self.reducer = REDUCERS[reducer]()
        self.distance = distance or EuclideanDistance()

    def forward(self, inputs: Mapping[str, Tensor]) -> Tensor:
        for role in (self.anchor, self.positive, self.negative):
            if role not in inputs:
                raise KeyError(f"triplet term needs embeddings {role!r}; got {sorted(inputs)}")
        a, p, n = inputs[self.anchor], inputs[self.positive], inputs[self.negative]
        d_ap = self.distance.pairwise(a, p)  # (A, P)
        d_an = self.distance.pairwise(a, n)  # (A, N)
        ok_ap = self._distinct(inputs, self.anchor, self.positive, d_ap)  # (A, P) bool
        ok_an = self._distinct(inputs, self.anchor, self.negative, d_an)  # (A, N) bool
        if self.mining == "hard":
            hardest_p = d_ap.masked_fill(~ok_ap, float("-inf")).amax(1)  # (A,)
            hardest_n = d_an.masked_fill(~ok_an, float("inf")).amin(1)  # (A,)
            valid = ok_ap.any(1) & ok_an.any(1)  # (A,)
            losses = torch.relu(torch.where(valid, hardest_p - hardest_n, 0.0) + self.margin)
            return self.reducer(losses, valid)
        losses = torch.relu(d_ap[:, :, None] - d_an[:, None, :] + self.margin)  # (A, P, N)
        valid = ok_ap[:, :, None] & ok_an[:, None, :]  # (A, P, N)
        return self.reducer(losses, valid)

    @staticmethod
    def _distinct(inputs: Mapping[str, Tensor], r1: str, r2: str, d: Tensor) -> Tensor:
        """(R1, R2) bool: pairs of different images (all True when the roles differ)."""
        if r1 != r2:
            return torch.ones_like(d, dtype=torch.bool)
        idx = inputs.get(f"{r1}_index")
        if idx is None:
            idx = torch.arange(d.shape[0], device=d.device)
        return idx[:, None] != idx[None, :]


def triplet_terms(
    constraints: Sequence[int],
    margin: float = DEFAULT_MARGIN,
    mining: str = "all",
    reducer: str = "nonzero",
    weights: Mapping[int, float] | None = None,
) -> WeightedTerms:
    """The objective of Vector-Net(constraints): terms ``"c1"``, ``"c2"``, ``"c3"`` as chosen."""
    constraints = check_constraints(constraints)
    distance = EuclideanDistance()
    terms = {
        f"c{c}": TripletTerm(*CONSTRAINTS[c], margin=margin, mining=mining, reducer=reducer, distance=distance)
        for c in constraints
    }
    return WeightedTerms(terms, {f"c{c}": w for c, w in (weights or {}).items()})


def roles_needed(constraints: Sequence[int]) -> tuple[str, ...]:
    """The roles whose images a batch must hold, in ``ROLES`` order."""
    used = {r for c in check_constraints(constraints) for r in CONSTRAINTS[c]}
    return tuple(r for r in ROLES if r in used)


def check_constraints(constraints: Sequence[int]) -> tuple[int, ...]:
    out = tuple(sorted({int(c) for c in constraints}))
    if not out or any(c not in CONSTRAINTS for c in out):
        raise ValueError(f"constraints {tuple(constraints)!r}: expected a non-empty subset of (1, 2, 3)")
    return out


class TripletObjective:
    """Training objective ``(model, batch) -> {term: loss}``: embeds every image of the batch in ONE
    forward pass and hands the embeddings, split by role, to the terms.

    ``batch``: ``{role: (B_role, 1, H, W) float images, f"{role}_index": (B_role,) long}`` for each
    role in ``roles``.
    """

    def __init__(self, terms: WeightedTerms, roles: Sequence[str]) -> None:
        self.terms, self.roles = terms, tuple(roles)

    def __call__(self, model: nn.Module, batch: Mapping[str, Tensor]) -> dict[str, Tensor]:
        images = torch.cat([batch[r] for r in self.roles])  # (sum B_role, 1, H, W)
        emb = model(images)  # (sum B_role, D)
        parts = emb.split([batch[r].shape[0] for r in self.roles])
        inputs: dict[str, Tensor] = dict(zip(self.roles, parts))
        inputs.update({k: v for k, v in batch.items() if k.endswith("_index")})
        return self.terms(inputs)
