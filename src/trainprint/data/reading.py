"""How volumes are read: the slicing axis, every k-th slice, the intensity window (``--axis``,
``--slice-step``, ``--window``).

``Reading`` is passed to the loaders (``reading=``); a loader called without one uses the
*current* reading, which the command line sets from its options for the whole command (so
``evaluate``, ``submit``, ``audit`` and ``fit`` read volumes the same way without a parameter in
their configs), and which a library user can set for a block with ``use_reading``:

    with use_reading(Reading(window=parse_window("lung"), slice_step=2)):
        images = load_dev("dev")
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from trainprint.core.errors import TrainprintError
from trainprint.data.intensity import Window

#: slicing axes -> the axis of a volume in RAS+ orientation (x: to the right, y: anterior, z: up)
AXES: dict[str, int] = {"sagittal": 0, "coronal": 1, "axial": 2}


@dataclass(frozen=True)
class Reading:
    """Options of reading volumes (DICOM series, NIfTI); 2-D image files ignore them.

    Attributes:
        axis: ``axial`` (default), ``coronal`` or ``sagittal``: the plane of the slices of a NIfTI
            volume (a DICOM series is sliced as acquired and accepts only ``axial``).
        slice_step: keep every k-th slice (slice 0, k, 2k, ...); 1 keeps all.
        window: the intensity window, or ``None`` for the folder's own range (8-bit data as is).
    """

    axis: str = "axial"
    slice_step: int = 1
    window: Window | None = None

    def check(self) -> "Reading":
        if self.axis not in AXES:
            raise TrainprintError(f"--axis {self.axis!r}: expected one of {', '.join(AXES)}")
        if isinstance(self.slice_step, bool) or not isinstance(self.slice_step, int) or self.slice_step < 1:
            raise TrainprintError(f"--slice-step {self.slice_step!r}: expected a whole number >= 1")
        return self

    def key(self) -> list[object]:
        """The options as a JSON-able list (part of a cache key)."""
        w = None if self.window is None else [self.window.center, self.window.width]
        return [self.axis, self.slice_step, w]


_CURRENT: ContextVar[Reading] = ContextVar("trainprint_reading", default=Reading())


def current_reading() -> Reading:
    """The reading loaders use when they are given none."""
    return _CURRENT.get()


def set_reading(reading: Reading) -> None:
    """Make ``reading`` current (the command line does, once per command)."""
    _CURRENT.set(reading.check())


@contextmanager
def use_reading(reading: Reading) -> Iterator[Reading]:
    """``reading`` is current inside the block."""
    token = _CURRENT.set(reading.check())
    try:
        yield reading
    finally:
        _CURRENT.reset(token)
