from kfp.dsl import Artifact, Dataset, Input, Model, Output

from aktrec.pipeline import component


@component
def deploy(
    model: Input[Model],
    feature_repo: Input[Dataset],
    storage_uri: str,
    online_store: str,
    canary_percent: int,
    deployment: Output[Artifact],
):
    """The deployable unit (bundle + cluster Feast repository + InferenceService); runs only
    when the promotion gate passed. Fills `online_store` (redis://HOST:PORT, "" = none) with the
    promoted features and publishes the unit to `storage_uri` ("" = keep it in the run); with
    `canary_percent` > 0 the new release takes that share of traffic beside the serving one."""
    from aktrec.pipeline.steps import deploy_step

    deploy_step(model.path, feature_repo.path, deployment.path, storage_uri, online_store, canary_percent)
