"""Feature computation on constructed cases: snapshots, no leakage, crosses, sequences."""

from __future__ import annotations

import numpy as np
import pandas as pd

from aktrec import schemas
from aktrec.config import FeatureConfig
from aktrec.features import names as feature_names
from aktrec.features.compute import (
    SemanticTables,
    activity_rows,
    cross_rows,
    sequence_rows,
    snapshot_grid,
    visible_from,
)

DAY = pd.Timedelta(days=1)
T0 = pd.Timestamp("2025-01-01", tz="UTC")


def events(rows) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=[schemas.USER_ID, schemas.ITEM_ID, schemas.TS, schemas.LABEL])
    frame[schemas.TS] = pd.to_datetime(frame[schemas.TS], utc=True)
    return frame


def test_snapshot_grid_ends_at_cutoff_or_after_last_event():
    train = events([("u", "a", T0 + pd.Timedelta(hours=5), 1), ("u", "b", T0 + 2 * DAY + pd.Timedelta(hours=3), 0)])
    grid = snapshot_grid(
        train[schemas.TS].min(), train[schemas.TS].max(), "time", T0 + 2 * DAY + pd.Timedelta(hours=12), FeatureConfig()
    )
    assert list(grid) == [T0, T0 + DAY, T0 + 2 * DAY, T0 + 2 * DAY + pd.Timedelta(hours=12)]
    positions = events([("u", "a", pd.Timestamp(0, unit="s", tz="UTC") + pd.Timedelta(seconds=k), 1) for k in (0, 3)])
    ordinal = snapshot_grid(positions[schemas.TS].min(), positions[schemas.TS].max(), "ordinal", None, FeatureConfig())
    assert len(ordinal) == 5 and ordinal[-1] > positions[schemas.TS].max()  # one snapshot per position


def test_an_event_is_visible_only_from_the_first_snapshot_after_it():
    grid = pd.DatetimeIndex([T0, T0 + DAY, T0 + 2 * DAY])
    ts = pd.Series(
        pd.to_datetime([T0, T0 + pd.Timedelta(hours=1), T0 + DAY, T0 + 2 * DAY - pd.Timedelta(microseconds=1)])
    )
    assert visible_from(ts, grid).tolist() == [1, 1, 2, 2]


def test_no_leakage_of_own_label_or_future_events():
    """u clicks a at day 0 and day 1, sees b at day 2: the sample at day 1 10:00 sees only the
    day-0 click; the one at day 2 sees both clicks, never its own event or a later one."""
    train = events(
        [
            ("u", "a", T0 + pd.Timedelta(hours=10), 1),
            ("u", "a", T0 + DAY + pd.Timedelta(hours=10), 1),
            ("u", "b", T0 + 2 * DAY + pd.Timedelta(hours=10), 0),
        ]
    )
    grid = pd.DatetimeIndex([T0, T0 + DAY, T0 + 2 * DAY, T0 + 3 * DAY])
    rows = activity_rows(
        np.zeros(3, dtype=int), train, grid, tail_threshold=5, config=FeatureConfig(window_snapshots=1)
    )
    assert rows["snapshot"].tolist() == [1, 2, 3]  # nothing is visible at snapshot 0: no row
    assert rows["exposures"].tolist() == [1, 2, 3]
    assert rows["clicks"].tolist() == [1, 2, 2]
    assert rows["recent_exposures"].tolist() == [1, 1, 1]  # one-period window
    assert rows["is_tail"].tolist() == [1, 1, 1]
    # the sample at day 1 10:00 reads snapshot 1 (T0 + 1 day): its own click is not counted
    sample_snapshot = np.searchsorted(grid.asi8, (T0 + DAY + pd.Timedelta(hours=10)).value, side="right") - 1
    assert rows.set_index("snapshot").loc[sample_snapshot, "clicks"] == 1
    prior = 1.0  # as of snapshot 1 every visible exposure was a click
    assert np.isclose(rows["ctr"].iloc[0], (1 + 10 * prior) / (1 + 10))


def test_a_row_where_an_event_leaves_the_recent_window():
    train = events([("u", "a", T0 + pd.Timedelta(hours=1), 1)])
    grid = pd.date_range(T0, periods=10, freq="D")
    rows = activity_rows(
        np.zeros(1, dtype=int), train, grid, tail_threshold=5, config=FeatureConfig(window_snapshots=3)
    )
    assert rows["snapshot"].tolist() == [1, 4]
    assert rows["recent_exposures"].tolist() == [1, 0] and rows["exposures"].tolist() == [1, 1]


def test_cross_rows_are_cumulative_and_written_on_change():
    train = events(
        [
            ("u", "a", T0 + pd.Timedelta(hours=1), 1),
            ("u", "b", T0 + pd.Timedelta(hours=2), 0),
            ("u", "a", T0 + DAY + pd.Timedelta(hours=1), 0),
            ("v", "a", T0 + pd.Timedelta(hours=3), 1),
        ]
    )
    train[feature_names.ITEM_CLUSTER_ID] = [7, 7, 7, 7]
    grid = pd.DatetimeIndex([T0, T0 + DAY, T0 + 2 * DAY])
    rows = cross_rows(train, [schemas.USER_ID, feature_names.ITEM_CLUSTER_ID], grid, FeatureConfig())
    u = rows[rows[schemas.USER_ID] == "u"]
    assert u[feature_names.EVENT_TIMESTAMP].tolist() == [T0 + DAY, T0 + 2 * DAY]
    assert u["exposures"].tolist() == [2, 3] and u["clicks"].tolist() == [1, 1]


def test_sequences_hold_the_last_clicks_before_each_snapshot():
    clicks = events(
        [("u", f"i{k}", T0 + pd.Timedelta(hours=k), 1) for k in range(5)]
        + [("u", "late", T0 + DAY + pd.Timedelta(hours=1), 1)]
    )
    grid = pd.DatetimeIndex([T0, T0 + DAY, T0 + 2 * DAY])
    rows = sequence_rows(clicks, [schemas.USER_ID], grid, length=3)
    assert rows["recent_items"].tolist() == [["i2", "i3", "i4"], ["i3", "i4", "late"]]
    assert rows[feature_names.EVENT_TIMESTAMP].tolist() == [T0 + DAY, T0 + 2 * DAY]


def test_semantic_lookup_marks_unknown_ids():
    tables = SemanticTables(
        ids=pd.Index(["a", "b"]),
        codes=np.array([[1, 2], [3, 4]]),
        cluster=np.array([10, 30]),
        embeddings=np.zeros((2, 2)),
    )
    assert tables.lookup(pd.Series(["b", "zz", "a"]), tables.cluster, -1).tolist() == [30, -1, 10]


def test_committed_feature_repo_matches_the_generated_one():
    from aktrec.features.repo import definitions_module, store_yaml
    from conftest import REPO_ROOT

    assert (REPO_ROOT / "feature_repo" / "definitions.py").read_text() == definitions_module("v1")
    assert (REPO_ROOT / "feature_repo" / "feature_store.yaml").read_text() == store_yaml("sqlite")
