"""A content-addressed cache of what a frozen encoder computes from a text, so a daily re-run
encodes only the prompts it has not seen (a new item, a user with new clicks).

Key: what the vectors are (`function_key`: the encoder's model, a digest of its weight,
config and vocabulary files, its settings with the dtype it resolved to, and which output:
pooled text vectors or the user model's interest states with that run's interest-token
embedding), then the SHA-256 of each
prompt. Values: parquet shards under `ROOT/<function key>/`, one per run that added vectors,
each written under a temporary name and renamed (uploaded whole in object storage), so a
reader never sees half of one. ROOT is a directory or an fsspec URL (s3://...).

Only frozen computations are cached: an encoder fine-tuned in the run has other weights, and
its vectors are computed anew; image inputs are not cached.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import logging
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from aktrec.artifacts import list_array, list_matrix
from aktrec.embed.encoder import ContentEncoder, resolve_model_path
from aktrec.storage import filesystem, join_uri

log = logging.getLogger("aktrec")
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".json", ".txt", ".model")


def function_key(encoder: ContentEncoder, output: str, *parts: bytes) -> str:
    """Changes whenever `encoder` would map a prompt to another vector for `output`."""
    digest = hashlib.sha256()
    config = encoder.config
    digest.update(json.dumps([output, config.model, encoder.dtype, config.max_length, config.pooling]).encode())
    digest.update(_files_digest(resolve_model_path(config.model)))
    for part in parts:
        digest.update(part)
    return digest.hexdigest()[:32]


@functools.cache
def _files_digest(model_path: str) -> bytes:
    """Digest of a model directory's weight, config and vocabulary files; read once per process
    (the user stage asks for it on every batch of interest states)."""
    root = Path(model_path)
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file() and p.suffix in WEIGHT_SUFFIXES):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.digest()


class VectorCache:
    def __init__(self, root: str, key: str) -> None:
        self.directory = join_uri(str(root), key)
        self.fs, self.path = filesystem(self.directory)

    def _read(self) -> dict[str, np.ndarray]:
        found: dict[str, np.ndarray] = {}
        if not self.fs.exists(self.path):
            return found
        for shard in sorted(p for p in self.fs.ls(self.path, detail=False) if p.endswith(".parquet")):
            table = pq.read_table(io.BytesIO(self.fs.cat_file(shard)))
            found.update(zip(table["prompt_sha256"].to_pylist(), list_matrix(table["vector"])))
        return found

    def _write(self, keys: list[str], vectors: np.ndarray) -> None:
        buffer = io.BytesIO()
        pq.write_table(pa.table({"prompt_sha256": pa.array(keys, pa.string()), "vector": list_array(vectors)}), buffer)
        name = uuid.uuid4().hex
        self.fs.makedirs(self.path, exist_ok=True)
        staging = join_uri(self.path, f".{name}.tmp")
        self.fs.pipe_file(staging, buffer.getvalue())
        self.fs.mv(staging, join_uri(self.path, f"{name}.parquet"))

    def vectors(self, texts: Sequence[str], compute: Callable[[list[str]], np.ndarray]) -> np.ndarray:
        """(N, D) float32 vectors of `texts`: cached ones read, the rest `compute`d once per
        distinct text and added to the cache."""
        keys = [hashlib.sha256(text.encode()).hexdigest() for text in texts]
        cached = self._read()
        first: dict[str, int] = {}  # each distinct prompt's first position
        for position, key in enumerate(keys):
            first.setdefault(key, position)
        missing = [key for key in first if key not in cached]
        if missing:
            fresh = np.asarray(compute([texts[first[key]] for key in missing]), dtype=np.float32)
            self._write(missing, fresh)
            cached.update(zip(missing, fresh))
        log.info(
            "representation cache %s: %d of %d distinct prompts computed", self.directory, len(missing), len(first)
        )
        return np.stack([cached[key] for key in keys]).astype(np.float32, copy=False)


def encode_with_cache(
    encoder: ContentEncoder,
    texts: Sequence[str],
    images: Sequence[object | None] | None,
    progress: bool,
    cache_root: str,
) -> np.ndarray:
    """`encoder.encode`, through the cache under `cache_root` when one is given and the inputs
    are texts only."""
    if not cache_root or (images is not None and any(image is not None for image in images)):
        return encoder.encode(texts, images, progress)
    cache = VectorCache(cache_root, function_key(encoder, "pooled"))
    return cache.vectors(texts, lambda todo: encoder.encode(todo, None, progress))
