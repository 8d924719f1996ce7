"""The input data contract (docs/design.md §3): read user tables and normalize them to RAW schemas.

Every check runs before anything is written and fails with a `DataError` naming the table,
the column and an example of the bad value.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from aktrec import schemas
from aktrec.errors import DataError

TsFormat = Literal["auto", "ordinal", "unix-s", "unix-ms", "iso"]
TS_FORMATS: tuple[str, ...] = ("auto", "ordinal", "unix-s", "unix-ms", "iso")
# Ordinal positions become timestamps this many seconds after the epoch, which keeps the
# order (the only thing an ordinal carries) and gives every stage one timestamp type.
ORDINAL_EPOCH = pd.Timestamp("1970-01-01", tz="UTC")
CATEGORY_SEPARATORS = ("|", ">")
# RecBole's atomic files: tab separated, `name:type` headers; their `timestamp` is unix seconds.
ATOMIC_SUFFIXES = (".inter", ".item", ".user")
ATOMIC_RENAMES = {"timestamp": schemas.TS}


def is_atomic_file(path: str | Path) -> bool:
    return Path(path).suffix.lower() in ATOMIC_SUFFIXES


def read_atomic_file(path: Path, table: str) -> pd.DataFrame:
    """A RecBole atomic file (`.inter`, `.item`, `.user`): headers lose their `:type`, and
    `timestamp` becomes the contract's `ts`. Every value is read as a string."""
    df = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=True)
    names = [column.split(":", 1)[0] for column in df.columns]
    if len(set(names)) != len(names):
        raise DataError(
            table, f"{path}: duplicate column names after removing the ':type' suffixes: {list(df.columns)}"
        )
    df.columns = names
    return df.rename(columns={k: v for k, v in ATOMIC_RENAMES.items() if v not in names})


