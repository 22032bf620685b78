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

from trainprint.core.errors import TrainprintError

#: seeds NumPy accepts everywhere (its legacy global seed is 32-bit)
MAX_SEED = 2**32 - 1


def check_seed(seed: int) -> int:
    """``seed`` when it is a whole number in 0..2^32 - 1; a TrainprintError naming it otherwise."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= int(seed) <= MAX_SEED:
        raise TrainprintError(f"--seed {seed!r}: expected a whole number from 0 to {MAX_SEED}")
    return int(seed)


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
