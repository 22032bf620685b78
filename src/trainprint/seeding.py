"""One seed controls everything: Python, NumPy and torch generators."""

from __future__ import annotations

import random

import numpy as np
import torch


def seed_everything(seed: int) -> np.random.Generator:
    """Seed Python, NumPy and torch (CPU and CUDA) and return a NumPy generator for this seed.

    Also switches torch to deterministic algorithms where it can do so without erroring.
    """
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
    return np.random.default_rng(seed)


def torch_generator(seed: int, device: str | torch.device = "cpu") -> torch.Generator:
    """A torch generator seeded with ``seed``, for code that must not touch global state."""
    g = torch.Generator(device=device)
    g.manual_seed(seed)
    return g
