"""Contract test over the extractor registry: every extractor x every named preset trains for a
couple of iterations on tiny data and returns finite fingerprints of the documented shape."""

from __future__ import annotations

import numpy as np
import pytest

from trainprint.core.config import PRESET_NAMES
from trainprint.extractors import PAPER_EXTRACTORS, make_extractor

DIMS = {"vectornet": 64, "dae": 128}


def _tiny(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    split = np.array(["generated"] * 4 + ["real_used"] * 4 + ["real_not_used"] * 4)
    base = rng.integers(0, 256, (1, 64, 64))
    pixels = np.clip(base + rng.normal(0, 20, (len(split), 64, 64)), 0, 255).astype(np.uint8)
    return pixels, split


@pytest.mark.parametrize("preset", PRESET_NAMES)
@pytest.mark.parametrize("name", PAPER_EXTRACTORS)
def test_every_preset_runs_a_couple_of_iterations(name: str, preset: str, tmp_path):
    X, y = _tiny()
    ext = make_extractor(name, preset=preset, epochs=1, batch_size=2, device="cpu", random_state=0,
                         run_dir=str(tmp_path))
    F = ext.fit(X, y).transform(X)
    assert F.shape == (len(X), DIMS[name.split("-")[0]]) and F.dtype == np.float32
    assert np.isfinite(F).all()
    assert (tmp_path / "train_log.csv").read_text().count("\n") == 2  # header + one epoch
