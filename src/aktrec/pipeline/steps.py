"""What each KFP component runs: plain paths in, artifacts out, one call per component.

Every step writes a self-contained validation page (HTML, shown by the KFP UI) and a Markdown
summary of the checks it ran; a failed check raises `ValidationFailed`, which fails the task
and the run with the expectation's name. `config` is the stage's section of the
pipeline's overrides (YAML text, "" = defaults).
"""

from __future__ import annotations

import functools
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import yaml

from aktrec.config import from_dict, read_yaml
from aktrec.errors import AktrecError
from aktrec.pipeline.stages import config_sections, stage_named, training_stages
from aktrec.report.html import (
    DOCS_INDEX,
    REPORT_INDEX,
    read_summary,
    validation_html,
    validation_markdown,
    write_reports,
)

IN_PROCESS_ENV = "AKTREC_IN_PROCESS"  # set by the local runner: no step launches its stage on a cluster
FAILURE_ENV = "AKTREC_FAILURE_FILE"  # where a step records why it failed (read by `aktrec pipeline run`)
# KFP's executor logs everything at INFO; GX (from its import on) and Feast log their own
# bookkeeping there, thousands of lines that bury the stage's progress in the task log.
for _library in ("great_expectations", "feast"):
    logging.getLogger(_library).setLevel(logging.WARNING)


def split_config(config_yaml: str) -> dict[str, str]:
    """The pipeline's overrides file -> one YAML text per stage section, each checked in full
    before any stage runs. Each component gets only its own section, so changing the training
    settings re-runs training and leaves the cached stages before it alone."""
    data = read_yaml(config_yaml or "", "pipeline config") or {}
    if not isinstance(data, dict):
        raise AktrecError("pipeline config: expected a mapping of stage sections")
    sections = config_sections()
    unknown = sorted(set(data) - set(sections))
    if unknown:
        raise AktrecError(f"pipeline config: unknown section(s) {unknown}; known: {sorted(sections)}")
    for name, cls in sections.items():
        from_dict(cls, data.get(name), where=f"pipeline config.{name}")
    return {name: yaml.safe_dump(data[name]) if data.get(name) else "" for name in sections}


def section(name: str, text: str):
    """The `name` stage's config from its section text ("" = defaults)."""
    data = read_yaml(text or "", f"pipeline config.{name}") or {}
    return from_dict(config_sections()[name], data, where=f"pipeline config.{name}")


def _record_failure(step: str, error: AktrecError) -> None:
    """Write the step's name and error to $AKTREC_FAILURE_FILE before the task fails, so the
    local runner's caller can say which step and which check stopped the run. The first failure
    is kept: it is the run's cause (a container runner may go on past it)."""
    record = os.environ.get(FAILURE_ENV)
    if record and not (Path(record).is_file() and Path(record).stat().st_size):
        Path(record).write_text(json.dumps({"step": step, "error": str(error)}))


def records_failure(step):
    """A step that is not a stage (`_record_failure` under its name, without `_step`)."""

    @functools.wraps(step)
    def wrapper(*args, **kwargs):
        try:
            return step(*args, **kwargs)
        except AktrecError as exc:
            _record_failure(step.__name__.removesuffix("_step"), exc)
            raise

    return wrapper


def run_step(
    name: str,
    run: Callable[..., Any],
    inputs: Sequence[Any],
    output: str,
    config: str,
    html_path: str,
    markdown_path: str,
    **options: Any,
) -> Any:
    """Stage `name` as a component runs it: `run(*inputs, output, settings, **options)` (paths
    as `Path`; `settings` read from the stage's section text `config`, left out for a stage
    without one), then its validation pages from `output` to `html_path` (HTML, for the KFP UI)
    and `markdown_path` (the Markdown summary). A failure is recorded before it fails the task."""
    stage = stage_named(name)
    arguments = [Path(value) if isinstance(value, str) else value for value in (*inputs, output)]
    try:
        if stage.config_section is not None:
            arguments.append(section(stage.config_section, config))
        result = run(*arguments, **options)
    except AktrecError as exc:
        _record_failure(name, exc)
        raise
    directory = stage.validation_dir(output)
    summaries = {stage.title: read_summary(directory)}
    title = f"Validation: {stage.title}"
    Path(html_path).write_text(validation_html(title, summaries, {stage.title: str(directory / DOCS_INDEX)}))
    Path(markdown_path).write_text(validation_markdown(title, summaries))
    return result


