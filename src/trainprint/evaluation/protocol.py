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

from trainprint.data.imageset import GENERATED, REAL_UNKNOWN, ImageSet
from trainprint.extractors.registry import make_extractor, run_params

PROTOCOLS = ("strict", "paper")


def fit_view(images: ImageSet, held_out: np.ndarray, uses_labels: bool) -> tuple[np.ndarray, np.ndarray]:
    """What an extractor may be fitted on: ``(pixels (n, H, W), split (n,))``.

    ``held_out`` (N,) bool marks the images whose labels must stay hidden. An extractor that
    reads labels does not see them at all; a label-free one sees every image, each real image as
    ``real_unknown`` (``label_free_view``)."""
    if uses_labels:
        keep = ~held_out
        return images.pixels[keep], images.split[keep]
    return images.pixels, label_free_view(images.split)


def label_free_view(split: np.ndarray) -> np.ndarray:
    """(N,) what an extractor that reads no label is shown of the split names: ``generated`` or
    ``real_unknown`` (used, not used and unknown real images look alike)."""
    split = np.asarray(split).astype(str)
    return np.where(split == GENERATED, GENERATED, REAL_UNKNOWN)


def uses_labels(name: str, **params: Any) -> bool:
    """Whether extractor ``name`` reads the used / not-used labels when it is fitted."""
    return bool(make_extractor(name, **run_params(name, **params)).uses_labels)
