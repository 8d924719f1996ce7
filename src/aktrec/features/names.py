"""Names of the feature contract: join keys, feature views, features, services.

Plain strings, importable without Feast; the activity statistics' formulas are declared in
`statistics`, the Feast objects built from these names in `definitions`.
"""

from __future__ import annotations

from aktrec.features import statistics

PROJECT = "aktrec"
EVENT_TIMESTAMP = "event_timestamp"

# Join keys beyond user_id and item_id
USER_CLUSTER_ID = "user_cluster_id"
ITEM_CLUSTER_ID = "item_cluster_id"
ITEM_TOP_ID = "item_top_id"  # id_1 of the item's semantic ID, for SIM-hard retrieval

# Activity statistics shared by users and items (and averaged over clusters), declared in `statistics`.
ACTIVITY = [statistic.name for statistic in statistics.ACTIVITY]
CROSS = [statistic.name for statistic in statistics.CROSS]

# Feature views (declared with their schemas in `definitions`).
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

CLUSTER_AVG = [f"avg_{name}" for name in ACTIVITY]  # eq. 9 over time


def feature_service_name(model_version: str) -> str:
    return f"aktrec_{model_version}"


def output_column(view: str, feature: str) -> str:
    """Column name of a feature in retrieved frames (Feast's full_feature_names form)."""
    return f"{view}__{feature}"
