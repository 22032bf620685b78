"""Tiny synthetic membership tasks for the evaluation tests (64 px, a few images per split).

Real images are smooth random blobs; "generated" images are noisy copies of the used ones plus
fresh blobs, so a similarity method has something to find. A spy extractor records what every
``fit`` received, by image id, so tests can assert that no held-out label reached a model.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from trainprint.extractors.base import FingerprintExtractor
from trainprint.data.imageset import ImageSet


def blobs(n: int, rng: np.random.Generator, side: int = 64) -> np.ndarray:
    """(n, side, side) uint8: a few Gaussian blobs per image."""
    yy, xx = np.mgrid[0:side, 0:side] / side
    out = np.zeros((n, side, side))
    for i in range(n):
        for _ in range(3):
            cy, cx, s = rng.uniform(0.2, 0.8), rng.uniform(0.2, 0.8), rng.uniform(0.05, 0.2)
            out[i] += np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * s * s))
    return (255 * out / out.max(axis=(1, 2), keepdims=True)).astype(np.uint8)


def make_images(n_used: int = 10, n_not: int = 10, n_gen: int = 20, seed: int = 0, source: str = "dev",
                unknown: bool = False) -> tuple[ImageSet, np.ndarray]:
    """A task ImageSet and the used / not-used key (n_real,) of its real images.

    ``unknown=True`` makes a test set: real images are ``real_unknown``."""
    rng = np.random.default_rng(seed)
    used, not_used = blobs(n_used, rng), blobs(n_not, rng)
    copies = np.clip(used[rng.integers(0, n_used, n_gen // 2)].astype(int) + rng.integers(-8, 9, (n_gen // 2, 64, 64)),
                     0, 255).astype(np.uint8)
    gen = np.concatenate([copies, blobs(n_gen - n_gen // 2, rng)])
    pixels = np.concatenate([gen, used, not_used])
    if unknown:
        split = ["generated"] * n_gen + ["real_unknown"] * (n_used + n_not)
    else:
        split = ["generated"] * n_gen + ["real_used"] * n_used + ["real_not_used"] * n_not
    ids = [f"{source}{i:03d}" for i in range(len(pixels))]
    key = np.array([1] * n_used + [0] * n_not)
    return ImageSet(np.array(ids), np.array(split), pixels, source), key


def write_task(root: Path, images: ImageSet) -> Path:
    """Save ``images`` as a task folder ``root/<split>/<id>.png``."""
    for i, s, p in zip(images.ids, images.split, images.pixels):
        (root / s).mkdir(parents=True, exist_ok=True)
        Image.fromarray(p).save(root / s / f"{i}.png")
    return root


class SpyExtractor(FingerprintExtractor):
    """Mean-pooled 8x8 pixels as fingerprints; every ``fit`` appends ``(ids, splits)`` it saw to
    ``SpyExtractor.calls`` (ids looked up from ``SpyExtractor.id_of``, pixel bytes -> id)."""

    uses_labels = True
    calls: list[tuple[list[str], list[str]]] = []
    id_of: dict[bytes, str] = {}

    def __init__(self, preset: str = "fast", epochs: int | None = None, device: str = "auto",
                 random_state: int = 0, run_dir: object = None, progress: bool = False) -> None:
        self.preset = preset
        self.epochs = epochs
        self.device = device
        self.random_state = random_state
        self.run_dir = run_dir
        self.progress = progress

    def _fit(self, X: np.ndarray, y: np.ndarray) -> None:
        type(self).calls.append(([self.id_of[x.tobytes()] for x in X], list(y)))
        if self.run_dir is not None:  # like a trained extractor: a checkpoint and a log
            Path(self.run_dir).mkdir(parents=True, exist_ok=True)
            (Path(self.run_dir) / "checkpoint.pt").write_bytes(b"weights")
            (Path(self.run_dir) / "train_log.csv").write_text("epoch,loss\n1,0.5\n")

    def _transform(self, X: np.ndarray) -> np.ndarray:
        n, h, w = X.shape
        return X.reshape(n, 8, h // 8, 8, w // 8).mean(axis=(2, 4)).reshape(n, 64).astype(np.float32) / 255


class LabelFreeSpy(SpyExtractor):
    uses_labels = False
    calls: list[tuple[list[str], list[str]]] = []


def register_spies(monkeypatch, images: ImageSet) -> None:
    """Register ``spy`` and ``spy-free`` as extractors for one test; reset their records."""
    from trainprint.extractors.registry import EXTRACTORS, ExtractorSpec

    monkeypatch.setitem(EXTRACTORS, "spy", ExtractorSpec(lambda: SpyExtractor))
    monkeypatch.setitem(EXTRACTORS, "spy-free", ExtractorSpec(lambda: LabelFreeSpy))
    SpyExtractor.calls, LabelFreeSpy.calls = [], []
    SpyExtractor.id_of = LabelFreeSpy.id_of = {p.tobytes(): i for i, p in zip(images.ids, images.pixels)}
