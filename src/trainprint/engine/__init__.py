"""Embedding a large generated set a shard at a time: on this machine, or on an existing engine.

    embed_shards(pixels, spec, out, engine="local" | "ray", workers=2) -> ShardStore

``pixels`` is the generated images' ``data.shards.ShardStore`` (uint8); the result is one
fingerprint shard per pixel shard, ``(n_i, D)`` float32, in a shard folder the search stage reads
(``similarity.GeneratedSet``). ``local`` embeds the shards one after another in this process;
``ray`` (``pip install 'trainprint[distributed]'``) runs them as a Ray Data pipeline,
``map_batches`` over shard numbers with a stateful actor that loads the fitted extractor once
(one GPU per actor where there are GPUs). Both write the same files, and the same numbers.
"""

from trainprint.engine.embed import ENGINES, embed_shards, ray_available
from trainprint.engine.work import EmbedSpec

__all__ = ["ENGINES", "EmbedSpec", "embed_shards", "ray_available"]
