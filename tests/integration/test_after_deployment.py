"""The rehearsal of what happens after deployment, on a synthetic set with steady traffic (every
user and item there from day 0): train a stable model and a canary, serve both with the
prediction log on, replay the held-out window with 20% of requests on the canary, then
`monitor` (passes), `monitor` on a log whose served feature was broken (fails, naming it),
`readout` (per arm, the canary's lift with its CI), `score` (equal to the logged online
scores) and the monitor and readout pipelines on the local KFP runner."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from aktrec import schemas

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from conftest import build_planted  # noqa: E402

BROKEN_FEATURE = "user_activity__ctr"
# This set spans 12 days with ~150 validation samples: cumulative counts (cluster-pair
# exposures) grow ~0.3 standard deviations between validation and serving. Real data sits
# below the default 0.3 (Amazon Beauty: 0.18, docs/benchmarks.md); a broken feature moves ~1.
MONITOR_CONFIG = "max_shift: 0.5\n"


def cli(*args: str) -> int:
    from aktrec.cli import main

    return main([str(arg) for arg in args])


@pytest.fixture(scope="module")
def steady(tmp_path_factory) -> Path:
    """DATA, SID, the materialized repository and two bundles: AKT-Rec (stable) and base (canary)."""
    from aktrec.config import SynthConfig
    from aktrec.data.synth import generate

    config = SynthConfig(
        n_users=150,
        n_items=100,
        n_interactions=6_000,
        n_days=12,
        seed=7,
        user_arrival_share=0.0,
        item_arrival_share=0.0,
    )
    root = build_planted(tmp_path_factory.mktemp("steady"), generate(config))
    data, repo = root / "data", root / "repo"
    assert cli("features", "materialize", "--data", data, "--sids", root / "sid", "--repo", repo) == 0
    for out, variants, deploy, epochs in (
        ("stable", "base,strong_base,aktrec", "aktrec", 2),
        ("canary", "base,strong_base", "base", 1),
    ):
        assert (
            cli(
                "train",
                "--data",
                data,
                "--repo",
                repo,
                "--out",
                root / out,
                "--variants",
                variants,
                "--deploy",
                deploy,
                "--epochs",
                epochs,
            )
            == 0
        )
    (root / "monitor.yaml").write_text(MONITOR_CONFIG)
    return root


@pytest.fixture(scope="module")
def served(steady):
    """The test window replayed against the two predictors; the log and the replayed requests."""
    from aktrec.data.prepare import read_prepared
    from aktrec.monitoring.replay import replay, window_requests
    from aktrec.serving.local import running_predictor

    log = steady / "prediction-log"
    (steady / "serving.yaml").write_text("prediction_log: {shard_rows: 400, shard_seconds: 1}\n")
    common = ["--config", steady / "serving.yaml", "--prediction-log", log]
    requests = window_requests(read_prepared(steady / "data").test, candidates=8)
    with (
        running_predictor(steady / "stable", steady / "repo", [str(a) for a in common], lifetime_s=600) as stable,
        running_predictor(
            steady / "canary", steady / "repo", [*map(str, common), "--arm", "canary"], lifetime_s=600
        ) as canary,
    ):
        replayed = replay({"stable": stable, "canary": canary}, 0.2, requests, seed=3)
    return log, replayed


def test_the_log_holds_every_answered_candidate_with_its_arm_and_features(served):
    from aktrec.monitoring.prediction_log import read_prediction_log

    log, replayed = served
    rows = read_prediction_log(str(log))
    assert len(rows) == replayed[schemas.ITEM_IDS].map(len).sum()
    assert set(rows[schemas.REQUEST_ID]) == set(replayed[schemas.REQUEST_ID])
    arms = rows.drop_duplicates(schemas.REQUEST_ID).set_index(schemas.REQUEST_ID)[schemas.ARM]
    assert (arms.reindex(replayed[schemas.REQUEST_ID]).to_numpy() == replayed[schemas.ARM].to_numpy()).all()
    assert 0.1 < (replayed[schemas.ARM] == "canary").mean() < 0.3
    assert set(rows.groupby(schemas.ARM)[schemas.VARIANT].first().items()) == {("stable", "aktrec"), ("canary", "base")}
    assert BROKEN_FEATURE in rows and any(c.startswith(schemas.DIGEST_PREFIX) for c in rows)
    assert len(list(log.rglob("*.parquet"))) >= 2  # rotated by size (400 rows)


def test_monitor_passes_on_steady_traffic_and_names_a_broken_feature(steady, served, tmp_path, capsys):
    log, _ = served
    common = ["--model", steady / "stable", "--repo", steady / "repo", "--data", steady / "data"]
    common += ["--config", steady / "monitor.yaml"]
    assert cli("monitor", "--prediction-log", log, *common, "--out", tmp_path / "ok") == 0
    assert "Monitor passed" in capsys.readouterr().out
    report = json.loads((tmp_path / "ok" / "monitor.json").read_text())
    assert report["success"] and max(report["skew"].values()) == 0.0  # served = offline point in time
    assert (tmp_path / "ok" / "validation" / "gx").is_dir() and "Skew" in (tmp_path / "ok" / "monitor.html").read_text()

    broken = tmp_path / "broken-log"
    shutil.copytree(log, broken)
    for shard in broken.rglob("*.parquet"):  # a materialization bug: the feature is served as 0
        table = pq.read_table(shard).to_pandas()
        pq.write_table(__import__("pyarrow").Table.from_pandas(table.assign(**{BROKEN_FEATURE: 0.0})), shard)
    assert cli("monitor", "--prediction-log", broken, *common, "--out", tmp_path / "bad") == 2
    error = capsys.readouterr().err
    assert f"column '{BROKEN_FEATURE}'" in error and "monitor.skew" in error
    report = json.loads((tmp_path / "bad" / "monitor.json").read_text())  # written before failing
    assert not report["success"] and report["skew"][BROKEN_FEATURE] > 0.5
    assert not report["drift"][BROKEN_FEATURE]["passed"]
    assert cli("monitor", "--prediction-log", log, *common, "--out", tmp_path / "x", "--arm", "blue") == 2
    assert "no rows of arm 'blue'" in capsys.readouterr().err


def test_readout_gives_each_arm_and_the_canary_lift_with_its_ci(served, tmp_path, capsys):
    from aktrec.monitoring.replay import outcomes

    log, replayed = served
    clicks = tmp_path / "clicks.parquet"
    outcomes(replayed).to_parquet(clicks)
    assert cli("readout", "--prediction-log", log, "--outcomes", clicks, "--out", tmp_path / "readout") == 0
    printed = capsys.readouterr().out
    assert "canary CTR lift over stable:" in printed and "95% CI" in printed
    summary = json.loads((tmp_path / "readout" / "readout.json").read_text())
    labels = pd.Series([label for labels in replayed["labels"] for label in labels])
    arms = summary["arms"]
    assert sum(arm["clicks"] for arm in arms.values()) == labels.sum()  # every click found its impression
    for arm in ("stable", "canary"):
        shown = replayed[replayed[schemas.ARM] == arm]
        expected = np.mean([label for labels in shown["labels"] for label in labels])
        assert arms[arm]["slices"]["total"]["ctr"] == pytest.approx(expected)
        assert sum(point["n"] for point in arms[arm]["calibration"]) == arms[arm]["slices"]["total"]["impressions"]
    lift = summary["lift"]
    assert lift["low"] <= lift["lift"] <= lift["high"]
    assert lift["lift"] == pytest.approx(
        arms["canary"]["slices"]["total"]["ctr"] / arms["stable"]["slices"]["total"]["ctr"] - 1
    )


def test_score_offline_equals_the_logged_online_scores(steady, served, tmp_path):
    from aktrec.monitoring.prediction_log import read_prediction_log

    log, _ = served
    rows = read_prediction_log(str(log))
    rows = rows[rows[schemas.ARM] == "stable"].reset_index(drop=True)
    requests = rows.groupby(schemas.REQUEST_ID, sort=False).agg(
        **{
            schemas.USER_ID: (schemas.USER_ID, "first"),
            schemas.ITEM_IDS: (schemas.ITEM_ID, list),
            schemas.TS: (schemas.TS, "first"),
        }
    )
    requests.reset_index(drop=True).to_parquet(tmp_path / "requests.parquet")
    out = tmp_path / "scores.parquet"
    assert (
        cli(
            "score",
            "--model",
            steady / "stable",
            "--repo",
            steady / "repo",
            "--requests",
            tmp_path / "requests.parquet",
            "--out",
            out,
        )
        == 0
    )
    scores = pd.read_parquet(out)
    assert list(scores[schemas.ITEM_ID]) == list(rows[schemas.ITEM_ID])
    np.testing.assert_allclose(scores[schemas.SCORE], rows[schemas.SCORE], atol=1e-5)
    assert (scores[schemas.UNKNOWN_USER] == rows[schemas.UNKNOWN_USER]).all()


def test_the_monitor_and_readout_pipelines_run_on_the_local_kfp_runner(steady, served, tmp_path):
    from kfp import local

    from aktrec.monitoring.replay import outcomes
    from aktrec.pipelines.after_deployment import monitor_pipeline, readout_pipeline

    log, replayed = served
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(tmp_path / "root"))
    monitor_pipeline(
        prediction_log=str(log),
        model_uri=str(steady / "stable"),
        feature_repo_uri=str(steady / "repo"),
        data_uri=str(steady / "data"),
        window_hours=0.0,
        config=MONITOR_CONFIG,
    )
    [summary] = (tmp_path / "root").rglob("monitor.json")
    assert json.loads(summary.read_text())["success"]
    clicks = tmp_path / "clicks.parquet"
    outcomes(replayed).to_parquet(clicks)
    readout_pipeline(prediction_log=str(log), outcomes_uri=str(clicks))
    [readout] = (tmp_path / "root").rglob("readout.json")
    assert set(json.loads(readout.read_text())["arms"]) == {"stable", "canary"}
    pages = [page.read_text() for page in (tmp_path / "root").rglob("page")]
    assert len(pages) == 2 and any("aktrec monitor" in p for p in pages) and any("aktrec readout" in p for p in pages)
