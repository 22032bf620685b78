"""16-bit 2-D image files: one scale per folder, never one per file.

Each 16-bit gray file is decoded (``data_decode``) by its own bit depth: the smallest of 8, 10,
12, 14, 16 bits that holds its largest value (a 12-bit CT stored in 16 bits: 4095 -> 255). When
the 16-bit files of one folder (every split folder of a task folder together, or one bare folder)
need different depths, the files decoded at a smaller one are decoded again at the largest, so
two slices of one scan keep their relative brightness. With ``--window`` every 16-bit file is
mapped through the window instead (its values as stored).

The decode cache keeps each file decoded by its own depth (a property of the file alone); the
folder's scale is applied after every load.
"""

from __future__ import annotations

from functools import partial

from trainprint.data.decode import DEPTH_OF, is_16bit
from trainprint.data.intensity import Window
from trainprint.data.layout import ImageFile
from trainprint.data.read import FileResult, decode_file, map_files


def one_scale(
    files: list[ImageFile], results: list[FileResult], *, size: int | None, window: Window | None,
    workers: int | None = None, pool: str = "process", progress: bool = False, desc: str = "",
) -> tuple[list[FileResult], str | None]:
    """``results`` with the 16-bit files brought to the folder's one scale, and a note saying
    which (``None`` when the folder holds no 16-bit file)."""
    sixteen = [i for i, r in enumerate(results) if r.item is not None and is_16bit(r.item.mode)]
    if not sixteen:
        return results, None
    scale: int | Window
    if window is None:
        depths = {i: _depth(results[i]) for i in sixteen}
        scale = max(depths.values())
        redo = [i for i in sixteen if depths[i] != scale]
        note = (f"intensities: {len(sixteen)} 16-bit files, one scale for the folder: {scale}-bit values -> 8-bit "
                f"(v * 255 / {2**scale - 1})")
    else:
        scale, redo = window, sixteen
        note = f"intensities: {len(sixteen)} 16-bit files, one scale for the folder: {window.describe()}"
    if not redo:
        return results, note
    out = list(results)
    decode = partial(decode_file, size=size, scale=scale)
    for i, r in zip(redo, map_files(decode, [files[i].path for i in redo], workers, pool, progress, desc)):
        out[i] = r
    return out, note


def _depth(result: FileResult) -> int:
    """The bit depth a 16-bit file was decoded at (its own unless scaled otherwise)."""
    conversions = result.item.conversions if result.item is not None else ()
    return max((DEPTH_OF[c] for c in conversions if c in DEPTH_OF), default=16)
