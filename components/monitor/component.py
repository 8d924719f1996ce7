from kfp.dsl import HTML, Artifact, Dataset, Input, Model, Output

from aktrec.pipeline import component


@component
def monitor(
    model: Input[Model],
    feature_repo: Input[Dataset],
    data: Input[Dataset],
    prediction_log: str,
    window_hours: float,
    arm: str,
    config: str,
    report: Output[Artifact],
    page: Output[HTML],
):
    """Skew and drift of the last `window_hours` of the prediction log (GX suites, Data Docs,
    a page); fails naming the feature when a threshold is crossed."""
    from aktrec.pipeline.after_deployment import monitor_step

    monitor_step(
        prediction_log, model.path, feature_repo.path, data.path, window_hours, arm, config, report.path, page.path
    )
