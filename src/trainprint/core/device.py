"""Device selection shared by every command (``--device auto|cpu|cuda``)."""

from __future__ import annotations

import torch

from trainprint.core.errors import TrainprintError

DEVICE_CHOICES = ("auto", "cpu", "cuda")


def resolve_device(name: str) -> torch.device:
    """Map ``auto|cpu|cuda`` to a torch device; ``cuda`` without a GPU is an error."""
    if name not in DEVICE_CHOICES:
        raise TrainprintError(f"--device {name!r}: expected one of {', '.join(DEVICE_CHOICES)}")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise TrainprintError("--device cuda: no CUDA device is available on this machine")
    return torch.device(name)
