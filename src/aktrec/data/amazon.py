"""Importer for the shared Amazon review format: RecBole atomic files (`.inter` with real
review dates, `.item`) and/or user sequences.

With `.inter` the timestamps are real (unix seconds, day granularity); a sequence file given
beside it orders each user's reviews inside a day (microseconds added by position, so the day
and every cross-user comparison stay as they were). With sequences alone, the position in a
user's sequence is an ordinal timestamp. There are no negatives and no user attributes.
"""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pandas as pd

from aktrec import schemas
from aktrec.data.contract import normalize_interactions, normalize_items, read_atomic_file, read_table
from aktrec.data.raw import RawData
from aktrec.errors import DataError


def read_sequences(path: str | Path) -> pd.DataFrame:
    """`USER_ID ITEM_ID ITEM_ID ...` lines -> interactions with the position as ordinal `ts`."""
    table = "interactions"
    path = Path(path)
    if not path.is_file():
        raise DataError(table, f"sequence file {path} does not exist")
    try:
        lines = path.read_text(encoding="utf-8").split("\n")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(table, f"cannot read {path}: {exc}") from None
    users, items, positions = [], [], []
    for number, line in enumerate(lines, start=1):
        tokens = line.split()
        if not tokens:
            continue
        if len(tokens) < 2:
            raise DataError(table, f"{path}:{number}: user without items", column=schemas.ITEM_ID, example=line)
        users.extend([tokens[0]] * (len(tokens) - 1))
        items.extend(tokens[1:])
        positions.append(np.arange(len(tokens) - 1))
    if not users:
        raise DataError(table, f"sequence file {path} has no rows")
    return pd.DataFrame({schemas.USER_ID: users, schemas.ITEM_ID: items, schemas.TS: np.concatenate(positions)})


def _parse_categories(value) -> list[str] | None:
    """`'Beauty', 'Makeup', "Women's"` -> ['Beauty', 'Makeup', "Women's"]."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        parsed = ast.literal_eval(f"[{value}]")
    except (ValueError, SyntaxError):
        raise DataError("items", "not a quoted, comma separated list", column=schemas.CATEGORY, example=value) from None
    return [str(v) for v in parsed]


def read_item_table(path: str | Path) -> pd.DataFrame:
    df = read_table(path, "items") if Path(path).suffix.lower() == ".item" else _read_as_atomic(Path(path), "items")
    df = df.rename(columns={"categories": schemas.CATEGORY})
    if schemas.CATEGORY in df.columns:
        df[schemas.CATEGORY] = [_parse_categories(v) for v in df[schemas.CATEGORY]]
    if "sales_rank" in df.columns:
        df["sales_rank"] = pd.to_numeric(df["sales_rank"], errors="coerce")
    return df


def _read_as_atomic(path: Path, table: str) -> pd.DataFrame:
    """An atomic file under another suffix: the same checks as `read_table`."""
    if not path.is_file():
        raise DataError(table, f"file {path} does not exist")
    try:
        return read_atomic_file(path, table)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DataError(table, f"cannot read {path}: {str(exc).splitlines()[0]}") from None


def order_within_days(dated: pd.DataFrame, sequences: pd.DataFrame) -> pd.DataFrame:
    """Dated interactions with each user's order inside a day taken from the sequences: the
    k-th (user, item) of one is the k-th of the other, and its position is added in microseconds."""
    table = "interactions"
    keys = [schemas.USER_ID, schemas.ITEM_ID]
    dated = dated.assign(occurrence=dated.groupby(keys).cumcount())
    sequences = sequences.assign(occurrence=sequences.groupby(keys).cumcount()).rename(columns={schemas.TS: "position"})
    joined = dated.merge(sequences, on=[*keys, "occurrence"], how="outer", indicator=True)
    for side, where in (("left_only", "the sequence file"), ("right_only", "the interactions file")):
        missing = joined[joined["_merge"] == side]
        if len(missing):
            example = f"{missing[schemas.USER_ID].iloc[0]} {missing[schemas.ITEM_ID].iloc[0]}"
            raise DataError(
                table,
                f"{len(missing)} (user, item) interaction(s) are not in {where}",
                column=schemas.ITEM_ID,
                example=example,
            )
    joined[schemas.TS] = joined[schemas.TS] + pd.to_timedelta(joined["position"].astype(np.int64), unit="us")
    return joined[dated.columns.drop("occurrence")]


def import_amazon(
    items: str | Path, sequences: str | Path | None = None, interactions: str | Path | None = None
) -> RawData:
    """RAW from the shared Amazon files: `interactions` (a RecBole `.inter` file with real dates,
    the paper's protocol) and/or `sequences` (ordinal positions only)."""
    if interactions is None and sequences is None:
        raise DataError("interactions", "give the dated interactions (.inter), the sequences, or both")
    if interactions is None:
        table, ts_kind = normalize_interactions(read_sequences(sequences), ts_format="ordinal")
    else:
        dated = (
            read_table(interactions, "interactions")
            if Path(interactions).suffix.lower() == ".inter"
            else _read_as_atomic(Path(interactions), "interactions")
        )
        table, ts_kind = normalize_interactions(dated, ts_format="unix-s")
        if sequences is not None:
            ordered = order_within_days(table.to_pandas(), read_sequences(sequences))
            table, ts_kind = normalize_interactions(ordered, ts_format="iso")
    files = [Path(p).name for p in (interactions, sequences, items) if p is not None]
    return RawData(
        interactions=table,
        items=normalize_items(read_item_table(items)),
        users=None,
        ts_kind=ts_kind,
        source=f"amazon:{'+'.join(files)}",
    )
