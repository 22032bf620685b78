"""Giving freed memory back to the operating system (``release_free_memory``)."""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import sys


@functools.lru_cache(maxsize=1)
def _malloc_trim():  # noqa: ANN202 - a ctypes function, or None
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return libc.malloc_trim
    except (OSError, AttributeError):  # not glibc (musl has no malloc_trim)
        return None


def release_free_memory() -> bool:
    """Return the C heap's free pages to the operating system (glibc's ``malloc_trim(0)``; elsewhere
    nothing). Decoding a folder allocates one small array per image and frees them all once they are
    stacked into one; glibc keeps those pages, so without this the process stays larger than what
    it holds by about the folder's size (0.56 GiB for 10,000 images of 256 px: docs/scale.md).
    Returns whether it could ask."""
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True
