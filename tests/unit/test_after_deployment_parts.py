"""The after-deployment library on hand-made data: the prediction log's writer and reader,
the drift statistic, the readout's attribution and lift, the inputs of offline scoring."""

from __future__ import annotations

import threading
import time

import numpy as np
import pandas as pd
import pytest

from aktrec import schemas
from aktrec.artifacts import write_parquet_file
from aktrec.config import MonitorConfig, PredictionLogConfig, ReadoutConfig, ServingConfig, from_dict
from aktrec.data.contract import normalize_outcomes, normalize_score_requests
from aktrec.errors import AktrecError, ArtifactError, DataError
from aktrec.monitoring.monitor import _bins, _shares, psi, shift, skew_table
from aktrec.monitoring.prediction_log import LoggedRequest, PredictionLogger, digest, read_prediction_log
from aktrec.monitoring.readout import CLICKED, attribute, ctr_lift

SCALARS = ["user_activity__clicks", "user_attributes__age"]
LISTS = ["item_semantic__embedding"]


def request(user: str, items: list[str], request_id: str = "r") -> LoggedRequest:
    n = len(items)
    return LoggedRequest(
        request_id=request_id,
        instance=0,
        user_id=user,
        item_ids=items,
        scores=np.linspace(0.1, 0.9, n, dtype=np.float32),
        unknown_user=False,
        unknown_items=np.zeros(n, bool),
        described_items=np.zeros(n, bool),
        is_tail=np.arange(n) % 2 == 1,
        features={
            SCALARS[0]: np.arange(n, dtype=np.float64),
            SCALARS[1]: np.array(["30-39"] * n),
            LISTS[0]: np.array([np.full(4, i, np.float32) for i in range(n)] + [None], dtype=object)[:n],
        },
    )


def logger(uri, **settings) -> PredictionLogger:
    return PredictionLogger(
        PredictionLogConfig(uri=str(uri), **settings), "release-1", "stable", "aktrec", SCALARS, LISTS
    )


def test_logged_requests_become_one_row_per_candidate_in_whole_shards(tmp_path):
    sink = logger(tmp_path / "log", shard_rows=5)
    sink.log([request("u1", ["a", "b", "c"], "r1"), request("u2", ["d", "e", "f"], "r2")])
    sink.log([request("u3", ["g"], "r3")])
    sink.close()
    shards = sorted((tmp_path / "log").rglob("*"))
    assert [p.name for p in shards if p.is_file() and p.name.startswith(".")] == []  # no temporary file left
    assert len([p for p in shards if p.suffix == ".parquet"]) == 2  # rotated at 5 rows, the rest at close
    rows = read_prediction_log(str(tmp_path / "log"))
    assert list(rows[schemas.ITEM_ID]) == list("abcdefg") and list(rows[schemas.POSITION]) == [0, 1, 2, 0, 1, 2, 0]
    assert rows.columns[: len(schemas.PREDICTION_LOG)].tolist() == schemas.PREDICTION_LOG.names
    assert rows[SCALARS[0]].tolist() == [0, 1, 2, 0, 1, 2, 0] and set(rows[SCALARS[1]]) == {"30-39"}
    assert rows[schemas.DIGEST_PREFIX + LISTS[0]].iloc[1] == digest(np.full(4, 1.0))
    assert rows[schemas.IS_TAIL].tolist() == [False, True, False, False, True, False, False]
    assert set(rows[schemas.RELEASE]) == {"release-1"} and set(rows[schemas.ARM]) == {"stable"}


def test_the_log_is_read_by_time_window_and_says_when_it_has_nothing(tmp_path):
    sink = logger(tmp_path / "log", shard_seconds=0.05)
    sink.log([request("u1", ["a"], "r1")])
    time.sleep(0.3)
    middle = pd.Timestamp.now(tz="UTC")
    sink.log([request("u2", ["b"], "r2")])
    sink.close()
    assert list(read_prediction_log(str(tmp_path / "log"), since=middle)[schemas.ITEM_ID]) == ["b"]
    assert list(read_prediction_log(str(tmp_path / "log"), until=middle)[schemas.ITEM_ID]) == ["a"]
    with pytest.raises(ArtifactError, match="no logged predictions between"):
        read_prediction_log(str(tmp_path / "log"), since=middle + pd.Timedelta(days=2))
    with pytest.raises(ArtifactError, match="no such directory"):
        read_prediction_log(str(tmp_path / "nowhere"))
    write_parquet_file(
        pd.DataFrame({"x": [1]}).pipe(lambda f: __import__("pyarrow").Table.from_pandas(f)),
        tmp_path / "other" / "a.parquet",
    )
    with pytest.raises(ArtifactError, match="not a prediction log"):
        read_prediction_log(str(tmp_path / "other"))


