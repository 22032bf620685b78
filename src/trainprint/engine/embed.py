"""``embed_shards``: fingerprints of every pixel shard, written as shards (see the package doc).

Resumable and never stale: the output folder's key names the extractor file's content and the
pixel store's key; shards already written under that key are kept, any other key clears the folder
(``data.shards.ShardWriter``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from trainprint.core.errors import TrainprintError
from trainprint.data.shards import ShardStore, ShardWriter, complete
from trainprint.engine.work import EmbedSpec, embed_one

ENGINES = ("local", "ray")


def ray_available() -> bool:
    try:
        import ray  # noqa: F401
        import ray.data  # noqa: F401
    except ImportError:
        return False
    return True


def embed_shards(pixels: ShardStore, spec: EmbedSpec, out: str | Path, *, engine: str = "local",
                 workers: int = 2, progress: bool = False) -> ShardStore:
    """Fingerprints ``(N, D)`` float32 of every image of ``pixels``, one shard per pixel shard, in
    ``out``; returns them as a ``ShardStore``. ``workers``: Ray actors (``engine="ray"``)."""
    if engine not in ENGINES:
        raise TrainprintError(f"--engine {engine!r}: expected one of {', '.join(ENGINES)}")
    out = Path(out)
    key = f"embed:{spec.name}:{spec.digest()}:{pixels.key}"
    if complete(out, key):
        return ShardStore(out)
    ext = spec.load()
    first = np.asarray(ext.transform(np.array(pixels.shard(0)[:1])))  # (1, D): the row shape
    writer = ShardWriter(out, key, first.shape[1:], "float32")
    todo = [i for i in range(pixels.n_shards) if not writer.has(i)]
    if engine == "ray" and todo:
        from trainprint.engine.ray_engine import embed_with_ray

        embed_with_ray(pixels.root, todo, spec, out, writer.head, workers=workers)
    else:
        for i in todo:
            embed_one(ext, pixels, writer, i)
    return writer.finish(pixels.n_shards)
