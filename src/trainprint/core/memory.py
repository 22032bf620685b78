"""The memory budget of a run (``--memory``: ``parse_memory``, ``DEFAULT_MEMORY``), what the process
holds now (``resident_bytes``), and giving freed memory back to the operating system
(``release_free_memory``)."""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
import re
import sys

from trainprint.core.errors import TrainprintError

#: the default ``--memory``: the peak resident memory a run may reach, 2 GB (what a laptop spares)
DEFAULT_MEMORY = 2 * 10**9
#: the smallest budget accepted (the Python process with torch alone is about 0.3 GB)
MIN_MEMORY = 256 * 10**6
_UNITS = {"": 1, "b": 1, "k": 10**3, "kb": 10**3, "kib": 2**10, "m": 10**6, "mb": 10**6, "mib": 2**20,
          "g": 10**9, "gb": 10**9, "gib": 2**30, "t": 10**12, "tb": 10**12, "tib": 2**40}


def parse_memory(text: "str | int", what: str = "--memory") -> int:
    """Bytes of a size such as ``2GB``, ``1.5GiB``, ``800MB`` or ``2000000000`` (GB = 10^9 bytes, GiB =
    2^30), at least ``MIN_MEMORY``; a TrainprintError naming the value otherwise."""
    m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]*)?)\s*([a-zA-Z]*)\s*", str(text))
    unit = m.group(2).lower() if m else ""
    if m is None or unit not in _UNITS:
        raise TrainprintError(f"{what} {text!r}: expected a size such as 2GB, 1.5GiB or 800MB")
    n = int(float(m.group(1)) * _UNITS[unit])
    if n < MIN_MEMORY:
        raise TrainprintError(f"{what} {text!r}: expected at least {format_bytes(MIN_MEMORY)}")
    return n


def format_bytes(n: float) -> str:
    """``1.23 GB``, ``456 MB`` (powers of 10, as ``--memory`` reads them)."""
    return f"{n / 1e9:.2f} GB" if n >= 1e9 else f"{n / 1e6:.0f} MB"


def resident_bytes() -> int | None:
    """What this process holds in memory now (its resident set, from ``/proc``); None where that
    cannot be read (not Linux)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


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
    nothing). Decoding a folder allocates one small array per image and frees each once it is
    copied into the folder's array; glibc may keep those pages, so without this the process can
    stay larger than what it holds (0.56 GiB for 10,000 images of 256 px when they were all freed
    at once: docs/scale.md). Returns whether it could ask."""
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True