def test_a_failing_sink_or_a_full_queue_drops_records_and_never_raises(tmp_path, monkeypatch):
    blocked = tmp_path / "a-file"
    blocked.write_text("not a directory")
    sink = logger(blocked, shard_rows=1)
    sink.log([request("u1", ["a"])])
    sink.close()
    assert sink.failed_shards == 1 and sink.written_shards == 0
    stuck = threading.Event()
    monkeypatch.setattr(PredictionLogger, "_run", lambda self: stuck.wait(5))  # a writer that takes nothing
    full = logger(tmp_path / "log", queue_requests=1)
    full.log([request("u1", ["a"]), request("u2", ["b"]), request("u3", ["c"])])
    assert full.dropped_requests == 2
    stuck.set()
    monkeypatch.undo()
    unsampled = logger(tmp_path / "none", sample_rate=0.0)
    unsampled.log([request("u1", ["a"])])
    unsampled.close()
    assert not (tmp_path / "none").exists()


def test_logging_settings_are_checked():
    config = from_dict(ServingConfig, {"arm": "canary", "prediction_log": {"uri": "s3://b/log", "sample_rate": 0.1}})
    assert config.arm == "canary" and config.prediction_log.sample_rate == 0.1
    with pytest.raises(AktrecError, match="sample_rate must be in"):
        PredictionLogConfig(sample_rate=1.5)
    with pytest.raises(AktrecError, match="arm must name"):
        ServingConfig(arm=" ")
    with pytest.raises(AktrecError, match="max_psi"):
        MonitorConfig(max_psi=0)
    with pytest.raises(AktrecError, match="bootstrap"):
        ReadoutConfig(bootstrap=10)


def test_psi_is_zero_for_the_same_distribution_and_grows_with_a_shift():
    rng = np.random.default_rng(0)
    reference = pd.Series(rng.normal(size=5000))
    binning = _bins(reference, MonitorConfig())
    same = psi(_shares(reference, binning), _shares(pd.Series(rng.normal(size=5000)), binning))
    shifted = psi(_shares(reference, binning), _shares(pd.Series(rng.normal(1.0, size=5000)), binning))
    assert same < 0.02 and shifted > 0.5
    # A feature with few values (a cluster average) that moves a little stays in its bins.
    few = pd.Series(np.repeat([0.1, 0.2, 0.3, 0.4], 100))
    nudged = few * 1.02
    assert psi(_shares(few, _bins(few, MonitorConfig())), _shares(nudged, _bins(few, MonitorConfig()))) < 1e-6
    categories = pd.Series(["a"] * 50 + ["b"] * 50)
    by_category = _bins(categories, MonitorConfig())
    assert psi(_shares(categories, by_category), _shares(pd.Series(["c"] * 100), by_category)) > 5


def test_the_shift_reads_how_far_a_distribution_moved_in_standard_deviations():
    rng = np.random.default_rng(0)
    reference = rng.normal(size=4000)
    assert shift(rng.normal(size=4000), reference, 1.0) < 0.06
    assert shift(reference + 0.5, reference, 1.0) == pytest.approx(0.5, abs=1e-9)
    assert shift(reference * 0 + 3, reference * 0 + 3, 0.0) == 0.0


def test_skew_counts_the_rows_whose_served_value_differs_from_the_offline_one():
    served = pd.DataFrame(
        {
            schemas.DESCRIBED_ITEM: [False, False, False, True],
            "v__count": [1.0, 2.0, 3.0, 99.0],
            "v__level": ["a", "b", "b", "z"],
            schemas.DIGEST_PREFIX + "v__vector": [digest([1.0, 2.0])] * 4,
        }
    )
    offline = pd.DataFrame(
        {"v__count": [1.0, 2.0000001, 5.0, 0.0], "v__level": ["a", "b", "c", "a"], "v__vector": [[1.0, 2.0]] * 4}
    )
    skew = skew_table(served, offline, MonitorConfig(skew_tolerance=1e-4))
    assert skew.mean().round(3).to_dict() == {"v__count": 0.333, "v__level": 0.333, "v__vector": 0.0}


def logged_rows() -> pd.DataFrame:
    t0 = pd.Timestamp("2026-01-01", tz="UTC")
    return pd.DataFrame(
        {
            schemas.REQUEST_ID: ["r1", "r1", "r2", "r3"],
            schemas.USER_ID: ["u1", "u1", "u2", "u3"],
            schemas.ITEM_ID: ["a", "b", "a", "c"],
            schemas.TS: [t0, t0, t0 + pd.Timedelta(hours=1), t0],
        }
    )