def read_table(path: str | Path, table: str) -> pd.DataFrame:
    """Read a parquet or CSV/TSV file into a DataFrame; CSV columns are read as strings."""
    path = Path(path)
    if not path.exists():
        raise DataError(table, f"file {path} does not exist")
    if path.is_dir():
        raise DataError(table, f"{path} is a directory, expected a .parquet, .csv or .tsv file")
    if path.stat().st_size == 0:
        raise DataError(table, f"file {path} is empty")
    suffix = path.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            df = pq.read_table(path).to_pandas()
        elif suffix in ATOMIC_SUFFIXES:
            df = read_atomic_file(path, table)
        elif suffix in (".csv", ".tsv", ".txt"):
            sep = "," if suffix == ".csv" else "\t"
            # Strings everywhere: ids such as "00123" must not turn into numbers.
            df = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=True)
        else:
            raise DataError(
                table,
                f"{path}: unsupported file type {suffix!r} (use .parquet, .csv, .tsv or RecBole's .inter/.item/.user)",
            )
    except DataError:
        raise
    except (OSError, pa.ArrowException, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(table, f"cannot read {path}: {reason}") from None
    if len(df) == 0:
        raise DataError(table, f"file {path} has no rows")
    return df


def rename_columns(df: pd.DataFrame, mapping: dict[str, str]) -> pd.DataFrame:
    """Apply a user's column-name mapping (source name -> contract name) where it applies."""
    applicable = {src: dst for src, dst in mapping.items() if src in df.columns}
    return df.rename(columns=applicable)


def _require_columns(df: pd.DataFrame, table: str, schema: pa.Schema) -> None:
    for name in schema.names:
        if name not in df.columns:
            raise DataError(table, f"required column is missing (columns present: {list(df.columns)})", column=name)


def _example(values: pd.Series):
    """The first bad value, as a plain Python value (no numpy reprs in messages)."""
    if not len(values):
        return None
    value = values.iloc[0]
    return value.item() if isinstance(value, np.generic) else value


def _normalize_key(df: pd.DataFrame, table: str, column: str, unique: bool) -> pd.Series:
    values = df[column]
    null = values.isna()
    if null.any():
        raise DataError(
            table,
            f"{int(null.sum())} null key(s), first at row {int(np.flatnonzero(null.to_numpy())[0])}",
            column=column,
        )
    if pd.api.types.is_float_dtype(values):
        raise DataError(table, "ids must be strings or integers, got floats", column=column, example=_example(values))
    values = values.astype(str).str.strip()
    blank = values == ""
    if blank.any():
        raise DataError(
            table,
            f"{int(blank.sum())} empty id(s), first at row {int(np.flatnonzero(blank.to_numpy())[0])}",
            column=column,
        )
    if unique:
        duplicated = values[values.duplicated()]
        if len(duplicated):
            raise DataError(table, f"{len(duplicated)} duplicate id(s)", column=column, example=_example(duplicated))
    return values


def _normalize_ts(values: pd.Series, ts_format: TsFormat, table: str = "interactions") -> tuple[pd.Series, str]:
    """Timestamps as UTC datetimes, and their kind: 'time' or 'ordinal'."""
    column = schemas.TS
    if values.isna().any():
        raise DataError(table, f"{int(values.isna().sum())} null timestamp(s)", column=column)
    if ts_format == "auto":
        if pd.api.types.is_datetime64_any_dtype(values):
            ts_format = "iso"
        elif pd.api.types.is_numeric_dtype(values) or values.astype(str).str.fullmatch(r"-?\d+").all():
            ts_format = "ordinal"
        else:
            ts_format = "iso"
    if ts_format == "iso":
        if pd.api.types.is_datetime64_any_dtype(values):
            parsed = values.dt.tz_localize("UTC") if values.dt.tz is None else values.dt.tz_convert("UTC")
        else:
            parsed = pd.to_datetime(values, utc=True, errors="coerce", format="ISO8601")
            bad = parsed.isna()
            if bad.any():
                raise DataError(
                    table,
                    "not a timestamp (expected ISO 8601, or --ts-format ordinal/unix-s/unix-ms)",
                    column=column,
                    example=_example(values[bad]),
                )
        return parsed.astype("datetime64[us, UTC]"), "time"
    numbers = pd.to_numeric(values, errors="coerce")
    bad = numbers.isna() | (numbers != np.floor(numbers))
    if bad.any():
        raise DataError(table, f"not an integer {ts_format} timestamp", column=column, example=_example(values[bad]))
    numbers = numbers.astype(np.int64)
    unit = {"ordinal": "s", "unix-s": "s", "unix-ms": "ms"}[ts_format]
    parsed = ORDINAL_EPOCH + pd.to_timedelta(numbers, unit=unit)
    return parsed.astype("datetime64[us, UTC]"), "ordinal" if ts_format == "ordinal" else "time"


def _normalize_label(values: pd.Series, table: str = "interactions") -> pd.Series:
    column = schemas.LABEL
    if pd.api.types.is_bool_dtype(values):
        return values.astype(np.int8)
    numbers = pd.to_numeric(values, errors="coerce")
    bad = ~numbers.isin([0, 1])
    if bad.any():
        raise DataError(
            table, f"{int(bad.sum())} label(s) outside {{0, 1}}", column=column, example=_example(values[bad])
        )
    return numbers.astype(np.int8)


def _normalize_optional_string(values: pd.Series) -> pd.Series:
    return values.astype("string").str.strip().astype(object).where(values.notna(), None)


def _normalize_category(values: pd.Series) -> list[list[str] | None]:
    """A category path: lists stay lists; strings split on '|' or '>' (coarse to fine)."""

    def one(value):
        if value is None or (isinstance(value, float) and np.isnan(value)):
            return None
        if isinstance(value, str):
            parts = [value]
            for sep in CATEGORY_SEPARATORS:
                parts = [piece for part in parts for piece in part.split(sep)]
            return [p.strip() for p in parts if p.strip()] or None
        if isinstance(value, (list, tuple, np.ndarray)):
            return [str(v).strip() for v in value if v is not None and str(v).strip()] or None
        raise DataError("items", "expected a string or a list of strings", column=schemas.CATEGORY, example=value)

    return [one(v) for v in values]


def _normalize_price(values: pd.Series) -> pd.Series:
    numbers = pd.to_numeric(values, errors="coerce")
    bad = numbers.isna() & values.notna()
    if bad.any():
        raise DataError("items", "not a number", column=schemas.PRICE, example=_example(values[bad]))
    negative = numbers < 0
    if negative.any():
        raise DataError("items", "negative price", column=schemas.PRICE, example=_example(values[negative]))
    return numbers.astype(np.float64)


def _to_arrow(df: pd.DataFrame, table: str, schema: pa.Schema) -> pa.Table:
    """Arrow table with `schema`'s fields first (typed) and other columns passed through."""
    arrays, fields = [], []
    for name in df.columns:
        field = schema.field(name) if name in schema.names else None
        try:
            array = pa.array(
                df[name].tolist() if field is not None and pa.types.is_list(field.type) else df[name],
                type=field.type if field is not None else None,
                from_pandas=True,
            )
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise DataError(
                table, f"values of mixed or unsupported type ({str(exc).splitlines()[0]})", column=name
            ) from None
        arrays.append(array)
        fields.append(field if field is not None else pa.field(name, array.type))
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))


def normalize_interactions(df: pd.DataFrame, ts_format: TsFormat = "auto") -> tuple[pa.Table, str]:
    """RAW interactions and the timestamp kind ('time' or 'ordinal'). Extra columns are dropped."""
    table = "interactions"
    _require_columns(df, table, schemas.INTERACTIONS_REQUIRED)
    out = pd.DataFrame(
        {
            schemas.USER_ID: _normalize_key(df, table, schemas.USER_ID, unique=False),
            schemas.ITEM_ID: _normalize_key(df, table, schemas.ITEM_ID, unique=False),
        }
    )
    out[schemas.TS], ts_kind = _normalize_ts(df[schemas.TS], ts_format)
    if schemas.LABEL in df.columns:
        out[schemas.LABEL] = _normalize_label(df[schemas.LABEL])
    if schemas.EVENT in df.columns:
        out[schemas.EVENT] = _normalize_optional_string(df[schemas.EVENT])
    schema = pa.schema(list(schemas.INTERACTIONS_REQUIRED) + list(schemas.INTERACTIONS_OPTIONAL))
    return _to_arrow(out, table, schema), ts_kind


