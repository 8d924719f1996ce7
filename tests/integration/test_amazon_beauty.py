"""The real Amazon Beauty data (../shared/data) through import and prepare."""

from __future__ import annotations

import json

import pytest

from conftest import SHARED_DATA, run_aktrec

AMAZON = SHARED_DATA / "amazon-beauty"


def import_amazon(out, *options) -> int:
    sequences, items = AMAZON / "user_sequence.txt", AMAZON / "Amazon_Beauty.item"
    return run_aktrec("data", "import", "amazon", "--sequences", sequences, "--items", items, "--out", out, *options)


@pytest.mark.skipif(
    not (AMAZON / "user_sequence.txt").is_file(), reason="../shared/data/amazon-beauty is not beside the checkout"
)
def test_import_and_prepare_amazon_beauty(tmp_path):
    raw, data = tmp_path / "raw", tmp_path / "data"
    assert import_amazon(raw) == 0
    assert run_aktrec("data", "prepare", "--raw", raw, "--out", data, "--split", "leave-last-out") == 0
    card = json.loads((data / "card.json").read_text())
    assert card["raw"]["n_users"] == 22_363
    assert card["raw"]["n_items"] == 12_101
    assert card["raw"]["n_positive_interactions"] == 198_502
    assert card["timestamps"] == "ordinal"
    assert card["test"]["n_positive"] == 22_363  # one held-out click per user
    assert abs(card["raw"]["top20_item_share"] - 0.581) < 0.001  # the README's measured shape
    # docs/design.md §1: popularity against uniform negatives reaches about 0.645
    assert 0.62 < card["popularity_baseline"]["test_auc"] < 0.67


@pytest.mark.skipif(
    not (AMAZON / "Amazon_Beauty.inter").is_file(), reason="../shared/data/amazon-beauty is not beside the checkout"
)
def test_import_amazon_beauty_with_real_dates_and_the_shipped_time_split(tmp_path):
    from aktrec.data.prepare import read_prepared

    raw, data = tmp_path / "raw", tmp_path / "data"
    assert import_amazon(raw, "--interactions", AMAZON / "Amazon_Beauty.inter") == 0
    assert run_aktrec("data", "prepare", "--raw", raw, "--out", data, "--split", "time", "--test-days", "30") == 0
    card = json.loads((data / "card.json").read_text())
    assert card["timestamps"] == "time" and card["raw"]["n_positive_interactions"] == 198_502
    assert card["split"]["cutoff"].startswith("2014-06-23") and card["test"]["n_positive"] == 8_275
    prepared = read_prepared(data)
    ctr = prepared.ctr_samples()
    # half of the training reviews build representations, the CTR samples come after them
    assert prepared.train.loc[ctr, "ts"].min() >= prepared.representation_events()["ts"].max()
    assert 0.45 < (~prepared.train.loc[~ctr, "is_sampled"]).sum() / (~prepared.train["is_sampled"]).sum() < 0.55
