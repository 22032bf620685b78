"""Fingerprint extractors: fit on the images they may see, transform any images into (N, D) vectors.

    base.py          the contract every extractor follows (a scikit-learn transformer)
    trained.py       the base of the trained extractors: one fit, one save / load, hooks per model
    vectornet.py     vectornet-1 | 12 | 123 (triplet constraints of the paper)
    dae.py           dae-gu | gnu | gunu (the deforming autoencoder's code)
    raw.py           the pixels themselves (for the pixel similarity spaces)
    registry.py      name -> class (``make_extractor``)
    fingerprints.py  the fingerprints.npz file; fitrun.py: the ``fit`` command's run
"""

from trainprint.extractors.base import FingerprintExtractor, check_images
from trainprint.extractors.registry import EXTRACTORS, PAPER_EXTRACTORS, extractor_class, make_extractor

__all__ = ["EXTRACTORS", "PAPER_EXTRACTORS", "FingerprintExtractor", "check_images", "extractor_class",
           "make_extractor"]
