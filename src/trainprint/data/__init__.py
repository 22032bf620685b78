"""The data layer: a task folder read, checked, decoded in parallel and cached, as an ``ImageSet``.

    layout.py      the task's folder layout and image ids
    decode.py      one file -> 8-bit gray pixels (conversions recorded)
    read.py        many files: cache first, then parallel decoding
    cache.py       the content-keyed decode cache on disk
    load.py        load_dev / load_test / load_folder / read_folder (checks across a folder)
    plain.py       load_plain_folders: bare folders (audit's), read together with one scale
    inspection.py  ``trainprint inspect``
    imageset.py    ImageSet: ids, split, uint8 pixels, patients, the currency every later stage passes on
    medical.py     folders of DICOM series (dicom.py) and NIfTI volumes (nifti.py) as slices
    volcache.py    their reads kept in the decode cache (only in a folder the user chose)
    reading.py     --axis, --slice-step, --window (intensity.py: windows, presets, to 8 bits)
    volume.py      a scan as slices; slice orientation
    scale16.py     16-bit 2-D files: one scale per folder (their largest bit depth, or --window)
"""

from trainprint.data.imageset import ImageSet, known_groups, patients_of
from trainprint.data.load import (CacheDir, LoadReport, is_volume_folder, load_dev, load_folder, load_test,
                                  read_folder)
from trainprint.data.reading import Reading, current_reading, use_reading

__all__ = ["CacheDir", "ImageSet", "LoadReport", "Reading", "current_reading", "is_volume_folder", "known_groups",
           "load_dev", "load_folder", "load_test", "patients_of", "read_folder",
           "use_reading"]
