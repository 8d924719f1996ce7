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


def table_file(directory: str | Path, name: str) -> Path:
    """Path of table `name` inside an artifact directory."""
    return Path(directory) / f"{name}.parquet"
