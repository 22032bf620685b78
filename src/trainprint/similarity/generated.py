"""A generated set too large to hold as one array, and how to search it.

    SearchPlan(search="exhaustive" | "two-stage", candidates=K, real_candidates=K_r, ...)
    GeneratedSet(data, plan)      data: an (m, ...) array or a ``data.shards.ShardStore``

``nearest_stats`` (``search.py``) reads a ``GeneratedSet`` a block at a time, and follows its plan:
two-stage search (``twostage.py``) for SSIM and NCC, exhaustive otherwise.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from trainprint.core.errors import TrainprintError
from trainprint.core.memory import DEFAULT_MEMORY
from trainprint.data.shards import ShardStore, as_float32
from trainprint.similarity.spaces import space_of

SEARCHES = ("exhaustive", "two-stage")
#: generated candidates per real image (K); with the defaults below, the candidates held the
#: exhaustive top-1 of every real image and >= 0.99 of its top-10 on ctmem64 and cxrmem64 test
#: (docs/similarity.md, "Two-stage search")
DEFAULT_CANDIDATES = 64
#: real candidates per generated image (K_r); they held its exhaustive nearest real image in >= 0.996
#: of the generated images there
DEFAULT_REAL_CANDIDATES = 4
#: NCC's cheap stage: NCC of images area-downsampled to this side
DEFAULT_LOW_SIDE = 32
#: SSIM's cheap stage: SSIM sampled on a grid this many times coarser than the exact one (16x
#: fewer window positions at 4)
DEFAULT_COARSE = 4
#: generated rows per block when they are read from disk
DEFAULT_BLOCK_ROWS = 4096
#: ... and at most ``block_bytes`` of float32 rows per block: 1/``BLOCK_SHARE`` of the ``--memory``
#: budget (2 GB: 62.5 MB, 238 rows at 256 px, 3,814 at 64 px). At 256 px blocks of 1,024 (4 times
#: that) took the audit of 10,000 generated images to 2.3 GiB (docs/scale.md, "The audit")
BLOCK_SHARE = 32
#: bounds of a block whatever the budget (a block below 1 MB costs more in overhead than it saves)
MIN_BLOCK_BYTES, MAX_BLOCK_BYTES = 2**20, 2**30


def block_bytes_for(memory: int) -> int:
    """Bytes of float32 generated rows per block under a ``--memory`` budget of ``memory`` bytes."""
    return int(min(MAX_BLOCK_BYTES, max(MIN_BLOCK_BYTES, int(memory) // BLOCK_SHARE)))


BLOCK_BYTES = block_bytes_for(DEFAULT_MEMORY)
#: ``--search auto`` searches SSIM / NCC in two stages from this much exhaustive work (real images x
#: generated images x pixels per image): 400 real x 3,815 generated at 256 px, 400 x 61,035 at 64 px.
#: The exhaustive full-map SSIM of that much takes about 3 minutes on one thread here (~5,000 pairs/s
#: at 256 px, ~56,000 at 64 px: docs/similarity.md, "Speed")
AUTO_TWO_STAGE_WORK = 10**11


def check_search(search: str) -> str:
    """``search`` when it is a ``--search`` value (auto or one of ``SEARCHES``), else a TrainprintError."""
    if search not in ("auto", *SEARCHES):
        raise TrainprintError(f"--search {search!r}: expected auto, {', '.join(SEARCHES)}")
    return search


def resolve_search(search: str, n_real: int, n_generated: int, item_shape: tuple[int, ...]) -> str:
    """``exhaustive`` or ``two-stage`` for ``--search`` (``auto``: two-stage from
    ``AUTO_TWO_STAGE_WORK``; the others as given)."""
    if check_search(search) != "auto":
        return search
    work = int(n_real) * int(n_generated) * int(np.prod(item_shape))
    return "two-stage" if work >= AUTO_TWO_STAGE_WORK else "exhaustive"


@dataclass(frozen=True)
class SearchPlan:
    """How nearest-neighbour statistics against a (large) generated set are computed."""

    search: str = "exhaustive"  # exhaustive | two-stage (two-stage applies to ssim and ncc)
    candidates: int = DEFAULT_CANDIDATES  # K: generated candidates per real image (stage 1)
    real_candidates: int = DEFAULT_REAL_CANDIDATES  # K_r: real candidates per generated image
    low_side: int = DEFAULT_LOW_SIDE  # NCC stage 1: side of the downsampled images
    coarse: int = DEFAULT_COARSE  # SSIM stage 1: stride of the window positions, times the exact one (and side // 128)
    block_rows: int = DEFAULT_BLOCK_ROWS  # generated rows read and compared at once ...
    block_bytes: int = BLOCK_BYTES  # ... and at most this many bytes of them as float32 (block_bytes_for(--memory))

    def __post_init__(self) -> None:
        if self.search not in SEARCHES:
            raise TrainprintError(f"--search {self.search!r}: expected one of {', '.join(SEARCHES)}")
        for name in ("candidates", "real_candidates", "low_side", "coarse", "block_rows", "block_bytes"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise TrainprintError(f"search plan: {name}={v!r}; expected a whole number >= 1")

    def two_stage(self, space: str) -> bool:
        """Whether ``space`` is searched in two stages: asked for, and the space has a cheap stage
        (SSIM and NCC; the others are one matrix product already)."""
        return self.search == "two-stage" and space_of(space).two_stage


class GeneratedSet:
    """Generated images or fingerprints, in memory or on disk, with the ``SearchPlan`` to search them.

    ``data``: an (m, ...) array or a ``ShardStore``; ``blocks``, ``take`` and ``block`` give float32
    rows, an array's divided by ``divisor`` when it is given (uint8 pixels with ``divisor=255``: the
    float32 copy of the whole set, 4x the pixels' bytes, is never made; a block is the ``raw``
    extractor's ``X.astype(float32) / 255``, bit for bit). Its ``repr`` names the content (the
    store's key, or a digest of the array, computed once) and the plan, so results cached on it
    (``membership.scores``) are never another set's."""

    def __init__(self, data: "np.ndarray | ShardStore", plan: SearchPlan | None = None, *,
                 divisor: float | None = None) -> None:
        if divisor is not None and isinstance(data, ShardStore):
            raise TrainprintError("GeneratedSet: a ShardStore divides its rows itself; give no divisor")
        self.data = data
        self.plan = plan or SearchPlan()
        self.divisor = divisor
        self._digest: str | None = None

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.data.shape)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(np.float32)

    def __len__(self) -> int:
        return int(self.shape[0])

    @property
    def block_rows(self) -> int:
        """Rows per block: the plan's ``block_rows``, and at most its ``block_bytes`` of float32."""
        return max(1, min(self.plan.block_rows, self.plan.block_bytes // (4 * int(np.prod(self.shape[1:])))))

    def __repr__(self) -> str:
        if isinstance(self.data, ShardStore):
            what = repr(self.data)
        else:
            if self._digest is None:
                h = hashlib.sha256(str((self.data.dtype.str, self.data.shape)).encode())
                h.update(np.ascontiguousarray(self.data).data)  # the buffer itself: no copy
                self._digest = h.hexdigest()[:16]
            what = f"{self._digest}, divisor={self.divisor!r}"
        return f"GeneratedSet({what}, shape={self.shape}, plan={self.plan!r})"

    def block(self, start: int, stop: int) -> np.ndarray:
        if isinstance(self.data, ShardStore):
            return self.data.block(start, stop)
        return as_float32(np.asarray(self.data[start:stop]), self.divisor)

    def __getitem__(self, key: "slice | np.ndarray | list[int]") -> np.ndarray:
        """float32 rows, as an (m, ...) float32 array would give them: ``G[a:b]`` (a block) or
        ``G[index]`` (rows by number, in that order), so code written for arrays that reads rows
        (``membership.mia.density.project``) reads a set a block at a time."""
        if isinstance(key, slice):
            start, stop, step = key.indices(len(self))
            if step != 1:
                raise TrainprintError(f"GeneratedSet[{key}]: only slices of step 1")
            return self.block(start, stop)
        index = np.asarray(key)
        if index.ndim != 1 or not np.issubdtype(index.dtype, np.integer):
            raise TrainprintError(f"GeneratedSet[...]: expected a slice or a 1-d array of row numbers, got {key!r}")
        return self.take(index)

    def blocks(self, rows: int) -> Iterator[tuple[int, np.ndarray]]:
        for start in range(0, len(self), max(1, int(rows))):
            yield start, self.block(start, start + rows)

    def take(self, index: np.ndarray) -> np.ndarray:
        if isinstance(self.data, ShardStore):
            return self.data.take(index)
        return as_float32(np.asarray(self.data[np.asarray(index, dtype=np.int64)]), self.divisor)
