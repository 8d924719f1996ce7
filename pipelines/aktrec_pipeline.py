"""The AKT-Rec training pipeline: validated stages from RAW to a promoted, deployable model."""

import inspect
from typing import Any, NamedTuple

from kfp import dsl, kubernetes
from kfp.dsl import HTML, Artifact, Dataset, Model

from aktrec.components.deploy.component import deploy
from aktrec.components.report.component import report
from aktrec.features.repo import REDIS_PASSWORD_ENV, REDIS_SECRET
from aktrec.pipeline.stages import RAW, config_sections, training_stages

PIPELINE_NAME = "aktrec"


class RunOutputs(NamedTuple):
    data: Dataset
    embeddings: Dataset
    semantic_ids: Dataset
    feature_repo: Dataset
    model: Model
    run_report: HTML
    run_reports: Artifact
    run_metrics: Artifact


def _parameter(name: str, annotation: type, default: Any = inspect.Parameter.empty) -> inspect.Parameter:
    return inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=default, annotation=annotation)


# The run's parameters: RAW, each configurable stage's `<section>_config`, then deployment's.
PARAMETERS = inspect.Signature(
    [
        _parameter("raw_uri", str),
        _parameter("raw_fingerprint", str, ""),
        *(_parameter(f"{section}_config", str, "") for section in config_sections()),
        _parameter("storage_uri", str, ""),
        _parameter("online_store", str, ""),
        _parameter("canary_percent", int, 0),
        _parameter("representation_cache", str, ""),
    ],
    return_annotation=RunOutputs,
)


def aktrec_pipeline(*arguments) -> RunOutputs:
    """Every stage's output is validated before the next runs; deployment needs the promotion gate.
    `raw_uri`: the RAW directory (a local path, or s3://, gs://, minio:// on a cluster), imported
    as an artifact. `<stage>_config`: YAML overrides of that stage's config (`aktrec pipeline run
    --config` splits one file into them), so a change re-runs only that stage and what depends on
    it. `storage_uri`: where the deploy step publishes releases for KServe; `online_store`: the
    Redis it fills (redis://HOST:PORT[/DB], rediss:// with TLS; its password from the
    `aktrec-redis` Secret); "" = neither (a local run). `canary_percent`: 0 replaces
    the serving release; 1-99 rolls the new one out as a canary with that share of traffic.
    `representation_cache`: a directory or URL where the encoders' vectors are kept across runs
    (only prompts not seen before are encoded), "" = none."""
    run = dict(zip(PARAMETERS.parameters, arguments))
    raw = dsl.importer(artifact_uri=run["raw_uri"], artifact_class=Dataset, reimport=False).set_display_name("raw")
    # The stages wire themselves (aktrec.pipeline.stages): each artifact input reads the output
    # of its name, in an order where every stage comes after what it reads.
    outputs, tasks = {RAW: raw.output}, {}
    for stage in training_stages():
        task = stage.component(**stage.arguments(outputs, run))
        for earlier in stage.after:
            task.after(tasks[earlier])
        tasks[stage.name] = task
        outputs.update({f"{stage.name}.{name}": task.outputs[name] for name in stage.outputs})
    run_report = report(
        raw_validation=outputs["validate_raw.validation"],
        data=outputs["prepare.data"],
        embeddings=outputs["embed_users.embeddings"],
        semantic_ids=outputs["semantic_ids.semantic_ids"],
        feature_repo=outputs["materialize_features.feature_repo"],
        model=outputs["train.model"],
    )
    with dsl.If(tasks["train"].outputs["Output"] == True, name="promotion-gate-passed"):  # noqa: E712 (a KFP condition)
        deployed = deploy(
            model=outputs["train.model"],
            feature_repo=outputs["materialize_features.feature_repo"],
            storage_uri=run["storage_uri"],
            online_store=run["online_store"],
            canary_percent=run["canary_percent"],
        )
        # The Redis password from the Secret the manifests create, never a run parameter; absent: no auth.
        kubernetes.use_secret_as_env(
            deployed, secret_name=REDIS_SECRET, secret_key_to_env={"password": REDIS_PASSWORD_ENV}, optional=True
        )
    return RunOutputs(
        outputs["prepare.data"],
        outputs["embed_users.embeddings"],
        outputs["semantic_ids.semantic_ids"],
        outputs["materialize_features.feature_repo"],
        outputs["train.model"],
        run_report.outputs["run_report"],
        run_report.outputs["run_reports"],
        run_report.outputs["run_metrics"],
    )


aktrec_pipeline.__signature__ = PARAMETERS  # what KFP reads as the pipeline's parameters
aktrec_pipeline = dsl.pipeline(
    name=PIPELINE_NAME, description="AKT-Rec: semantic IDs, Feast features, head->tail CTR training, gated deployment."
)(aktrec_pipeline)
