"""`aktrec train` on tiny data: bundle, metrics.json, gate, round trip, errors, the tail gain."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from aktrec import schemas
from conftest import materialize, run_aktrec

SLICE_KEYS = {"auc", "gauc", "logloss", "n", "n_users"}


@pytest.fixture(scope="module")
def model_dir(planted_model):
    return planted_model


def test_train_writes_bundle_metrics_comparison_and_gate(model_dir):
    files = {p.name for p in model_dir.iterdir()}
    assert {
        "config.json",
        "model.safetensors",
        "vocab",
        "semantic",
        "metrics.json",
        "comparison.md",
        "gate.json",
        "validation",
        "_aktrec.json",
    } <= files
    assert not any(p.suffix in {".pt", ".pkl", ".bin"} for p in model_dir.rglob("*"))
    metrics = json.loads((model_dir / "metrics.json").read_text())
    assert {"name", "n_train", "n_test", "tail_user_max_interactions", "tail_item_max_exposures"} <= set(
        metrics["dataset"]
    )
    assert set(metrics["models"]) == {"base", "strong_base", "aktrec", "faerec", "lightgbm", "popularity"}
    for model in metrics["models"].values():
        assert set(model) == {"total", "head", "tail"}
        for part in model.values():
            assert set(part) == SLICE_KEYS
        assert model["head"]["n"] + model["tail"]["n"] == model["total"]["n"] == metrics["dataset"]["n_test"]
        assert 0.0 <= model["total"]["auc"] <= 1.0
    assert metrics["models"]["popularity"]["total"]["logloss"] is None  # a count is not a probability
    assert set(metrics["validation"]) == set(metrics["models"])  # what the gate reads
    assert metrics["validation"]["aktrec"]["total"]["n"] == metrics["dataset"]["n_validation"]
    unseen = metrics["dataset"]["test_unseen_by_models"]
    assert 0 <= unseen["users"] <= unseen["of_users"] and 0 <= unseen["items"] <= unseen["of_items"]
    gate = json.loads((model_dir / "gate.json").read_text())
    assert gate["model"] == "aktrec" and isinstance(gate["promote"], bool)
    assert (model_dir / "validation" / "gx" / "uncommitted" / "data_docs" / "local_site" / "index.html").is_file()
    config = json.loads((model_dir / "config.json").read_text())
    assert config["feature_service"] == "aktrec_v1" and config["variant"] == "aktrec"
    comparison = (model_dir / "comparison.md").read_text()
    assert "| aktrec |" in comparison
    tuned = metrics["training"]["lightgbm"]
    assert len(tuned["tries"]) == 4 and f"LightGBM: {tuned['settings']}, the best validation GAUC of 4" in comparison


def test_bundle_round_trip_gives_identical_predictions(model_dir, planted_emb, planted_repo):
    from aktrec.ctr.bundle import load_bundle, recorded_train_config
    from aktrec.data.prepare import read_prepared
    from aktrec.features.retrieval import historical_features

    first, second = load_bundle(model_dir), load_bundle(model_dir)
    sa, sb = first.model.state_dict(), second.model.state_dict()
    assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)
    test = read_prepared(planted_emb / "data").test
    frame = historical_features(planted_repo, test, first.semantic_tables("user"), first.semantic_tables("item"))
    scores = first.predict(frame)
    assert scores.shape == (len(test),) and np.isfinite(scores).all()
    np.testing.assert_array_equal(scores, second.predict(frame))
    # The same rows scored one request at a time equal the batch (no cross-row leakage).
    one = frame.iloc[[3]].reset_index(drop=True)
    assert first.predict(one)[0] == pytest.approx(scores[3], abs=1e-6)
    # The settings it was trained with, which the monitor splits the training data by.
    trained_with = recorded_train_config(model_dir)
    assert trained_with.deploy == "aktrec" and trained_with.loop.epochs == 2
    assert trained_with.variants == ("base", "strong_base", "aktrec", "faerec")


def test_promotion_gate_fails_clearly_on_a_threshold(model_dir, planted_emb, planted_repo, tmp_path):
    strict = "promotion: {min_total_auc: 0.999, min_slice_samples: 10}\ntrain: {epochs: 1}\n"
    (tmp_path / "strict.yaml").write_text(strict)
    out = tmp_path / "model"
    assert (
        run_aktrec(
            "train",
            "--data",
            planted_emb / "data",
            "--repo",
            planted_repo,
            "--out",
            out,
            "--config",
            tmp_path / "strict.yaml",
        )
        == 0
    )
    gate = json.loads((out / "gate.json").read_text())
    assert gate["promote"] is False
    assert "expect_column_values_to_be_between on column 'total_auc'" in gate["failure"]


def test_the_champion_on_validation_is_deployed_said_why_and_served(planted_emb, planted_repo, tmp_path):
    from aktrec.ctr.bundle import load_bundle
    from aktrec.data.prepare import read_prepared
    from aktrec.features.retrieval import historical_features

    out = tmp_path / "model"
    arguments = ["--data", str(planted_emb / "data"), "--repo", str(planted_repo), "--out", str(out)]
    assert run_aktrec("train", *arguments, "--variants", "base,strong_base,aktrec", "--epochs", "1") == 0
    metrics = json.loads((out / "metrics.json").read_text())
    champion = metrics["champion"]
    metric = champion["metric"].rsplit(" ", 1)[1]
    scores = {name: metrics["validation"][name]["total"][metric] for name in ("aktrec", "strong_base")}
    passing = {name: score for name, score in scores.items() if name not in champion["failed_gate"]} or scores
    assert champion["candidates"] == scores and champion["chosen"] == max(passing, key=passing.get)
    chosen = champion["chosen"]
    assert metrics["deploy"] == chosen and json.loads((out / "gate.json").read_text())["model"] == chosen
    assert json.loads((out / "config.json").read_text())["variant"] == chosen
    assert f"Deployed: {chosen}: the champion, the highest validation total" in (out / "comparison.md").read_text()
    bundle = load_bundle(out)  # the predictor's loader serves whichever member won
    test = read_prepared(planted_emb / "data").test.head(50)
    frame = historical_features(planted_repo, test, bundle.semantic_tables("user"), bundle.semantic_tables("item"))
    assert np.isfinite(bundle.predict(frame)).all()


def test_a_per_user_split_validates_on_each_known_users_latest_samples(tmp_path, tiny_raw):
    """Known users: validation is each user's latest CTR samples (as the test is each user's
    latest interactions), so its users have IDs, and its head/tail flags count all of training
    but validation, as the test's count all of training."""
    from aktrec.config import CtrTrainConfig, SplitConfig, TrainConfig
    from aktrec.ctr.stage import load_training_data
    from aktrec.semantic_ids.planted import build_planted_set
    from conftest import materialize

    build_planted_set(tmp_path, tiny_raw, SplitConfig(method="per-user", test_share=0.2), codebook_size=8, epochs=10)
    assert materialize(tmp_path, tmp_path / "repo") == 0
    config = TrainConfig(variants=("strong_base",), loop=CtrTrainConfig(epochs=1))
    training = load_training_data(tmp_path / "data", tmp_path / "repo", config)
    fit, valid = training.samples["fit"], training.samples["valid"]
    assert set(valid[schemas.USER_ID]) <= set(fit[schemas.USER_ID]) and len(valid) > 100
    observed = training.data.train[~training.data.train[schemas.ROW_ID].isin(valid[schemas.ROW_ID])]
    assert not training.data.train[schemas.IS_SAMPLED].any()  # real non-clicks: every row is an event
    tail = training.data.tail_config
    expected = valid[schemas.USER_ID].map(observed[schemas.USER_ID].value_counts()).fillna(0).to_numpy() < (
        tail.tail_user_max_interactions
    )
    expected |= valid[schemas.ITEM_ID].map(observed[schemas.ITEM_ID].value_counts()).fillna(0).to_numpy() < (
        tail.tail_item_max_exposures
    )
    assert (valid[schemas.IS_TAIL_SAMPLE].to_numpy() == expected).all() and 0 < expected.sum() < len(valid)
    latest_fit = fit.groupby(schemas.USER_ID)[schemas.TS].max()
    assert (valid[schemas.TS].to_numpy() >= valid[schemas.USER_ID].map(latest_fit).to_numpy()).all()
    out = tmp_path / "model"
    arguments = ["--data", tmp_path / "data", "--repo", tmp_path / "repo", "--out", out, "--variants", "strong_base"]
    assert run_aktrec("train", *arguments, "--epochs", 1) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["dataset"]["test_unseen_by_models"]["users"] == 0  # every test user has an ID
    assert (
        metrics["validation"]["strong_base"]["head"]["n"] > 0 and metrics["validation"]["strong_base"]["tail"]["n"] > 0
    )


