"""The representations of one fold: every extractor fitted as its protocol allows, kept on disk."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from trainprint.data.imageset import ImageSet
from trainprint.evaluation.config import EvalConfig
from trainprint.evaluation.fingerprint_cache import NOT_CACHED, fingerprints
from trainprint.evaluation.protocol import fit_view
from trainprint.methods import MethodSpec

#: called with (extractor name, fold tag) before each fit, and with no argument after it
Progress = Callable[..., None]


def fold_tag(cfg: EvalConfig, k: int) -> str:
    """``fold-K`` under the strict protocol, ``all`` under the paper protocol (one fit for every fold)."""
    return f"fold-{k}" if cfg.protocol == "strict" else "all"


def fold_reps(images: ImageSet, cfg: EvalConfig, out: Path, k: int, held_out_rows: np.ndarray,
              todo: Sequence[MethodSpec], label_users: dict[str, bool], params: dict[str, Any],
              on_fit: Progress | None = None) -> dict[str, np.ndarray]:
    """Every extractor's output for fold ``k`` (strict) or for the whole dev set (paper): fitted, or
    read back from ``out/fingerprints/`` when an identical fit is there."""
    names = list(dict.fromkeys(s.extractor for s in todo if s.extractor))
    tag = fold_tag(cfg, k)
    held_out = np.zeros(len(images), dtype=bool)
    if cfg.protocol == "strict":
        held_out[held_out_rows] = True
    reps = {}
    for name in names:
        if on_fit is not None:
            on_fit(name, tag)
        fit_pixels, fit_split = fit_view(images, held_out, label_users[name])
        run_dir = out / "extractors" / tag / name
        reps[name] = fingerprints(name, images, fit_pixels, fit_split, out / "fingerprints" / tag / f"{name}.npz",
                                  run_dir=run_dir, **params)
        if not cfg.keep_checkpoints and name not in NOT_CACHED:  # weights are large; logs and curves stay
            (run_dir / "checkpoint.pt").unlink(missing_ok=True)
        if on_fit is not None:
            on_fit()
    return reps
