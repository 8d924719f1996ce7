"""Sequence-only (ordinal) data: a user's features come from that user's own earlier positions,
item and cluster statistics of a training sample from the representation events (never its own
label), of a test sample from all of training; no position clock shared by users."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from aktrec import schemas
from aktrec.features import names as feature_names


@pytest.fixture(scope="module")
def ordinal(tmp_path_factory, tiny_raw):
    """The tiny synthetic set as positions only: each user's clicks in order, no labels."""
    from aktrec.config import SplitConfig
    from aktrec.data.raw import RawData
    from aktrec.semantic_ids.planted import build_planted_set
    from aktrec.semantic_ids.tables import semantic_tables
    from conftest import materialize

    root = tmp_path_factory.mktemp("ordinal")
    clicks = tiny_raw.interactions.to_pandas()
    clicks = clicks[clicks[schemas.LABEL] == 1].sort_values([schemas.USER_ID, schemas.TS], kind="stable")
    position = clicks.groupby(schemas.USER_ID).cumcount()
    interactions = pa.table(
        {
            schemas.USER_ID: clicks[schemas.USER_ID].to_numpy(),
            schemas.ITEM_ID: clicks[schemas.ITEM_ID].to_numpy(),
            schemas.TS: (pd.Timestamp(0, tz="UTC") + pd.to_timedelta(position, unit="s")).astype("datetime64[us, UTC]"),
        }
    )
    raw = RawData(interactions=interactions, items=tiny_raw.items, users=None, ts_kind="ordinal", source="test")
    data = build_planted_set(root, raw, SplitConfig(method="leave-last-out"), codebook_size=8, epochs=10)
    assert materialize(root, root / "repo") == 0
    users, items = (
        semantic_tables(root / "sid", root / "emb", "user"),
        semantic_tables(root / "sid", root / "emb", "item"),
    )
    return data, root / "repo", users, items


def test_test_samples_read_their_users_own_history(ordinal):
    from aktrec.features.retrieval import historical_features

    data, repo, users, items = ordinal
    frame = historical_features(repo, data.test, users, items)
    observed = data.train[~data.train[schemas.IS_SAMPLED]]
    earlier_clicks = observed.groupby(schemas.USER_ID).size()
    has_history = frame[schemas.USER_ID].map(earlier_clicks).fillna(0).to_numpy() > 0
    assert has_history.sum() > 20
    sequence = frame[feature_names.output_column(feature_names.USER_SEQUENCE, "recent_items")]
    exposures = frame[feature_names.output_column(feature_names.USER_ACTIVITY, "exposures")].to_numpy()
    assert all(len(items_) > 0 for items_ in sequence[has_history])
    assert (exposures[has_history] == frame.loc[has_history, schemas.USER_ID].map(earlier_clicks).to_numpy()).all()
    # a test sample's item statistics count all of training
    item_clicks = observed.groupby(schemas.ITEM_ID).size()
    read = frame[feature_names.output_column(feature_names.ITEM_ACTIVITY, "exposures")].to_numpy()
    assert np.array_equal(read, frame[schemas.ITEM_ID].map(item_clicks).fillna(0).to_numpy())


def test_training_samples_never_read_their_own_or_a_later_label(ordinal):
    from aktrec.features.retrieval import historical_features

    data, repo, users, items = ordinal
    samples = data.train[data.ctr_samples()]
    frame = historical_features(repo, samples, users, items)
    representation = data.representation_events()
    # a user's own views: only the positions before the sample
    before = [
        int(((representation[schemas.USER_ID] == user) & (representation[schemas.TS] < ts)).sum())
        for user, ts in zip(samples[schemas.USER_ID], samples[schemas.TS])
    ]
    assert np.array_equal(
        frame[feature_names.output_column(feature_names.USER_ACTIVITY, "exposures")].to_numpy(), before
    )
    # shared views (items): the representation events only, none of the CTR training samples
    item_clicks = representation.groupby(schemas.ITEM_ID).size()
    read = frame[feature_names.output_column(feature_names.ITEM_ACTIVITY, "exposures")].to_numpy()
    assert np.array_equal(read, frame[schemas.ITEM_ID].map(item_clicks).fillna(0).to_numpy())
    # the behaviour sequence: the user's own earlier clicks, in order
    length = 20
    by_user = representation.sort_values([schemas.USER_ID, schemas.TS], kind="stable").groupby(schemas.USER_ID)
    for user, ts, sequence in zip(
        samples[schemas.USER_ID],
        samples[schemas.TS],
        frame[feature_names.output_column(feature_names.USER_SEQUENCE, "recent_items")],
    ):
        history = by_user.get_group(user) if user in by_user.groups else representation.iloc[:0]
        assert list(sequence) == history.loc[history[schemas.TS] < ts, schemas.ITEM_ID].tolist()[-length:]
