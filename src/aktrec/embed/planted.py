"""Planted representations: category centers plus noise, for tests and benchmarks that measure
what comes after the encoder (semantic IDs, features, training) without paying for it.

Items get their leaf category's center; a user gets the mean vector of the items it clicked in
training (like a history-mean representation), or a random center when it clicked nothing.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from aktrec import schemas
from aktrec.artifacts import staged_output, write_parquet
from aktrec.data.prepare import PreparedData
from aktrec.embed.stage import EMB_KIND, embedding_table


def write_planted_embeddings(data: PreparedData, out: Path, dim: int = 24, noise: float = 0.2, seed: int = 0) -> Path:
    """An EMB artifact at `out` for the items (`data` must have their table, with categories)
    and users of `data` (its users table, or every user of its samples)."""
    rng = np.random.default_rng(seed)
    items = data.items.to_pandas()
    users = (
        data.users.to_pandas()
        if data.users is not None
        else pd.DataFrame(
            {schemas.USER_ID: pd.unique(pd.concat([data.train[schemas.USER_ID], data.test[schemas.USER_ID]]))}
        )
    )
    leaf = items[schemas.CATEGORY].map(lambda path: path[-1])
    centers = {name: rng.normal(size=dim) for name in leaf.unique()}
    item_vectors = np.stack([centers[name] for name in leaf]) + noise * rng.normal(size=(len(items), dim))
    clicks = data.train[data.train[schemas.LABEL] == 1]
    clicked_rows = pd.Index(items[schemas.ITEM_ID]).get_indexer(clicks[schemas.ITEM_ID])
    clicked = pd.DataFrame(item_vectors[clicked_rows]).groupby(clicks[schemas.USER_ID].to_numpy()).mean()
    fallback = np.stack([centers[name] for name in rng.choice(sorted(centers), len(users))])
    user_vectors = clicked.reindex(users[schemas.USER_ID]).to_numpy()
    user_vectors = np.where(np.isnan(user_vectors), fallback, user_vectors) + noise * rng.normal(size=(len(users), dim))
    with staged_output(out, EMB_KIND, planted={"dim": dim, "noise": noise, "seed": seed}) as staging:
        write_parquet(
            embedding_table(items[schemas.ITEM_ID], item_vectors, schemas.ITEM_EMBEDDINGS),
            staging / "item_embeddings.parquet",
        )
        write_parquet(
            embedding_table(users[schemas.USER_ID], user_vectors, schemas.USER_EMBEDDINGS),
            staging / "user_embeddings.parquet",
        )
    return Path(out)