def _reading_raw(run: Callable[..., Any], raw_path: str, raw_uri: str) -> Callable[..., Any]:
    """`run` with RAW read first (where the launcher put it, or downloaded from object storage),
    inside the step, so a RAW that cannot be read is the step's recorded failure."""

    def with_raw(*arguments: Any) -> Any:
        from aktrec.data.raw import read_raw
        from aktrec.storage import local_input

        with tempfile.TemporaryDirectory() as scratch:
            raw = read_raw(local_input(raw_path, raw_uri, Path(scratch)))
        return run(raw, *arguments)

    return with_raw


# The steps the compiled components call, by these names and argument orders.


def validate_raw_step(raw_path: str, raw_uri: str, validation: str, html_path: str, markdown_path: str) -> None:
    """Re-check RAW against the input contract's suites (a RAW directory may have been edited)."""
    from aktrec.data.stage import run_validate_raw

    run_step(
        "validate_raw", _reading_raw(run_validate_raw, raw_path, raw_uri), (), validation, "", html_path, markdown_path
    )


def prepare_step(raw_path: str, raw_uri: str, data: str, config: str, html_path: str, markdown_path: str) -> None:
    from aktrec.data.stage import run_prepare

    run_step("prepare", _reading_raw(run_prepare, raw_path, raw_uri), (), data, config, html_path, markdown_path)


def embed_items_step(
    data: str, embeddings: str, config: str, html_path: str, markdown_path: str, cache_root: str = ""
) -> dict[str, Any]:
    from aktrec.embed.stage import run_embed_items

    return run_step(
        "embed_items", run_embed_items, (data,), embeddings, config, html_path, markdown_path, cache_root=cache_root
    )


def embed_users_step(
    data: str,
    item_embeddings: str,
    embeddings: str,
    config: str,
    html_path: str,
    markdown_path: str,
    cache_root: str = "",
) -> dict[str, Any]:
    """User representations, written next to a copy of the item half (one EMB for what follows)."""
    from aktrec.embed.stage import run_embed_users

    shutil.copytree(item_embeddings, embeddings, dirs_exist_ok=True)
    return run_step(
        "embed_users", run_embed_users, (data,), embeddings, config, html_path, markdown_path, cache_root=cache_root
    )


def semantic_ids_step(
    data: str, embeddings: str, semantic_ids: str, config: str, html_path: str, markdown_path: str
) -> dict[str, Any]:
    from aktrec.semantic_ids.stage import run_semantic_ids

    return run_step(
        "semantic_ids", run_semantic_ids, (data, embeddings), semantic_ids, config, html_path, markdown_path
    )


def launched_here(job) -> bool:
    """Whether a step submits its stage to the cluster: launch settings are set, and this is not
    the local runner (which always runs stages in process)."""
    return job is not None and not os.environ.get(IN_PROCESS_ENV)


def _on_cluster(resource, job, verb: str, inputs: dict[str, str], output: tuple[str, str, str], uris, config: str):
    """`aktrec <verb> --<flag> <artifact>… --<flag> <output> --config <config>` as `resource` on
    the cluster. `inputs` maps each flag to the artifact it reads, `output` is (flag, artifact,
    the step's local directory for it); `uris` holds each artifact's URI. The job is named after
    the output."""
    from aktrec.pipeline.launch import launch

    flag, artifact, local = output
    command = [*verb.split(), *(part for name, key in inputs.items() for part in (f"--{name}", f"{{{key}}}"))]
    command += [f"--{flag}", f"{{{artifact}}}", "--config", "{config}"]
    placed = {key: uris[key] for key in inputs.values()}
    return launch(resource, job, command, placed, (artifact, uris[artifact], local), config)


