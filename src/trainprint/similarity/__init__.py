"""Pairwise similarities between real and generated images, and nearest-neighbour search.

    spaces.py   pixel (-RMS), NCC, SSIM and fingerprint (-L2) similarities, computed in blocks
    ssim.py     batched SSIM of every pair (no Python loop over pairs)
    search.py   streaming top-k (numpy / torch) or FAISS

A new similarity space is a case in ``spaces.py`` (and, when it is computed on images rather
than fingerprints, a name in ``PIXEL_SPACES``).
"""

from trainprint.similarity.search import BACKENDS, NearestStats, faiss_available, nearest_stats
from trainprint.similarity.spaces import (PIXEL_SPACES, check_representation, iter_blocks, needs_images,
                                          pairwise)
from trainprint.similarity.ssim import SSIMWindow

__all__ = ["BACKENDS", "PIXEL_SPACES", "NearestStats", "SSIMWindow", "check_representation", "faiss_available",
           "iter_blocks", "nearest_stats", "needs_images", "pairwise"]
