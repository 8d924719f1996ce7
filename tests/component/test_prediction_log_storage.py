"""The prediction log on object storage (moto's S3 on 127.0.0.1): shards uploaded whole, read
back by time window, as a cluster's predictors and `aktrec monitor` use it."""

from __future__ import annotations

import numpy as np
import pandas as pd

from aktrec import schemas
from aktrec.config import PredictionLogConfig
from aktrec.monitoring.prediction_log import LoggedRequest, PredictionLogger, read_prediction_log
from conftest import BUCKET


def answered(user: str, items: list[str]) -> LoggedRequest:
    n = len(items)
    return LoggedRequest(
        request_id=f"{user}-request",
        instance=0,
        user_id=user,
        item_ids=items,
        scores=np.full(n, 0.5, np.float32),
        unknown_user=True,
        unknown_items=np.ones(n, bool),
        described_items=np.zeros(n, bool),
        is_tail=np.ones(n, bool),
        features={"user_activity__clicks": np.zeros(n)},
    )


def test_shards_go_to_object_storage_whole_and_read_back(object_store):
    uri = f"s3://{BUCKET}/prediction-log"
    sink = PredictionLogger(
        PredictionLogConfig(uri=uri, shard_rows=2),
        "s3://aktrec/releases/r1",
        "canary",
        "aktrec",
        ["user_activity__clicks"],
        [],
    )
    started = pd.Timestamp.now(tz="UTC")
    sink.log([answered("u1", ["a", "b"]), answered("u2", ["c"])])
    sink.close()
    assert sink.written_shards == 2 and sink.failed_shards == 0
    keys = object_store.find(f"{BUCKET}/prediction-log")
    assert len(keys) == 2 and all("/date=" in key and key.endswith(".parquet") for key in keys)
    rows = read_prediction_log(uri, since=started)
    assert list(rows[schemas.ITEM_ID]) == ["a", "b", "c"] and set(rows[schemas.ARM]) == {"canary"}
    assert set(rows[schemas.RELEASE]) == {"s3://aktrec/releases/r1"}