def materialize_features_step(
    data, semantic_ids, embeddings, feature_repo, config, html_path, markdown_path, uris=None
) -> dict[str, Any]:
    """Materialize in process, or with `features.spark_application` as a SparkApplication on the
    artifacts' `uris` (data, semantic_ids, embeddings, feature_repo)."""
    from aktrec.features.stage import run_materialize_features

    def materialize(data: Path, semantic_ids: Path, embeddings: Path, feature_repo: Path, settings):
        if launched_here(settings.spark_application):
            from aktrec.pipeline.launch import SPARK_APPLICATION

            inputs = {"data": "data", "sids": "semantic_ids", "embeddings": "embeddings"}
            output = ("repo", "feature_repo", str(feature_repo))
            return _on_cluster(
                SPARK_APPLICATION, settings.spark_application, "features materialize", inputs, output, uris, config
            )
        return run_materialize_features(data, semantic_ids, feature_repo, settings, emb_dir=embeddings)

    inputs = (data, semantic_ids, embeddings)
    return run_step("materialize_features", materialize, inputs, feature_repo, config, html_path, markdown_path)


def train_step(
    data, feature_repo, semantic_ids, embeddings, model, config, html_path, markdown_path, uris=None
) -> dict[str, Any]:
    """Train and evaluate in process, or with `train.train_job` as a TrainJob on the artifacts'
    `uris` (data, feature_repo, semantic_ids, embeddings, model); the returned metrics carry the
    promotion decision (`promotion.promote`)."""
    from aktrec.ctr.stage import run_train

    def train(data: Path, feature_repo: Path, semantic_ids: Path, embeddings: Path, model: Path, settings):
        if launched_here(settings.train_job):
            from aktrec.pipeline.launch import TRAIN_JOB

            inputs = {"data": "data", "repo": "feature_repo", "sids": "semantic_ids", "embeddings": "embeddings"}
            output = ("out", "model", str(model))
            return _on_cluster(TRAIN_JOB, settings.train_job, "train", inputs, output, uris, config)
        return run_train(data, feature_repo, model, settings, sources=(semantic_ids, embeddings))

    inputs = (data, feature_repo, semantic_ids, embeddings)
    return run_step("train", train, inputs, model, config, html_path, markdown_path)


@records_failure
def report_step(artifacts: dict[str, str], reports_dir: str, report_path: str, metrics_path: str) -> None:
    """The reports folder (run report, validation pages, Data Docs; links relative), the run
    report alone as the KFP UI's HTML artifact, and the run's metrics.json (docs/design.md §7
    shape plus stage metrics)."""
    paths = {name: Path(path) for name, path in artifacts.items()}
    reports = write_reports(paths, Path(reports_dir), training_stages())
    shutil.copyfile(reports / REPORT_INDEX, report_path)
    model = json.loads((paths["model"] / "metrics.json").read_text())
    stages = {
        name: json.loads((paths[key] / "metrics.json").read_text())
        for name, key in (("embeddings", "emb"), ("semantic_ids", "sid"), ("features", "feature_repo"))
    }
    Path(metrics_path).write_text(json.dumps({**model, "stages": stages}, indent=2, default=str) + "\n")


@records_failure
def deploy_step(
    model: str, feature_repo: str, deployment: str, storage_uri: str, online_store: str, canary_percent: int = 0
) -> None:
    """The deployable unit (`aktrec.pipeline.deployment.deploy`)."""
    from aktrec.pipeline.deployment import deploy

    deploy(Path(model), Path(feature_repo), Path(deployment), storage_uri, online_store, canary_percent)
