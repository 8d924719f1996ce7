from kfp import dsl
from kfp.dsl import HTML, Artifact, Dataset, Input, Model, Output

from aktrec.pipeline import IMAGE


@dsl.component(base_image=IMAGE)
def report(
    raw_validation: Input[Dataset],
    data: Input[Dataset],
    embeddings: Input[Dataset],
    semantic_ids: Input[Dataset],
    feature_repo: Input[Dataset],
    model: Input[Model],
    raw_page: Input[HTML],
    data_page: Input[HTML],
    items_page: Input[HTML],
    users_page: Input[HTML],
    semantic_ids_page: Input[HTML],
    features_page: Input[HTML],
    gate_page: Input[HTML],
    run_report: Output[HTML],
    run_metrics: Output[Artifact],
):
    """The run report for people (linking every stage's validation page) and the run's metrics.json."""
    from aktrec.pipeline.steps import report_step

    artifacts = {
        "raw_validation": raw_validation.path,
        "data": data.path,
        "emb": embeddings.path,
        "sid": semantic_ids.path,
        "feature_repo": feature_repo.path,
        "model": model.path,
    }
    pages = {  # stage name (aktrec.stages) -> its validation page
        "validate_raw": raw_page.path,
        "prepare": data_page.path,
        "embed_items": items_page.path,
        "embed_users": users_page.path,
        "semantic_ids": semantic_ids_page.path,
        "materialize_features": features_page.path,
        "train": gate_page.path,
    }
    report_step(artifacts, pages, run_report.path, run_metrics.path)
