"""The feature contract, declared once: Feast entities, feature views with explicit schemas,
and the FeatureService a model is trained and served with.

Materialization applies these objects; the repository's `definitions.py` imports them; training's
point-in-time join and the predictor's online reads take their views, keys, features and which
features are lists from the FeatureService (`aktrec.features.contract`). Adding a feature view:
declare it here and add it to FEATURE_VIEWS, compute its table in `compute.py` (and the model
reads its numeric columns: `ctr.inputs`). A new activity statistic is one entry in `statistics`.
"""

from __future__ import annotations

from datetime import timedelta

from feast import Entity, FeatureService, FeatureView, Field, FileSource, ValueType
from feast.types import Array, Float32, Float64, Int64, String

from aktrec import schemas
from aktrec.features import names as feature_names
from aktrec.features import statistics
from aktrec.features.repo import DATA_DIR

user = Entity(name="user", join_keys=[schemas.USER_ID], value_type=ValueType.STRING, description="A user id.")
item = Entity(name="item", join_keys=[schemas.ITEM_ID], value_type=ValueType.STRING, description="An item id.")
user_cluster = Entity(
    name="user_cluster",
    join_keys=[feature_names.USER_CLUSTER_ID],
    value_type=ValueType.INT64,
    description="Users sharing a semantic-ID cluster.",
)
item_cluster = Entity(
    name="item_cluster",
    join_keys=[feature_names.ITEM_CLUSTER_ID],
    value_type=ValueType.INT64,
    description="Items sharing a semantic-ID cluster.",
)
item_top = Entity(
    name="item_top",
    join_keys=[feature_names.ITEM_TOP_ID],
    value_type=ValueType.INT64,
    description="The first level (id_1) of an item's semantic ID: the SIM-hard retrieval key.",
)
ENTITIES = [user, item, user_cluster, item_cluster, item_top]

KEY_FIELDS = {
    schemas.USER_ID: Field(name=schemas.USER_ID, dtype=String),
    schemas.ITEM_ID: Field(name=schemas.ITEM_ID, dtype=String),
    feature_names.USER_CLUSTER_ID: Field(name=feature_names.USER_CLUSTER_ID, dtype=Int64),
    feature_names.ITEM_CLUSTER_ID: Field(name=feature_names.ITEM_CLUSTER_ID, dtype=Int64),
    feature_names.ITEM_TOP_ID: Field(name=feature_names.ITEM_TOP_ID, dtype=Int64),
}
ACTIVITY_FIELDS = [Field(name=s.name, dtype=Float64, description=s.description) for s in statistics.ACTIVITY]
CLUSTER_AVG_FIELDS = [
    Field(name=f"avg_{s.name}", dtype=Float64, description=f"Cluster average (eq. 9): {s.description}")
    for s in statistics.ACTIVITY
]
CROSS_FIELDS = [Field(name=s.name, dtype=Float64, description=s.description) for s in statistics.CROSS]
SEMANTIC_FIELDS = [
    Field(name="cluster_id", dtype=Int64, description="The entity's semantic-ID cluster."),
    Field(name="codes", dtype=Array(Int64), description="The semantic ID, one code per RQ-VAE level."),
    Field(name="embedding", dtype=Array(Float32), description="The LLM representation."),
    Field(name="attributes", dtype=Array(String), description="Attribute tokens name=value."),
]
CLUSTER_PROFILE_FIELDS = [
    Field(name="cluster_size", dtype=Float64, description="Members of the cluster."),
    Field(name="avg_embedding", dtype=Array(Float32), description="Mean representation of the members."),
]
SEQUENCE_FIELDS = [Field(name="recent_items", dtype=Array(String), description="Recent clicked item ids, newest last.")]


def _view(name: str, entities: list[Entity], fields: list[Field], description: str) -> FeatureView:
    keys = [KEY_FIELDS[entity.join_key] for entity in entities]
    return FeatureView(
        name=name,
        entities=entities,
        ttl=timedelta(0),  # no expiry: the latest row at or before a sample's time holds
        schema=[*keys, *fields],
        source=FileSource(
            name=f"{name}_source", path=f"{DATA_DIR}/{name}.parquet", timestamp_field=feature_names.EVENT_TIMESTAMP
        ),
        online=True,
        description=description,
    )


user_activity = _view(
    feature_names.USER_ACTIVITY, [user], ACTIVITY_FIELDS, "The user's exposures, clicks and CTRs so far."
)
item_activity = _view(
    feature_names.ITEM_ACTIVITY, [item], ACTIVITY_FIELDS, "The item's exposures, clicks and CTRs so far."
)
user_semantic = _view(
    feature_names.USER_SEMANTIC, [user], SEMANTIC_FIELDS, "The user's semantic ID and representation."
)
item_semantic = _view(
    feature_names.ITEM_SEMANTIC,
    [item],
    [
        *SEMANTIC_FIELDS[:1],
        Field(name="top_id", dtype=Int64, description="id_1 of the semantic ID."),
        *SEMANTIC_FIELDS[1:],
    ],
    "The item's semantic ID and representation.",
)
user_cluster_features = _view(
    feature_names.USER_CLUSTER_AVG,
    [user_cluster],
    CLUSTER_AVG_FIELDS,
    "Activity averaged over the cluster's users (eq. 9).",
)
item_cluster_features = _view(
    feature_names.ITEM_CLUSTER_AVG,
    [item_cluster],
    CLUSTER_AVG_FIELDS,
    "Activity averaged over the cluster's items (eq. 9).",
)
user_cluster_profile = _view(
    feature_names.USER_CLUSTER_PROFILE,
    [user_cluster],
    CLUSTER_PROFILE_FIELDS,
    "What a user cluster is (no time dependence).",
)
item_cluster_profile = _view(
    feature_names.ITEM_CLUSTER_PROFILE,
    [item_cluster],
    CLUSTER_PROFILE_FIELDS,
    "What an item cluster is (no time dependence).",
)
user_x_item_cluster = _view(
    feature_names.CROSS_USER_ITEM_CLUSTER,
    [user, item_cluster],
    CROSS_FIELDS,
    "The user's activity on the item's cluster.",
)
user_cluster_x_item_cluster = _view(
    feature_names.CROSS_USER_CLUSTER_ITEM_CLUSTER,
    [user_cluster, item_cluster],
    CROSS_FIELDS,
    "The user cluster's activity on the item's cluster.",
)
user_sequence = _view(feature_names.USER_SEQUENCE, [user], SEQUENCE_FIELDS, "The user's recent clicks.")
user_cluster_top_sequence = _view(
    feature_names.CLUSTER_SEQUENCE,
    [user_cluster, item_top],
    SEQUENCE_FIELDS,
    "The user cluster's recent clicks on items with that top-level semantic ID (SIM-hard).",
)

FEATURE_VIEWS = [
    user_activity,
    item_activity,
    user_semantic,
    item_semantic,
    user_cluster_features,
    item_cluster_features,
    user_cluster_profile,
    item_cluster_profile,
    user_x_item_cluster,
    user_cluster_x_item_cluster,
    user_sequence,
    user_cluster_top_sequence,
]


def feature_service(model_version: str) -> FeatureService:
    """The features a model version is trained and served with."""
    return FeatureService(name=feature_names.feature_service_name(model_version), features=FEATURE_VIEWS)


def feast_objects(model_version: str) -> dict[str, object]:
    """Name -> Feast object: what `apply` registers and what a repository's definitions module exports."""
    service = feature_service(model_version)
    return {
        **{f"entity_{entity.name}": entity for entity in ENTITIES},
        **{view.name: view for view in FEATURE_VIEWS},
        service.name: service,
    }
