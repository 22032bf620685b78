"""Registry of fingerprint extractors: name -> class and fixed parameters.

Names are part of the user interface (method ids start with them):
``vectornet-1``, ``vectornet-12``, ``vectornet-123`` (the paper's Vector-Net(1), (1,2), (1,2,3)),
``dae-gu``, ``dae-gnu``, ``dae-gunu`` (DAE(G,U), DAE(G,NU), DAE(G,U,NU)), and ``raw`` (pixels).
Modules are imported lazily, so listing names never imports torch models.
"""

from __future__ import annotations

import importlib
from typing import Any

from trainprint.errors import TrainprintError
from trainprint.extractors.base import FingerprintExtractor, check_images

# name -> (module, class, fixed keyword parameters)
EXTRACTORS: dict[str, tuple[str, str, dict[str, Any]]] = {
    "vectornet-1": ("trainprint.extractors.vectornet", "VectorNetExtractor", {"constraints": (1,)}),
    "vectornet-12": ("trainprint.extractors.vectornet", "VectorNetExtractor", {"constraints": (1, 2)}),
    "vectornet-123": ("trainprint.extractors.vectornet", "VectorNetExtractor", {"constraints": (1, 2, 3)}),
    "dae-gu": ("trainprint.extractors.dae", "DAEExtractor", {"train_sets": ("generated", "real_used")}),
    "dae-gnu": ("trainprint.extractors.dae", "DAEExtractor", {"train_sets": ("generated", "real_not_used")}),
    "dae-gunu": (
        "trainprint.extractors.dae",
        "DAEExtractor",
        {"train_sets": ("generated", "real_used", "real_not_used")},
    ),
    "raw": ("trainprint.extractors.raw", "RawExtractor", {}),
}

#: the six extractors of the paper's Table 1, in its order
PAPER_EXTRACTORS = ("vectornet-1", "vectornet-12", "vectornet-123", "dae-gu", "dae-gnu", "dae-gunu")


def extractor_class(name: str) -> type[FingerprintExtractor]:
    if name not in EXTRACTORS:
        raise TrainprintError(f"unknown extractor {name!r}; expected one of {', '.join(EXTRACTORS)}")
    module, cls, _ = EXTRACTORS[name]
    return getattr(importlib.import_module(module), cls)


def make_extractor(name: str, **params: Any) -> FingerprintExtractor:
    """A new, unfitted extractor ``name``; ``params`` are its other ``__init__`` keywords
    (for trained extractors: ``preset``, ``epochs``, ``device``, ``random_state``, ...)."""
    cls = extractor_class(name)
    _, _, fixed = EXTRACTORS[name]
    return cls(**fixed, **params)


__all__ = ["EXTRACTORS", "PAPER_EXTRACTORS", "FingerprintExtractor", "check_images",
           "extractor_class", "make_extractor"]
