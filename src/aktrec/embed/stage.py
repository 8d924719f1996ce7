"""The EMB artifact: `embed items` and `embed users` (docs/design.md §7), validated and atomic."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from aktrec import schemas
from aktrec.artifacts import MARKER, list_array, list_matrix, read_marker, staged_output, write_json, write_parquet
from aktrec.config import ItemEmbedConfig, UserEmbedConfig, to_dict
from aktrec.data.prepare import read_prepared
from aktrec.errors import ArtifactError

EMB_KIND = "embeddings"
# What each half of EMB consists of (embeddings, the embedder for cold start, its validation).
ITEM_FILES = ("item_embeddings.parquet", "item_embedder", "validation/items")
USER_FILES = ("user_embeddings.parquet", "user_embedder", "validation/users")


def embedding_table(ids: pd.Series, vectors: np.ndarray, schema: pa.Schema) -> pa.Table:
    """ids (N,) and vectors (N, D) -> `<id>, embedding: list<float32>` (fixed-size rows)."""
    return pa.Table.from_arrays(
        [pa.array(ids.to_numpy(), pa.string()), list_array(vectors.astype(np.float32))], schema=schema
    )


def read_embeddings(path: Path, kind: str) -> tuple[pd.Series, np.ndarray]:
    """(ids, (N, D) float32) of `item` or `user` embeddings in an EMB directory."""
    file = Path(path) / f"{kind}_embeddings.parquet"
    if not file.is_file():
        raise ArtifactError(f"{path}: no {kind} embeddings (run `aktrec embed {kind}s` first)")
    table = pq.read_table(file)
    return table.column(0).to_pandas(), list_matrix(table[schemas.EMBEDDING])


def _metrics(path: Path) -> dict[str, Any]:
    file = Path(path) / "metrics.json"
    return json.loads(file.read_text()) if file.is_file() else {}


def run_embed_items(
    data_dir: Path, out: Path, config: ItemEmbedConfig, progress: bool = False, cache_root: str = ""
) -> dict[str, Any]:
    """Item representations; `cache_root`: the representation cache (`aktrec.embed.cache`), "" = none."""
    from aktrec.embed.items import embed_items

    data = read_prepared(data_dir)
    return _write_half(
        out, "item", data_dir, config, embed_items(data, config, progress=progress, cache_root=cache_root)
    )


def run_embed_users(
    data_dir: Path,
    out: Path,
    config: UserEmbedConfig,
    items_dir: Path | None = None,
    progress: bool = False,
    cache_root: str = "",
) -> dict[str, Any]:
    """User representations; item embeddings come from `items_dir` (default: `out` itself);
    `cache_root`: the representation cache, "" = none."""
    from aktrec.embed.items import item_table
    from aktrec.embed.users import ItemCatalog, embed_users

    items_dir = Path(items_dir or out)
    read_marker(items_dir, EMB_KIND)
    data = read_prepared(data_dir)
    item_ids, item_vectors = read_embeddings(items_dir, "item")
    items = item_table(data).set_index(schemas.ITEM_ID).reindex(item_ids).reset_index()
    catalog = ItemCatalog.build(items, item_vectors, config.history_title_words)
    embedded = embed_users(data, catalog, config, progress=progress, cache_root=cache_root)
    return _write_half(out, "user", data_dir, config, embedded)


def _write_half(
    out: Path, kind: str, data_dir: Path, config: Any, embedded: tuple[pd.DataFrame, np.ndarray, dict[str, Any], Any]
) -> dict[str, Any]:
    """Write the `kind` half of EMB (embeddings, embedder, metrics, checks), keeping the other;
    `embedded`: (ids, vectors, metrics, embedder) from `embed_items` or `embed_users`. Returns
    the metrics."""
    from aktrec.embed.checks import embedding_suite
    from aktrec.validation.runner import failed_docs_dir, run_suites

    files, other = (ITEM_FILES, USER_FILES) if kind == "item" else (USER_FILES, ITEM_FILES)
    id_column, schema = (
        (schemas.ITEM_ID, schemas.ITEM_EMBEDDINGS) if kind == "item" else (schemas.USER_ID, schemas.USER_EMBEDDINGS)
    )
    id_frame, vectors, metrics, embedder = embedded
    ids = id_frame[id_column]
    provenance = {"data": str(Path(data_dir).absolute()), f"{kind}_config": to_dict(config)}
    with staged_output(out, EMB_KIND, **provenance) as staging:
        _carry_over(out, staging, other)
        write_parquet(embedding_table(ids, vectors, schema), staging / files[0])
        embedder.save(staging / files[1])
        write_json({**_metrics(out), f"{kind}s": metrics}, staging / "metrics.json")
        suite = embedding_suite(f"embeddings.{kind}s", id_column, ids, vectors, ids, vectors.shape[1])
        run_suites(f"embeddings.{kind}s", [suite], staging / files[2], failed_docs_dir=failed_docs_dir(out))
    return metrics


def _carry_over(out: Path, staging: Path, half: tuple[str, ...]) -> None:
    """Copy the other half of an existing EMB directory into `staging` (redoing one half keeps
    the other)."""
    out = Path(out)
    if not (out / MARKER).is_file():
        return
    for name in half:
        source = out / name
        if source.exists():
            (staging / name).parent.mkdir(parents=True, exist_ok=True)
            (shutil.copytree if source.is_dir() else shutil.copy2)(source, staging / name)
