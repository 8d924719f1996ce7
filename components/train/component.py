from kfp.dsl import HTML, Dataset, Input, Markdown, Metrics, Model, Output

from aktrec.config import TrainConfig
from aktrec.pipeline import component
from aktrec.pipeline.stages import Stage

STAGE = Stage(
    "promotion gate", artifact="model", config_section="train", config=TrainConfig, reads={"embeddings": "embed_users"}
)


@component
def train(
    data: Input[Dataset],
    feature_repo: Input[Dataset],
    semantic_ids: Input[Dataset],
    embeddings: Input[Dataset],
    config: str,
    model: Output[Model],
    metrics: Output[Metrics],
    comparison: Output[Markdown],
    validation_report: Output[HTML],
    validation_summary: Output[Markdown],
) -> bool:
    """AKT-Rec and the compared variants; the bundle, head/tail metrics and the promotion gate
    (with `train.train_job` set, trained by a Kubeflow Trainer TrainJob on the cluster).
    Returns whether the gate passed (the pipeline deploys only then)."""
    import json
    import shutil

    from aktrec.pipeline.steps import train_step

    result = train_step(
        data.path,
        feature_repo.path,
        semantic_ids.path,
        embeddings.path,
        model.path,
        config,
        validation_report.path,
        validation_summary.path,
        {
            "data": data.uri,
            "feature_repo": feature_repo.uri,
            "semantic_ids": semantic_ids.uri,
            "embeddings": embeddings.uri,
            "model": model.uri,
        },
    )
    shutil.copyfile(f"{model.path}/comparison.md", comparison.path)
    for name, slices in result["models"].items():
        for slice_name, values in slices.items():
            for key in ("auc", "gauc"):
                if values[key] is not None:
                    metrics.log_metric(f"{name}.{slice_name}.{key}", values[key])
    # The file too: KFP's local cache treats an output whose file is missing as not cached.
    with open(metrics.path, "w") as out:
        json.dump(metrics.metadata, out)
    return bool(result["promotion"]["promote"])
