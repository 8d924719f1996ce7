"""`aktrec features materialize`: offline tables, `feast apply`, online store, atomically."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import pandas as pd

from aktrec import schemas
from aktrec.artifacts import read_marker, staged_output, write_json
from aktrec.config import FeatureConfig, to_dict
from aktrec.data.prepare import read_prepared
from aktrec.errors import ArtifactError
from aktrec.features import names as feature_names
from aktrec.features.compute import compute_features
from aktrec.features.contract import ViewContract, declared_contract
from aktrec.features.online import fill_online, fill_online_store
from aktrec.features.repo import (
    DATA_DIR,
    ONLINE_KEYS_DIR,
    REPO_KIND,
    definitions_module,
    open_feature_store,
    store_yaml,
)
from aktrec.semantic_ids.stage import SID_KIND
from aktrec.semantic_ids.tables import semantic_tables

log = logging.getLogger("aktrec")


def write_online_keys(repo: Path, contract: list[ViewContract], views: dict[str, pd.DataFrame]) -> None:
    """The distinct keys of every view not keyed by the user: what a predictor warms at load."""
    (repo / ONLINE_KEYS_DIR).mkdir()
    for view in contract:
        if schemas.USER_ID not in view.join_keys:
            keys = views[view.name][list(view.join_keys)].drop_duplicates()
            keys.to_parquet(repo / ONLINE_KEYS_DIR / f"{view.name}.parquet", index=False)


def run_materialize_features(
    data_dir: Path,
    sid_dir: Path,
    repo: Path,
    config: FeatureConfig = FeatureConfig(),
    emb_dir: Path | None = None,
    online_store: str | None = None,
) -> dict[str, Any]:
    """Compute every view, write the Feast repository REPO, apply it and fill the online store.

    REPO is built in a staging directory (relative paths only) and swapped in when complete:
    a killed run leaves the previous repository, registry and SQLite online store readable.
    """
    from aktrec.features.checks import feature_suites
    from aktrec.features.definitions import feast_objects
    from aktrec.validation.runner import failed_docs_dir, run_suites

    started = time.perf_counter()
    sid_marker = read_marker(sid_dir, SID_KIND)
    emb_dir = Path(emb_dir or sid_marker["embeddings"])
    data = read_prepared(data_dir)
    users, items = semantic_tables(sid_dir, emb_dir, "user"), semantic_tables(sid_dir, emb_dir, "item")
    if config.engine == "spark":
        from aktrec.features.spark import spark_event_views

        views, grid = compute_features(data, users, items, config, spark_event_views)
    else:
        views, grid = compute_features(data, users, items, config)
    contract = declared_contract(config.model_version)
    missing = sorted({view.name for view in contract} - set(views))
    if missing:
        service = feature_names.feature_service_name(config.model_version)
        raise ArtifactError(f"feature service {service}: no table computed for {missing}")
    computed = time.perf_counter()
    service = feature_names.feature_service_name(config.model_version)
    shared = online_store not in (None, "sqlite")
    with staged_output(
        repo,
        REPO_KIND,
        data=str(Path(data_dir).absolute()),
        sids=str(Path(sid_dir).absolute()),
        embeddings=str(emb_dir.absolute()),
        feature_service=service,
        config=to_dict(config),
        first_snapshot=str(grid[0]),
        last_snapshot=str(grid[-1]),
    ) as staging:
        (staging / DATA_DIR).mkdir()
        for name, frame in views.items():
            # Snapshot times are whole microseconds; Spark reads no nanosecond timestamps.
            frame.to_parquet(staging / DATA_DIR / f"{name}.parquet", index=False, coerce_timestamps="us")
        (staging / "feature_store.yaml").write_text(store_yaml(online_store))
        (staging / "definitions.py").write_text(definitions_module(config.model_version))
        # Validated before anything is served: a failed check raises here, before any store is filled.
        run_suites(
            "features", feature_suites(contract, views), staging / "validation", failed_docs_dir=failed_docs_dir(repo)
        )
        store = open_feature_store(staging)
        store.apply(list(feast_objects(config.model_version).values()))
        if not shared:  # the repository's own SQLite store, swapped in with it
            fill_online_store(store, contract, views)
        write_online_keys(staging, contract, views)
        metrics = {
            "feature_service": service,
            "n_snapshots": len(grid),
            "first_snapshot": str(grid[0]),
            "last_snapshot": str(grid[-1]),
            "rows": {name: len(frame) for name, frame in views.items()},
            "seconds_compute": computed - started,
            "seconds_total": time.perf_counter() - started,
        }
        write_json(metrics, staging / "metrics.json")
    if shared:  # filled and stamped only once the repository it serves is complete
        fill_online(repo, online_store)
    log.info("materialized %d views over %d snapshots into %s", len(views), len(grid), repo)
    return metrics
