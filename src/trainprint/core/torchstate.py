"""Saving and loading torch state files: atomic writes and a format tag checked on load.

Checkpoints of the training loop and saved extractors all go through these two functions, so a
damaged or foreign file gets the same one-line error everywhere.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import torch
from torch import nn

from trainprint.core.errors import TrainprintError
from trainprint.core.files import write_bytes


def plain(obj: Any) -> Any:
    """Tuples -> lists, paths -> str and keys -> str, recursively: what survives a JSON or
    ``weights_only`` round trip unchanged, so saved settings compare equal after loading."""
    if isinstance(obj, dict):
        return {str(k): plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [plain(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    return obj


def cpu_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """The model's weights and buffers, detached and on the CPU."""
    return {k: v.detach().cpu() for k, v in model.state_dict().items()}


def save_state(path: str | Path, state: dict[str, Any], fmt: str) -> Path:
    """``torch.save`` of ``state`` tagged ``format = fmt``, written atomically. Saved to memory
    first: ``torch.save`` to a path names the archive's records after the file, here the random
    temporary name, so the same state would give other bytes each time (and another digest)."""
    buf = io.BytesIO()
    torch.save({"format": fmt, **state}, buf)
    return write_bytes(path, buf.getvalue())


def load_state(path: str | Path, fmt: str, what: str) -> dict[str, Any]:
    """Read a file written by ``save_state`` with format ``fmt`` (tensors on the CPU).

    Raises ``TrainprintError`` naming ``path`` and ``what`` was expected when the file is unreadable
    or of another format.
    """
    path = Path(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many types for a damaged file
        raise TrainprintError(f"{path}: not a readable {what} ({type(e).__name__})") from e
    if not isinstance(state, dict) or state.get("format") != fmt:
        raise TrainprintError(f"{path}: not a {what} (expected format {fmt})")
    return state
