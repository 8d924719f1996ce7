"""Materialization over a long history: rows bounded by events + keys (not entities x
snapshots), and every feature a sample reads equals the brute-force value from earlier events."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from aktrec import schemas
from aktrec.config import FeatureConfig
from aktrec.data.prepare import PreparedData
from aktrec.features import names as feature_names
from aktrec.features.compute import compute_features
from aktrec.semantic_ids.tables import SemanticTables

T0 = pd.Timestamp("2010-01-01", tz="UTC")
YEARS = 10
TAIL = {"tail_user_max_interactions": 3, "tail_item_max_exposures": 4}
CONFIG = FeatureConfig(window_snapshots=30)


@pytest.fixture(scope="module")
def decade():
    """12 users, 9 items, 1,200 events over ten years at daily snapshots (~3,650 of them)."""
    rng = np.random.default_rng(11)
    n = 1_200
    ts = T0 + pd.to_timedelta(np.sort(rng.integers(0, YEARS * 365 * 86_400, n)), unit="s")
    train = pd.DataFrame(
        {
            schemas.ROW_ID: np.arange(n),
            schemas.USER_ID: rng.choice([f"u{i}" for i in range(12)], n),
            schemas.ITEM_ID: rng.choice([f"i{i}" for i in range(9)], n),
            schemas.TS: ts,
            schemas.LABEL: rng.integers(0, 2, n).astype(np.int8),
            schemas.IS_SAMPLED: False,
        }
    )
    cutoff = ts.max() + pd.Timedelta(days=1)
    data = PreparedData(
        train=train,
        test=train.iloc[:0],
        items=None,
        users=None,
        card={"tail": TAIL, "timestamps": "time"},
        cutoff=cutoff,
    )

    def tables(prefix: str, count: int, clusters: int) -> SemanticTables:
        return SemanticTables(
            ids=pd.Index([f"{prefix}{i}" for i in range(count)]),
            codes=np.arange(count)[:, None] % clusters,
            cluster=np.arange(count) % clusters,
            embeddings=rng.normal(size=(count, 4)).astype(np.float32),
        )

    users, items = tables("u", 12, 4), tables("i", 9, 3)
    views, grid = compute_features(data, users, items, CONFIG)
    return train, users, items, views, grid


def test_offline_rows_grow_with_events_and_keys_not_snapshots(decade):
    train, users, items, views, grid = decade
    assert len(grid) > 3_600
    n_events, n_keys = len(train), len(users.ids) + len(items.ids)
    # activity: an event's snapshot and its window expiry; cluster averages: their members' rows + one per cluster
    assert (
        len(views[feature_names.USER_ACTIVITY]) <= 2 * n_events
        and len(views[feature_names.ITEM_ACTIVITY]) <= 2 * n_events
    )
    assert len(views[feature_names.USER_CLUSTER_AVG]) <= len(views[feature_names.USER_ACTIVITY]) + 4
    for view, key in (
        (feature_names.USER_SEMANTIC, schemas.USER_ID),
        (feature_names.ITEM_SEMANTIC, schemas.ITEM_ID),
        (feature_names.USER_CLUSTER_PROFILE, feature_names.USER_CLUSTER_ID),
        (feature_names.ITEM_CLUSTER_PROFILE, feature_names.ITEM_CLUSTER_ID),
    ):
        assert views[view].groupby(key).size().max() == 1
    total = sum(len(frame) for frame in views.values())
    assert total <= 12 * n_events + 2 * n_keys
    for view, n_clusters in ((feature_names.USER_CLUSTER_AVG, 4), (feature_names.ITEM_CLUSTER_AVG, 3)):
        assert len(views[view]) < 0.25 * n_clusters * len(grid)  # a dense grid: clusters x snapshots


def _brute_force(
    train: pd.DataFrame,
    column: str,
    members: list[str],
    at: pd.Timestamp,
    grid: pd.DatetimeIndex,
    prior_at: pd.Timestamp | None = None,
) -> dict:
    """Activity of `members` (their average for several) from the events visible at `at`;
    rates shrink towards the CTR of the events before `prior_at` (the row's own snapshot)."""
    k = np.searchsorted(grid.asi8, at.value, side="right") - 1
    seen = train[train[schemas.TS] < grid[k]]
    recent_from = grid[k - CONFIG.window_snapshots] if k >= CONFIG.window_snapshots else grid[0] - pd.Timedelta(days=1)
    before_prior = train[train[schemas.TS] < (prior_at if prior_at is not None else grid[k])]
    prior = before_prior[schemas.LABEL].mean() if len(before_prior) else 0.5
    threshold = TAIL["tail_user_max_interactions"] if column == schemas.USER_ID else TAIL["tail_item_max_exposures"]
    values = []
    for member in members:
        own = seen[seen[column] == member]
        recent = own[own[schemas.TS] >= recent_from]
        values.append(
            {
                "exposures": len(own),
                "clicks": own[schemas.LABEL].sum(),
                "recent_exposures": len(recent),
                "recent_clicks": recent[schemas.LABEL].sum(),
                "activity_level": min(np.floor(np.log2(1 + len(own))), 10),
                "is_tail": float(len(own) < threshold),
            }
        )
    out = pd.DataFrame(values).mean().to_dict()
    strength = CONFIG.ctr_prior_strength
    out["ctr"] = (out["clicks"] + strength * prior) / (out["exposures"] + strength)
    out["recent_ctr"] = (out["recent_clicks"] + strength * prior) / (out["recent_exposures"] + strength)
    return out


def _as_of(frame: pd.DataFrame, key: str, value, at: pd.Timestamp) -> pd.Series | None:
    rows = frame[(frame[key] == value) & (frame[feature_names.EVENT_TIMESTAMP] <= at)]
    return None if rows.empty else rows.sort_values(feature_names.EVENT_TIMESTAMP).iloc[-1]


def test_features_equal_the_brute_force_computation_from_earlier_events(decade):
    train, users, items, views, grid = decade
    rng = np.random.default_rng(3)
    for at in T0 + pd.to_timedelta(rng.integers(40, YEARS * 365, 25), unit="D") + pd.Timedelta(hours=7):
        for kind, sem, column in (("user", users, schemas.USER_ID), ("item", items, schemas.ITEM_ID)):
            entity = sem.ids[rng.integers(len(sem.ids))]
            row = _as_of(views[f"{kind}_activity"], column, entity, at)
            expected = _brute_force(
                train, column, [entity], at, grid, None if row is None else row[feature_names.EVENT_TIMESTAMP]
            )
            if expected["exposures"] == 0:
                assert row is None  # reads the defaults
            else:
                for name in feature_names.ACTIVITY:
                    assert row[name] == pytest.approx(expected[name]), (kind, entity, at, name)
            cluster = sem.cluster[sem.ids.get_loc(entity)]
            members = list(sem.ids[sem.cluster == cluster])
            key = feature_names.USER_CLUSTER_ID if kind == "user" else feature_names.ITEM_CLUSTER_ID
            row = _as_of(views[f"{kind}_cluster_features"], key, cluster, at)
            expected = _brute_force(train, column, members, at, grid, row[feature_names.EVENT_TIMESTAMP])
            for name in feature_names.ACTIVITY:
                assert row[f"avg_{name}"] == pytest.approx(expected[name]), (kind, cluster, at, name)
