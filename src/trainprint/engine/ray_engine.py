"""The ``ray`` engine: Ray Data ``map_batches`` over shard numbers with a stateful extractor actor.

Each actor loads the fitted extractor once (``EmbedSpec.load``), then for every shard number it is
given reads that pixel shard (a memory map), embeds it and writes the fingerprint shard itself;
the driver only collects row counts. On one machine ``ray.init`` starts a local cluster of
``workers`` CPUs; on a cluster (``RAY_ADDRESS`` set) the pixel and output folders must be on
storage every node sees. One GPU per actor where the cluster has GPUs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from trainprint.core.errors import TrainprintError
from trainprint.data.shards import ShardStore, ShardWriter
from trainprint.engine.work import EmbedSpec, embed_one


class _EmbedActor:
    """Stateful: the extractor is loaded once per actor, not once per shard."""

    def __init__(self, pixels_root: str, spec: EmbedSpec, out: str, head: dict[str, Any]) -> None:
        import torch

        torch.set_num_threads(1)  # one CPU per actor, as the engine asks Ray for
        self.ext = spec.load()
        self.pixels = ShardStore(pixels_root)
        self.writer = ShardWriter(out, head["key"], tuple(head["item_shape"]), head["dtype"], head["divisor"])

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        shards = [int(i) for i in batch["shard"]]
        rows = [embed_one(self.ext, self.pixels, self.writer, i) for i in shards]
        return {"shard": np.asarray(shards, dtype=np.int64), "rows": np.asarray(rows, dtype=np.int64)}


def embed_with_ray(pixels_root: Path, shards: list[int], spec: EmbedSpec, out: Path, head: dict[str, Any], *,
                   workers: int = 2) -> int:
    """Embed ``shards`` with ``workers`` actors; returns the rows embedded."""
    try:
        import ray
        import ray.data
    except ImportError:
        raise TrainprintError("--engine ray: Ray is not installed (pip install 'trainprint[distributed]')") from None
    import torch

    if not ray.is_initialized():
        ray.init(num_cpus=max(1, workers), include_dashboard=False, log_to_driver=False,
                 configure_logging=False)
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    gpus = 1 if torch.cuda.is_available() else 0
    ds = ray.data.from_items([{"shard": i} for i in shards], override_num_blocks=len(shards))
    done = ds.map_batches(_EmbedActor, batch_size=1, concurrency=max(1, workers), num_cpus=1, num_gpus=gpus,
                          fn_constructor_kwargs=dict(pixels_root=str(pixels_root), spec=spec, out=str(out),
                                                     head=head)).take_all()
    got = sorted(int(r["shard"]) for r in done)
    if got != sorted(shards):
        raise TrainprintError(f"--engine ray: {len(set(shards) - set(got))} shards were not embedded")
    return sum(int(r["rows"]) for r in done)
