"""Pipelines for after deployment: a scheduled monitor of the prediction log, a canary's
readout, and batch scoring. Their inputs are artifacts a training run published (model,
feature_repo, data) or tables (outcomes, requests), imported by URI."""

from kfp import dsl
from kfp.dsl import Dataset, Model

from aktrec.components.monitor.component import monitor
from aktrec.components.readout.component import readout
from aktrec.components.score.component import score


@dsl.pipeline(name="aktrec-monitor", description="AKT-Rec: skew and drift of the served predictions.")
def monitor_pipeline(
    prediction_log: str,
    model_uri: str,
    feature_repo_uri: str,
    data_uri: str,
    window_hours: float = 24.0,
    arm: str = "stable",
    config: str = "",
):
    """Schedule it (a recurring run every `window_hours`): it fails, naming the feature, when
    the served features disagree with the offline store or drift past the thresholds (`config`:
    MonitorConfig as YAML)."""
    model = dsl.importer(artifact_uri=model_uri, artifact_class=Model, reimport=False).set_display_name("model")
    repo = dsl.importer(artifact_uri=feature_repo_uri, artifact_class=Dataset, reimport=False).set_display_name(
        "feature_repo"
    )
    data = dsl.importer(artifact_uri=data_uri, artifact_class=Dataset, reimport=False).set_display_name("data")
    monitor(
        model=model.output,
        feature_repo=repo.output,
        data=data.output,
        prediction_log=prediction_log,
        window_hours=window_hours,
        arm=arm,
        config=config,
    ).set_caching_options(False)  # the log grows between runs: every run reads it anew


@dsl.pipeline(name="aktrec-readout", description="AKT-Rec: the canary against the stable release on outcomes.")
def readout_pipeline(prediction_log: str, outcomes_uri: str, window_hours: float = 0.0, config: str = ""):
    """Read it before promoting or rolling back a canary: per arm, and the canary's CTR lift
    with its CI (`config`: ReadoutConfig as YAML)."""
    outcomes = dsl.importer(artifact_uri=outcomes_uri, artifact_class=Dataset, reimport=False).set_display_name(
        "outcomes"
    )
    readout(
        outcomes=outcomes.output, prediction_log=prediction_log, window_hours=window_hours, config=config
    ).set_caching_options(False)


@dsl.pipeline(name="aktrec-score", description="AKT-Rec: offline scores of a requests table.")
def score_pipeline(model_uri: str, feature_repo_uri: str, requests_uri: str):
    """Scores every (user, candidate) of the requests parquet at its time (campaigns, back-fills)."""
    model = dsl.importer(artifact_uri=model_uri, artifact_class=Model, reimport=False).set_display_name("model")
    repo = dsl.importer(artifact_uri=feature_repo_uri, artifact_class=Dataset, reimport=False).set_display_name(
        "feature_repo"
    )
    requests = dsl.importer(artifact_uri=requests_uri, artifact_class=Dataset, reimport=False).set_display_name(
        "requests"
    )
    score(model=model.output, feature_repo=repo.output, requests=requests.output)
