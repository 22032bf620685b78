"""The contrastive (InfoNCE / NT-Xent, SimCLR) loss of the ``contrastive`` extractor.

pytorch-metric-learning's ``NTXentLoss`` does the work: the embeddings of two augmented views of B
images are stacked as (2B, D) with labels ``arange(B)`` twice, so each view's positive is the other
view of its image and every other view of the batch is a negative:

    loss = mean over the 2B views i of  -log( exp(s(i, p(i)) / t) / sum_{j != i} exp(s(i, j) / t) )

with s the cosine similarity and t the temperature. ``info_nce_reference`` is that formula written
out, for the tests.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from trainprint.core.errors import TrainprintError


def view_labels(batch_size: int, device: torch.device | str = "cpu") -> Tensor:
    """(2B,) long: ``arange(B)`` twice, the labels of two stacked views of B images."""
    return torch.arange(batch_size, device=device).repeat(2)


def ntxent(temperature: float) -> Callable[[Tensor], Tensor]:
    """``loss(z (2B, D)) -> scalar``: NT-Xent of two stacked views (pytorch-metric-learning)."""
    try:
        from pytorch_metric_learning.losses import NTXentLoss
    except ImportError as e:  # a dependency of trainprint; a broken install says so in one line
        raise TrainprintError(f"contrastive extractor: pytorch-metric-learning is not installed ({e}); "
                              "pip install pytorch-metric-learning") from None
    if not temperature > 0:
        raise TrainprintError(f"contrastive: temperature must be > 0, got {temperature}")
    loss = NTXentLoss(temperature=float(temperature))

    def term(z: Tensor) -> Tensor:
        if z.dim() != 2 or z.shape[0] % 2:
            raise ValueError(f"ntxent: expected (2B, D) embeddings, got {tuple(z.shape)}")
        return loss(z.float(), view_labels(z.shape[0] // 2, z.device))

    return term


def info_nce_reference(z: Tensor, temperature: float) -> Tensor:
    """The same loss written out with an explicit loop (slow; for tests)."""
    z = torch.nn.functional.normalize(z.double(), dim=1)
    n = z.shape[0]
    b = n // 2
    S = z @ z.T / temperature
    total = z.new_zeros(())
    for i in range(n):
        pos = (i + b) % n
        others = [j for j in range(n) if j != i]
        total = total - (S[i, pos] - torch.logsumexp(S[i, others], dim=0))
    return total / n
