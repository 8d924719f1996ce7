"""`aktrec semantic-ids` on tiny data with planted structure, and its GX checks."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from aktrec import schemas
from aktrec.errors import ValidationFailed


def test_sid_artifact_codes_clusters_and_metrics(planted_emb, tiny_raw):
    sid = planted_emb / "sid"
    items = pq.read_table(sid / "item_semantic_ids.parquet").to_pandas()
    assert len(items) == tiny_raw.items.num_rows and items[schemas.ITEM_ID].is_unique
    assert items[schemas.CODES].map(len).eq(3).all()
    metrics = json.loads((sid / "metrics.json").read_text())
    item_metrics = metrics["items"]
    coherence = item_metrics["coherence"]["category"]
    assert coherence["purity"] > coherence["random_purity"] + 0.3  # planted categories are found
    assert item_metrics["cluster_sizes"]["median"] >= 3  # calibrated collision
    assert all(level["utilisation"] > 0 for level in item_metrics["levels"])
    assert 0 <= item_metrics["tail_with_head_share"] <= 1
    assert metrics["users"]["n_entities"] == tiny_raw.users.num_rows
    assert json.loads((sid / "validation" / "summary.json").read_text())["success"]


def test_the_verb_reads_its_config_then_set_then_named_options(planted_emb, tmp_path):
    from conftest import run_aktrec

    (tmp_path / "sid.yaml").write_text("items: {codebook_size: 8, loop: {epochs: 3}}\nusers: {loop: {epochs: 3}}\n")
    out = tmp_path / "sid"
    code = run_aktrec(
        "semantic-ids",
        *("--data", planted_emb / "data", "--embeddings", planted_emb / "emb", "--out", out),
        *("--config", tmp_path / "sid.yaml", "--set", "users.codebook_size=8", "--set", "cluster_prefix=2"),
        *("--cluster-prefix", 1),
    )
    assert code == 0
    settings = json.loads((out / "_aktrec.json").read_text())["config"]
    assert settings["items"]["codebook_size"] == settings["users"]["codebook_size"] == 8
    assert settings["items"]["loop"]["epochs"] == 3 and settings["cluster_prefix"] == 1
    assert json.loads((out / "metrics.json").read_text())["items"]["cluster_prefix"] == 1


def test_cold_start_entity_lands_in_a_populated_cluster(planted_emb):
    from aktrec.embed.stage import read_embeddings
    from aktrec.semantic_ids.assign import SemanticIndex

    index = SemanticIndex.load(planted_emb / "sid", "item")
    ids, vectors = read_embeddings(planted_emb / "emb", "item")
    new = vectors[:3] + 0.05
    clusters = index.clusters(index.codes(new))
    assert np.isin(clusters, index.known_clusters).all()
    stored = pq.read_table(planted_emb / "sid" / "item_semantic_ids.parquet").to_pandas()
    assert (stored[schemas.CLUSTER_ID].head(3).to_numpy() == index.clusters(index.codes(vectors[:3]))).all()


@pytest.mark.parametrize(
    "damage, expectation",
    [
        ("out_of_range", "code_1"),
        ("duplicate", "expect_column_values_to_be_unique"),
        ("collapsed", "semantic_ids.items.levels: expect_column_values_to_be_between on column 'utilisation'"),
    ],
)
def test_semantic_id_checks_fail_on_corrupted_codes(planted_emb, tmp_path, damage, expectation):
    from aktrec.semantic_ids.checks import semantic_id_suites
    from aktrec.validation.runner import run_suites

    stored = pq.read_table(planted_emb / "sid" / "item_semantic_ids.parquet").to_pandas()
    ids, codes, cluster = (
        stored[schemas.ITEM_ID],
        np.stack(stored[schemas.CODES].to_numpy()),
        stored[schemas.CLUSTER_ID].to_numpy(),
    )
    if damage == "out_of_range":
        codes[0, 0] = 99
    elif damage == "duplicate":
        ids = pd.concat([ids.iloc[:1], ids.iloc[:-1]], ignore_index=True)
    else:
        codes[:, 0] = 0
    specs = semantic_id_suites("semantic_ids.items", schemas.ITEM_ID, ids, codes, cluster, 16, 0.1, 0.9)
    with pytest.raises(ValidationFailed, match=expectation):
        run_suites("semantic_ids", specs, tmp_path / "validation")
