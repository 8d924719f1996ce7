"""Importer for the shared Amazon review format (user sequences + RecBole item table).

The format has no timestamps, no negatives and no user attributes: each user's items are in
chronological order, so the position in the sequence becomes an ordinal timestamp.
"""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pandas as pd

from aktrec import schemas as S
from aktrec.data.contract import normalize_interactions, normalize_items
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
            raise DataError(table, f"{path}:{number}: user without items", column=S.ITEM_ID, example=line)
        users.extend([tokens[0]] * (len(tokens) - 1))
        items.extend(tokens[1:])
        positions.append(np.arange(len(tokens) - 1))
    if not users:
        raise DataError(table, f"sequence file {path} has no rows")
    return pd.DataFrame({S.USER_ID: users, S.ITEM_ID: items, S.TS: np.concatenate(positions)})


def _parse_categories(value) -> list[str] | None:
    """`'Beauty', 'Makeup', "Women's"` -> ['Beauty', 'Makeup', "Women's"]."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        parsed = ast.literal_eval(f"[{value}]")
    except (ValueError, SyntaxError):
        raise DataError("items", "not a quoted, comma separated list", column=S.CATEGORY, example=value) from None
    return [str(v) for v in parsed]


def read_item_table(path: str | Path) -> pd.DataFrame:
    path = Path(path)
    if not path.is_file():
        raise DataError("items", f"file {path} does not exist")
    try:
        df = pd.read_csv(path, sep="\t", dtype=str)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DataError("items", f"cannot read {path}: {str(exc).splitlines()[0]}") from None
    df.columns = [c.split(":", 1)[0] for c in df.columns]
    df = df.rename(columns={"categories": S.CATEGORY})
    if S.CATEGORY in df.columns:
        df[S.CATEGORY] = [_parse_categories(v) for v in df[S.CATEGORY]]
    if "sales_rank" in df.columns:
        df["sales_rank"] = pd.to_numeric(df["sales_rank"], errors="coerce")
    return df


def import_amazon(sequences: str | Path, items: str | Path) -> RawData:
    interactions, ts_kind = normalize_interactions(read_sequences(sequences), ts_format="ordinal")
    return RawData(
        interactions=interactions,
        items=normalize_items(read_item_table(items)),
        users=None,
        ts_kind=ts_kind,
        source=f"amazon:{Path(sequences).name}+{Path(items).name}",
    )
