"""Feast repository: materialize, list, online reads, engines, parity, idempotence, Redis."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from aktrec import schemas
from aktrec.features.contract import declared_contract
from conftest import materialize, run_aktrec


@pytest.fixture(scope="module")
def repo(planted_repo):
    return planted_repo


@pytest.fixture(scope="module")
def tables(planted_emb):
    from aktrec.data.prepare import read_prepared
    from aktrec.semantic_ids.tables import semantic_tables

    users = semantic_tables(planted_emb / "sid", planted_emb / "emb", "user")
    items = semantic_tables(planted_emb / "sid", planted_emb / "emb", "item")
    return read_prepared(planted_emb / "data"), users, items


def assert_frames_equal(a: pd.DataFrame, b: pd.DataFrame, columns) -> None:
    for column in columns:
        x, y = a[column].reset_index(drop=True), b[column].reset_index(drop=True)
        if isinstance(x.iloc[0], (list, np.ndarray)):
            assert all(
                np.allclose(np.asarray(p, dtype=float), np.asarray(q, dtype=float))
                if column.endswith(("embedding", "codes"))
                else list(p) == list(q)
                for p, q in zip(x, y)
            ), column
        else:
            assert np.allclose(x.astype(float), y.astype(float), equal_nan=True), column


def feature_columns(frame: pd.DataFrame) -> list[str]:
    return [c for c in frame.columns if "__" in c]


def test_feast_lists_the_views_and_the_online_store_answers(repo, tables):
    from aktrec.features.retrieval import online_features, open_store

    feast = Path(sys.executable).with_name("feast")
    listing = subprocess.run(
        [str(feast if feast.exists() else shutil.which("feast")), "feature-views", "list"],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert listing.returncode == 0, listing.stderr
    for view in declared_contract("v1"):
        assert view.name in listing.stdout
    data, users, items = tables
    store, service = open_store(repo)
    user = data.train[schemas.USER_ID].value_counts().index[0]  # the most active user
    candidates = data.train[schemas.ITEM_ID].value_counts().index[:5].tolist() + ["never-seen-item"]
    online = online_features(store, service, user, candidates, users, items)
    assert online[schemas.ITEM_ID].tolist() == candidates  # the order asked for
    assert (online["user_activity__exposures"] > 0).all()
    assert (online["item_activity__exposures"].iloc[:5] > 0).all() and online["item_activity__exposures"].iloc[5] == 0
    assert len(online["user_sequence__recent_items"].iloc[0]) > 0
    assert json.loads((repo / "metrics.json").read_text())["feature_service"] == "aktrec_v1"


def test_training_set_keeps_every_sample_in_order_and_engines_agree(repo, tables):
    from aktrec.features.retrieval import historical_features

    data, users, items = tables
    samples = pd.concat(
        [
            data.train.sample(40, random_state=0),
            data.test.sample(20, random_state=0),
            data.train.nsmallest(5, schemas.TS),
        ]
    )  # the earliest rows precede most feature rows
    asof = historical_features(repo, samples, users, items, engine="asof")
    feast = historical_features(repo, samples, users, items, engine="feast")
    assert asof[schemas.ROW_ID].tolist() == samples[schemas.ROW_ID].tolist() == feast[schemas.ROW_ID].tolist()
    assert len(feature_columns(asof)) == sum(len(view.features) for view in declared_contract("v1"))
    assert_frames_equal(asof, feast, feature_columns(asof))


def test_online_features_equal_offline_retrieval_at_the_same_time(repo, tables):
    from aktrec.features.retrieval import historical_features, online_features, open_store

    data, users, items = tables
    store, service = open_store(repo)
    rng = np.random.default_rng(0)
    for user in rng.choice(data.train[schemas.USER_ID].unique(), size=3, replace=False):
        candidates = rng.choice(items.ids, size=4, replace=False).tolist()
        online = online_features(store, service, user, candidates, users, items)
        later = pd.DataFrame(
            {
                schemas.ROW_ID: range(4),
                schemas.USER_ID: user,
                schemas.ITEM_ID: candidates,
                schemas.TS: pd.Timestamp("2100-01-01", tz="UTC"),
            }
        )
        offline = historical_features(repo, later, users, items)
        assert_frames_equal(online, offline, feature_columns(offline))


def test_rematerialize_is_idempotent_and_a_failed_run_keeps_the_old_store(repo, planted_emb, tables, monkeypatch):
    from feast import FeatureStore

    from aktrec.features.retrieval import online_features, open_store

    data, users, items = tables
    store, service = open_store(repo)
    user, candidates = data.train[schemas.USER_ID].iloc[0], items.ids[:3].tolist()
    before = online_features(store, service, user, candidates, users, items)
    tables_before = {p.name: pd.read_parquet(p) for p in (repo / "data").iterdir()}

    def crash(*args, **kwargs):
        raise RuntimeError("killed during materialization")

    monkeypatch.setattr(FeatureStore, "write_to_online_store", crash)
    with pytest.raises(RuntimeError):
        materialize(planted_emb, repo)
    monkeypatch.undo()
    store, service = open_store(repo)
    assert_frames_equal(
        online_features(store, service, user, candidates, users, items), before, feature_columns(before)
    )
    assert materialize(planted_emb, repo) == 0
    for name, frame in tables_before.items():
        pd.testing.assert_frame_equal(pd.read_parquet(repo / "data" / name), frame)
    store, service = open_store(repo)
    assert_frames_equal(
        online_features(store, service, user, candidates, users, items), before, feature_columns(before)
    )


def test_redis_online_store_is_filled_only_after_validation_and_serves_the_same_features(
    redis_server, planted_emb, repo, tables, tmp_path, monkeypatch
):
    import redis

    import aktrec.features.checks as checks
    from aktrec.artifacts import read_marker
    from aktrec.features.online import STAMP_KEY, materialization_id
    from aktrec.features.repo import REPO_KIND
    from aktrec.features.retrieval import online_features, open_store
    from aktrec.validation.runner import gx_expectations

    redis_repo = tmp_path / "repo-redis"
    arguments = [
        "features",
        "materialize",
        "--data",
        str(planted_emb / "data"),
        "--sids",
        str(planted_emb / "sid"),
        "--repo",
        str(redis_repo),
        "--online-store",
        redis_server,
    ]
    declared = checks.feature_suites

    def failing_suites(contract, views):
        specs = declared(contract, views)
        column = next(column for column in specs[0].frame.columns if specs[0].frame[column].dtype.kind in "if")
        specs[0].expectations.append(gx_expectations().ExpectColumnValuesToBeBetween(column=column, max_value=-1))
        return specs

    monkeypatch.setattr(checks, "feature_suites", failing_suites)
    assert run_aktrec(*arguments) != 0
    monkeypatch.undo()
    client = redis.Redis.from_url(redis_server)
    assert client.dbsize() == 0 and not redis_repo.exists()  # a failed check reaches neither the store nor REPO
    assert run_aktrec(*arguments) == 0
    assert client.get(STAMP_KEY).decode() == materialization_id(read_marker(redis_repo, REPO_KIND))
    assert "type: redis" in (redis_repo / "feature_store.yaml").read_text()
    data, users, items = tables
    user, candidates = data.train[schemas.USER_ID].iloc[3], items.ids[:4].tolist()
    from_redis = online_features(*open_store(redis_repo), user, candidates, users, items)
    from_sqlite = online_features(*open_store(repo), user, candidates, users, items)
    assert (from_redis["user_activity__exposures"] > 0).all()
    assert_frames_equal(from_redis, from_sqlite, feature_columns(from_sqlite))


def test_a_password_protected_redis_is_filled_with_the_password_from_the_uri_and_never_stores_it(
    planted_emb, tmp_path, monkeypatch, capsys
):
    import redis

    from aktrec.errors import ArtifactError
    from aktrec.features.online import STAMP_KEY, fill_online, online_store_problem
    from aktrec.features.repo import REDIS_PASSWORD_ENV
    from aktrec.features.retrieval import open_store
    from conftest import running_redis

    secret = "s3cret-with=signs:and@"
    monkeypatch.delenv(REDIS_PASSWORD_ENV, raising=False)
    with running_redis(password=secret) as url:
        repo = tmp_path / "repo"
        quoted = "s3cret-with%3Dsigns%3Aand%40"
        uri = f"redis://:{quoted}@{url.removeprefix('redis://')}"
        arguments = ["features", "materialize", "--data", str(planted_emb / "data"), "--sids", str(planted_emb / "sid")]
        assert run_aktrec(*arguments, "--repo", repo, "--online-store", uri) == 0
        assert redis.Redis.from_url(url, password=secret).get(STAMP_KEY)
        written = "".join(path.read_text(errors="ignore") for path in repo.rglob("*") if path.is_file())
        assert secret not in written and quoted not in written and secret not in capsys.readouterr().err
        store, _ = open_store(repo)  # a reader finds the password in the environment the URI moved it to
        assert store.get_online_features(features=["user_activity:exposures"], entity_rows=[{"user_id": "u0"}])

        monkeypatch.setenv(REDIS_PASSWORD_ENV, "wrong-password")
        with pytest.raises(ArtifactError) as error:
            fill_online(repo, url)
        assert "refused the credentials" in str(error.value) and "wrong-password" not in str(error.value)
        problem = online_store_problem(open_store(repo)[0], repo)  # the predictor's readiness says the same
        assert problem.startswith("the online store refused the credentials"), problem
        monkeypatch.delenv(REDIS_PASSWORD_ENV)
        assert online_store_problem(open_store(repo)[0], repo).startswith("the online store refused the credentials")
