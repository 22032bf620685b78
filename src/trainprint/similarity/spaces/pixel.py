"""The ``pixel`` space: -RMS difference of raw images, -||a - b||_2 / sqrt(H W)."""

from __future__ import annotations

from dataclasses import dataclass

from trainprint.similarity.spaces.euclidean import EuclideanSpace


@dataclass(frozen=True)
class PixelSpace(EuclideanSpace):
    """(N, H, W) images in [0, 1]; distance = RMS difference; vectors = the flattened pixels."""

    name: str = "pixel"
    similarity: str = "-RMS difference"
    on_images: bool = True
    rms: bool = True
