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
        patients: ``(N,)`` unicode array, the patient of each image as its files name it (DICOM
            PatientID, else StudyInstanceUID; NIfTI: the file's case name), ``""`` where unknown;
            ``None`` when no image's patient is known (2-D image files).
    """

    ids: np.ndarray
    split: np.ndarray
    pixels: np.ndarray
    source: str = ""
    patients: np.ndarray | None = None

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
        if self.patients is not None:
            patients = np.asarray(self.patients).astype(str)
            if patients.shape != ids.shape:
                raise ValueError(f"ImageSet: patients {patients.shape} must be (N,) like ids {ids.shape}")
            object.__setattr__(self, "patients", patients if (patients != "").any() else None)
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
        patients = None if self.patients is None else self.patients[index]
        return ImageSet(self.ids[index], self.split[index], self.pixels[index], self.source, patients)

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
        known = any(s.patients is not None for s in sets)
        return ImageSet(
            np.concatenate([s.ids for s in sets]),
            np.concatenate([s.split for s in sets]),
            np.concatenate([s.pixels for s in sets]),
            "+".join(sorted({s.source for s in sets if s.source})),
            np.concatenate([s.patients if s.patients is not None else np.full(len(s), "") for s in sets])
            if known else None,
        )


def patients_of(images: ImageSet, index: np.ndarray | None = None) -> np.ndarray | None:
    """The patients of the images at ``index`` (all when ``None``) as ``(n,)`` unicode, when the
    files name the patient of *every* one of them (DICOM series, NIfTI volumes); ``None``
    otherwise (2-D image files, or a mix), where groups must be inferred from the pixels."""
    if images.patients is None:
        return None
    patients = images.patients if index is None else images.patients[index]
    return None if len(patients) == 0 or (patients == "").any() else patients


def known_groups(images: ImageSet) -> np.ndarray | None:
    """The patient of every image as ``(N,)`` int64 group labels (0, 1, ... in order of first
    appearance), when the files name the patient of *every* image; ``None`` otherwise (2-D image
    files, or a mix), where groups must be inferred from the pixels.

    Images of one patient (the slices of a scan, a patient's several series) share a label.
    """
    if images.patients is None or (images.patients == "").any():
        return None
    _, first, inverse = np.unique(images.patients, return_index=True, return_inverse=True)
    order = np.argsort(np.argsort(first))
    return order[inverse].astype(np.int64)


def labels_of(split: np.ndarray) -> np.ndarray:
    """Membership labels of real images: 1 for real_used, 0 for real_not_used, -1 otherwise."""
    split = np.asarray(split)
    return np.where(split == REAL_USED, 1, np.where(split == REAL_NOT_USED, 0, -1)).astype(np.int64)
