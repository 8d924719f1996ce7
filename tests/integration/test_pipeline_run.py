"""`aktrec pipeline run` on tiny synthetic data: the artifacts, a short console with the task
logs in a file, a cached re-run, a corrupted input stopped at the first validation with nothing
promoted or published and the task logs named."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from conftest import run_aktrec


@pytest.fixture(scope="module")
def raw(tiny_raw_dir):
    return tiny_raw_dir


@pytest.fixture(scope="module")
def work(tiny_pipeline_run):
    return tiny_pipeline_run


def test_run_publishes_every_artifact_metrics_report_and_deployment(work):
    for name in ("data", "embeddings", "semantic_ids", "feature_repo", "model"):
        assert (work / name).is_symlink() and (work / name / "_aktrec.json").is_file()
    metrics = json.loads((work / "metrics.json").read_text())
    assert metrics["dataset"]["n_test"] > 0 and metrics["promotion"]["promote"] is True
    assert (work / "deployment" / "model" / "model.safetensors").is_file()
    assert "type: redis" in (work / "deployment" / "feature_repo" / "feature_store.yaml").read_text()
    assert "kind: InferenceService" in (work / "deployment" / "inferenceservice.yaml").read_text()
    report = (work / "reports" / "index.html").read_text()
    assert report.count('class="pass"') >= 7 and "FAILED" not in report


def test_the_reports_folder_links_relatively_and_renders_offline_after_a_move(work, tmp_path):
    import re
    import shutil

    from conftest import render_offline

    moved = tmp_path / "archive" / "reports"
    shutil.copytree(work / "reports", moved)
    report = (moved / "index.html").read_text()
    links = re.findall(r'<a href="([^"#]+)"', report)
    assert len([link for link in links if link.startswith("data-docs/")]) == 7
    for link in links:
        assert not link.startswith(("/", "file:")), link
        assert (moved / link).is_file(), link
    for docs in {link for link in links if link.startswith("data-docs/")}:
        summary = moved / docs
        results = {
            path.relative_to(summary.parent).as_posix() for path in (summary.parent / "validations").rglob("*.html")
        }
        page = render_offline(summary)
        listed = set(re.findall(r'<tr class="clickable-row" data-href="(validations/[^"]+)"', page))
        # The table shows ten rows a page; its footer counts them all.
        assert results and listed <= results and len(listed) == min(len(results), 10), docs
        assert f"of {len(results)} rows" in page or len(results) <= 10, docs
    page = (moved / "validation" / "train.html").read_text()
    assert 'href="../data-docs/train/index.html"' in page


def test_second_run_reuses_unchanged_steps(work, raw, capsys):
    before = {name: (work / name).resolve() for name in ("data", "semantic_ids", "model")}
    assert run_aktrec("pipeline", "run", "--raw", raw, "--workdir", work, "--config", work.parent / "lenient.yaml") == 0
    assert {name: (work / name).resolve() for name in before} == before  # served from the cache
    out = capsys.readouterr().out
    assert "from the step cache (inputs unchanged): validate-raw, prepare, embed-items" in out
    assert "Executing task" not in out  # the runner's records went to the run's log file
    logs = sorted((work / "runs").glob("*.log"))
    assert logs and "Executing task" in logs[-1].read_text()


def test_corrupted_labels_stop_the_run_at_the_first_validation(work, raw, tmp_path, capsys):
    from aktrec.data.raw import read_raw

    broken = tmp_path / "broken"
    raw_data = read_raw(raw)
    labels = raw_data.interactions["label"]
    interactions = raw_data.interactions.set_column(
        raw_data.interactions.schema.get_field_index("label"),
        "label",
        pc.if_else(pc.equal(pa.array(range(len(labels))), 0), 2, labels),
    )
    import shutil

    shutil.copytree(raw, broken)
    pq.write_table(interactions, broken / "interactions.parquet")
    published = {name: (work / name).resolve() for name in ("data", "model", "deployment")}
    assert run_aktrec("pipeline", "run", "--raw", broken, "--workdir", work) == 2
    captured = capsys.readouterr()
    err = captured.err
    assert "pipeline stopped at step validate_raw" in err
    assert "(task logs: " in err and str(work / "runs") in err
    assert "validate-raw" in captured.out and "failure" in captured.out
    assert len(captured.out.splitlines()) < 10
    assert "expect_column_values_to_be_in_set on column 'label'" in err
    assert {name: (work / name).resolve() for name in published} == published  # nothing promoted or replaced


@pytest.mark.parametrize("name", ["aktrec", "monitor", "readout", "score"])
def test_compiled_pipelines_are_committed_and_current(tmp_path, name):
    from aktrec.pipeline.runner import compile_pipeline
    from conftest import REPO_ROOT

    fresh = compile_pipeline(tmp_path / "fresh.yaml", pipeline=name).read_text()
    committed = REPO_ROOT / "pipelines" / f"{name}_pipeline.yaml"
    command = f"aktrec pipeline compile --pipeline {name} --out pipelines/{name}_pipeline.yaml"
    assert committed.is_file(), f"run: {command}"
    assert committed.read_text() == fresh, f"{committed.name} is stale: run {command}"
