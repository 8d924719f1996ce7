"""The SID artifact: `aktrec semantic-ids` (docs/design.md §7), validated and atomic."""

from __future__ import annotations

import dataclasses
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from aktrec import schemas
from aktrec.artifacts import list_array, staged_output, write_json, write_parquet
from aktrec.config import SemanticIdConfig, to_dict
from aktrec.data.prepare import PreparedData, read_prepared, training_activity
from aktrec.embed.prompts import leaf_category
from aktrec.embed.stage import read_embeddings
from aktrec.semantic_ids.assign import SemanticIndex, calibrate_prefix, cluster_ids
from aktrec.semantic_ids.metrics import semantic_id_metrics
from aktrec.semantic_ids.train import train_rqvae

log = logging.getLogger("aktrec")
SID_KIND = "semantic_ids"
KINDS = {"item": schemas.ITEM_ID, "user": schemas.USER_ID}


def _coarse(category) -> str | None:
    return category[1] if category is not None and len(category) > 1 else leaf_category(category)


def coherence_labels(data: PreparedData, kind: str, ids: pd.Series) -> dict[str, np.ndarray]:
    """Labels to judge cluster coherence by: items' categories; users' most clicked category."""
    if data.items is None or schemas.CATEGORY not in data.items.column_names:
        return {}
    category = data.items.to_pandas().set_index(schemas.ITEM_ID)[schemas.CATEGORY]
    if kind == "item":
        by_item = category.reindex(ids)
        return {
            "category": by_item.map(leaf_category).to_numpy(dtype=object),
            "coarse_category": by_item.map(_coarse).to_numpy(dtype=object),
        }
    clicks = data.train[(data.train[schemas.LABEL] == 1) & ~data.train[schemas.IS_SAMPLED]]
    leaf = clicks[schemas.ITEM_ID].map(category.map(leaf_category))
    dominant = leaf.groupby(clicks[schemas.USER_ID]).agg(
        lambda values: values.value_counts().index[0] if values.notna().any() else None
    )
    return {"dominant_category": dominant.reindex(ids).to_numpy(dtype=object)}


def tail_mask(data: PreparedData, kind: str, ids: pd.Series) -> np.ndarray:
    user_counts, item_counts = training_activity(data.train)
    counts, threshold = (
        (item_counts, data.card["tail"]["tail_item_max_exposures"])
        if kind == "item"
        else (user_counts, data.card["tail"]["tail_user_max_interactions"])
    )
    return counts.reindex(ids).fillna(0).to_numpy() < threshold


def semantic_id_table(ids: pd.Series, codes: np.ndarray, cluster: np.ndarray, id_column: str) -> pa.Table:
    """`<id>, codes: list<int32>, cluster_id: int64`; codes[0] is the top-level ID."""
    return pa.table(
        {
            id_column: pa.array(ids.to_numpy(), pa.string()),
            schemas.CODES: list_array(codes.astype(np.int32)),
            schemas.CLUSTER_ID: pa.array(cluster, pa.int64()),
        }
    )


def build_semantic_ids(
    data: PreparedData, ids: pd.Series, vectors: np.ndarray, kind: str, config: SemanticIdConfig
) -> tuple[SemanticIndex, np.ndarray, np.ndarray, dict[str, Any]]:
    """Train the RQ-VAE of `kind`, assign codes, cut clusters; returns index, codes, clusters, metrics."""
    rq_config = config.items if kind == "item" else config.users
    # Small data cannot fill a large first codebook with shared codes: shrink it so that the
    # coarsest clusters can reach the target size (recorded in the metrics).
    fitting = max(2, len(vectors) // (2 * config.target_median_cluster_size))
    if fitting < rq_config.codebook_size:
        log.info(
            "%s: %d entities, codebook size %d -> %d to reach clusters of ~%d",
            kind,
            len(vectors),
            rq_config.codebook_size,
            fitting,
            config.target_median_cluster_size,
        )
        rq_config = dataclasses.replace(rq_config, codebook_size=fitting)
    started = time.perf_counter()
    model, history = train_rqvae(vectors, rq_config, name=f"{kind} RQ-VAE")
    trained = time.perf_counter()
    index = SemanticIndex(model, rq_config, prefix=1, known_clusters=np.zeros(0, np.int64))
    codes = index.codes(vectors)
    assign_seconds = time.perf_counter() - trained
    index.prefix = config.cluster_prefix or calibrate_prefix(
        codes, rq_config.codebook_size, config.target_median_cluster_size
    )
    if not 1 <= index.prefix <= rq_config.n_levels:
        raise ValueError(f"cluster_prefix must be in 1..{rq_config.n_levels}, got {index.prefix}")
    cluster = cluster_ids(codes, index.prefix, rq_config.codebook_size)
    index.known_clusters = np.unique(cluster)
    metrics = semantic_id_metrics(
        model,
        vectors,
        codes,
        cluster,
        rq_config.codebook_size,
        index.prefix,
        tail_mask(data, kind, ids),
        coherence_labels(data, kind, ids),
    )
    metrics.update(
        {
            "codebook_size": rq_config.codebook_size,
            "n_levels": rq_config.n_levels,
            "training_seconds": trained - started,
            "assign_vectors_per_second": len(vectors) / max(assign_seconds, 1e-9),
            "final_losses": history[-1],
            "reseeded_codes_total": int(sum(h.get("reseeded_codes", 0) for h in history)),
        }
    )
    log.info(
        "%s semantic IDs: prefix %d -> %d clusters (median size %.0f), collision rate %.2f",
        kind,
        index.prefix,
        metrics["cluster_sizes"]["n_clusters"],
        metrics["cluster_sizes"]["median"],
        metrics["collision_rate"],
    )
    return index, codes, cluster, metrics


def run_semantic_ids(data_dir: Path, emb_dir: Path, out: Path, config: SemanticIdConfig) -> dict[str, Any]:
    """Semantic IDs of items and users from EMB, with metrics and GX checks, into SID."""
    from aktrec.semantic_ids.checks import semantic_id_suites
    from aktrec.validation.runner import failed_docs_dir, run_suites

    data = read_prepared(data_dir)
    built, metrics, specs = {}, {}, []
    for kind, id_column in KINDS.items():
        ids, vectors = read_embeddings(emb_dir, kind)
        index, codes, cluster, metrics[f"{kind}s"] = build_semantic_ids(data, ids, vectors, kind, config)
        built[kind] = (semantic_id_table(ids, codes, cluster, id_column), index)
        specs += semantic_id_suites(
            f"semantic_ids.{kind}s",
            id_column,
            ids,
            codes,
            cluster,
            index.config.codebook_size,
            config.min_level_utilisation,
            config.max_cluster_share,
        )
    with staged_output(
        out,
        SID_KIND,
        data=str(Path(data_dir).absolute()),
        embeddings=str(Path(emb_dir).absolute()),
        config=to_dict(config),
    ) as staging:
        for kind, (table, index) in built.items():
            write_parquet(table, staging / f"{kind}_semantic_ids.parquet")
            index.save(staging, kind)
        write_json(metrics, staging / "metrics.json")
        run_suites("semantic_ids", specs, staging / "validation", failed_docs_dir=failed_docs_dir(out))
    return metrics
