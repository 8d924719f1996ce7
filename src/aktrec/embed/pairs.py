"""Frequently co-occurring item pairs from training clicks (vectorized)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from aktrec import schemas


def mine_pairs(train: pd.DataFrame, item_index: pd.Index, window: int, min_count: int) -> pd.DataFrame:
    """Unordered pairs (a < b, as positions in `item_index`) clicked by one user within
    `window` positions of each other, counted over users; pairs seen >= `min_count` times.

    Returns columns `a`, `b`, `count`, most frequent first.
    """
    clicks = train[(train[schemas.LABEL] == 1) & ~train[schemas.IS_SAMPLED]].sort_values(
        [schemas.USER_ID, schemas.TS], kind="stable"
    )
    users = clicks[schemas.USER_ID].to_numpy()
    items = item_index.get_indexer(clicks[schemas.ITEM_ID]).astype(np.int64)
    keys = []
    n_items = len(item_index)
    for offset in range(1, window + 1):
        same_user = users[offset:] == users[:-offset]
        first, second = items[:-offset][same_user], items[offset:][same_user]
        distinct = first != second
        low, high = np.minimum(first, second)[distinct], np.maximum(first, second)[distinct]
        keys.append(low * n_items + high)
    keys = np.concatenate(keys) if keys else np.array([], dtype=np.int64)
    unique, counts = np.unique(keys, return_counts=True)
    keep = counts >= min_count
    pairs = pd.DataFrame({"a": unique[keep] // n_items, "b": unique[keep] % n_items, "count": counts[keep]})
    return pairs.sort_values("count", ascending=False, kind="stable").reset_index(drop=True)


def split_pairs(
    pairs: pd.DataFrame, holdout_fraction: float, rng: np.random.Generator
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Random train / held-out split of pairs."""
    held = rng.random(len(pairs)) < holdout_fraction
    return pairs[~held].reset_index(drop=True), pairs[held].reset_index(drop=True)


def recall_at_k(embeddings: np.ndarray, pairs: pd.DataFrame, k: int, chunk: int = 1024) -> float:
    """Share of held-out pairs whose partner is among the k nearest items of the other
    (cosine, the query item excluded), counted in both directions. (N, D) unit vectors."""
    if len(pairs) == 0:
        return float("nan")
    queries = np.concatenate([pairs["a"].to_numpy(), pairs["b"].to_numpy()])
    partners = np.concatenate([pairs["b"].to_numpy(), pairs["a"].to_numpy()])
    hits = 0
    for start in range(0, len(queries), chunk):
        q, p = queries[start : start + chunk], partners[start : start + chunk]
        scores = embeddings[q] @ embeddings.T  # (C, N)
        scores[np.arange(len(q)), q] = -np.inf
        partner_score = scores[np.arange(len(q)), p]
        # rank = number of items scoring strictly higher than the partner
        hits += int(((scores > partner_score[:, None]).sum(axis=1) < k).sum())
    return hits / len(queries)