def test_an_impression_is_clicked_by_its_request_or_within_the_window_after_it():
    t0 = pd.Timestamp("2026-01-01", tz="UTC")
    clicks = normalize_outcomes(
        pd.DataFrame(
            {
                schemas.USER_ID: ["u1", "u2", "u3", "u9"],
                schemas.ITEM_ID: ["b", "a", "c", "a"],
                schemas.TS: [t0 + pd.Timedelta(minutes=5), t0 - pd.Timedelta(minutes=1), t0 + pd.Timedelta(days=3), t0],
            }
        )
    )
    # u1/b within the window; u2/a before its impression; u3/c after the 24 h window; u9 never shown
    assert attribute(logged_rows(), clicks, ReadoutConfig()).tolist() == [False, True, False, False]
    by_request = clicks.assign(**{schemas.REQUEST_ID: ["r9", "r2", None, None]})
    assert attribute(logged_rows(), by_request, ReadoutConfig()).tolist() == [False, False, True, False]
    with pytest.raises(DataError, match=r"outcomes\.ts"):
        normalize_outcomes(pd.DataFrame({schemas.USER_ID: ["u"], schemas.ITEM_ID: ["i"], schemas.TS: ["yesterday"]}))


def test_the_canary_lift_has_a_bootstrap_ci_over_requests():
    rng = np.random.default_rng(1)

    def arm(ctr: float, requests: int) -> pd.DataFrame:
        return pd.DataFrame(
            {
                schemas.REQUEST_ID: np.repeat(np.arange(requests), 10).astype(str),
                CLICKED: rng.random(requests * 10) < ctr,
            }
        )

    lift = ctr_lift(arm(0.1, 800), arm(0.2, 200), ReadoutConfig())
    assert 0.7 < lift["lift"] < 1.3 and 0 < lift["low"] < lift["lift"] < lift["high"]
    same = ctr_lift(arm(0.1, 800), arm(0.1, 200), ReadoutConfig())
    assert same["low"] < 0 < same["high"]
    with pytest.raises(AktrecError, match="stable arm has no clicks"):
        ctr_lift(arm(0.0, 100), arm(0.1, 100), ReadoutConfig())


def test_requests_to_score_need_a_user_and_candidates_and_default_to_now():
    now = pd.Timestamp("2026-02-01 12:00", tz="UTC")
    table = normalize_score_requests(
        pd.DataFrame(
            {
                schemas.USER_ID: ["u1", "u2"],
                schemas.ITEM_IDS: [["a", "b"], ["c"]],
                schemas.TS: [None, "2026-01-05T10:00:00Z"],
            }
        ),
        now,
    )
    assert table[schemas.TS].tolist() == [now, pd.Timestamp("2026-01-05 10:00", tz="UTC")]
    with pytest.raises(DataError, match=r"requests\.item_ids: row 1: expected a non-empty list"):
        normalize_score_requests(pd.DataFrame({schemas.USER_ID: ["u1", "u2"], schemas.ITEM_IDS: [["a"], []]}), now)
    with pytest.raises(DataError, match="null or empty item id"):
        normalize_score_requests(pd.DataFrame({schemas.USER_ID: ["u1"], schemas.ITEM_IDS: [["a", None]]}), now)
    with pytest.raises(DataError, match=r"requests\.item_ids: required column is missing"):
        normalize_score_requests(pd.DataFrame({schemas.USER_ID: ["u1"]}), now)


def test_a_parquet_file_is_written_whole_or_not_at_all(tmp_path, monkeypatch):
    import pyarrow as pa
    import pyarrow.parquet as pq

    import aktrec.artifacts

    target = tmp_path / "scores.parquet"
    write_parquet_file(pa.table({"x": [1, 2]}), target)

    def interrupted(table, path):
        path.write_bytes(b"PAR1 half a file")
        raise OSError("disk full")

    monkeypatch.setattr(aktrec.artifacts, "write_parquet", interrupted)
    with pytest.raises(OSError, match="disk full"):
        write_parquet_file(pa.table({"x": [3]}), target)
    monkeypatch.undo()
    assert pq.read_table(target).num_rows == 2 and [p.name for p in tmp_path.iterdir()] == ["scores.parquet"]
    with pytest.raises(ArtifactError, match="is a directory"):
        write_parquet_file(pa.table({"x": [1]}), tmp_path)
