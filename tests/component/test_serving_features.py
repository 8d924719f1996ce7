"""The predictor's online feature path encodes to exactly what training's point-in-time
retrieval gives for the same (user, candidates) at the latest snapshot, also for a micro-batch
of several users' requests read together."""

from __future__ import annotations

import numpy as np
import pandas as pd

from aktrec import schemas


def test_online_columns_encode_like_offline_point_in_time_features(planted_model, planted_repo):
    from aktrec.config import ServingConfig
    from aktrec.ctr.bundle import load_bundle
    from aktrec.features.retrieval import historical_features
    from aktrec.serving.features import OnlineFeatureReader
    from aktrec.serving.requests import ScoringRequest

    bundle = load_bundle(planted_model)
    reader = OnlineFeatureReader(planted_repo, bundle, ServingConfig(cache_refresh_seconds=3600))
    items = list(bundle.vocab.item.ids)
    requests = [
        ScoringRequest(bundle.vocab.user.ids[3], items[:40]),
        ScoringRequest(bundle.vocab.user.ids[5], items[20:50]),
    ]
    online = bundle.encode(reader.columns(requests))
    users = [r.user_id for r in requests for _ in r.item_ids]
    candidates = [i for r in requests for i in r.item_ids]
    rows = pd.DataFrame(
        {
            schemas.ROW_ID: np.arange(len(users)),
            schemas.USER_ID: users,
            schemas.ITEM_ID: candidates,
            schemas.TS: pd.Timestamp.now(tz="UTC"),
        }
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


def test_a_flood_of_unknown_ids_reads_defaults_and_stores_nothing(planted_model, planted_repo):
    """Memory bound: ids a client invents (misspelled, garbage, new) read the views' defaults
    and leave the in-memory views exactly as large as materialization recorded them."""
    import uuid

    from aktrec.config import ServingConfig
    from aktrec.ctr.bundle import load_bundle
    from aktrec.serving.features import OnlineFeatureReader
    from aktrec.serving.requests import ScoringRequest

    bundle = load_bundle(planted_model)
    reader = OnlineFeatureReader(planted_repo, bundle, ServingConfig(cache_refresh_seconds=3600))
    cache = reader.materialization.cache
    sizes = {name: (len(view), [len(column) for column in view.columns]) for name, view in cache.items()}
    known = list(bundle.vocab.item.ids[:5])
    for _ in range(20):
        invented = [uuid.uuid4().hex for _ in range(500)]
        columns = reader.columns([ScoringRequest(f"nobody-{uuid.uuid4().hex}", [*known, *invented])])
    assert {name: (len(view), [len(column) for column in view.columns]) for name, view in cache.items()} == sizes
    exposures = columns["item_activity__exposures"]
    assert (exposures[len(known) :] == 0).all() and (exposures[: len(known)] > 0).any()
