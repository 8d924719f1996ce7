"""From retrieved feature frames to model inputs: vocabularies, numeric blocks, sequences.

Training and serving call the same `encode`, on frames with the same columns (the feature
service's), so what the model reads offline is what it reads online. A frame is a DataFrame
(training) or a mapping of column -> (N,) array (serving: no DataFrame to build per request).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import torch

from aktrec import schemas
from aktrec.features import names as feature_names

UNKNOWN = 0  # index of an unknown id, cluster or padding in every vocabulary
Frame = pd.DataFrame | Mapping[str, np.ndarray]

# Numeric blocks of the frame, in a fixed order (their widths shape the model).
NUMERIC_BLOCKS: dict[str, list[str]] = {
    "user_activity": [feature_names.output_column(feature_names.USER_ACTIVITY, f) for f in feature_names.ACTIVITY],
    "item_activity": [feature_names.output_column(feature_names.ITEM_ACTIVITY, f) for f in feature_names.ACTIVITY],
    "cross_user_item_cluster": [
        feature_names.output_column(feature_names.CROSS_USER_ITEM_CLUSTER, f) for f in feature_names.CROSS
    ],
    "user_cluster_stats": [
        feature_names.output_column(feature_names.USER_CLUSTER_PROFILE, "cluster_size"),
        *(feature_names.output_column(feature_names.USER_CLUSTER_AVG, f) for f in feature_names.CLUSTER_AVG),
    ],
    "item_cluster_stats": [
        feature_names.output_column(feature_names.ITEM_CLUSTER_PROFILE, "cluster_size"),
        *(feature_names.output_column(feature_names.ITEM_CLUSTER_AVG, f) for f in feature_names.CLUSTER_AVG),
    ],
    "cross_cluster": [
        feature_names.output_column(feature_names.CROSS_USER_CLUSTER_ITEM_CLUSTER, f) for f in feature_names.CROSS
    ],
}
# Vector features: block name -> (column, the key an entity's vector is shared by).
CONTENT_BLOCKS: dict[str, tuple[str, str]] = {
    "user_content": (feature_names.output_column(feature_names.USER_SEMANTIC, "embedding"), schemas.USER_ID),
    "item_content": (feature_names.output_column(feature_names.ITEM_SEMANTIC, "embedding"), schemas.ITEM_ID),
    "user_cluster_content": (
        feature_names.output_column(feature_names.USER_CLUSTER_PROFILE, "avg_embedding"),
        feature_names.USER_CLUSTER_ID,
    ),
    "item_cluster_content": (
        feature_names.output_column(feature_names.ITEM_CLUSTER_PROFILE, "avg_embedding"),
        feature_names.ITEM_CLUSTER_ID,
    ),
}
SEQUENCE_BLOCKS: dict[str, str] = {
    "user_sequence": feature_names.output_column(feature_names.USER_SEQUENCE, "recent_items"),
    "cluster_sequence": feature_names.output_column(feature_names.CLUSTER_SEQUENCE, "recent_items"),
}
# Attribute tokens (u_attr / i_attr): block name -> (column, vocabulary); at most MAX_ATTRIBUTES each.
ATTRIBUTE_BLOCKS: dict[str, tuple[str, str]] = {
    "user_attributes": (feature_names.output_column(feature_names.USER_SEMANTIC, "attributes"), "user_attribute"),
    "item_attributes": (feature_names.output_column(feature_names.ITEM_SEMANTIC, "attributes"), "item_attribute"),
}
MAX_ATTRIBUTES = 16
FEATURE_COLUMNS = [
    *(c for block in NUMERIC_BLOCKS.values() for c in block),
    *(column for column, _ in CONTENT_BLOCKS.values()),
    *SEQUENCE_BLOCKS.values(),
    *(column for column, _ in ATTRIBUTE_BLOCKS.values()),
]


@dataclass
class Vocabulary:
    """Ids known to a model; index 0 is "unknown" (and padding in sequences)."""

    ids: pd.Index

    @classmethod
    def build(cls, values) -> Vocabulary:
        return cls(pd.Index(pd.unique(pd.Series(values).dropna())))

    def __len__(self) -> int:
        return len(self.ids) + 1

    def index(self, values) -> np.ndarray:
        return (self.ids.get_indexer(values) + 1).astype(np.int64)  # -1 (unknown) -> 0


@dataclass
class Vocabularies:
    user: Vocabulary
    item: Vocabulary
    user_cluster: Vocabulary
    item_cluster: Vocabulary
    user_attribute: Vocabulary  # attribute tokens of the catalog's users / items
    item_attribute: Vocabulary


@dataclass
class CtrInputs:
    """Encoded samples. Vectors shared by many rows (an entity's content, a cluster's mean) are
    stored once in `tables` and gathered per batch, so a million rows do not copy them.

    ids: (N,) int64 vocabulary indices; numeric: (N, k) float32; sequences: (N, L) int64, 0 =
    padding (behaviour sequences and attribute tokens); rows: (N,) index into the table of the
    same name; label: (N,) float32.
    """

    ids: dict[str, np.ndarray]
    numeric: dict[str, np.ndarray]
    sequences: dict[str, np.ndarray]
    tables: dict[str, np.ndarray]
    rows: dict[str, np.ndarray]
    label: np.ndarray

    def __len__(self) -> int:
        return len(self.label)

    def batch(self, index) -> dict[str, torch.Tensor]:
        index = np.asarray(index, dtype=np.int64)
        out = {
            name: torch.from_numpy(values[index])
            for group in (self.ids, self.numeric, self.sequences)
            for name, values in group.items()
        }
        for name, table in self.tables.items():
            out[name] = torch.from_numpy(table[self.rows[name][index]])
        out["label"] = torch.from_numpy(self.label[index])
        return out


def squash(values: np.ndarray) -> np.ndarray:
    """Counts and rates on one scale: sign(x)·log(1+|x|) (a rate in [0, 1] stays close to itself)."""
    return (np.sign(values) * np.log1p(np.abs(values))).astype(np.float32)


def _content_table(frame: Frame, column: str, key: str, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """One row per distinct (key, has a vector): features of one entity are the same vector in
    every row of a materialization, absent (empty) before the entity's first snapshot."""
    values = np.asarray(frame[column])
    lengths = np.fromiter((len(v) for v in values), dtype=np.int64, count=len(values))
    codes, _ = pd.factorize(frame[key], use_na_sentinel=False)
    distinct, first, inverse = np.unique(codes * 2 + (lengths > 0), return_index=True, return_inverse=True)
    table = np.zeros((len(distinct), dim), dtype=np.float32)  # absent vectors read as zeros
    has = lengths[first] > 0
    if has.any():
        table[np.flatnonzero(has)] = np.asarray(list(values[first[has]]), dtype=np.float32)
    return table, inverse.astype(np.int64)


