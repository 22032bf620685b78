"""The data layer: a task folder read, checked, decoded in parallel and cached, as an ``ImageSet``.

    layout.py      the task's folder layout and image ids
    decode.py      one file -> 8-bit gray pixels (conversions recorded)
    read.py        many files: cache first, then parallel decoding
    cache.py       the content-keyed decode cache on disk
    load.py        load_dev / load_test / load_folder / read_folder (checks across a folder)
    inspection.py  ``trainprint inspect``
    imageset.py    ImageSet: ids, split, uint8 pixels, the currency every later stage passes on
"""

from trainprint.data.imageset import ImageSet
from trainprint.data.load import CacheDir, LoadReport, load_dev, load_folder, load_test, read_folder

__all__ = ["CacheDir", "ImageSet", "LoadReport", "load_dev", "load_folder", "load_test", "read_folder"]