def normalize_items(df: pd.DataFrame) -> pa.Table:
    table = "items"
    _require_columns(df, table, schemas.ITEMS_REQUIRED)
    out = df.copy()
    out[schemas.ITEM_ID] = _normalize_key(df, table, schemas.ITEM_ID, unique=True)
    for name in (schemas.TITLE, schemas.DESCRIPTION, schemas.BRAND, schemas.IMAGE_URI):
        if name in out.columns:
            out[name] = _normalize_optional_string(out[name])
    if schemas.CATEGORY in out.columns:
        out[schemas.CATEGORY] = _normalize_category(out[schemas.CATEGORY])
    if schemas.PRICE in out.columns:
        out[schemas.PRICE] = _normalize_price(out[schemas.PRICE])
    schema = pa.schema(list(schemas.ITEMS_REQUIRED) + list(schemas.ITEMS_OPTIONAL))
    return _to_arrow(out, table, schema)


def normalize_users(df: pd.DataFrame) -> pa.Table:
    table = "users"
    _require_columns(df, table, schemas.USERS_REQUIRED)
    out = df.copy()
    out[schemas.USER_ID] = _normalize_key(df, table, schemas.USER_ID, unique=True)
    return _to_arrow(out, table, schemas.USERS_REQUIRED)


def check_references(interactions: pa.Table, items: pa.Table | None, users: pa.Table | None) -> None:
    """Every interaction names a known item (and user, when a users table is given)."""
    for table, key, other in (("items", schemas.ITEM_ID, items), ("users", schemas.USER_ID, users)):
        if other is None:
            continue
        known = pc.is_in(interactions[key], value_set=other[key])
        if not pc.all(known).as_py():
            unknown = pc.filter(interactions[key], pc.invert(known)).unique()
            raise DataError(
                "interactions",
                f"{len(unknown)} id(s) not in the {table} table",
                column=key,
                example=unknown[0].as_py(),
            )


def normalize_outcomes(df: pd.DataFrame) -> pd.DataFrame:
    """Outcomes for `aktrec readout` (schemas.OUTCOMES_*): clicks, or labelled rows; times in UTC."""
    table = "outcomes"
    _require_columns(df, table, schemas.OUTCOMES_REQUIRED)
    out = pd.DataFrame(
        {
            schemas.USER_ID: _normalize_key(df, table, schemas.USER_ID, unique=False),
            schemas.ITEM_ID: _normalize_key(df, table, schemas.ITEM_ID, unique=False),
            schemas.TS: _normalize_ts(df[schemas.TS], "iso", table)[0],
            schemas.LABEL: _normalize_label(df[schemas.LABEL], table) if schemas.LABEL in df else np.int8(1),
        }
    )
    if schemas.REQUEST_ID in df:
        out[schemas.REQUEST_ID] = _normalize_optional_string(df[schemas.REQUEST_ID])
    return out


def normalize_score_requests(df: pd.DataFrame, now: pd.Timestamp) -> pd.DataFrame:
    """Requests for `aktrec score` (schemas.SCORE_REQUESTS_*): a user, a non-empty list of candidate
    ids and the time to read features at (absent or null: `now`)."""
    table = "requests"
    _require_columns(df, table, schemas.SCORE_REQUESTS_REQUIRED)
    users = _normalize_key(df, table, schemas.USER_ID, unique=False)
    items = []
    for n, value in enumerate(df[schemas.ITEM_IDS]):
        if not isinstance(value, (list, tuple, np.ndarray)) or len(value) == 0:
            raise DataError(
                table, f"row {n}: expected a non-empty list of item ids", column=schemas.ITEM_IDS, example=value
            )
        ids = [str(item).strip() for item in value if item is not None]
        if len(ids) != len(value) or not all(ids):
            raise DataError(table, f"row {n}: null or empty item id", column=schemas.ITEM_IDS, example=list(value))
        items.append(ids)
    out = pd.DataFrame({schemas.USER_ID: users, schemas.ITEM_IDS: items})
    ts = df[schemas.TS] if schemas.TS in df else pd.Series([None] * len(df), index=df.index)
    given = ts.notna()
    out[schemas.TS] = pd.Series(pd.Timestamp(now).tz_convert("UTC"), index=df.index).astype("datetime64[us, UTC]")
    if given.any():
        out.loc[given, schemas.TS] = _normalize_ts(ts[given], "iso", table)[0]
    return out.reset_index(drop=True)