def _sequence_matrix(column: pd.Series | np.ndarray, vocabulary: Vocabulary, length: int) -> np.ndarray:
    """(N, length) vocabulary indices of each row's most recent `length` items, left-padded with 0.
    Rows holding the same list object (serving: a user's sequence in each candidate's row) are
    encoded once."""
    values = np.asarray(column)
    identity = np.fromiter((id(v) for v in values), dtype=np.int64, count=len(values))
    _, first, inverse = np.unique(identity, return_index=True, return_inverse=True)
    if len(first) < len(values):
        return _sequence_matrix(values[first], vocabulary, length)[inverse.reshape(-1)]
    lists = pa.array(values, type=pa.list_(pa.string()), from_pandas=True).fill_null([])
    offsets = lists.offsets.to_numpy()
    sizes = np.diff(offsets)
    values = vocabulary.index(lists.flatten().to_numpy(zero_copy_only=False))
    row = np.repeat(np.arange(len(sizes)), sizes)
    position = np.arange(len(values)) - np.repeat(offsets[:-1], sizes)
    column_in_matrix = position + (length - sizes[row])  # right-aligned: the newest item last
    keep = column_in_matrix >= 0
    out = np.zeros((len(sizes), length), dtype=np.int64)
    out[row[keep], column_in_matrix[keep]] = values[keep]
    return out


def encode(frame: Frame, vocab: Vocabularies, content_dims: dict[str, int], sequence_length: int) -> CtrInputs:
    """Model inputs of a retrieved frame (`historical_features` or `online_features` output).

    Frames without a label (serving) get label 0.
    """
    ids = {
        "user": vocab.user.index(frame[schemas.USER_ID]),
        "item": vocab.item.index(frame[schemas.ITEM_ID]),
        "user_cluster": vocab.user_cluster.index(frame[feature_names.USER_CLUSTER_ID]),
        "item_cluster": vocab.item_cluster.index(frame[feature_names.ITEM_CLUSTER_ID]),
    }
    # Column by column: a multi-column selection costs more than the conversion for small frames.
    numeric = {
        name: squash(np.column_stack([np.asarray(frame[c], dtype=np.float64) for c in columns]))
        for name, columns in NUMERIC_BLOCKS.items()
    }
    sequences = {
        name: _sequence_matrix(frame[column], vocab.item, sequence_length) for name, column in SEQUENCE_BLOCKS.items()
    }
    sequences.update(
        {
            name: _sequence_matrix(frame[column], getattr(vocab, vocabulary), MAX_ATTRIBUTES)
            for name, (column, vocabulary) in ATTRIBUTE_BLOCKS.items()
        }
    )
    tables, rows = {}, {}
    for name, (column, key) in CONTENT_BLOCKS.items():
        tables[name], rows[name] = _content_table(frame, column, key, content_dims[name])
    label = (
        np.asarray(frame[schemas.LABEL], dtype=np.float32)
        if schemas.LABEL in frame
        else np.zeros(len(ids["item"]), np.float32)
    )
    return CtrInputs(ids=ids, numeric=numeric, sequences=sequences, tables=tables, rows=rows, label=label)
