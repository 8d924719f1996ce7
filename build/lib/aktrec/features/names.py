"""Feast names in one place: entities, join keys, feature views, features, services.

`feature_repo/`, training and serving all import these, so the features a model is trained
with are the features it is served with.
"""

from __future__ import annotations

from aktrec import schemas as S

PROJECT = "aktrec"
EVENT_TIMESTAMP = "event_timestamp"

# Join keys (entity name -> join key)
USER_CLUSTER_ID = "user_cluster_id"
ITEM_CLUSTER_ID = "item_cluster_id"
ITEM_TOP_ID = "item_top_id"  # id_1 of the item's semantic ID, for SIM-hard retrieval
ENTITIES = {
    "user": S.USER_ID,
    "item": S.ITEM_ID,
    "user_cluster": USER_CLUSTER_ID,
    "item_cluster": ITEM_CLUSTER_ID,
    "item_top": ITEM_TOP_ID,
}

# Activity statistics shared by users and items (and averaged over clusters).
ACTIVITY = [
    "exposures",
    "clicks",
    "ctr",
    "recent_exposures",
    "recent_clicks",
    "recent_ctr",
    "activity_level",
    "is_tail",
]
CROSS = ["exposures", "clicks", "ctr"]

# Feature views: name -> (entities, feature names). Embedding columns are list<float32>.
USER_ACTIVITY = "user_activity"
ITEM_ACTIVITY = "item_activity"
USER_SEMANTIC = "user_semantic"
ITEM_SEMANTIC = "item_semantic"
USER_CLUSTER_AVG = "user_cluster_features"
ITEM_CLUSTER_AVG = "item_cluster_features"
USER_CLUSTER_PROFILE = "user_cluster_profile"
ITEM_CLUSTER_PROFILE = "item_cluster_profile"
CROSS_USER_ITEM_CLUSTER = "user_x_item_cluster"
CROSS_USER_CLUSTER_ITEM_CLUSTER = "user_cluster_x_item_cluster"
USER_SEQUENCE = "user_sequence"
CLUSTER_SEQUENCE = "user_cluster_top_sequence"

SEMANTIC_USER = ["cluster_id", "codes", "embedding", "attributes"]
SEMANTIC_ITEM = ["cluster_id", "top_id", "codes", "embedding", "attributes"]
CLUSTER_AVG = [f"avg_{name}" for name in ACTIVITY]  # eq. 9 over time
CLUSTER_PROFILE = ["cluster_size", "avg_embedding"]  # what a cluster is; no time dependence
SEQUENCE = ["recent_items"]

VIEWS: dict[str, tuple[list[str], list[str]]] = {
    USER_ACTIVITY: (["user"], ACTIVITY),
    ITEM_ACTIVITY: (["item"], ACTIVITY),
    USER_SEMANTIC: (["user"], SEMANTIC_USER),
    ITEM_SEMANTIC: (["item"], SEMANTIC_ITEM),
    USER_CLUSTER_AVG: (["user_cluster"], CLUSTER_AVG),
    ITEM_CLUSTER_AVG: (["item_cluster"], CLUSTER_AVG),
    USER_CLUSTER_PROFILE: (["user_cluster"], CLUSTER_PROFILE),
    ITEM_CLUSTER_PROFILE: (["item_cluster"], CLUSTER_PROFILE),
    CROSS_USER_ITEM_CLUSTER: (["user", "item_cluster"], CROSS),
    CROSS_USER_CLUSTER_ITEM_CLUSTER: (["user_cluster", "item_cluster"], CROSS),
    USER_SEQUENCE: (["user"], SEQUENCE),
    CLUSTER_SEQUENCE: (["user_cluster", "item_top"], SEQUENCE),
}


def feature_service_name(model_version: str) -> str:
    return f"aktrec_{model_version}"


def output_column(view: str, feature: str) -> str:
    """Column name of a feature in retrieved frames (Feast's full_feature_names form)."""
    return f"{view}__{feature}"
