from kfp.dsl import HTML, Artifact, Dataset, Input, Model, Output

from aktrec.pipeline import component


@component
def report(
    raw_validation: Input[Dataset],
    data: Input[Dataset],
    embeddings: Input[Dataset],
    semantic_ids: Input[Dataset],
    feature_repo: Input[Dataset],
    model: Input[Model],
    run_report: Output[HTML],
    run_reports: Output[Artifact],
    run_metrics: Output[Artifact],
):
    """The reports folder for people (the run report, every stage's validation page and Data
    Docs, linked relatively), the run report alone for the KFP UI, and the run's metrics.json."""
    from aktrec.pipeline.steps import report_step

    artifacts = {
        "raw_validation": raw_validation.path,
        "data": data.path,
        "emb": embeddings.path,
        "sid": semantic_ids.path,
        "feature_repo": feature_repo.path,
        "model": model.path,
    }
    report_step(artifacts, run_reports.path, run_report.path, run_metrics.path)
