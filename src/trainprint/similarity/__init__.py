"""Pairwise similarities between real and generated images, and nearest-neighbour search.

    spaces/     one object per similarity space (pixel, ncc, ssim; -L2 for fingerprints) in a registry
    matrix.py   pairwise similarity matrices, computed a block of generated images at a time
    ssim.py     the SSIM arithmetic: batched SSIM of every pair, of given pairs
    pairs.py    similarity of given pairs (the exact stage of two-stage search)
    search.py   streaming top-k (numpy / torch) or FAISS
    generated.py, twostage.py   a generated set on disk, its search plan, two-stage search

A new similarity space is a ``Space`` subclass in a file of ``spaces/`` and one entry in
``spaces/registry.py``'s ``SPACES``.
"""

from trainprint.similarity.matrix import check_representation, iter_blocks, needs_images, pairwise
from trainprint.similarity.search import BACKENDS, NearestStats, faiss_available, nearest_stats
from trainprint.similarity.spaces import PIXEL_SPACES, SPACES, Space, space_of
from trainprint.similarity.ssim import SSIMWindow

__all__ = ["BACKENDS", "PIXEL_SPACES", "SPACES", "NearestStats", "SSIMWindow", "Space", "check_representation",
           "faiss_available", "iter_blocks", "nearest_stats", "needs_images", "pairwise", "space_of"]
