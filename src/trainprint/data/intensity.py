"""Intensities of medical data to 8 bits: windows, named presets, one scale per folder.

A window ``(center C, width W)`` maps the values ``lo = C - W/2`` .. ``hi = C + W/2`` linearly
onto 0..255 (``round((v - lo) / (hi - lo) * 255)``, clipped): values below ``lo`` are black,
above ``hi`` white. The named presets are the usual CT windows in Hounsfield units (docs/data.md
cites them). Without ``--window`` a folder is scaled by its own range, one window for the whole
folder (never one per file or per slice), so two slices of one scan keep their relative brightness.

    parse_window("lung") -> Window(-600, 1500, "lung")      parse_window("40,80") -> Window(40, 80)
    range_window(lo, hi) -> Window                          to_uint8(values, window) -> uint8
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from trainprint.core.errors import TrainprintError


@dataclass(frozen=True)
class Window:
    """A linear window: ``center - width/2`` -> 0, ``center + width/2`` -> 255.

    Attributes:
        center: the value mapped to mid-gray (HU for CT).
        width: the span of values mapped onto 0..255; > 0.
        name: the preset's name, ``"range"`` for a folder's own range, ``""`` for CENTER,WIDTH.
    """

    center: float
    width: float
    name: str = ""

    @property
    def lo(self) -> float:
        return self.center - self.width / 2

    @property
    def hi(self) -> float:
        return self.center + self.width / 2

    def describe(self) -> str:
        """``'window lung (C -600, W 1500: -1350..150) -> 0..255'``."""
        label = {"": "window", "range": "the folder's range"}.get(self.name, f"window {self.name}")
        if self.name == "range":
            return f"{label} {_num(self.lo)}..{_num(self.hi)} -> 0..255"
        return f"{label} (C {_num(self.center)}, W {_num(self.width)}: {_num(self.lo)}..{_num(self.hi)}) -> 0..255"


#: Standard CT windows in HU, (center, width), as Radiopaedia's "Windowing (CT)" lists them.
PRESETS: dict[str, Window] = {
    "lung": Window(-600.0, 1500.0, "lung"),
    "mediastinum": Window(50.0, 350.0, "mediastinum"),
    "brain": Window(40.0, 80.0, "brain"),
    "bone": Window(400.0, 1800.0, "bone"),
}


def parse_window(text: str) -> Window:
    """``--window``: a preset name (``lung``, ``mediastinum``, ``brain``, ``bone``) or ``CENTER,WIDTH``."""
    key = text.strip().lower()
    if key in PRESETS:
        return PRESETS[key]
    parts = key.split(",")
    expected = f"expected CENTER,WIDTH (e.g. 40,80) or one of {', '.join(PRESETS)}"
    if len(parts) != 2:
        raise TrainprintError(f"--window {text!r}: {expected}")
    try:
        center, width = float(parts[0]), float(parts[1])
    except ValueError:
        raise TrainprintError(f"--window {text!r}: {expected}") from None
    if not (np.isfinite(center) and np.isfinite(width)) or width <= 0:
        raise TrainprintError(f"--window {text!r}: the width must be a number > 0; {expected}")
    return Window(center, width)


def range_window(lo: float, hi: float) -> Window:
    """The window spanning ``lo..hi`` (a folder's smallest and largest value)."""
    return Window((lo + hi) / 2, hi - lo, "range")


def to_uint8(values: np.ndarray, window: Window) -> np.ndarray:
    """``(..., H, W)`` numbers -> uint8 of the same shape through ``window``; a window of width 0
    (a constant folder) maps everything to 0."""
    v = np.asarray(values, dtype=np.float64)
    if window.width <= 0:
        return np.zeros(v.shape, dtype=np.uint8)
    scaled = (v - window.lo) / window.width * 255.0
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


def _num(x: float) -> str:
    return f"{x:g}"
