"""A feature is declared once. One entry added to `aktrec.features.statistics`, in a copy of the
package as a developer would add it, reaches the Feast schemas and the FeatureService, the
offline tables, the cluster averages (eq. 9), the model's numeric blocks and its input widths,
and the model trains on it: no other file is touched."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
from safetensors.torch import load_file

from conftest import copy_package, run_on_copy

NEW = "recent_share"
ENTRY = f'    Statistic("{NEW}", lambda t: t.recent_exposures / (1 + t.exposures), "Recent share."),\n'

# Runs on the copy: materialize, train AKT-Rec for an epoch, report what the model was built from.
SCRIPT = """
import json, sys
from pathlib import Path
from aktrec.cli import main
planted, out = Path(sys.argv[1]), Path(sys.argv[2])
common = ["--data", str(planted / "data")]
for verb in (
    ["features", "materialize", *common, "--sids", str(planted / "sid"), "--repo", str(out / "repo")],
    ["train", *common, "--repo", str(out / "repo"), "--out", str(out / "model"),
     "--variants", "strong_base,aktrec", "--deploy", "aktrec", "--epochs", "1"],
):
    if main(verb):
        sys.exit(f"aktrec {verb[0]} failed")
from aktrec.ctr.inputs import NUMERIC_BLOCKS
print(json.dumps({"package": __import__("aktrec").__file__, "blocks": NUMERIC_BLOCKS}))
"""


def test_a_new_activity_statistic_is_one_entry(planted_emb, planted_model, tmp_path):
    package = copy_package(tmp_path)
    declarations = package / "features" / "statistics.py"
    text = declarations.read_text()
    end = text.index("\n)\n", text.index("ACTIVITY: tuple")) + 1
    declarations.write_text(text[:end] + ENTRY + text[end:])  # the one place

    report = run_on_copy(tmp_path, SCRIPT, str(planted_emb), str(tmp_path))
    assert f"user_activity__{NEW}" in report["blocks"]["user_activity"]
    assert f"item_cluster_features__avg_{NEW}" in report["blocks"]["item_cluster_stats"]

    activity = pd.read_parquet(tmp_path / "repo" / "data" / "user_activity.parquet")
    np.testing.assert_allclose(activity[NEW], activity["recent_exposures"] / (1 + activity["exposures"]))
    averaged = pd.read_parquet(tmp_path / "repo" / "data" / "item_cluster_features.parquet")
    assert averaged[f"avg_{NEW}"].notna().all()
    config = json.loads((tmp_path / "model" / "config.json").read_text())
    assert f"item_activity__{NEW}" in config["feature_columns"]

    # The widths follow: one more column in each activity block (instance level, the gates) and
    # in each cluster-statistics block (cluster level), against the same variant without it.
    before = load_file(planted_model / "model.safetensors")
    after = load_file(tmp_path / "model" / "model.safetensors")
    grown = {
        name: after[name].shape[1] - before[name].shape[1]
        for name in ("instance.0.weight", "cluster.0.weight", "users.gate.net.0.weight", "level_gate.net.0.weight")
    }
    assert grown == {
        "instance.0.weight": 2,
        "cluster.0.weight": 2,
        "users.gate.net.0.weight": 1,
        "level_gate.net.0.weight": 2,
    }
    assert all(np.isfinite(tensor.numpy()).all() for tensor in after.values())
    metrics = json.loads((tmp_path / "model" / "metrics.json").read_text())
    assert 0.0 < metrics["models"]["aktrec"]["total"]["auc"] < 1.0