def test_an_id_dropout_grid_keeps_each_networks_best_share_on_validation(planted_emb, planted_repo, tmp_path):
    out = tmp_path / "model"
    arguments = ["--data", str(planted_emb / "data"), "--repo", str(planted_repo), "--out", str(out)]
    grid = ("--variants", "strong_base,aktrec", "--epochs", "1", "--set", "loop.id_dropout=[0.0, 0.6]")
    assert run_aktrec("train", *arguments, *grid) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    for variant in ("strong_base", "aktrec"):
        history = metrics["training"][variant]
        tries = history["id_dropout_tries"]
        assert [tried["id_dropout"] for tried in tries] == [0.0, 0.6]
        criterion = f"valid_{history['early_stopping']}"
        kept = max(tries, key=lambda tried: tried[criterion])  # max keeps the first of equals, as the step does
        assert history["id_dropout"] == kept["id_dropout"] and history[criterion] == kept[criterion]
        # The network scored (and deployed) is the kept one: its validation AUC is the kept try's.
        assert metrics["validation"][variant]["total"]["auc"] == pytest.approx(kept["valid_auc"], abs=1e-9)
    kept_shares = {variant: metrics["training"][variant]["id_dropout"] for variant in ("strong_base", "aktrec")}
    assert (
        f"ID dropout kept on validation: strong_base {kept_shares['strong_base']}, aktrec {kept_shares['aktrec']}."
        in (out / "comparison.md").read_text()
    )


