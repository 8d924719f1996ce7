"""Feature computation on a snapshot grid (vectorized; no per-row Python in the aggregations).

Snapshot k holds what was known at grid[k]: aggregates of observed *training* events with
ts < grid[k]. An event becomes visible at the first grid point after it, so no sample ever
reads its own label, a later event, or a test label. Every time-dependent view gets a row only
where its value changes (an event becomes visible, or leaves the recent window), and Feast's
point-in-time join picks the latest row at or before each sample's time; what does not depend
on time (semantic IDs, representations, cluster size and mean representation) is one row per
key. Rows and memory grow with events and keys, never with entities x snapshots.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from aktrec import schemas
from aktrec.config import FeatureConfig
from aktrec.data.prepare import ORDINAL_TEST_OFFSET, PreparedData
from aktrec.features import names as feature_names
from aktrec.features import statistics
from aktrec.features.attributes import item_attributes, user_attributes
from aktrec.features.statistics import Totals
from aktrec.semantic_ids.tables import SemanticTables


def snapshot_grid(
    first: pd.Timestamp, last: pd.Timestamp, ts_kind: str, cutoff: pd.Timestamp | None, config: FeatureConfig
) -> pd.DatetimeIndex:
    """Snapshot times from the first to the last training event: daily (time data) or one per
    position (ordinal data), ending at the cutoff or just after the last training event, so the
    last snapshot sees all of training."""
    end = cutoff if cutoff is not None else last + pd.Timedelta(microseconds=1)
    if ts_kind == "ordinal":
        grid = pd.date_range(first, last + pd.Timedelta(seconds=1), freq="s")
    else:
        period = pd.Timedelta(days=config.snapshot_days)
        grid = pd.date_range(first.floor("D"), end, freq=period)
        if grid[-1] < end:
            grid = grid.append(pd.DatetimeIndex([end]))
    return pd.DatetimeIndex(grid).unique()


def observed_events(data: PreparedData) -> pd.DataFrame:
    train = data.train
    return train.loc[
        ~train[schemas.IS_SAMPLED], [schemas.USER_ID, schemas.ITEM_ID, schemas.TS, schemas.LABEL]
    ].reset_index(drop=True)


@dataclass
class Clock:
    """Events with the times a family of views sees them at, the snapshot grid, and the
    global CTR prior as of each snapshot."""

    events: pd.DataFrame
    grid: pd.DatetimeIndex
    prior: np.ndarray

    @classmethod
    def of(cls, events: pd.DataFrame, grid: pd.DatetimeIndex) -> Clock:
        visible = visible_from(events[schemas.TS], grid)
        inside = visible < len(grid)
        return cls(
            events,
            grid,
            global_prior(visible[inside], events[schemas.LABEL].to_numpy()[inside].astype(float), len(grid)),
        )


def clocks(data: PreparedData, events: pd.DataFrame, config: FeatureConfig) -> tuple[Clock, Clock]:
    """The clock of views keyed by the user, and of views shared by users (items, clusters).

    Time data: one clock, the daily grid. Ordinal data has no clock shared by users: a user's
    own views step with that user's positions, and the shared views have two snapshots, the
    representation events at the first position (what training samples read: never their own
    or another CTR training sample's label) and all of training where the test samples sit
    (`ORDINAL_TEST_OFFSET`), which is also what serving reads.
    """
    grid = snapshot_grid(
        events[schemas.TS].min(), events[schemas.TS].max(), data.card["timestamps"], data.cutoff, config
    )
    user_clock = Clock.of(events, grid)
    if not data.ordinal:
        return user_clock, user_clock
    start = grid[0]
    shared_grid = pd.DatetimeIndex([start, start + ORDINAL_TEST_OFFSET])
    is_representation = ~data.ctr_samples()[~data.train[schemas.IS_SAMPLED].to_numpy()]
    just_before = np.where(is_representation, shared_grid[0], shared_grid[1]) - pd.Timedelta(microseconds=1)
    return user_clock, Clock.of(events.assign(**{schemas.TS: just_before}), shared_grid)


def _grid_ns(grid: pd.DatetimeIndex) -> np.ndarray:
    return grid.as_unit("ns").asi8


def _ts_ns(ts: pd.Series) -> np.ndarray:
    return ts.dt.as_unit("ns").astype("int64").to_numpy()


def visible_from(ts: pd.Series, grid: pd.DatetimeIndex) -> np.ndarray:
    return np.searchsorted(_grid_ns(grid), _ts_ns(ts), side="right")


def global_prior(visible: np.ndarray, label: np.ndarray, k: int) -> np.ndarray:
    """The CTR every smoothed rate shrinks towards, as of each of the K snapshots (0.5 before
    any event). `visible`: snapshot index of each event, all < k."""
    return cumulative_prior(np.bincount(visible, minlength=k), np.bincount(visible, weights=label, minlength=k))


def cumulative_prior(exposures: np.ndarray, clicks: np.ndarray) -> np.ndarray:
    """`global_prior` from the exposures and clicks that become visible at each snapshot."""
    exposures, clicks = np.cumsum(exposures), np.cumsum(clicks)
    return np.where(exposures > 0, clicks / np.maximum(exposures, 1), 0.5)


def _cumulative_at(keys: np.ndarray, cumulative: np.ndarray, probe: np.ndarray, group_start: np.ndarray) -> np.ndarray:
    """For sorted `keys` (entity·K + snapshot) with per-entity running totals, the total at each
    `probe` key: the last key at or before it of the same entity, or 0 when there is none."""
    position = np.searchsorted(keys, probe, side="right") - 1
    found = (position >= 0) & (keys[np.maximum(position, 0)] >= group_start)
    return np.where(found, cumulative[np.maximum(position, 0)], 0.0)


def activity_rows(
    entity: np.ndarray,
    events: pd.DataFrame,
    grid: pd.DatetimeIndex,
    tail_threshold: int,
    config: FeatureConfig,
    prior: np.ndarray | None = None,
) -> pd.DataFrame:
    """Activity features (names in `feature_names.ACTIVITY`) of each entity, one row per snapshot at which
    they change: where one of its events becomes visible, and where one leaves the recent
    window. Memory and rows grow with the events, not with entities x snapshots.

    Columns: `entity` (index into the caller's ids), `snapshot` (index into `grid`), features.
    Rates are smoothed towards `prior` (the global CTR as of each snapshot; by default that of
    `events`) as of the row's snapshot.
    """
    k, window = len(grid), config.window_snapshots
    visible = visible_from(events[schemas.TS], grid)
    inside = visible < k
    label = events[schemas.LABEL].to_numpy().astype(float)
    if prior is None:  # the prior of these events alone
        prior = global_prior(visible[inside], label[inside], k)
    keys, inverse = np.unique(entity[inside].astype(np.int64) * k + visible[inside], return_inverse=True)
    exposures = np.bincount(inverse, minlength=len(keys)).astype(float)
    clicks = np.bincount(inverse, weights=label[inside], minlength=len(keys))
    owner = keys // k
    first_of_owner = np.r_[True, owner[1:] != owner[:-1]]
    start = np.maximum.accumulate(np.where(first_of_owner, np.arange(len(keys)), 0))
    cum_exposures = exposures.cumsum() - np.r_[0.0, exposures.cumsum()][start]
    cum_clicks = clicks.cumsum() - np.r_[0.0, clicks.cumsum()][start]
    expiring = keys[(keys % k) + window < k] + window
    change = np.unique(np.concatenate([keys, expiring]))
    change_owner, snapshot = change // k, change % k
    owner_start = change_owner * k
    at = {
        name: _cumulative_at(keys, values, change, owner_start)
        for name, values in (("exposures", cum_exposures), ("clicks", cum_clicks))
    }
    before_window = np.where(snapshot >= window, change - window, -1)
    recent = {
        name: at[name] - np.where(before_window >= 0, _cumulative_at(keys, values, before_window, owner_start), 0.0)
        for name, values in (("exposures", cum_exposures), ("clicks", cum_clicks))
    }
    totals = Totals.of(
        {**at, **{f"recent_{name}": values for name, values in recent.items()}, "prior": prior[snapshot]},
        config.ctr_prior_strength,
        tail_threshold,
    )
    return pd.DataFrame({"entity": change_owner, "snapshot": snapshot, **statistics.apply(statistics.ACTIVITY, totals)})


def cluster_activity_rows(
    activity: pd.DataFrame, member_cluster: np.ndarray, prior: np.ndarray, tail_threshold: int, config: FeatureConfig
) -> pd.DataFrame:
    """Eq. 9 over time: the activity features averaged over every member of each cluster
    (members without visible events count as unseen), one row per cluster at the first
    snapshot and wherever a member changes. Each member change adds its difference to its
    cluster's running sums, so nothing is (clusters x snapshots). The cluster's rates are the
    smoothed rates of its average counts.

    `activity`: `activity_rows` output; `member_cluster`: (N,) cluster index of each entity.
    Columns: `cluster` (index), `snapshot`, `avg_<feature>`.
    """
    n_clusters = int(member_cluster.max()) + 1 if len(member_cluster) else 0
    size = np.bincount(member_cluster, minlength=n_clusters).astype(float)
    k = len(prior)
    rows = activity.sort_values(["entity", "snapshot"], kind="stable")
    first_of_member = np.r_[True, rows["entity"].to_numpy()[1:] != rows["entity"].to_numpy()[:-1]]
    cluster = member_cluster[rows["entity"].to_numpy()]
    change_keys = cluster.astype(np.int64) * k + rows["snapshot"].to_numpy()
    start_keys = np.arange(n_clusters, dtype=np.int64) * k  # every cluster has a row at the first snapshot
    keys, inverse = np.unique(np.concatenate([change_keys, start_keys]), return_inverse=True)
    owner = keys // k
    first_of_owner = np.r_[True, owner[1:] != owner[:-1]]
    start = np.maximum.accumulate(np.where(first_of_owner, np.arange(len(keys)), 0))
    averaged = {}
    for name, unseen in statistics.unseen(tail_threshold).items():
        values = rows[name].to_numpy()
        previous = np.where(first_of_member, unseen, np.r_[unseen, values[:-1]])
        delta = np.bincount(inverse[: len(change_keys)], weights=values - previous, minlength=len(keys))
        running = delta.cumsum() - np.r_[0.0, delta.cumsum()][start]
        averaged[name] = unseen + running / size[owner]
    snapshot = keys % k
    return pd.DataFrame(
        {
            "cluster": owner,
            "snapshot": snapshot,
            **cluster_statistics(averaged, prior[snapshot], tail_threshold, config),
        }
    )


def cluster_statistics(
    averaged: dict[str, np.ndarray], prior: np.ndarray, tail_threshold: int, config: FeatureConfig
) -> dict[str, np.ndarray]:
    """`avg_<statistic>` columns in `feature_names.CLUSTER_AVG` order, from the member-averaged
    statistics (eq. 9): those averaged by totals are their formulas over the averaged totals."""
    totals = Totals.of({**averaged, "prior": prior}, config.ctr_prior_strength, tail_threshold)
    by_totals = statistics.apply(tuple(s for s in statistics.ACTIVITY if s.of_cluster == "totals"), totals)
    return {f"avg_{s.name}": averaged[s.name] if s.name in averaged else by_totals[s.name] for s in statistics.ACTIVITY}


def cluster_profile(sem: SemanticTables, key: str, timestamp: pd.Timestamp) -> pd.DataFrame:
    """What does not change over time: each cluster's size and mean representation, once."""
    clusters, member = np.unique(sem.cluster, return_inverse=True)
    size = np.bincount(member, minlength=len(clusters)).astype(float)
    embedding = np.zeros((len(clusters), sem.embeddings.shape[1]), dtype=np.float32)
    np.add.at(embedding, member, sem.embeddings.astype(np.float32))
    embedding /= size[:, None].astype(np.float32)
    return pd.DataFrame(
        {
            key: clusters,
            feature_names.EVENT_TIMESTAMP: timestamp,
            "cluster_size": size,
            "avg_embedding": list(embedding),
        }
    )


def cross_rows(
    events: pd.DataFrame,
    keys: list[str],
    grid: pd.DatetimeIndex,
    config: FeatureConfig,
    prior: np.ndarray | None = None,
) -> pd.DataFrame:
    """Cumulative exposures/clicks/CTR per key combination, a row whenever they change."""
    frame = events[keys].copy()
    frame["visible"] = visible_from(events[schemas.TS], grid)
    frame["exposures"] = 1.0
    frame["clicks"] = events[schemas.LABEL].astype(float).to_numpy()
    frame = frame[frame["visible"] < len(grid)]
    per_period = frame.groupby([*keys, "visible"], sort=True)[["exposures", "clicks"]].sum().reset_index()
    per_period[["exposures", "clicks"]] = per_period.groupby(keys)[["exposures", "clicks"]].cumsum()
    if prior is None:
        prior = global_prior(frame["visible"].to_numpy(), frame["clicks"].to_numpy(), len(grid))
    totals = Totals.of(
        {**per_period[["exposures", "clicks"]], "prior": prior[per_period["visible"].to_numpy()]},
        config.ctr_prior_strength,
        tail_threshold=0,  # no cross statistic reads it
    )
    per_period = per_period.assign(**statistics.apply(statistics.CROSS, totals))
    per_period[feature_names.EVENT_TIMESTAMP] = grid[per_period.pop("visible").to_numpy()]
    return per_period[[*keys, feature_names.EVENT_TIMESTAMP, *feature_names.CROSS]]


def sequence_rows(clicks: pd.DataFrame, keys: list[str], grid: pd.DatetimeIndex, length: int) -> pd.DataFrame:
    """The last `length` clicked item ids (oldest first) per key, a row whenever they change."""
    clicks = clicks.sort_values([*keys, schemas.TS], kind="stable").reset_index(drop=True)
    clicks["visible"] = visible_from(clicks[schemas.TS], grid)
    clicks = clicks[clicks["visible"] < len(grid)].reset_index(drop=True)
    group_start = clicks.groupby(keys, sort=False).cumcount().to_numpy()
    last = clicks.groupby([*keys, "visible"], sort=False).tail(1).index.to_numpy()
    items = clicks[schemas.ITEM_ID].to_numpy()
    first = last - np.minimum(group_start[last], length - 1)
    frame = clicks.loc[last, keys].reset_index(drop=True)
    frame[feature_names.EVENT_TIMESTAMP] = grid[clicks.loc[last, "visible"].to_numpy()]
    frame["recent_items"] = [items[a : b + 1].tolist() for a, b in zip(first, last)]
    return frame


def _entity_activity(
    entity: np.ndarray, known: np.ndarray, clock: Clock, threshold: int, config: FeatureConfig
) -> pd.DataFrame:
    return activity_rows(entity[known], clock.events[known], clock.grid, threshold, config, clock.prior)


EventViews = Callable[
    [PreparedData, SemanticTables, SemanticTables, FeatureConfig], tuple[dict[str, pd.DataFrame], pd.DatetimeIndex]
]


def compute_features(
    data: PreparedData,
    users: SemanticTables,
    items: SemanticTables,
    config: FeatureConfig,
    events: EventViews | None = None,
) -> tuple[dict[str, pd.DataFrame], pd.DatetimeIndex]:
    """Every feature view's offline table, keyed by view name (the views of `definitions`), and
    the snapshot times. `events` computes the views that come from events (default: pandas,
    `event_views`; `features.spark.spark_event_views` on Spark); what does not depend on
    events is computed here for both engines."""
    views, grid = (events or event_views)(data, users, items, config)
    return {**views, **static_views(data, users, items, grid[0])}, grid


def tail_thresholds(data: PreparedData) -> dict[str, int]:
    tail = data.card["tail"]
    return {"user": tail["tail_user_max_interactions"], "item": tail["tail_item_max_exposures"]}


def static_views(
    data: PreparedData, users: SemanticTables, items: SemanticTables, start: pd.Timestamp
) -> dict[str, pd.DataFrame]:
    """The views that hold one row per key from the first snapshot on: semantic IDs,
    representations and attributes of each entity, size and mean representation of each cluster."""
    views = {}
    for kind, sem, id_column, key in (
        ("user", users, schemas.USER_ID, feature_names.USER_CLUSTER_ID),
        ("item", items, schemas.ITEM_ID, feature_names.ITEM_CLUSTER_ID),
    ):
        semantic = pd.DataFrame(
            {
                id_column: sem.ids.to_numpy(),
                feature_names.EVENT_TIMESTAMP: start,
                "cluster_id": sem.cluster,
                "codes": list(sem.codes.astype(np.int64)),
                "embedding": list(sem.embeddings.astype(np.float32)),
                "attributes": (
                    user_attributes(data.users, sem.ids) if kind == "user" else item_attributes(data.items, sem.ids)
                ),
            }
        )
        if kind == "item":
            semantic.insert(3, "top_id", sem.codes[:, 0].astype(np.int64))
        views[f"{kind}_semantic"] = semantic
        views[f"{kind}_cluster_profile"] = cluster_profile(sem, key, start)
    return views


def event_views(
    data: PreparedData, users: SemanticTables, items: SemanticTables, config: FeatureConfig
) -> tuple[dict[str, pd.DataFrame], pd.DatetimeIndex]:
    """The views computed from observed training events (activity, cluster averages, crosses,
    sequences) with pandas and numpy, and the snapshot times."""
    events = observed_events(data)
    events[feature_names.USER_CLUSTER_ID] = users.lookup(events[schemas.USER_ID], users.cluster, -1)
    events[feature_names.ITEM_CLUSTER_ID] = items.lookup(events[schemas.ITEM_ID], items.cluster, -1)
    events[feature_names.ITEM_TOP_ID] = items.lookup(events[schemas.ITEM_ID], items.codes[:, 0].astype(np.int64), -1)
    own, shared = clocks(data, events, config)
    thresholds = tail_thresholds(data)
    views: dict[str, pd.DataFrame] = {}
    for kind, sem, id_column in (("user", users, schemas.USER_ID), ("item", items, schemas.ITEM_ID)):
        ids = sem.ids.to_numpy()
        entity = sem.ids.get_indexer(events[id_column])
        known = entity >= 0
        clock = own if kind == "user" else shared
        rows = _entity_activity(entity, known, clock, thresholds[kind], config)
        views[f"{kind}_activity"] = pd.DataFrame(
            {
                id_column: ids[rows["entity"].to_numpy()],
                feature_names.EVENT_TIMESTAMP: clock.grid[rows["snapshot"].to_numpy()],
                **{name: rows[name].to_numpy() for name in feature_names.ACTIVITY},
            }
        )
        key = feature_names.USER_CLUSTER_ID if kind == "user" else feature_names.ITEM_CLUSTER_ID
        clusters, member_cluster = np.unique(sem.cluster, return_inverse=True)
        shared_rows = rows if clock is shared else _entity_activity(entity, known, shared, thresholds[kind], config)
        averaged = cluster_activity_rows(shared_rows, member_cluster, shared.prior, thresholds[kind], config)
        views[f"{kind}_cluster_features"] = pd.DataFrame(
            {
                key: clusters[averaged["cluster"].to_numpy()],
                feature_names.EVENT_TIMESTAMP: shared.grid[averaged["snapshot"].to_numpy()],
                **{name: averaged[name].to_numpy() for name in feature_names.CLUSTER_AVG},
            }
        )
    views[feature_names.CROSS_USER_ITEM_CLUSTER] = cross_rows(
        own.events, [schemas.USER_ID, feature_names.ITEM_CLUSTER_ID], own.grid, config, own.prior
    )
    views[feature_names.CROSS_USER_CLUSTER_ITEM_CLUSTER] = cross_rows(
        shared.events, [feature_names.USER_CLUSTER_ID, feature_names.ITEM_CLUSTER_ID], shared.grid, config, shared.prior
    )
    views[feature_names.USER_SEQUENCE] = sequence_rows(
        own.events[own.events[schemas.LABEL] == 1], [schemas.USER_ID], own.grid, config.user_sequence_length
    )
    # Clicks in time order (ordinal: by position), before the shared clock evens their times.
    order = np.argsort(events[schemas.TS].to_numpy(), kind="stable")
    shared_clicks = shared.events.iloc[order]
    views[feature_names.CLUSTER_SEQUENCE] = sequence_rows(
        shared_clicks[shared_clicks[schemas.LABEL] == 1],
        [feature_names.USER_CLUSTER_ID, feature_names.ITEM_TOP_ID],
        shared.grid,
        config.cluster_sequence_length,
    )
    return views, own.grid.union(shared.grid)
