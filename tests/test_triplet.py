"""Triplet constraints (1), (2), (3) against brute-force loops on hand-made embeddings."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from trainprint.losses.base import EuclideanDistance, WeightedTerms
from trainprint.losses.triplet import CONSTRAINTS, TripletTerm, roles_needed, triplet_terms


def unit(rows: list[list[float]]) -> torch.Tensor:
    t = torch.tensor(rows, dtype=torch.float32)
    return t / t.norm(dim=1, keepdim=True)


@pytest.fixture
def emb() -> dict[str, torch.Tensor]:
    """3 generated, 3 used, 2 not-used fingerprints in 3-d, some triplets satisfied, some not."""
    return {
        "g": unit([[1, 0, 0], [0.9, 0.3, 0], [0.2, 1, 0.1]]),
        "u": unit([[1, 0.1, 0], [0, 1, 0], [0.5, 0.5, 0.7]]),
        "nu": unit([[0, 0, 1], [0.95, 0.05, 0.1]]),
    }


def dist(a: torch.Tensor, b: torch.Tensor) -> float:
    return math.sqrt(sum((float(x) - float(y)) ** 2 for x, y in zip(a, b)))


def brute(emb, anchor, positive, negative, margin, mining, reducer) -> float:
    """Python loops over every triplet; anchor and negative of one role must be different rows."""
    A, P, N = emb[anchor], emb[positive], emb[negative]
    per_anchor = []
    losses = []
    for i in range(len(A)):
        trip = [
            max(0.0, dist(A[i], P[j]) - dist(A[i], N[k]) + margin)
            for j, k in itertools.product(range(len(P)), range(len(N)))
            if not (negative == anchor and k == i) and not (positive == anchor and j == i)
        ]
        losses += trip
        if mining == "hard":
            dp = max(dist(A[i], P[j]) for j in range(len(P)) if not (positive == anchor and j == i))
            dn = min(dist(A[i], N[k]) for k in range(len(N)) if not (negative == anchor and k == i))
            per_anchor.append(max(0.0, dp - dn + margin))
    vals = per_anchor if mining == "hard" else losses
    if reducer == "mean":
        return sum(vals) / len(vals)
    nonzero = [v for v in vals if v > 0]
    return sum(nonzero) / len(nonzero) if nonzero else 0.0


@pytest.mark.parametrize("constraint", [1, 2, 3])
@pytest.mark.parametrize("margin", [0.0, 0.2, 1.0])
@pytest.mark.parametrize("mining,reducer", [("all", "nonzero"), ("all", "mean"), ("hard", "mean"), ("hard", "nonzero")])
def test_constraint_equals_brute_force(emb, constraint, margin, mining, reducer):
    a, p, n = CONSTRAINTS[constraint]
    term = TripletTerm(a, p, n, margin=margin, mining=mining, reducer=reducer)
    got = float(term(emb))
    assert got == pytest.approx(brute(emb, a, p, n, margin, mining, reducer), abs=1e-5)


def test_roles_of_each_constraint():
    assert CONSTRAINTS == {1: ("g", "u", "nu"), 2: ("u", "g", "nu"), 3: ("u", "g", "u")}
    assert roles_needed([1]) == ("g", "u", "nu")
    assert roles_needed([3]) == ("g", "u")


def test_roles_matter_loss_is_zero_only_for_the_right_geometry():
    # g and u together, nu far away: constraints 1 and 2 satisfied, swapping u and nu violates them.
    good = {"g": unit([[1, 0], [1, 0.1]]), "u": unit([[1, 0.05], [1, -0.05]]), "nu": unit([[-1, 0], [0, 1]])}
    swapped = {"g": good["g"], "u": good["nu"], "nu": good["u"]}
    for c in (1, 2):
        term = TripletTerm(*CONSTRAINTS[c], margin=0.2, reducer="mean")
        assert float(term(good)) == 0.0
        assert float(term(swapped)) > 0.1  # violated by at least half the margin
    # constraint 3: each u must be nearer to g than to the other u's.
    spread = {"g": unit([[1, 0], [0, 1]]), "u": unit([[1, 0.01], [0.01, 1]])}
    clumped = {"g": unit([[-1, 0], [0, -1]]), "u": unit([[1, 0.01], [1, -0.01]])}
    c3 = TripletTerm(*CONSTRAINTS[3], margin=0.2, reducer="mean")
    assert float(c3(spread)) < float(c3(clumped))


def test_constraint3_excludes_the_same_image_even_when_repeated_in_a_batch():
    u = unit([[1, 0], [1, 0], [0, 1]])  # rows 0 and 1 are the same image (index 7)
    inputs = {"g": unit([[0.7, 0.7]]), "u": u, "u_index": torch.tensor([7, 7, 3])}
    term = TripletTerm(*CONSTRAINTS[3], margin=0.5, reducer="mean")
    # valid (anchor, negative) pairs: (0,2), (1,2), (2,0), (2,1); rows 0 and 1 never pair.
    d = EuclideanDistance().pairwise(u, inputs["g"])[:, 0]
    duu = EuclideanDistance().pairwise(u, u)
    pairs = [(0, 2), (1, 2), (2, 0), (2, 1)]
    want = sum(max(0.0, float(d[i] - duu[i, k]) + 0.5) for i, k in pairs) / len(pairs)
    assert float(term(inputs)) == pytest.approx(want, abs=1e-6)


def test_gradient_is_finite_when_embeddings_coincide():
    x = unit([[1, 0], [1, 0]]).requires_grad_()
    loss = TripletTerm(*CONSTRAINTS[3], margin=0.2)({"g": x[:1], "u": x})
    loss.backward()
    assert torch.isfinite(x.grad).all()


def test_weighted_terms_name_and_weight_each_constraint(emb):
    terms = triplet_terms([1, 2, 3], margin=0.2, weights={2: 0.5})
    out = terms(emb)
    assert list(out) == ["c1", "c2", "c3"]
    plain = TripletTerm(*CONSTRAINTS[2], margin=0.2)(emb)
    assert float(out["c2"]) == pytest.approx(0.5 * float(plain))
    with pytest.raises(ValueError, match="unknown terms"):
        WeightedTerms({"a": lambda i: torch.zeros(())}, {"b": 1.0})


@pytest.mark.parametrize("bad", [dict(mining="semi"), dict(reducer="sum"), dict(margin=-0.1)])
def test_bad_settings_are_rejected(bad):
    with pytest.raises(ValueError):
        TripletTerm("g", "u", "nu", **bad)
    with pytest.raises(ValueError, match="constraints"):
        triplet_terms([4])
