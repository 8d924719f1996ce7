from kfp.dsl import HTML, Artifact, Dataset, Input, Output

from aktrec.pipeline import component


@component
def readout(
    outcomes: Input[Dataset],
    prediction_log: str,
    window_hours: float,
    config: str,
    report: Output[Artifact],
    page: Output[HTML],
):
    """Per rollout arm: CTR, calibration, AUC/GAUC on head and tail; the canary's lift over the
    stable arm with its bootstrap CI, from the prediction log and the outcomes table."""
    from aktrec.pipeline.after_deployment import readout_step

    readout_step(prediction_log, outcomes.path, window_hours, config, report.path, page.path)
