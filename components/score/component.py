from kfp.dsl import Dataset, Input, Model, Output

from aktrec.pipeline import component


@component
def score(model: Input[Model], feature_repo: Input[Dataset], requests: Input[Dataset], scores: Output[Dataset]):
    """Offline scores of a requests table (user_id, item_ids, optional ts) with point-in-time
    features: what the online predictor answers for the same inputs."""
    from aktrec.pipeline.after_deployment import score_step

    score_step(model.path, feature_repo.path, requests.path, scores.path)
