"""Pyarrow schemas of every artifact: the one place where column names and types live.

Input tables (docs/design.md §3) are normalized to the RAW schemas below by the importers; the
prepared data set (DATA) adds row ids, labels and head/tail flags.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

# Column names used across stages.
USER_ID = "user_id"
ITEM_ID = "item_id"
TS = "ts"
LABEL = "label"
EVENT = "event"
ROW_ID = "row_id"
IS_SAMPLED = "is_sampled"
IS_TAIL_USER = "is_tail_user"
IS_TAIL_ITEM = "is_tail_item"
IS_TAIL_SAMPLE = "is_tail_sample"
TITLE = "title"
DESCRIPTION = "description"
CATEGORY = "category"
BRAND = "brand"
PRICE = "price"
IMAGE_URI = "image_uri"

TIMESTAMP = pa.timestamp("us", tz="UTC")

# -- RAW: the input contract after normalization ------------------------------------------
INTERACTIONS_REQUIRED = pa.schema(
    [
        pa.field(USER_ID, pa.string(), nullable=False),
        pa.field(ITEM_ID, pa.string(), nullable=False),
        pa.field(TS, TIMESTAMP, nullable=False),
    ]
)
INTERACTIONS_OPTIONAL = pa.schema(
    [
        pa.field(LABEL, pa.int8(), nullable=False),  # absent = positives only
        pa.field(EVENT, pa.string()),
    ]
)

ITEMS_REQUIRED = pa.schema(
    [
        pa.field(ITEM_ID, pa.string(), nullable=False),
        pa.field(TITLE, pa.string()),  # may be null per row; the column must exist
    ]
)
ITEMS_OPTIONAL = pa.schema(
    [
        pa.field(DESCRIPTION, pa.string()),
        pa.field(CATEGORY, pa.list_(pa.string())),  # a path, coarse to fine
        pa.field(BRAND, pa.string()),
        pa.field(PRICE, pa.float64()),
        pa.field(IMAGE_URI, pa.string()),
    ]
)

USERS_REQUIRED = pa.schema([pa.field(USER_ID, pa.string(), nullable=False)])
USERS_OPTIONAL = pa.schema([])  # every other column is a user attribute

# Name of each RAW table and its (required, optional) schemas.
RAW_TABLES: dict[str, tuple[pa.Schema, pa.Schema]] = {
    "interactions": (INTERACTIONS_REQUIRED, INTERACTIONS_OPTIONAL),
    "items": (ITEMS_REQUIRED, ITEMS_OPTIONAL),
    "users": (USERS_REQUIRED, USERS_OPTIONAL),
}

# -- DATA: the prepared data set ----------------------------------------------------------
SAMPLES = pa.schema(
    [
        pa.field(ROW_ID, pa.int64(), nullable=False),
        pa.field(USER_ID, pa.string(), nullable=False),
        pa.field(ITEM_ID, pa.string(), nullable=False),
        pa.field(TS, TIMESTAMP, nullable=False),
        pa.field(LABEL, pa.int8(), nullable=False),
        # True for negatives drawn by the sampler, False for observed events.
        pa.field(IS_SAMPLED, pa.bool_(), nullable=False),
        pa.field(IS_TAIL_USER, pa.bool_(), nullable=False),
        pa.field(IS_TAIL_ITEM, pa.bool_(), nullable=False),
        pa.field(IS_TAIL_SAMPLE, pa.bool_(), nullable=False),
    ]
)
PREPARED_SPLITS = ("train", "test")

# -- EMB: representations -----------------------------------------------------------------
EMBEDDING = "embedding"
ITEM_EMBEDDINGS = pa.schema(
    [pa.field(ITEM_ID, pa.string(), nullable=False), pa.field(EMBEDDING, pa.list_(pa.float32()), nullable=False)]
)
# -- SID: semantic IDs ----------------------------------------------------------------------
CODES = "codes"
CLUSTER_ID = "cluster_id"

USER_EMBEDDINGS = pa.schema(
    [pa.field(USER_ID, pa.string(), nullable=False), pa.field(EMBEDDING, pa.list_(pa.float32()), nullable=False)]
)


# -- After deployment: what the predictor served, and what users did next ------------------
REQUEST_ID = "request_id"
INSTANCE = "instance"
POSITION = "position"
SCORE = "score"
RELEASE = "release"
ARM = "arm"
VARIANT = "variant"
UNKNOWN_USER = "unknown_user"
UNKNOWN_ITEM = "unknown_item"
DESCRIBED_ITEM = "described_item"
IS_TAIL = "is_tail"
# One row per scored candidate; after these columns, one per scalar feature the model read
# (its full name, as in training sets) and DIGEST_PREFIX + name per list-valued feature.
PREDICTION_LOG = pa.schema(
    [
        pa.field(REQUEST_ID, pa.string(), nullable=False),
        pa.field(TS, TIMESTAMP, nullable=False),  # when the request was answered
        pa.field(RELEASE, pa.string(), nullable=False),
        pa.field(ARM, pa.string(), nullable=False),  # stable or canary
        pa.field(VARIANT, pa.string(), nullable=False),
        pa.field(INSTANCE, pa.int32(), nullable=False),  # the v1 instance (0 for v2)
        pa.field(POSITION, pa.int32(), nullable=False),  # the candidate's place in the request
        pa.field(USER_ID, pa.string(), nullable=False),
        pa.field(ITEM_ID, pa.string(), nullable=False),
        pa.field(SCORE, pa.float32(), nullable=False),
        pa.field(UNKNOWN_USER, pa.bool_(), nullable=False),
        pa.field(UNKNOWN_ITEM, pa.bool_(), nullable=False),
        pa.field(DESCRIBED_ITEM, pa.bool_(), nullable=False),  # new item described in the request
        pa.field(IS_TAIL, pa.bool_(), nullable=False),  # tail user or tail item, as the model's training saw it
    ]
)
DIGEST_PREFIX = "digest:"
# Outcomes (`aktrec readout`): clicks after impressions. Rows are clicks unless LABEL says
# otherwise; REQUEST_ID, when given, ties a click to the request that showed the item.
OUTCOMES_REQUIRED = pa.schema(
    [
        pa.field(USER_ID, pa.string(), nullable=False),
        pa.field(ITEM_ID, pa.string(), nullable=False),
        pa.field(TS, TIMESTAMP, nullable=False),
    ]
)
OUTCOMES_OPTIONAL = pa.schema([pa.field(LABEL, pa.int8(), nullable=False), pa.field(REQUEST_ID, pa.string())])
# Requests to score offline (`aktrec score`): TS absent or null = now.
ITEM_IDS = "item_ids"
SCORE_REQUESTS_REQUIRED = pa.schema(
    [pa.field(USER_ID, pa.string(), nullable=False), pa.field(ITEM_IDS, pa.list_(pa.string()), nullable=False)]
)
SCORE_REQUESTS_OPTIONAL = pa.schema([pa.field(TS, TIMESTAMP)])


def table_file(directory: str | Path, name: str) -> Path:
    """Path of table `name` inside an artifact directory."""
    return Path(directory) / f"{name}.parquet"
