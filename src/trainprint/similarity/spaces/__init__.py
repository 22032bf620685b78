"""Similarity spaces: one object per space, one file per space, one registry (``registry.py``).

    base.py       Space: what every space answers (blocks, pairs, distance, vectors, cheap stage)
    pixel.py      -RMS difference          ncc.py        normalised cross-correlation
    ssim.py       mean SSIM                euclidean.py  -L2 of fingerprints (any extractor's name)
    registry.py   SPACES, PIXEL_SPACES, space_of(name)

The pairwise matrices computed a block at a time in any space are ``similarity/matrix.py``'s.
"""

from trainprint.similarity.spaces.base import DEFAULT_BLOCK_ENTRIES, Space
from trainprint.similarity.spaces.registry import PIXEL_SPACES, SPACES, space_of

__all__ = ["DEFAULT_BLOCK_ENTRIES", "PIXEL_SPACES", "SPACES", "Space", "space_of"]
