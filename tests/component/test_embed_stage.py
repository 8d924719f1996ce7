"""`aktrec embed items|users` on tiny synthetic data, cold start, and the embedding checks."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from aktrec import schemas
from aktrec.errors import ValidationFailed
from conftest import run_aktrec


@pytest.fixture(scope="module")
def emb(tmp_path_factory):
    """RAW -> DATA -> EMB (items, then users) through the CLI with the bundled encoder."""
    root = tmp_path_factory.mktemp("embed")
    assert (
        run_aktrec(
            "data",
            "synth",
            "--out",
            root / "raw",
            "--users",
            "80",
            "--items",
            "60",
            "--interactions",
            "3000",
            "--seed",
            "4",
        )
        == 0
    )
    assert run_aktrec("data", "prepare", "--raw", root / "raw", "--out", root / "data", "--test-days", "3") == 0
    (root / "users.yaml").write_text("max_train_samples: 200\nloop: {epochs: 5}\n")
    assert run_aktrec("embed", "items", "--data", root / "data", "--out", root / "emb") == 0
    assert (
        run_aktrec("embed", "users", "--data", root / "data", "--out", root / "emb", "--config", root / "users.yaml")
        == 0
    )
    return root


def test_emb_artifact_has_both_halves_and_metrics(emb):
    from aktrec.embed.stage import read_embeddings

    item_ids, items = read_embeddings(emb / "emb", "item")
    user_ids, users = read_embeddings(emb / "emb", "user")
    assert len(item_ids) == 60 and items.shape == (60, 384) and users.shape == (80, 384)
    assert item_ids.is_unique and user_ids.is_unique
    assert np.allclose(np.linalg.norm(items, axis=1), 1, atol=1e-4)
    metrics = json.loads((emb / "emb" / "metrics.json").read_text())
    assert metrics["items"]["n_pairs"] > 0 and "holdout_recall@10_after" in metrics["items"]
    for key in (
        "heldout_next_item_cosine",
        "heldout_next_item_cosine_history_mean",
        "heldout_category_accuracy",
        "heldout_category_accuracy_history_mode",
    ):
        assert 0 <= metrics["users"][key] <= 1
    for half in ("items", "users"):
        assert json.loads((emb / "emb" / "validation" / half / "summary.json").read_text())["success"]


def test_redoing_items_keeps_the_user_half(emb, tmp_path):
    import shutil

    copy = tmp_path / "emb"
    shutil.copytree(emb / "emb", copy)
    assert run_aktrec("embed", "items", "--data", emb / "data", "--out", copy, "--epochs", "1") == 0
    assert (copy / "user_embeddings.parquet").read_bytes() == (emb / "emb" / "user_embeddings.parquet").read_bytes()
    assert "users" in json.loads((copy / "metrics.json").read_text())


def test_cold_start_embedders_reload_and_match(emb):
    from aktrec.data.prepare import read_prepared
    from aktrec.embed.items import ItemEmbedder
    from aktrec.embed.prompts import item_activity
    from aktrec.embed.stage import read_embeddings
    from aktrec.embed.users import UserEmbedder

    data = read_prepared(emb / "data")
    item_ids, stored = read_embeddings(emb / "emb", "item")
    embedder = ItemEmbedder.load(emb / "emb" / "item_embedder")
    items = data.items.to_pandas().head(5)
    activity = item_activity(data.representation_events(), pd.Index(items[schemas.ITEM_ID]), data.positives_only)
    assert np.allclose(embedder.embed(items, activity), stored[:5], atol=1e-4)
    new_item = pd.DataFrame(
        {
            schemas.ITEM_ID: ["brand-new"],
            schemas.TITLE: ["Nova Labs Matte Lipstick"],
            schemas.CATEGORY: [["Beauty", "Makeup", "Lipstick"]],
        }
    )
    vector = embedder.embed(new_item)  # no activity yet: lowest levels
    assert vector.shape == (1, 384) and np.isfinite(vector).all()

    users = UserEmbedder.load(emb / "emb" / "user_embedder")
    fresh = users.embed([{"gender": "female", "age_group": "25-34"}], [[]])
    assert fresh.shape == (1, 384) and abs(np.linalg.norm(fresh) - 1) < 1e-4
    user_ids, stored_users = read_embeddings(emb / "emb", "user")
    events = data.representation_events()
    clicks = events[events[schemas.LABEL] == 1].sort_values(schemas.TS)
    user = clicks[schemas.USER_ID].value_counts().index[0]
    history = clicks.loc[clicks[schemas.USER_ID] == user, schemas.ITEM_ID].tolist()
    profile = data.users.to_pandas().set_index(schemas.USER_ID).loc[user].to_dict()
    again = users.embed([profile], [history])
    assert np.allclose(again[0], stored_users[user_ids.tolist().index(user)], atol=1e-4)  # same as in training


@pytest.mark.parametrize(
    "damage, expectation",
    [
        (lambda ids, v: (ids, np.vstack([v[:-1], np.full((1, v.shape[1]), np.nan, np.float32)])), "on column 'finite'"),
        (lambda ids, v: (ids, [row[:-1] if k == 0 else row for k, row in enumerate(v)]), "on column 'dim'"),
        (lambda ids, v: (ids.iloc[1:], v[1:]), "expect_table_row_count_to_equal"),
        (
            lambda ids, v: (pd.concat([ids.iloc[:1], ids.iloc[:-1]], ignore_index=True), v),
            "expect_column_values_to_be_unique",
        ),
        (lambda ids, v: (ids, v * 10), "on column 'norm'"),
    ],
)
def test_embedding_checks_fail_on_corrupted_embeddings(emb, tmp_path, damage, expectation):
    from aktrec.embed.checks import embedding_suite
    from aktrec.embed.stage import read_embeddings
    from aktrec.validation.runner import run_suites

    ids, vectors = read_embeddings(emb / "emb", "item")
    bad_ids, bad_vectors = damage(ids, vectors)
    spec = embedding_suite("embeddings.items", schemas.ITEM_ID, bad_ids, bad_vectors, ids, vectors.shape[1])
    with pytest.raises(ValidationFailed, match=expectation):
        run_suites("embeddings", [spec], tmp_path / "validation")
