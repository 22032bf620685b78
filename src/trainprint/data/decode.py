"""Decoding one image file into an 8-bit gray ``(H, W)`` array, and resizing it.

Pure functions on bytes, safe to call from worker threads or processes. A file that cannot be
used raises ``BadImage`` with a short reason; ``trainprint.data`` adds the file name and turns it
into a ``TrainprintError`` (or skips the file with ``--skip-bad``).

Conversions (each is recorded by name in ``Decoded.conversions``, see ``CONVERSIONS``):

    L (8-bit gray)                 used as is
    RGB / RGBA / P whose channels agree (|R-G|, |G-B| <= 2 everywhere: JPEG rounding)
                                   -> gray, silently
    RGB / RGBA / P otherwise       -> gray by luminance (0.299 R + 0.587 G + 0.114 B), a warning
    alpha that is not opaque       dropped (pixels kept as if opaque), a warning
    16-bit gray                    -> 8-bit by its bit depth d: round(v * 255 / (2^d - 1)), where d is
                                   the smallest of 8, 10, 12, 14, 16 that holds the file's largest
                                   value (a 12-bit CT stored in 16 bits: 4095 -> 255, not 16); a folder
                                   whose files need different depths is then scaled by its largest,
                                   or by --window (``data_scale16``)
    1-bit                          -> 0 / 255
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image, UnidentifiedImageError

from trainprint.data.intensity import Window, to_uint8

# PIL warns about odd metadata (EXIF, ICC) while decoding; the data layer reports its own problems.
warnings.filterwarnings("ignore", category=UserWarning, module=r"PIL\.")
# Import every format plugin now, not lazily inside a worker (worker processes are forked).
Image.init()

#: formats as PIL names them, and how a message names them
SUPPORTED_FORMATS = {"PNG": "PNG", "JPEG": "JPEG", "TIFF": "TIFF", "BMP": "BMP"}
EXPECTED = "expected a PNG, JPEG, TIFF or BMP image"
#: smallest side accepted, in pixels (the nets downsample 64 px images to 1 x 1)
MIN_SIDE = 64
#: largest per-pixel channel difference still counted as "channels agree"
CHANNEL_TOLERANCE = 2

# Names of conversions; the silent ones are reported by ``inspect`` but raise no warning.
GRAY_FROM_COLOR_EQUAL = "color with equal channels -> gray"
GRAY_FROM_COLOR = "color with different channels -> gray (luminance)"
ALPHA_DROPPED = "transparency dropped"
#: bit depths a 16-bit file's values are read at (the smallest that holds its largest value)
BIT_DEPTHS = (8, 10, 12, 14, 16)


def from_16bit(bits: int) -> str:
    """Name of the conversion of a 16-bit file whose values use ``bits`` bits."""
    return f"16-bit file, {bits}-bit values -> 8-bit (v * 255 / {2**bits - 1})"


#: the conversion of a 16-bit file scaled at ``bits`` -> ``bits``
DEPTH_OF = {from_16bit(b): b for b in BIT_DEPTHS}


def is_16bit(mode: str) -> bool:
    """Whether a file of PIL ``mode`` is decoded from 16-bit (or 32-bit int) gray values."""
    return mode.startswith("I;16") or mode == "I"


def windowed_16bit(window: Window) -> str:
    """Name of the conversion of a 16-bit file through ``--window`` (its values as stored)."""
    return f"16-bit file -> 8-bit by {window.describe()}"


FROM_16BIT = from_16bit(16)
FROM_1BIT = "1-bit -> 8-bit"
WARNING_CONVERSIONS = (GRAY_FROM_COLOR, ALPHA_DROPPED)


class BadImage(Exception):
    """A file that cannot be used; ``str(e)`` is the reason, without the file name."""


@dataclass(frozen=True)
class Decoded:
    """One decoded file.

    Attributes:
        pixels: ``(H, W)`` uint8 gray image (native size, or resized by ``resize_square``).
        format: PIL format name (``PNG``, ``JPEG``, ``TIFF``, ``BMP``).
        mode: PIL mode of the file (``L``, ``RGB``, ``I;16``, ...).
        native: ``(H, W)`` of the file before any resize.
        conversions: names of the conversions made (empty for 8-bit gray).
    """

    pixels: np.ndarray
    format: str
    mode: str
    native: tuple[int, int]
    conversions: tuple[str, ...] = ()


def decode_image(data: bytes, scale: int | Window | None = None) -> Decoded:
    """Decode image file bytes to an 8-bit gray ``(H, W)`` array. Raises ``BadImage``.

    ``scale``: how a 16-bit file becomes 8-bit: ``None`` by its own bit depth, a number of bits
    (at least its own) for one scale across a folder (``data_scale16``), or a ``Window``."""
    try:
        im = Image.open(io.BytesIO(data))
    except UnidentifiedImageError:
        raise BadImage(f"not an image file (unknown format or damaged header); {EXPECTED}") from None
    except Exception as e:  # noqa: BLE001 - PIL raises many types for damaged files
        raise BadImage(f"cannot read the image header ({_short(e)}); {EXPECTED}") from None
    fmt = str(im.format)
    if fmt not in SUPPORTED_FORMATS:
        raise BadImage(f"{fmt} images are not supported; {EXPECTED}")
    try:
        im.load()
    except Exception as e:  # noqa: BLE001
        raise BadImage(f"truncated or corrupt {fmt} image ({_short(e)}); expected a complete file") from None
    mode = im.mode
    pixels, conversions = _to_gray8(im, scale)
    h, w = pixels.shape
    if min(h, w) < MIN_SIDE:
        raise BadImage(f"image is {w}x{h} pixels; expected at least {MIN_SIDE} px on each side")
    return Decoded(np.ascontiguousarray(pixels), fmt, mode, (h, w), conversions)


def resize_square(pixels: np.ndarray, size: int) -> np.ndarray:
    """``(H, W)`` uint8 -> ``(size, size)`` uint8, Lanczos; non-square images are stretched."""
    if pixels.shape == (size, size):
        return pixels
    im = Image.fromarray(pixels, mode="L")
    return np.asarray(im.resize((size, size), Image.Resampling.LANCZOS), dtype=np.uint8)


def _to_gray8(im: Image.Image, scale: int | Window | None = None) -> tuple[np.ndarray, tuple[str, ...]]:
    mode = im.mode
    if mode == "L":
        return np.asarray(im, dtype=np.uint8), ()
    if mode == "1":
        return np.asarray(im.convert("L"), dtype=np.uint8), (FROM_1BIT,)
    if mode.startswith("I;16") or mode == "I":
        a = np.asarray(im).astype(np.int64)
        if a.size and (a.min() < 0 or a.max() > 65535):
            raise BadImage(f"{mode} image has values outside 0..65535; expected 8- or 16-bit gray")
        if isinstance(scale, Window):
            return to_uint8(a, scale), (windowed_16bit(scale),)
        bits = next(b for b in BIT_DEPTHS if int(a.max(initial=0)) <= 2**b - 1)
        bits = bits if scale is None else max(bits, int(scale))
        top = 2**bits - 1
        return ((a * 255 + top // 2) // top).astype(np.uint8), (from_16bit(bits),)
    conversions: list[str] = []
    if mode in ("P", "PA"):
        im = im.convert("RGBA")
    elif mode == "LA":
        im = im.convert("RGBA")
    elif mode in ("CMYK", "YCbCr", "LAB", "HSV"):
        im = im.convert("RGB")
    elif mode not in ("RGB", "RGBA", "RGBX"):
        raise BadImage(f"pixel mode {mode} is not supported; expected 8-bit or 16-bit gray, RGB or RGBA")
    if im.mode == "RGBA":
        alpha = np.asarray(im.getchannel("A"))
        if alpha.min() < 255:
            conversions.append(ALPHA_DROPPED)
    rgb = np.asarray(im.convert("RGB")).astype(np.int16)  # (H, W, 3)
    spread = max(int(np.abs(rgb[..., 0] - rgb[..., 1]).max()), int(np.abs(rgb[..., 1] - rgb[..., 2]).max()))
    conversions.append(GRAY_FROM_COLOR_EQUAL if spread <= CHANNEL_TOLERANCE else GRAY_FROM_COLOR)
    gray = np.asarray(im.convert("RGB").convert("L"), dtype=np.uint8)
    return gray, tuple(conversions)


def one_line(e: Exception, limit: int = 80) -> str:
    """An exception as a short single line of at most ``limit`` characters (messages stay one line)."""
    text = " ".join(str(e).split()) or type(e).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _short(e: Exception) -> str:
    return one_line(e)
