"""Feast objects built from `names`: entities, feature views with explicit schemas, and the
FeatureService that is the contract between training and serving."""

from __future__ import annotations

from datetime import timedelta

from aktrec import schemas as S
from aktrec.features import names as N

REPO_KIND = "feature_repo"  # artifact kind of a materialized repository
DATA_DIR = "data"  # offline tables live in <repo>/data/<view>.parquet (paths relative to the repo)

# The repository's definitions module: Feast scans its globals for objects.
DEFINITIONS_MODULE = '''"""Feast definitions of aktrec: every object comes from aktrec.features (one source)."""

from aktrec.features.repo import feast_objects

globals().update(feast_objects())
'''

LOCAL_STORE_YAML = """project: {project}
registry: registry.db
provider: local
online_store:
  type: sqlite
  path: online_store.db
offline_store:
  type: file
entity_key_serialization_version: 3
"""

REDIS_STORE_YAML = """project: {project}
registry: registry.db
provider: local
online_store:
  type: redis
  connection_string: "{connection_string}"
offline_store:
  type: file
entity_key_serialization_version: 3
"""


def _dtype(view: str, feature: str):
    from feast.types import Array, Float32, Float64, Int64, String

    if feature in ("embedding", "avg_embedding"):
        return Array(Float32)
    if feature == "codes":
        return Array(Int64)
    if feature in ("recent_items", "attributes"):
        return Array(String)
    if feature in ("cluster_id", "top_id"):
        return Int64
    return Float64


def feast_objects(model_version: str = "v1") -> dict[str, object]:
    """Name -> Feast object, for `apply` and for the repository's definitions module."""
    from feast import Entity, FeatureService, FeatureView, Field, FileSource, ValueType

    entities = {
        name: Entity(
            name=name,
            join_keys=[key],
            value_type=ValueType.STRING if key in (S.USER_ID, S.ITEM_ID) else ValueType.INT64,
        )
        for name, key in N.ENTITIES.items()
    }
    views = {}
    for view, (entity_names, features) in N.VIEWS.items():
        views[view] = FeatureView(
            name=view,
            entities=[entities[e] for e in entity_names],
            ttl=timedelta(0),  # no expiry: the latest snapshot at or before a sample's time holds
            schema=[Field(name=f, dtype=_dtype(view, f)) for f in features],
            source=FileSource(
                name=f"{view}_source", path=f"{DATA_DIR}/{view}.parquet", timestamp_field=N.EVENT_TIMESTAMP
            ),
            online=True,
        )
    service = FeatureService(name=N.feature_service_name(model_version), features=list(views.values()))
    return {**{f"entity_{k}": v for k, v in entities.items()}, **views, service.name: service}
