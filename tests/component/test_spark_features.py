"""features.engine spark: the same offline tables and training sets as pandas (Spark local mode)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from aktrec import schemas
from aktrec.cli import main
from aktrec.features.contract import declared_contract
from conftest import JOIN_KEYS, assert_same_table


@pytest.fixture(scope="module")
def spark_repo(planted_emb, tmp_path_factory):
    """The planted data materialized with `features.engine: spark`."""
    root = tmp_path_factory.mktemp("spark")
    (root / "features.yaml").write_text("engine: spark\n")
    args = ["features", "materialize", "--data", str(planted_emb / "data"), "--sids", str(planted_emb / "sid")]
    assert main([*args, "--repo", str(root / "repo"), "--config", str(root / "features.yaml")]) == 0
    return root / "repo"


def test_every_view_and_column_equals_the_pandas_engine(planted_repo, spark_repo):
    for name in JOIN_KEYS:
        pandas_rows = pd.read_parquet(planted_repo / "data" / f"{name}.parquet")
        spark_rows = pd.read_parquet(spark_repo / "data" / f"{name}.parquet")
        assert len(pandas_rows) > 0, name
        assert_same_table(name, pandas_rows, spark_rows)


def test_the_spark_training_set_join_equals_merge_asof(spark_repo, planted_emb):
    from aktrec.data.prepare import read_prepared
    from aktrec.features.retrieval import historical_features
    from aktrec.semantic_ids.tables import semantic_tables

    data = read_prepared(planted_emb / "data")
    users = semantic_tables(planted_emb / "sid", planted_emb / "emb", "user")
    items = semantic_tables(planted_emb / "sid", planted_emb / "emb", "item")
    sampled = data.train.sample(300, random_state=1)
    earliest = data.train.drop(sampled.index).nsmallest(5, schemas.TS)
    samples = pd.concat([sampled, data.test, earliest])
    asof = historical_features(spark_repo, samples, users, items, engine="asof")
    spark = historical_features(spark_repo, samples, users, items, engine="spark")
    assert spark[schemas.ROW_ID].tolist() == samples[schemas.ROW_ID].tolist()
    features = [column for column in asof.columns if "__" in column]
    assert len(features) == sum(len(view.features) for view in declared_contract("v1"))
    for column in features:
        if asof[column].dtype == object:
            assert all(np.array_equal(p, q) for p, q in zip(asof[column], spark[column])), column
        else:
            assert np.allclose(asof[column], spark[column]), column
    assert (spark["user_activity__exposures"] > 0).any()  # the join found rows, not only defaults


def test_ordinal_data_is_refused_by_name(tmp_path):
    from aktrec.config import FeatureConfig, SynthConfig
    from aktrec.data.prepare import prepare
    from aktrec.data.synth import generate
    from aktrec.errors import DataError
    from aktrec.features.spark import spark_event_views

    ordinal = prepare(generate(SynthConfig(n_users=20, n_items=10, n_interactions=200, n_days=6, seed=1)))
    ordinal.card["timestamps"] = "ordinal"  # positions, not times (what the importer records for sequences)
    with pytest.raises(DataError, match="features.engine 'spark' needs real timestamps"):
        spark_event_views(ordinal, None, None, FeatureConfig(engine="spark"))
