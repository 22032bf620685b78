"""Tiny synthetic task folders for the data-layer tests (64 px, a few images per split)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

DEV = {"generated": 3, "real_used": 2, "real_not_used": 2}
TEST = {"generated": 3, "real_unknown": 2}


def gray(seed: int, side: int = 64, width: int | None = None) -> np.ndarray:
    """A ``(side, width)`` uint8 image: a smooth gradient plus seeded noise (PNG-compressible)."""
    width = width or side
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:side, 0:width]
    base = (yy * 2 + xx) % 256
    return ((base + rng.integers(0, 16, (side, width))) % 256).astype(np.uint8)


def save(path: Path, pixels: np.ndarray, fmt: str | None = None) -> Path:
    """Save an array with PIL (format from the extension unless ``fmt``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path, fmt)
    return path


def make_task(root: Path, layout: dict[str, int] = DEV, side: int = 64, ext: str = "png") -> Path:
    """A task folder ``root`` with ``layout[split]`` images named ``<split>_<i>.<ext>``."""
    seed = 0
    for split, n in layout.items():
        for i in range(n):
            save(root / split / f"{split}_{i:03d}.{ext}", gray(seed, side))
            seed += 1
    return root


def tree(root: Path) -> list[str]:
    """Every file under ``root`` (relative, sorted): to check that nothing was written."""
    if not root.exists():
        return []
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def run_cli(capsys, *args: object) -> tuple[int, str, str]:
    """``trainprint ARGS`` in this process: (exit code, stdout, stderr)."""
    from trainprint.cli.main import main

    try:
        main([str(a) for a in args])
        code = 0
    except SystemExit as e:
        code = int(e.code or 0)
    out, err = capsys.readouterr()
    return code, out, err
