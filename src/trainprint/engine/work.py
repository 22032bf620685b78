"""What one engine worker does: load a fitted extractor (``EmbedSpec``), embed one pixel shard."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from trainprint.data.shards import ShardStore, ShardWriter
from trainprint.extractors.base import FingerprintExtractor
from trainprint.extractors.registry import extractor_class


@dataclass(frozen=True)
class EmbedSpec:
    """A fitted extractor as a file any worker can load: its registry ``name`` and the ``path`` of
    its ``save`` file. ``device``: where workers run it (``None``: as saved)."""

    name: str
    path: str
    device: str | None = None

    def load(self) -> FingerprintExtractor:
        return extractor_class(self.name).load(self.path, device=self.device)  # type: ignore[attr-defined]

    def digest(self) -> str:
        h = hashlib.sha256(self.name.encode())
        with open(self.path, "rb") as f:
            for part in iter(lambda: f.read(1 << 20), b""):
                h.update(part)
        return h.hexdigest()


def embed_one(ext: FingerprintExtractor, pixels: ShardStore, writer: ShardWriter, i: int) -> int:
    """Embed pixel shard ``i`` into fingerprint shard ``i``; returns its rows."""
    rows = np.array(pixels.shard(i))  # (n_i, S, S) uint8, a writable copy of the memory map
    ids = np.load(pixels.root / f"part-{i:05d}.ids.npy")
    writer.write(i, np.asarray(ext.transform(rows), dtype=np.float32), ids)
    return int(rows.shape[0])
