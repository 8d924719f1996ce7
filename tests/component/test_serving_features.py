"""The predictor's online feature path encodes to exactly what training's point-in-time
retrieval gives for the same (user, candidates) at the latest snapshot, also for a micro-batch
of several users' requests read together."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from aktrec import schemas as S

pytestmark = pytest.mark.component


def test_online_columns_encode_like_offline_point_in_time_features(planted_model, planted_repo):
    from aktrec.ctr.bundle import load_bundle
    from aktrec.features.retrieval import historical_features
    from aktrec.serving.features import OnlineFeatureReader
    from aktrec.serving.requests import ScoringRequest

    bundle = load_bundle(planted_model)
    reader = OnlineFeatureReader(planted_repo, bundle, refresh_seconds=3600)
    items = list(bundle.vocab.item.ids)
    requests = [
        ScoringRequest(bundle.vocab.user.ids[3], items[:40]),
        ScoringRequest(bundle.vocab.user.ids[5], items[20:50]),
    ]
    online = bundle.encode(reader.columns(requests))
    users = [r.user_id for r in requests for _ in r.item_ids]
    candidates = [i for r in requests for i in r.item_ids]
    rows = pd.DataFrame(
        {S.ROW_ID: np.arange(len(users)), S.USER_ID: users, S.ITEM_ID: candidates, S.TS: pd.Timestamp.now(tz="UTC")}
    )
    offline = bundle.encode(
        historical_features(planted_repo, rows, bundle.semantic_tables("user"), bundle.semantic_tables("item"))
    )
    for group in ("ids", "numeric", "sequences"):
        for name, values in getattr(offline, group).items():
            np.testing.assert_allclose(getattr(online, group)[name], values, rtol=1e-6, err_msg=f"{group}.{name}")
    for name, table in offline.tables.items():
        np.testing.assert_allclose(
            online.tables[name][online.rows[name]], table[offline.rows[name]], rtol=1e-6, err_msg=name
        )
    assert np.count_nonzero(offline.sequences["user_sequence"]) > 0  # the comparison saw real features
    assert np.abs(offline.numeric["cross_user_item_cluster"]).sum() > 0
