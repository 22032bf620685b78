"""One seed controls everything: Python, NumPy and torch generators.

Library code never leaves global state changed: a fit seeds torch inside ``torch_seeded`` and
gets the caller's RNG state and deterministic-algorithm setting back afterwards.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch


def seed_everything(seed: int) -> np.random.Generator:
    """Seed Python, NumPy and torch (CPU and CUDA) globally and return a NumPy generator for this
    seed. For scripts and tests; library code uses ``torch_seeded``."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
    return np.random.default_rng(seed)


@contextmanager
def torch_seeded(seed: int) -> Iterator[None]:
    """Inside: torch's global RNG (CPU and CUDA) seeded with ``seed`` and deterministic algorithms on
    (warn-only where an operation has none). On exit, both are restored to what they were."""
    was_on = torch.are_deterministic_algorithms_enabled()
    was_warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        torch.use_deterministic_algorithms(True, warn_only=True)
        try:
            yield
        finally:
            torch.use_deterministic_algorithms(was_on, warn_only=was_warn_only)


def torch_generator(seed: int, device: str | torch.device = "cpu") -> torch.Generator:
    """A torch generator seeded with ``seed``, for code that must not touch global state."""
    g = torch.Generator(device=device)
    g.manual_seed(seed)
    return g
