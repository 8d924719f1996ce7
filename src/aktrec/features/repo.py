"""A materialized Feast repository on disk: its layout, its `feature_store.yaml` and the
definitions module Feast scans (the objects themselves are declared in `definitions`)."""

from __future__ import annotations

import json

import yaml

from aktrec.errors import ArtifactError
from aktrec.features import names as N

REPO_KIND = "feature_repo"  # artifact kind of a materialized repository
DATA_DIR = "data"  # offline tables live in <repo>/data/<view>.parquet (paths relative to the repo)
# The keys each view not keyed by the user holds online, <repo>/online_keys/<view>.parquet: the
# predictor warms its cache from them (a deployed repository has no offline tables to list them).
ONLINE_KEYS_DIR = "online_keys"


def definitions_module(model_version: str) -> str:
    """The repository's `definitions.py`: the declared objects, with the model version's service."""
    return (
        '"""Feast definitions of aktrec: declared once in aktrec.features.definitions."""\n\n'
        "from aktrec.features.definitions import feast_objects\n\n"
        f"globals().update(feast_objects({json.dumps(model_version)}))\n"
    )


def store_yaml(online_store: str | None) -> str:
    """`feature_store.yaml`: file registry and offline store, with the SQLite online store by
    default or Redis for `redis://HOST:PORT`."""
    if online_store is None or online_store == "sqlite":
        online = {"type": "sqlite", "path": "online_store.db"}
    elif online_store.startswith("redis://"):
        online = {"type": "redis", "connection_string": online_store.removeprefix("redis://")}
    else:
        raise ArtifactError(f"online store {online_store!r}: use 'sqlite' or 'redis://HOST:PORT'")
    config = {
        "project": N.PROJECT,
        "registry": "registry.db",
        "provider": "local",
        "online_store": online,
        "offline_store": {"type": "file"},
        "entity_key_serialization_version": 3,
    }
    return yaml.safe_dump(config, sort_keys=False)