def test_bad_input_is_one_line_and_writes_nothing(planted_emb, planted_repo, tmp_path, capsys):
    out = tmp_path / "model"
    cases = [
        (["--repo", str(planted_emb / "sid")], "holds a 'semantic_ids' artifact, expected 'feature_repo'"),
        (["--repo", str(planted_repo), "--variants", "base,nope"], "unknown variant 'nope'"),
        (["--repo", str(planted_repo), "--variants", "aktrec"], "promotion.compare_with"),
        (["--repo", str(planted_repo), "--epochs", "0"], "epochs must be >= 1"),
        (["--repo", str(planted_repo), "--set", "loop.id_dropout=[]"], "id_dropout must be in [0, 1) or a non-empty"),
        (["--repo", str(planted_repo), "--set", "loop.id_dropout=[0.0, 1.0]"], "got (0.0, 1.0)"),
    ]
    for extra, message in cases:
        assert run_aktrec("train", "--data", planted_emb / "data", "--out", out, *extra) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("aktrec: error:") and message in err and "\n" not in err
        assert not out.exists()


# Everyone present from day 0: the planted test isolates cluster transfer to sparse users, with
# no cold-start ids (first seen after training) in the mix to move the margin from seed to seed.
STATIONARY = {"user_arrival_share": 0.0, "item_arrival_share": 0.0}


def test_aktrec_beats_base_on_tail_gauc_with_planted_clusters(tmp_path_factory):
    """Items of one category share click behaviour and the semantic clusters follow the
    categories: cluster knowledge must lift the tail (fixed seeds)."""
    from aktrec.config import SynthConfig
    from aktrec.data.synth import generate
    from conftest import build_planted

    root = build_planted(
        tmp_path_factory.mktemp("planted"),
        generate(SynthConfig(n_users=1500, n_items=1500, n_interactions=40_000, n_days=20, seed=3, **STATIONARY)),
        test_days=3,
    )
    assert materialize(root, root / "repo") == 0
    assert (
        run_aktrec("train", "--data", root / "data", "--repo", root / "repo", "--out", root / "model", "--seed", "0")
        == 0
    )
    models = json.loads((root / "model" / "metrics.json").read_text())["models"]
    assert models["aktrec"]["tail"]["gauc"] > models["base"]["tail"]["gauc"] + 0.01
    assert models["aktrec"]["total"]["auc"] > models["base"]["total"]["auc"]
