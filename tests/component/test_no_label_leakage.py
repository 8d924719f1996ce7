"""A CTR training sample's own label is readable through none of the paths that feed it:
item representations (prompt activity words, co-occurrence alignment), user representations
(click histories), and point-in-time statistics, sequences and cross features (docs/design.md §1.1)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from aktrec import schemas
from aktrec.features import names as feature_names
from aktrec.features.contract import declared_contract


@pytest.fixture(scope="module")
def planted(tiny_raw):
    """DATA, and the same DATA with one CTR training click turned into a click on another item
    and a non-click: what that sample would reveal if any path read it."""
    from aktrec.config import PrepareConfig
    from aktrec.data.prepare import prepare

    data = prepare(tiny_raw, PrepareConfig())
    ctr = data.ctr_samples() & (data.train[schemas.LABEL] == 1).to_numpy() & ~data.train[schemas.IS_SAMPLED].to_numpy()
    row = int(np.flatnonzero(ctr)[len(np.flatnonzero(ctr)) // 2])
    sample = data.train.iloc[row]
    other_item = next(i for i in data.train[schemas.ITEM_ID].unique() if i != sample[schemas.ITEM_ID])
    changed = data.train.copy()
    changed.loc[changed.index[row], [schemas.ITEM_ID, schemas.LABEL]] = [other_item, 0]
    return data, dataclasses.replace(data, train=changed), sample


def test_the_sample_is_a_ctr_training_sample_and_not_a_representation_event(planted):
    data, _, sample = planted
    assert sample[schemas.ROW_ID] not in set(data.representation_events()[schemas.ROW_ID])
    assert sample[schemas.TS] >= pd.Timestamp(data.card["split"]["representation_cutoff"])


def test_representations_do_not_read_it(planted, tiny_text_model):
    from aktrec.config import EncoderConfig, ItemEmbedConfig, LoopConfig, UserEmbedConfig, UserModelLoopConfig
    from aktrec.embed.items import embed_items, item_table
    from aktrec.embed.users import ItemCatalog, embed_users

    encoder = EncoderConfig(model=str(tiny_text_model), batch_size=32)
    item_config = ItemEmbedConfig(encoder=encoder, loop=LoopConfig(epochs=1), pair_min_count=1)
    user_config = UserEmbedConfig(encoder=encoder, loop=UserModelLoopConfig(epochs=3), max_train_samples=200)
    outputs = []
    for data in planted[:2]:
        ids, vectors, metrics, _ = embed_items(data, item_config)
        assert metrics["n_pairs"] > 0  # alignment did train on co-occurring pairs
        catalog = ItemCatalog.build(
            item_table(data).set_index(schemas.ITEM_ID).reindex(ids[schemas.ITEM_ID]).reset_index(),
            vectors,
            user_config.history_title_words,
        )
        user_ids, user_vectors, _, _ = embed_users(data, catalog, user_config)
        outputs.append((vectors, user_vectors))
    (items_a, users_a), (items_b, users_b) = outputs
    np.testing.assert_array_equal(items_a, items_b)
    np.testing.assert_array_equal(users_a, users_b)


def test_point_in_time_features_do_not_read_it(planted):
    from aktrec.config import FeatureConfig
    from aktrec.features.compute import compute_features
    from aktrec.semantic_ids.tables import SemanticTables

    data, changed, sample = planted
    rng = np.random.default_rng(0)

    def tables(ids) -> SemanticTables:
        ids = pd.Index(sorted(ids))
        return SemanticTables(
            ids=ids,
            codes=np.arange(len(ids))[:, None] % 5,
            cluster=np.arange(len(ids)) % 5,
            embeddings=rng.normal(size=(len(ids), 4)).astype(np.float32),
        )

    users, items = tables(data.train[schemas.USER_ID].unique()), tables(data.train[schemas.ITEM_ID].unique())
    keys = {
        schemas.USER_ID: sample[schemas.USER_ID],
        schemas.ITEM_ID: sample[schemas.ITEM_ID],
        feature_names.USER_CLUSTER_ID: users.cluster[users.ids.get_loc(sample[schemas.USER_ID])],
        feature_names.ITEM_CLUSTER_ID: items.cluster[items.ids.get_loc(sample[schemas.ITEM_ID])],
        feature_names.ITEM_TOP_ID: items.codes[items.ids.get_loc(sample[schemas.ITEM_ID]), 0],
    }
    read = []
    for prepared in (data, changed):
        views, _ = compute_features(prepared, users, items, FeatureConfig())
        features = {}
        for view in declared_contract("v1"):
            frame = views[view.name]
            mask = frame[feature_names.EVENT_TIMESTAMP] <= sample[schemas.TS]
            for key in view.join_keys:
                mask &= frame[key] == keys[key]
            rows = frame[mask].sort_values(feature_names.EVENT_TIMESTAMP)
            features[view.name] = None if rows.empty else rows.iloc[-1][list(view.features)].to_dict()
        read.append(features)
    assert read[0].keys() == read[1].keys()
    for view in read[0]:
        assert str(read[0][view]) == str(read[1][view]), view
    assert any(value is not None for value in read[0].values())
