from kfp.dsl import HTML, Dataset, Input, Markdown, Output

from aktrec.config import FeatureConfig
from aktrec.pipeline import component
from aktrec.pipeline.stages import Stage

STAGE = Stage(
    "features",
    artifact="feature_repo",
    config_section="features",
    config=FeatureConfig,
)


@component
def materialize_features(
    data: Input[Dataset],
    semantic_ids: Input[Dataset],
    embeddings: Input[Dataset],
    config: str,
    feature_repo: Output[Dataset],
    validation_report: Output[HTML],
    validation_summary: Output[Markdown],
):
    """Activity, cluster-averaged, cross and sequence features into Feast (offline + online);
    with `features.spark_application` set, computed by a SparkApplication on the cluster."""
    from aktrec.pipeline.steps import materialize_features_step

    materialize_features_step(
        data.path,
        semantic_ids.path,
        embeddings.path,
        feature_repo.path,
        config,
        validation_report.path,
        validation_summary.path,
        {
            "data": data.uri,
            "semantic_ids": semantic_ids.uri,
            "embeddings": embeddings.uri,
            "feature_repo": feature_repo.uri,
        },
    )
