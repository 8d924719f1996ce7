"""The README's main command, as a user runs it (console script, fresh work directory):
synthetic data -> the pipeline on the local KFP runner -> the predictor -> one request."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path


def test_demo_runs_the_pipeline_and_answers_a_request(tmp_path):
    script = Path(sys.executable).with_name("aktrec")
    work = tmp_path / "work"
    command = [
        str(script) if script.exists() else shutil.which("aktrec"),
        "demo",
        "--workdir",
        str(work),
        "--users",
        "200",
        "--items",
        "100",
        "--interactions",
        "5000",
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    for name in ("data", "embeddings", "semantic_ids", "feature_repo", "model"):
        assert (work / name / "_aktrec.json").is_file(), name
    metrics = json.loads((work / "metrics.json").read_text())
    assert {"base", "aktrec", "popularity"} <= set(metrics["models"])
    assert set(metrics["models"]["aktrec"]) == {"total", "head", "tail"}
    assert {"embeddings", "semantic_ids", "features"} <= set(metrics["stages"])
    report = (work / "reports" / "index.html").read_text()
    for section in ("Validation", "Models: click prediction", "Long tail", "Cluster sizes", "<svg"):
        assert section in report, section
    assert "Tail (test, " in result.stdout and "vs strong_base" in result.stdout  # the one line on the tail
    # The predictor serves the deployed release when the gate passed, the trained bundle otherwise.
    promoted = metrics["promotion"]["promote"]
    assert ("Promotion gate passed" in result.stdout) is promoted
    assert (work / "deployment" / "model" / "model.safetensors").is_file() is promoted
    served = work / "deployment" / "model" if promoted else work / "model"
    assert f"aktrec serve --model {served} " in result.stdout
    response = json.loads(result.stdout.split("  response: ")[1].splitlines()[0])
    assert len(response["predictions"][0]) == 6
    assert response["unknown"][0]["item_ids"] == ["new-item-1"]
    assert "Run report:" in result.stdout
