"""The RAW artifact: normalized interactions, items and (optional) users."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from aktrec import schemas
from aktrec.artifacts import read_marker, staged_output, write_parquet
from aktrec.data.contract import check_references

RAW_KIND = "raw"


@dataclass
class RawData:
    interactions: pa.Table
    items: pa.Table | None
    users: pa.Table | None
    ts_kind: str  # "time" or "ordinal"
    source: str

    @property
    def positives_only(self) -> bool:
        return schemas.LABEL not in self.interactions.column_names

    def tables(self) -> dict[str, pa.Table]:
        named = {"interactions": self.interactions, "items": self.items, "users": self.users}
        return {name: table for name, table in named.items() if table is not None}


def write_raw(raw: RawData, out: Path, validate: bool = True, **provenance: Any) -> Path:
    """Check references, validate with GX and write RAW atomically; returns `out`."""
    check_references(raw.interactions, raw.items, raw.users)
    with staged_output(out, RAW_KIND, source=raw.source, ts_kind=raw.ts_kind, **provenance) as staging:
        for name, table in raw.tables().items():
            write_parquet(table, schemas.table_file(staging, name))
        if validate:
            from aktrec.data.checks import validate_raw

            validate_raw(raw, staging / "validation", final_dir=Path(out))
    return Path(out)


def read_raw(path: Path) -> RawData:
    marker = read_marker(path, RAW_KIND)
    tables = {}
    for name in schemas.RAW_TABLES:
        file = schemas.table_file(path, name)
        tables[name] = pq.read_table(file) if file.is_file() else None
    return RawData(
        interactions=tables["interactions"],
        items=tables["items"],
        users=tables["users"],
        ts_kind=marker["ts_kind"],
        source=marker["source"],
    )
