import re

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from aktrec import schemas
from aktrec.data.contract import (
    normalize_interactions,
    normalize_items,
    normalize_users,
    read_table,
    rename_columns,
)
from aktrec.errors import DataError


def interactions(**overrides):
    frame = pd.DataFrame(
        {"user_id": ["u1", "u2"], "item_id": ["i1", "i2"], "ts": ["2025-01-01T00:00:00Z", "2025-01-02"]}
    )
    for key, value in overrides.items():
        frame[key] = value
    return frame


def test_interactions_normalize_to_contract_schema():
    table, kind = normalize_interactions(interactions(label=["1", "0"], event=["click", "view"], extra=[1, 2]))
    assert kind == "time"
    assert table.schema.field(schemas.TS).type == schemas.TIMESTAMP
    assert table.schema.field(schemas.LABEL).type == pa.int8()
    assert table.column_names == ["user_id", "item_id", "ts", "label", "event"]  # extras dropped
    assert table[schemas.TS][1].as_py().isoformat() == "2025-01-02T00:00:00+00:00"


@pytest.mark.parametrize(
    "ts_format, values, expected_kind, expected_seconds",
    [
        ("auto", [3, 1], "ordinal", [3, 1]),
        ("auto", ["3", "1"], "ordinal", [3, 1]),
        ("unix-s", [1_700_000_000, 1_700_000_001], "time", [1_700_000_000, 1_700_000_001]),
        ("unix-ms", [1_700_000_000_000, 1_700_000_001_000], "time", [1_700_000_000, 1_700_000_001]),
    ],
)
def test_numeric_timestamps(ts_format, values, expected_kind, expected_seconds):
    table, kind = normalize_interactions(interactions(ts=values), ts_format=ts_format)
    assert kind == expected_kind
    seconds = [int(t.timestamp()) for t in table[schemas.TS].to_pylist()]
    assert seconds == expected_seconds


def test_naive_datetimes_are_taken_as_utc():
    table, _ = normalize_interactions(interactions(ts=pd.to_datetime(["2025-01-01 10:00", "2025-01-01 11:00"])))
    assert table[schemas.TS][0].as_py().isoformat() == "2025-01-01T10:00:00+00:00"


@pytest.mark.parametrize(
    "column, value, message",
    [
        ("ts", ["yesterday", "2025-01-01"], "interactions.ts: not a timestamp"),
        ("label", [1, 2], "interactions.label: 1 label(s) outside {0, 1} (e.g. 2)"),
        ("label", [1, None], "interactions.label"),
        ("user_id", ["u1", None], "interactions.user_id: 1 null key(s)"),
        ("item_id", [1.5, 2.5], "interactions.item_id: ids must be strings or integers"),
    ],
)
def test_bad_interaction_values_name_table_column_and_example(column, value, message):
    with pytest.raises(DataError, match=re.escape(message)):
        normalize_interactions(interactions(**{column: value}))


def test_missing_required_column():
    with pytest.raises(DataError, match=r"interactions\.ts: required column is missing"):
        normalize_interactions(interactions().drop(columns=["ts"]))


def test_items_categories_prices_and_duplicates():
    items = pd.DataFrame(
        {
            "item_id": ["a", "b", "c"],
            "title": ["A", None, "C"],
            "category": ["Home > Kitchen", ["Toys", "Lego"], None],
            "price": ["1.5", None, "3"],
            "colour": ["red", "blue", "green"],
        }
    )
    table = normalize_items(items)
    assert table[schemas.CATEGORY].to_pylist() == [["Home", "Kitchen"], ["Toys", "Lego"], None]
    assert table[schemas.PRICE].to_pylist() == [1.5, None, 3.0]
    assert table["colour"].to_pylist() == ["red", "blue", "green"]  # attributes pass through
    with pytest.raises(DataError, match=r"items\.item_id: 1 duplicate id\(s\) \(e\.g\. 'a'\)"):
        normalize_items(pd.DataFrame({"item_id": ["a", "a"], "title": ["x", "y"]}))
    with pytest.raises(DataError, match=r"items\.price: negative price"):
        normalize_items(pd.DataFrame({"item_id": ["a"], "title": ["x"], "price": [-1.0]}))
    with pytest.raises(DataError, match=r"items\.price: not a number \(e\.g\. 'cheap'\)"):
        normalize_items(pd.DataFrame({"item_id": ["a"], "title": ["x"], "price": ["cheap"]}))


def test_users_keep_attributes_and_reject_duplicates():
    table = normalize_users(pd.DataFrame({"user_id": [1, 2], "age": [30, 40]}))
    assert table[schemas.USER_ID].to_pylist() == ["1", "2"]
    assert table["age"].to_pylist() == [30, 40]
    with pytest.raises(DataError, match=r"users\.user_id: 1 duplicate"):
        normalize_users(pd.DataFrame({"user_id": ["x", "x"]}))


def test_read_table_formats_and_errors(tmp_path):
    frame = pd.DataFrame({"user_id": ["007", "8"], "n": [1, 2]})
    frame.to_parquet(tmp_path / "t.parquet")
    frame.to_csv(tmp_path / "t.csv", index=False)
    assert read_table(tmp_path / "t.parquet", "users")["user_id"].tolist() == ["007", "8"]
    assert read_table(tmp_path / "t.csv", "users")["user_id"].tolist() == ["007", "8"]  # ids stay strings
    (tmp_path / "empty.csv").write_text("")
    (tmp_path / "header.csv").write_text("user_id,item_id,ts\n")
    (tmp_path / "broken.parquet").write_bytes(b"PAR1 this is not parquet")
    (tmp_path / "t.xlsx").write_text("x")
    for name, message in (
        ("missing.csv", "does not exist"),
        ("empty.csv", "is empty"),
        ("header.csv", "has no rows"),
        ("broken.parquet", "cannot read"),
        ("t.xlsx", "unsupported file type"),
    ):
        with pytest.raises(DataError, match=f"^users: .*{message}"):
            read_table(tmp_path / name, "users")


def test_rename_columns_maps_only_present_columns():
    frame = rename_columns(pd.DataFrame({"uid": [1], "x": [2]}), {"uid": "user_id", "absent": "item_id"})
    assert list(frame.columns) == ["user_id", "x"]
    assert np.all(frame["user_id"] == 1)
