"""``ImageSet``: the images of one task folder as arrays, the currency every stage passes on."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

GENERATED = "generated"
REAL_USED = "real_used"
REAL_NOT_USED = "real_not_used"
REAL_UNKNOWN = "real_unknown"
DEV_SPLITS = (GENERATED, REAL_USED, REAL_NOT_USED)
TEST_SPLITS = (GENERATED, REAL_UNKNOWN)
ALL_SPLITS = (GENERATED, REAL_USED, REAL_NOT_USED, REAL_UNKNOWN)
REAL_SPLITS = (REAL_USED, REAL_NOT_USED, REAL_UNKNOWN)


@dataclass(frozen=True, eq=False)
class ImageSet:
    """Images with their ids and split names.

    Attributes:
        ids: ``(N,)`` unicode array, file name without extension; unique within one folder.
        split: ``(N,)`` unicode array, one of ``ALL_SPLITS`` per image.
        pixels: ``(N, H, W)`` uint8 gray images, all of one size.
        source: ``"dev"``, ``"test"`` or ``""``: which task folder the images came from.
    """

    ids: np.ndarray
    split: np.ndarray
    pixels: np.ndarray
    source: str = ""

    def __post_init__(self) -> None:
        ids = np.asarray(self.ids)
        split = np.asarray(self.split)
        if ids.ndim != 1 or split.shape != ids.shape:
            raise ValueError(f"ImageSet: ids {ids.shape} and split {split.shape} must be (N,) and equal")
        if self.pixels.ndim != 3 or self.pixels.shape[0] != ids.shape[0]:
            raise ValueError(
                f"ImageSet: pixels must be (N, H, W) with N={ids.shape[0]}, got {self.pixels.shape}"
            )
        if self.pixels.dtype != np.uint8:
            raise ValueError(f"ImageSet: pixels must be uint8, got {self.pixels.dtype}")
        bad = set(np.unique(split).tolist()) - set(ALL_SPLITS)
        if bad:
            raise ValueError(f"ImageSet: unknown split names {sorted(bad)}; expected {ALL_SPLITS}")
        # Normalise to unicode arrays (never object) so they save with allow_pickle=False.
        object.__setattr__(self, "ids", ids.astype(str))
        object.__setattr__(self, "split", split.astype(str))

    def __len__(self) -> int:
        return int(self.ids.shape[0])

    @property
    def size(self) -> int:
        """Image side in pixels (images are square after loading, or ``H`` for ``H x W``)."""
        return int(self.pixels.shape[1])

    def take(self, index: np.ndarray) -> "ImageSet":
        """Subset by integer indices or a boolean mask."""
        return ImageSet(self.ids[index], self.split[index], self.pixels[index], self.source)

    def where(self, *splits: str) -> "ImageSet":
        """The images whose split is one of ``splits``."""
        return self.take(np.isin(self.split, splits))

    def mask(self, *splits: str) -> np.ndarray:
        return np.isin(self.split, splits)

    def counts(self) -> dict[str, int]:
        names, n = np.unique(self.split, return_counts=True)
        return {str(k): int(v) for k, v in zip(names, n)}

    @staticmethod
    def concat(*sets: "ImageSet") -> "ImageSet":
        if len({s.pixels.shape[1:] for s in sets}) > 1:
            raise ValueError(f"ImageSet.concat: sizes differ: {[s.pixels.shape[1:] for s in sets]}")
        return ImageSet(
            np.concatenate([s.ids for s in sets]),
            np.concatenate([s.split for s in sets]),
            np.concatenate([s.pixels for s in sets]),
            "+".join(sorted({s.source for s in sets if s.source})),
        )


def labels_of(split: np.ndarray) -> np.ndarray:
    """Membership labels of real images: 1 for real_used, 0 for real_not_used, -1 otherwise."""
    split = np.asarray(split)
    return np.where(split == REAL_USED, 1, np.where(split == REAL_NOT_USED, 0, -1)).astype(np.int64)
