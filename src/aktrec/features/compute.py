"""Feature computation on a snapshot grid (vectorized; no per-row Python in the aggregations).

Snapshot k holds what was known at grid[k]: aggregates of observed *training* events with
ts < grid[k]. An event becomes visible at the first grid point after it, so no sample ever
reads its own label, a later event, or a test label. Views whose values change only with
events (cross counts, sequences) get a row only when they change; Feast's point-in-time join
picks the latest row at or before each sample's time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from aktrec import schemas as S
from aktrec.config import FeatureConfig
from aktrec.data.prepare import PreparedData
from aktrec.features import names as N


@dataclass
class SemanticTables:
    """Per entity kind: ids, codes (N, L), cluster ids (N,), embeddings (N, D)."""

    ids: pd.Index
    codes: np.ndarray
    cluster: np.ndarray
    embeddings: np.ndarray

    def lookup(self, values: pd.Series, what: np.ndarray, missing) -> np.ndarray:
        position = self.ids.get_indexer(values)
        out = what[np.maximum(position, 0)].copy()
        out[position < 0] = missing
        return out


def snapshot_grid(train: pd.DataFrame, ts_kind: str, cutoff: pd.Timestamp | None, config: FeatureConfig) -> pd.DatetimeIndex:
    """Snapshot times: daily (time data) or evenly spaced (ordinal data), ending at the
    cutoff or just after the last training event, so the last snapshot sees all of training."""
    first, last = train[S.TS].min(), train[S.TS].max()
    end = cutoff if cutoff is not None else last + pd.Timedelta(microseconds=1)
    if ts_kind == "ordinal":
        grid = pd.date_range(first, end, periods=config.ordinal_snapshots + 1)
    else:
        period = pd.Timedelta(days=config.snapshot_days)
        grid = pd.date_range(first.floor("D"), end, freq=period)
        if grid[-1] < end:
            grid = grid.append(pd.DatetimeIndex([end]))
    return pd.DatetimeIndex(grid).unique()


def observed_events(data: PreparedData) -> pd.DataFrame:
    train = data.train
    return train.loc[~train[S.IS_SAMPLED], [S.USER_ID, S.ITEM_ID, S.TS, S.LABEL]].reset_index(drop=True)


def _grid_ns(grid: pd.DatetimeIndex) -> np.ndarray:
    return grid.as_unit("ns").asi8


def _ts_ns(ts: pd.Series) -> np.ndarray:
    return ts.dt.as_unit("ns").astype("int64").to_numpy()


def visible_from(ts: pd.Series, grid: pd.DatetimeIndex) -> np.ndarray:
    return np.searchsorted(_grid_ns(grid), _ts_ns(ts), side="right")


def _smoothed_ctr(clicks: np.ndarray, exposures: np.ndarray, prior: np.ndarray, strength: float) -> np.ndarray:
    return (clicks + strength * prior) / (exposures + strength)


def activity_matrices(entity: np.ndarray, n: int, events: pd.DataFrame, grid: pd.DatetimeIndex, tail_threshold: int,
                      config: FeatureConfig) -> dict[str, np.ndarray]:
    """Per entity and snapshot (N, K) activity features (names in `N.ACTIVITY`)."""
    k = len(grid)
    visible = visible_from(events[S.TS], grid)
    inside = visible < k
    entity, visible, label = entity[inside], visible[inside], events[S.LABEL].to_numpy()[inside]
    ts = _ts_ns(events[S.TS])[inside]
    exposures = np.zeros((n, k))
    clicks = np.zeros((n, k))
    last = np.full((n, k), np.iinfo(np.int64).min, dtype=np.int64)
    np.add.at(exposures, (entity, visible), 1)
    np.add.at(clicks, (entity, visible), label)
    np.maximum.at(last, (entity, visible), ts)
    exposures, clicks, last = exposures.cumsum(axis=1), clicks.cumsum(axis=1), np.maximum.accumulate(last, axis=1)
    window = config.window_snapshots

    def recent(cumulative: np.ndarray) -> np.ndarray:
        shifted = np.zeros_like(cumulative)
        shifted[:, window:] = cumulative[:, :-window]
        return cumulative - shifted

    total_exposures, total_clicks = exposures.sum(axis=0), clicks.sum(axis=0)
    prior = np.where(total_exposures > 0, total_clicks / np.maximum(total_exposures, 1), 0.5)  # as of each snapshot
    recent_exposures, recent_clicks = recent(exposures), recent(clicks)
    grid_ns = _grid_ns(grid)
    period = np.diff(grid_ns).mean() if len(grid_ns) > 1 else 1.0
    since = np.where(last > np.iinfo(np.int64).min, (grid_ns[None, :] - last) / period, np.arange(k)[None, :] + 1.0)
    return {
        "exposures": exposures, "clicks": clicks,
        "ctr": _smoothed_ctr(clicks, exposures, prior, config.ctr_prior_strength),
        "recent_exposures": recent_exposures, "recent_clicks": recent_clicks,
        "recent_ctr": _smoothed_ctr(recent_clicks, recent_exposures, prior, config.ctr_prior_strength),
        "periods_since_last": since,
        "activity_level": np.minimum(np.floor(np.log2(1 + exposures)), 10),
        "is_tail": (exposures < tail_threshold).astype(float),
    }


def _rows(ids: np.ndarray, grid: pd.DatetimeIndex, matrices: dict[str, np.ndarray], keep: np.ndarray, id_column: str) -> pd.DataFrame:
    """(N, K) matrices -> one row per kept (entity, snapshot)."""
    entity, snapshot = np.nonzero(keep)
    frame = pd.DataFrame({id_column: ids[entity], N.EVENT_TIMESTAMP: grid[snapshot]})
    for name, matrix in matrices.items():
        frame[name] = matrix[entity, snapshot]
    return frame


def cluster_average_rows(matrices: dict[str, np.ndarray], sem: SemanticTables, grid: pd.DatetimeIndex, key: str) -> pd.DataFrame:
    """Eq. 9: every activity feature and the representation averaged over each cluster, per snapshot."""
    clusters, member = np.unique(sem.cluster, return_inverse=True)
    size = np.bincount(member, minlength=len(clusters)).astype(float)
    averaged = {}
    for name, matrix in matrices.items():
        sums = np.zeros((len(clusters), matrix.shape[1]))
        np.add.at(sums, member, matrix)
        averaged[f"avg_{name}"] = sums / size[:, None]
    averaged["cluster_size"] = np.repeat(size[:, None], len(grid), axis=1)
    frame = _rows(clusters, grid, averaged, np.ones((len(clusters), len(grid)), bool), key)
    embedding = np.zeros((len(clusters), sem.embeddings.shape[1]), dtype=np.float32)
    np.add.at(embedding, member, sem.embeddings)
    embedding /= size[:, None]
    frame["avg_embedding"] = list(embedding[frame[key].map(pd.Series(np.arange(len(clusters)), index=clusters)).to_numpy()])
    return frame[[key, N.EVENT_TIMESTAMP, *N.CLUSTER_AVG]]


def cross_rows(events: pd.DataFrame, keys: list[str], grid: pd.DatetimeIndex, config: FeatureConfig) -> pd.DataFrame:
    """Cumulative exposures/clicks/CTR per key combination, a row whenever they change."""
    frame = events[keys].copy()
    frame["visible"] = visible_from(events[S.TS], grid)
    frame["exposures"] = 1.0
    frame["clicks"] = events[S.LABEL].astype(float).to_numpy()
    frame = frame[frame["visible"] < len(grid)]
    per_period = frame.groupby([*keys, "visible"], sort=True)[["exposures", "clicks"]].sum().reset_index()
    per_period[["exposures", "clicks"]] = per_period.groupby(keys)[["exposures", "clicks"]].cumsum()
    totals = frame.groupby("visible")[["exposures", "clicks"]].sum().reindex(range(len(grid)), fill_value=0).cumsum()
    prior = (totals["clicks"] / totals["exposures"].where(totals["exposures"] > 0)).fillna(0.5).to_numpy()
    per_period["ctr"] = _smoothed_ctr(per_period["clicks"], per_period["exposures"], prior[per_period["visible"]], config.ctr_prior_strength)
    per_period[N.EVENT_TIMESTAMP] = grid[per_period.pop("visible").to_numpy()]
    return per_period[[*keys, N.EVENT_TIMESTAMP, *N.CROSS]]


def sequence_rows(clicks: pd.DataFrame, keys: list[str], grid: pd.DatetimeIndex, length: int) -> pd.DataFrame:
    """The last `length` clicked item ids (oldest first) per key, a row whenever they change."""
    clicks = clicks.sort_values([*keys, S.TS], kind="stable").reset_index(drop=True)
    clicks["visible"] = visible_from(clicks[S.TS], grid)
    clicks = clicks[clicks["visible"] < len(grid)].reset_index(drop=True)
    group_start = clicks.groupby(keys, sort=False).cumcount().to_numpy()
    last = clicks.groupby([*keys, "visible"], sort=False).tail(1).index.to_numpy()
    items = clicks[S.ITEM_ID].to_numpy()
    first = last - np.minimum(group_start[last], length - 1)
    frame = clicks.loc[last, keys].reset_index(drop=True)
    frame[N.EVENT_TIMESTAMP] = grid[clicks.loc[last, "visible"].to_numpy()]
    frame["recent_items"] = [items[a:b + 1].tolist() for a, b in zip(first, last)]
    return frame


def compute_features(data: PreparedData, users: SemanticTables, items: SemanticTables, config: FeatureConfig,
                     ts_kind: str) -> tuple[dict[str, pd.DataFrame], pd.DatetimeIndex]:
    """Every feature view's offline table, keyed as in `names.VIEWS`, and the snapshot grid."""
    events = observed_events(data)
    grid = snapshot_grid(events, ts_kind, data.cutoff, config)
    events[N.USER_CLUSTER_ID] = users.lookup(events[S.USER_ID], users.cluster, -1)
    events[N.ITEM_CLUSTER_ID] = items.lookup(events[S.ITEM_ID], items.cluster, -1)
    events[N.ITEM_TOP_ID] = items.lookup(events[S.ITEM_ID], items.codes[:, 0].astype(np.int64), -1)
    tail = data.card["tail"]
    views: dict[str, pd.DataFrame] = {}
    for kind, sem, id_column, threshold in (("user", users, S.USER_ID, tail["tail_user_max_interactions"]),
                                            ("item", items, S.ITEM_ID, tail["tail_item_max_exposures"])):
        matrices = activity_matrices(sem.ids.get_indexer(events[id_column]), len(sem.ids), events, grid, threshold, config)
        ids = sem.ids.to_numpy()
        views[f"{kind}_activity"] = _rows(ids, grid, matrices, matrices["exposures"] > 0, id_column)
        semantic = pd.DataFrame({id_column: ids, N.EVENT_TIMESTAMP: grid[0], "cluster_id": sem.cluster,
                                 "codes": list(sem.codes.astype(np.int64)), "embedding": list(sem.embeddings.astype(np.float32))})
        if kind == "item":
            semantic.insert(3, "top_id", sem.codes[:, 0].astype(np.int64))
        views[f"{kind}_semantic"] = semantic
        key = N.USER_CLUSTER_ID if kind == "user" else N.ITEM_CLUSTER_ID
        views[f"{kind}_cluster_features"] = cluster_average_rows(matrices, sem, grid, key)
    views[N.CROSS_USER_ITEM_CLUSTER] = cross_rows(events, [S.USER_ID, N.ITEM_CLUSTER_ID], grid, config)
    views[N.CROSS_USER_CLUSTER_ITEM_CLUSTER] = cross_rows(events, [N.USER_CLUSTER_ID, N.ITEM_CLUSTER_ID], grid, config)
    clicks = events[events[S.LABEL] == 1]
    views[N.USER_SEQUENCE] = sequence_rows(clicks, [S.USER_ID], grid, config.user_sequence_length)
    views[N.CLUSTER_SEQUENCE] = sequence_rows(clicks, [N.USER_CLUSTER_ID, N.ITEM_TOP_ID], grid, config.cluster_sequence_length)
    return views, grid
