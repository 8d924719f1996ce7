"""Entity attributes as tokens (the paper's u_attr / i_attr): what the data contract's optional
columns say about a user or an item, one `name=value` token per attribute, nothing hard-coded to
a data set.

Items: the category path's levels (`category_1=…`, coarse to fine), `brand`, and the price as a
decile of the catalog's prices; any other item column is left to the representations. Users:
every profile column, numbers as deciles of that column. Absent values give no token.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from aktrec import schemas

CATEGORY_LEVELS = 3
N_BUCKETS = 10


def _buckets(values: pd.Series, name: str) -> pd.Series:
    """`name=qK` for the decile K of each number among the column's values; None where absent."""
    numbers = pd.to_numeric(values, errors="coerce")
    known = numbers.notna()
    out = pd.Series([None] * len(values), index=values.index, dtype=object)
    if known.sum() >= 2:
        edges = np.unique(np.nanquantile(numbers[known], np.linspace(0, 1, N_BUCKETS + 1)[1:-1]))
        out[known] = [f"{name}=q{k}" for k in np.searchsorted(edges, numbers[known], side="right")]
    elif known.any():
        out[known] = f"{name}=q0"
    return out


def _strings(values: pd.Series, name: str) -> pd.Series:
    text = values.astype("string").str.strip()
    return pd.Series(
        [f"{name}={v}" if isinstance(v, str) and v else None for v in text], index=values.index, dtype=object
    )


def _join(columns: list[pd.Series], index: pd.Index) -> list[list[str]]:
    frame = pd.concat(columns, axis=1) if columns else pd.DataFrame(index=index)
    return [[token for token in row if token is not None] for row in frame.itertuples(index=False, name=None)]


def item_attributes(items: pa.Table | None, ids: pd.Index) -> list[list[str]]:
    """Attribute tokens of `ids` (in that order); items without a table row get none."""
    if items is None:
        return [[] for _ in ids]
    table = items.to_pandas().set_index(schemas.ITEM_ID).reindex(ids)
    columns = []
    if schemas.CATEGORY in table:
        for level in range(CATEGORY_LEVELS):
            columns.append(
                _strings(
                    table[schemas.CATEGORY].map(
                        lambda path, level=level: (
                            path[level] if isinstance(path, (list, np.ndarray)) and len(path) > level else None
                        )
                    ),
                    f"category_{level + 1}",
                )
            )
    if schemas.BRAND in table:
        columns.append(_strings(table[schemas.BRAND], schemas.BRAND))
    if schemas.PRICE in table:
        columns.append(_buckets(table[schemas.PRICE], schemas.PRICE))
    return _join(columns, table.index)


def user_attributes(users: pa.Table | None, ids: pd.Index) -> list[list[str]]:
    """Attribute tokens of `ids` from every profile column; none without a users table."""
    if users is None:
        return [[] for _ in ids]
    table = users.to_pandas().set_index(schemas.USER_ID).reindex(ids)
    columns = [
        _buckets(table[name], name) if pd.api.types.is_numeric_dtype(table[name]) else _strings(table[name], name)
        for name in table.columns
    ]
    return _join(columns, table.index)
