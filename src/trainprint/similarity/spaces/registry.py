"""The similarity spaces by name: one entry per space computed on images; any other name is a
fingerprint space (an extractor's name), -L2 of its (N, D) fingerprints.

A new space is a ``Space`` subclass in a file of its own (``base.py`` says what it answers) and one
entry in ``SPACES``.
"""

from __future__ import annotations

from trainprint.similarity.spaces.base import Space
from trainprint.similarity.spaces.euclidean import EuclideanSpace
from trainprint.similarity.spaces.ncc import NCCSpace
from trainprint.similarity.spaces.pixel import PixelSpace
from trainprint.similarity.spaces.ssim import SSIMSpace

#: the spaces computed on the ``raw`` extractor's images, in the order method ids list them
SPACES: dict[str, Space] = {"pixel": PixelSpace(), "ncc": NCCSpace(), "ssim": SSIMSpace()}

#: spaces computed on images rather than fingerprints
PIXEL_SPACES: tuple[str, ...] = tuple(SPACES)


def space_of(name: str) -> Space:
    """The space called ``name``: a ``SPACES`` entry, else the fingerprint space of that extractor."""
    return SPACES[name] if name in SPACES else EuclideanSpace(name)
