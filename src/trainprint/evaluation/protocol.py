"""Protocols: what each extractor may be fitted on in a fold.

- ``strict`` (default): in each fold every extractor that reads labels is fitted on G plus that
  fold's training U/NU only: it never sees a held-out image. A label-free extractor also sees the
  held-out images, as ``real_unknown``. Each fitted extractor fingerprints every dev image and
  serves every method of that fold.
- ``paper``: every extractor is fitted once on the whole dev set (held-out labels included, as the
  paper did), then only the classifier is cross-validated. Its numbers are optimistic and every
  result row says so.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from trainprint.data.imageset import REAL_UNKNOWN, ImageSet
from trainprint.extractors.registry import make_extractor, run_params

PROTOCOLS = ("strict", "paper")


def fit_view(images: ImageSet, held_out: np.ndarray, uses_labels: bool) -> tuple[np.ndarray, np.ndarray]:
    """What an extractor may be fitted on: ``(pixels (n, H, W), split (n,))``.

    ``held_out`` (N,) bool marks the images whose labels must stay hidden. An extractor that
    reads labels does not see them at all; a label-free one sees them as ``real_unknown``."""
    if uses_labels:
        keep = ~held_out
        return images.pixels[keep], images.split[keep]
    split = np.where(held_out, REAL_UNKNOWN, images.split)
    return images.pixels, split


def uses_labels(name: str, **params: Any) -> bool:
    """Whether extractor ``name`` reads the used / not-used labels when it is fitted."""
    return bool(make_extractor(name, **run_params(name, **params)).uses_labels)
