"""Importer for any user's parquet/CSV tables that follow the data contract."""

from __future__ import annotations

from pathlib import Path

from aktrec.data.contract import (
    TsFormat,
    is_atomic_file,
    normalize_interactions,
    normalize_items,
    normalize_users,
    read_table,
    rename_columns,
)
from aktrec.data.raw import RawData


def import_tables(
    interactions: str | Path,
    items: str | Path | None = None,
    users: str | Path | None = None,
    rename: dict[str, str] | None = None,
    ts_format: TsFormat = "auto",
) -> RawData:
    """Read, rename and normalize the tables; nothing is written here. A RecBole `.inter`
    file's timestamps are unix seconds unless `ts_format` says otherwise."""
    rename = rename or {}
    if ts_format == "auto" and is_atomic_file(interactions):
        ts_format = "unix-s"
    interactions_table, ts_kind = normalize_interactions(
        rename_columns(read_table(interactions, "interactions"), rename), ts_format
    )
    items_table = normalize_items(rename_columns(read_table(items, "items"), rename)) if items else None
    users_table = normalize_users(rename_columns(read_table(users, "users"), rename)) if users else None
    return RawData(
        interactions=interactions_table,
        items=items_table,
        users=users_table,
        ts_kind=ts_kind,
        source=f"tables:{Path(interactions).name}",
    )
