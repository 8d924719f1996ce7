"""The AKT-Rec training pipeline: validated stages from RAW to a promoted, deployable model."""

from typing import NamedTuple

from kfp import dsl, kubernetes
from kfp.dsl import HTML, Artifact, Dataset, Model

from aktrec.components.deploy.component import deploy
from aktrec.components.embed_items.component import embed_items
from aktrec.components.embed_users.component import embed_users
from aktrec.components.materialize_features.component import materialize_features
from aktrec.components.prepare.component import prepare
from aktrec.components.report.component import report
from aktrec.components.semantic_ids.component import semantic_ids
from aktrec.components.train.component import train
from aktrec.components.validate_raw.component import validate_raw
from aktrec.features.repo import REDIS_PASSWORD_ENV, REDIS_SECRET

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


@dsl.pipeline(
    name=PIPELINE_NAME, description="AKT-Rec: semantic IDs, Feast features, head->tail CTR training, gated deployment."
)
def aktrec_pipeline(
    raw_uri: str,
    raw_fingerprint: str = "",
    prepare_config: str = "",
    embed_items_config: str = "",
    embed_users_config: str = "",
    semantic_ids_config: str = "",
    features_config: str = "",
    train_config: str = "",
    storage_uri: str = "",
    online_store: str = "",
    canary_percent: int = 0,
    representation_cache: str = "",
) -> RunOutputs:
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
    raw = dsl.importer(artifact_uri=raw_uri, artifact_class=Dataset, reimport=False).set_display_name("raw")
    raw_check = validate_raw(raw=raw.output, raw_fingerprint=raw_fingerprint)
    prepared = prepare(raw=raw.output, raw_fingerprint=raw_fingerprint, config=prepare_config).after(raw_check)
    data = prepared.outputs["data"]
    items = embed_items(data=data, config=embed_items_config, representation_cache=representation_cache)
    users = embed_users(
        data=data,
        item_embeddings=items.outputs["embeddings"],
        config=embed_users_config,
        representation_cache=representation_cache,
    )
    embeddings = users.outputs["embeddings"]
    sids = semantic_ids(data=data, embeddings=embeddings, config=semantic_ids_config)
    features = materialize_features(
        data=data, semantic_ids=sids.outputs["semantic_ids"], embeddings=embeddings, config=features_config
    )
    trained = train(
        data=data,
        feature_repo=features.outputs["feature_repo"],
        semantic_ids=sids.outputs["semantic_ids"],
        embeddings=embeddings,
        config=train_config,
    )
    run_report = report(
        raw_validation=raw_check.outputs["validation"],
        data=data,
        embeddings=embeddings,
        semantic_ids=sids.outputs["semantic_ids"],
        feature_repo=features.outputs["feature_repo"],
        model=trained.outputs["model"],
    )
    with dsl.If(trained.outputs["Output"] == True, name="promotion-gate-passed"):  # noqa: E712 (a KFP condition)
        deployed = deploy(
            model=trained.outputs["model"],
            feature_repo=features.outputs["feature_repo"],
            storage_uri=storage_uri,
            online_store=online_store,
            canary_percent=canary_percent,
        )
        # The Redis password from the Secret the manifests create, never a run parameter; absent: no auth.
        kubernetes.use_secret_as_env(
            deployed, secret_name=REDIS_SECRET, secret_key_to_env={"password": REDIS_PASSWORD_ENV}, optional=True
        )
    return RunOutputs(
        data,
        embeddings,
        sids.outputs["semantic_ids"],
        features.outputs["feature_repo"],
        trained.outputs["model"],
        run_report.outputs["run_report"],
        run_report.outputs["run_reports"],
        run_report.outputs["run_metrics"],
    )
