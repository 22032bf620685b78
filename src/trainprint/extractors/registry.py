"""Registry of fingerprint extractors: name -> class and fixed parameters.

Names are part of the user interface (method ids start with them):
``vectornet-1``, ``vectornet-12``, ``vectornet-123`` (the paper's Vector-Net(1), (1,2), (1,2,3)),
``dae-gu``, ``dae-gnu``, ``dae-gunu`` (DAE(G,U), DAE(G,NU), DAE(G,U,NU)), ``contrastive`` (a
self-supervised SimCLR encoder of G and every real image, label-free), and ``raw`` (pixels).
Each entry imports its class only when it is built, so listing names never imports torch models.
A new extractor is a module in this folder plus one entry in ``EXTRACTORS``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from trainprint.core.errors import TrainprintError
from trainprint.extractors.base import FingerprintExtractor


def _vectornet() -> type[FingerprintExtractor]:
    from trainprint.extractors.vectornet import VectorNetExtractor

    return VectorNetExtractor


def _dae() -> type[FingerprintExtractor]:
    from trainprint.extractors.dae import DAEExtractor

    return DAEExtractor


def _contrastive() -> type[FingerprintExtractor]:
    from trainprint.extractors.contrastive import ContrastiveExtractor

    return ContrastiveExtractor


def _raw() -> type[FingerprintExtractor]:
    from trainprint.extractors.raw import RawExtractor

    return RawExtractor


#: keyword parameters every trained extractor takes (``raw`` takes none); see docs/CONTRACT.md
TRAINED_PARAMS = ("preset", "epochs", "device", "random_state", "run_dir", "progress")


@dataclass(frozen=True)
class ExtractorSpec:
    """One registered extractor: ``load()`` returns its class; ``fixed`` are the keyword
    parameters that define the name (e.g. the triplet constraints of ``vectornet-12``);
    ``takes`` the run parameters it accepts (``TRAINED_PARAMS`` for trained extractors)."""

    load: Callable[[], type[FingerprintExtractor]]
    fixed: dict[str, Any] = field(default_factory=dict)
    takes: tuple[str, ...] = TRAINED_PARAMS


EXTRACTORS: dict[str, ExtractorSpec] = {
    "vectornet-1": ExtractorSpec(_vectornet, {"constraints": (1,)}),
    "vectornet-12": ExtractorSpec(_vectornet, {"constraints": (1, 2)}),
    "vectornet-123": ExtractorSpec(_vectornet, {"constraints": (1, 2, 3)}),
    "dae-gu": ExtractorSpec(_dae, {"train_sets": ("generated", "real_used")}),
    "dae-gnu": ExtractorSpec(_dae, {"train_sets": ("generated", "real_not_used")}),
    "dae-gunu": ExtractorSpec(_dae, {"train_sets": ("generated", "real_used", "real_not_used")}),
    "contrastive": ExtractorSpec(_contrastive),
    "raw": ExtractorSpec(_raw, takes=()),
}

#: the six extractors of the paper's Table 1, in its order
PAPER_EXTRACTORS = ("vectornet-1", "vectornet-12", "vectornet-123", "dae-gu", "dae-gnu", "dae-gunu")


def spec(name: str) -> ExtractorSpec:
    if name not in EXTRACTORS:
        raise TrainprintError(f"unknown extractor {name!r}; expected one of {', '.join(EXTRACTORS)}")
    return EXTRACTORS[name]


def extractor_class(name: str) -> type[FingerprintExtractor]:
    return spec(name).load()


def run_params(name: str, **params: Any) -> dict[str, Any]:
    """The run parameters of ``params`` that extractor ``name`` takes (``raw`` takes none)."""
    takes = spec(name).takes
    return {k: v for k, v in params.items() if k in takes}


def make_extractor(name: str, **params: Any) -> FingerprintExtractor:
    """A new, unfitted extractor ``name``; ``params`` are its other ``__init__`` keywords
    (for trained extractors: ``preset``, ``epochs``, ``device``, ``random_state``, ...)."""
    s = spec(name)
    return s.load()(**s.fixed, **params)
