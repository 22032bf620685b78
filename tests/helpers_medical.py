"""DICOM series and NIfTI volumes written in the tests (pydicom, nibabel: the ``medical`` extra).

    write_series(folder, slices, patient=..., series_number=..., slope=..., intercept=...)
    write_nifti(path, slices)        # (Z, H, W) axial slices -> a RAS+ volume that reads back to them
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def write_series(folder: Path, slices: np.ndarray, *, patient: str, series_number: int = 1, slope: float = 1.0,
                 intercept: float = 0.0, stored: np.ndarray | None = None, order: list[int] | None = None,
                 name: str = "IM{:04d}.dcm", study: str | None = None, bits: int = 16, signed: bool = False,
                 positions: bool = True) -> list[Path]:
    """One CT series of ``slices`` ((Z, H, W), values in HU; stored as ``(HU - intercept) / slope``
    unless ``stored`` gives the stored values), slice z at z mm; files written in ``order``."""
    import pydicom
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

    folder.mkdir(parents=True, exist_ok=True)
    if stored is None:
        dtype = {(16, False): np.uint16, (16, True): np.int16, (8, False): np.uint8}[(bits, signed)]
        stored = np.rint((np.asarray(slices, np.float64) - intercept) / slope).astype(dtype)
    series_uid, study_uid = generate_uid(), study or generate_uid()
    paths = []
    for k in order if order is not None else range(len(stored)):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = CTImageStorage
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = pydicom.Dataset()
        ds.file_meta = meta
        ds.SOPClassUID, ds.SOPInstanceUID = CTImageStorage, meta.MediaStorageSOPInstanceUID
        ds.Modality = "CT"
        if patient:
            ds.PatientID = patient
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study_uid, series_uid
        ds.SeriesNumber = series_number
        ds.InstanceNumber = int(len(stored) - k)  # deliberately opposite to the positions
        if positions:
            ds.ImagePositionPatient = [0.0, 0.0, float(k)]
            ds.ImageOrientationPatient = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
        a = stored[k]
        ds.Rows, ds.Columns = a.shape
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated = ds.BitsStored = a.dtype.itemsize * 8
        ds.HighBit = ds.BitsStored - 1
        ds.PixelRepresentation = 1 if a.dtype.kind == "i" else 0
        ds.RescaleSlope, ds.RescaleIntercept = slope, intercept
        ds.PixelData = np.ascontiguousarray(a).tobytes()
        path = folder / name.format(len(paths))
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


def write_nifti(path: Path, slices: np.ndarray, dtype: type = np.uint8, affine: np.ndarray | None = None) -> Path:
    """``(Z, H, W)`` axial slices as a NIfTI volume (RAS+, 1 mm) that trainprint reads back to them."""
    import nibabel as nib

    from trainprint.data.volume import volume_from_slices

    path.parent.mkdir(parents=True, exist_ok=True)
    vol = volume_from_slices(np.asarray(slices)).astype(dtype)
    nib.save(nib.Nifti1Image(vol, np.eye(4) if affine is None else affine), str(path))
    return path
