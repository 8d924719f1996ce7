"""The deployable unit and its InferenceServices: the bundle, the Feast repository for the
cluster, the release published for KServe's storage initializer, and manifests/base's
InferenceService rendered for it, with a canary beside the serving release when asked."""

from __future__ import annotations

import copy
import json
import shutil
from importlib.resources import files
from pathlib import Path

import yaml

from aktrec.artifacts import staged_output
from aktrec.errors import AktrecError
from aktrec.features.repo import store_yaml

INFERENCE_SERVICE_MANIFEST = ("base", "inferenceservice.yaml")  # in the aktrec.manifests package
DEPLOYMENT_KIND = "deployment"  # artifact kind of the deployable unit

CANARY_NAME = "canary"
# KServe refuses autoscaling fields on a canary: it is sized from its traffic share.
AUTOSCALING_FIELDS = ("minReplicas", "maxReplicas", "autoScaling", "scaleMetric", "scaleTarget")


def deploy(
    model: Path, feature_repo: Path, deployment: Path, storage_uri: str, online_store: str, canary_percent: int = 0
) -> None:
    """The deployable unit: the bundle, the Feast repository for the cluster (no offline data)
    and the InferenceService pointing at it. With `online_store` (redis://HOST:PORT) the
    promoted repository's latest rows go there first, stamped last; with `storage_uri` the unit
    is published there as a new release (LATEST written last) and the InferenceService reads it.
    With `canary_percent` (1-99) the release serving now (storage_uri's LATEST before this one)
    stays the stable predictor and the new one gets that share of the traffic; `promote.yaml`
    and `rollback.yaml` beside it end the canary either way."""
    from aktrec.ctr.gate import GATE_FILE
    from aktrec.storage import publish, release_uri

    if not 0 <= canary_percent < 100:
        raise AktrecError(f"canary_percent {canary_percent}: use 0 (replace the serving release) to 99")
    if canary_percent and not storage_uri:
        raise AktrecError("a canary needs storage_uri: it shares traffic with the release LATEST names there")
    gate = json.loads((model / GATE_FILE).read_text())
    if not gate["promote"]:
        raise AktrecError(f"{model}: the promotion gate did not pass ({gate['failure']}); refusing to deploy")
    stable = release_uri(storage_uri) if canary_percent else None  # before this release becomes LATEST
    if online_store:
        from aktrec.features.online import fill_online

        fill_online(feature_repo, online_store)
    # Staged like every other output: a deploy that fails midway leaves the previous deployment whole.
    with staged_output(deployment, DEPLOYMENT_KIND, model=str(model), storage_uri=storage_uri) as unit:
        shutil.copytree(model, unit / "model", ignore=shutil.ignore_patterns("validation"))
        repo = unit / "feature_repo"
        shutil.copytree(feature_repo, repo, ignore=shutil.ignore_patterns("data", "online_store.db", "validation"))
        # Without a named store, Feast expands ${AKTREC_REDIS} from the predictor's environment (manifests/base).
        (repo / "feature_store.yaml").write_text(store_yaml(online_store or "redis://${AKTREC_REDIS}"))
        release = publish(unit, storage_uri) if storage_uri else None
        if stable:
            (unit / "inferenceservice.yaml").write_text(inference_service_yaml(stable, release, canary_percent))
            (unit / "promote.yaml").write_text(inference_service_yaml(release))
            (unit / "rollback.yaml").write_text(inference_service_yaml(stable))
        else:
            (unit / "inferenceservice.yaml").write_text(inference_service_yaml(release))


def _set_storage_uri(predictor: dict, storage_uri: str, path) -> None:
    container = predictor["containers"][0]
    storage = [variable for variable in container["env"] if variable["name"] == "STORAGE_URI"]
    if len(storage) != 1:
        raise AktrecError(f"{path}: the predictor container must set STORAGE_URI exactly once")
    storage[0]["value"] = storage_uri


def inference_service_yaml(storage_uri: str | None, canary_uri: str | None = None, canary_percent: int = 0) -> str:
    """manifests/base's InferenceService with this release's image and the deployment's storage
    URI; with `canary_uri`, a canary predictor (the same pod, that release) taking
    `canary_percent` of the traffic (KServe's `spec.canary`, Standard/RawDeployment mode). The
    rest of the base (Redis, the serving ConfigMap, service accounts) is applied once per
    namespace; a deployment replaces only the InferenceService."""
    from aktrec.pipeline import IMAGE

    path = files("aktrec.manifests").joinpath(*INFERENCE_SERVICE_MANIFEST)
    service = next(doc for doc in yaml.safe_load_all(path.read_text()) if doc and doc["kind"] == "InferenceService")
    predictor = service["spec"]["predictor"]
    predictor["containers"][0]["image"] = IMAGE
    if storage_uri:  # else the base's placeholder: nothing was published
        _set_storage_uri(predictor, storage_uri, path)
    if canary_uri:
        canary = {k: copy.deepcopy(v) for k, v in predictor.items() if k not in AUTOSCALING_FIELDS}
        canary["name"] = CANARY_NAME
        _set_storage_uri(canary, canary_uri, path)
        canary["containers"][0]["args"] = [*canary["containers"][0]["args"], "--arm", CANARY_NAME]  # in its log rows
        service["spec"]["canary"] = [{"trafficPercent": canary_percent, "predictor": canary}]
    return yaml.safe_dump(service, sort_keys=False)
