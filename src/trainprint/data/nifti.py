"""NIfTI volumes (``.nii``, ``.nii.gz``) to slices (nibabel, the ``medical`` extra).

    read_nifti_file(path, axis) -> Volume     runs in worker processes

The volume is turned to RAS+ orientation by its affine (``nibabel.as_closest_canonical``), then
cut along ``axis`` (``data_volume``). Values are the stored ones through the header's
``scl_slope`` / ``scl_inter``. A 4-D file (several volumes, e.g. an fMRI or a DWI series) is
refused; a 4-D file whose 4th dimension is 1 is read as 3-D, a 2-D file as one slice.
The case name is the file name without ``.nii`` / ``.nii.gz``; the patient is the case.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from trainprint.data.decode import BadImage, one_line
from trainprint.data.dicom import sanitize
from trainprint.data.volume import Volume, slices_of

SUFFIXES = (".nii.gz", ".nii")


def case_name(path: Path) -> str:
    """``ct_01.nii.gz`` -> ``ct_01``."""
    name = path.name
    for suffix in SUFFIXES:
        if name.lower().endswith(suffix):
            return sanitize(name[: -len(suffix)])
    return sanitize(name)


def read_nifti_file(path: Path, axis: str) -> Volume:
    """One NIfTI file as a volume of ``axis`` slices. Raises ``BadImage`` when unusable."""
    import nibabel as nib
    from nibabel.filebasedimages import ImageFileError

    try:
        img = nib.load(str(path))
    except ImageFileError:
        raise BadImage("not a NIfTI file (unknown header); expected a .nii or .nii.gz volume") from None
    except Exception as e:  # noqa: BLE001 - nibabel raises many types for damaged files
        raise BadImage(f"cannot read the NIfTI file ({one_line(e)}); expected a .nii or .nii.gz volume") from None
    shape = tuple(int(n) for n in img.shape)
    if len(shape) == 4 and shape[3] == 1:
        shape = shape[:3]
    if len(shape) > 3:
        raise BadImage(f"{len(shape)}-D volume of shape {'x'.join(map(str, shape))}; expected a 3-D volume "
                       "(split a 4-D series into one file per volume)")
    try:
        canonical = nib.as_closest_canonical(img) if len(img.shape) >= 3 else img
        data = np.asanyarray(canonical.dataobj)
    except Exception as e:  # noqa: BLE001 - truncated gzip, bad affine, ...
        raise BadImage(f"cannot read the NIfTI volume ({one_line(e)}); expected a complete .nii or .nii.gz") from None
    stored = str(img.get_data_dtype())
    data = data.reshape(shape + (1,) * (3 - len(shape)))
    if data.dtype.kind not in "uif":
        raise BadImage(f"values of type {data.dtype}; expected gray numbers (integers or floats)")
    values = slices_of(data, axis).astype(np.float32)  # (n, H, W)
    slope, inter = img.header.get_slope_inter()
    rescaled = (slope not in (None, 1.0) and not np.isnan(slope)) or (inter not in (None, 0.0) and not np.isnan(inter))
    case = case_name(path)
    return Volume(case=case, patient=case, format="NIfTI", stored=stored, values=np.ascontiguousarray(values),
                  index=np.arange(values.shape[0]), paths=(path,) * values.shape[0],
                  is_8bit=stored == "uint8" and not rescaled,
                  conversions=("values through scl_slope / scl_inter",) if rescaled else ())
