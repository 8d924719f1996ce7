"""Kustomize overlays build, and what they build is valid: Kubernetes kinds against their
schemas (kubernetes-validate), custom kinds against the CRDs in ../shared/schemas
(including unknown fields, as the API server's strict validation), and a static security
scan (checkov) with every skipped check justified in the manifests."""

from __future__ import annotations

import copy
import functools
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CRDS = ROOT.parent / "shared" / "schemas"  # kserve/, spark-operator/, kubeflow-trainer/
OVERLAYS = ["local", "prod"]
KUBERNETES_VERSION = "1.33"


def build(overlay: str) -> list[dict]:
    kubectl = shutil.which("kubectl")
    assert kubectl, "kubectl is needed to build the Kustomize overlays (apt-get install kubectl)"
    built = subprocess.run(
        [kubectl, "kustomize", str(ROOT / "manifests" / "overlays" / overlay)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [doc for doc in yaml.safe_load_all(built) if doc]


@functools.cache
def _crd_schema(kind: str, version: str) -> dict:
    for path in CRDS.glob("*/*.yaml"):
        for crd in yaml.load_all(path.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
            if crd and crd.get("kind") == "CustomResourceDefinition" and crd["spec"]["names"]["kind"] == kind:
                for v in crd["spec"]["versions"]:
                    if v["name"] == version:
                        return v["schema"]["openAPIV3Schema"]
    raise AssertionError(f"no CRD for {kind} {version} in {CRDS}")


def crd_schema(kind: str, version: str) -> dict:
    return copy.deepcopy(_crd_schema(kind, version))


def unknown_fields(obj, schema: dict, where: str = "") -> list[str]:
    """Fields the schema does not declare (the API server's strict field validation)."""
    if schema.get("x-kubernetes-preserve-unknown-fields"):
        return []
    found = []
    if isinstance(obj, dict) and "properties" in schema:
        for key, value in obj.items():
            if key not in schema["properties"]:
                found.append(f"{where}.{key}")
            else:
                found += unknown_fields(value, schema["properties"][key], f"{where}.{key}")
    elif isinstance(obj, list) and "items" in schema:
        for n, value in enumerate(obj):
            found += unknown_fields(value, schema["items"], f"{where}[{n}]")
    return found


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_builds_and_every_resource_is_valid(overlay):
    import jsonschema
    import kubernetes_validate

    docs = build(overlay)
    kinds = {doc["kind"] for doc in docs}
    assert {
        "InferenceService",
        "Deployment",
        "Service",
        "ServiceAccount",
        "Role",
        "RoleBinding",
        "ConfigMap",
        "NetworkPolicy",
        "Namespace",
    } <= kinds
    for doc in docs:
        if doc["apiVersion"].startswith("serving.kserve.io/"):
            schema = crd_schema(doc["kind"], doc["apiVersion"].split("/")[1])
            jsonschema.validate(doc, schema)
            assert not unknown_fields(doc, schema), unknown_fields(doc, schema)
        else:
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        if doc["kind"] != "Namespace":
            assert doc["metadata"].get("namespace") == ("aktrec" if overlay == "prod" else "aktrec-local")


def test_validation_catches_a_broken_inferenceservice():
    import jsonschema

    service = next(doc for doc in build("prod") if doc["kind"] == "InferenceService")
    schema = crd_schema("InferenceService", "v1beta1")
    service["spec"]["predictor"]["containers"][0]["imagePullPolicy"] = 3
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(service, schema)
    service["spec"]["predictor"]["containers"][0]["imagePullPolicy"] = "Always"
    service["spec"]["predictor"]["replicas"] = 2
    assert unknown_fields(service, schema) == [".spec.predictor.replicas"]


def test_predictor_is_hardened_and_probed():
    service = next(doc for doc in build("prod") if doc["kind"] == "InferenceService")
    predictor = service["spec"]["predictor"]
    container = predictor["containers"][0]
    assert predictor["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/v2/models/aktrec/ready"
    assert container["resources"]["limits"]["memory"]
    assert container["image"] == "ghcr.io/aktrec/aktrec:0.1.0"
    assert container["args"][0] == "serve" and "--config" in container["args"]


def test_redis_requires_the_password_of_the_secret_that_the_predictor_reads():
    docs = build("prod")
    redis = next(doc for doc in docs if doc["kind"] == "Deployment" and doc["metadata"]["name"] == "aktrec-redis")
    pod = redis["spec"]["template"]["spec"]
    command = " ".join(pod["containers"][0]["args"])
    assert "--requirepass" in command and "--protected-mode yes" in command and "protected-mode no" not in command
    assert {"name": "password", "secret": {"secretName": "aktrec-redis", "defaultMode": 0o440}} in pod["volumes"]
    service = next(doc for doc in docs if doc["kind"] == "InferenceService")
    env = {v["name"]: v for v in service["spec"]["predictor"]["containers"][0]["env"]}
    assert env["AKTREC_REDIS_PASSWORD"]["valueFrom"]["secretKeyRef"] == {"name": "aktrec-redis", "key": "password"}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_checkov_static_security_scan_passes(overlay, tmp_path):
    checkov = shutil.which("checkov") or str(ROOT / ".venv-tools" / "bin" / "checkov")
    assert Path(checkov).exists(), "checkov is installed by `make tools` (its own venv: .venv-tools)"
    (tmp_path / "built.yaml").write_text(yaml.safe_dump_all(build(overlay)))
    result = subprocess.run(
        [checkov, "--quiet", "--compact", "--framework", "kubernetes", "-d", str(tmp_path)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout[-4000:]


def test_deploy_step_renders_the_base_inferenceservice_with_its_storage_uri():
    import jsonschema

    from aktrec.pipeline import IMAGE
    from aktrec.pipeline.deployment import inference_service_yaml

    service = yaml.safe_load(inference_service_yaml("s3://bucket/runs/42/deployment"))
    schema = crd_schema("InferenceService", "v1beta1")
    jsonschema.validate(service, schema)
    assert not unknown_fields(service, schema)
    container = service["spec"]["predictor"]["containers"][0]
    assert container["image"] == IMAGE
    assert {"name": "STORAGE_URI", "value": "s3://bucket/runs/42/deployment"} in container["env"]
    built = build("prod")
    base = next(doc for doc in built if doc["kind"] == "InferenceService")["spec"]["predictor"]
    assert container["readinessProbe"] == base["containers"][0]["readinessProbe"]
    assert service["spec"]["predictor"]["securityContext"] == base["securityContext"]
    # what it refers to by name is what an overlay applied once per namespace creates
    names = {(doc["kind"], doc["metadata"]["name"]) for doc in built}
    volumes = {volume["name"]: volume for volume in service["spec"]["predictor"]["volumes"]}
    assert ("ConfigMap", volumes["serving-config"]["configMap"]["name"]) in names
    assert ("ServiceAccount", service["spec"]["predictor"]["serviceAccountName"]) in names


def test_predictor_autoscales_on_concurrency_and_exposes_http_and_grpc():
    from aktrec.config import ServingConfig, load_config

    service = next(doc for doc in build("prod") if doc["kind"] == "InferenceService")
    predictor = service["spec"]["predictor"]
    assert service["metadata"]["annotations"]["serving.kserve.io/autoscalerClass"] == "keda"
    [metric] = predictor["autoScaling"]["metrics"]
    assert "request_predict_seconds_sum" in metric["external"]["metric"]["query"]
    assert metric["external"]["target"] == {"type": "AverageValue", "averageValue": "8"}
    assert predictor["minReplicas"] >= 1 and predictor["maxReplicas"] > predictor["minReplicas"]
    config = load_config(ServingConfig, ROOT / "manifests" / "base" / "serving.yaml")
    ports = {port["name"]: port["containerPort"] for port in predictor["containers"][0]["ports"]}
    assert ports == {"http1": config.http_port, "grpc": config.grpc_port}
    assert "EXPOSE 8080 8081" in (ROOT / "Dockerfile").read_text()


def test_canary_spec_is_valid_and_serves_the_new_release_beside_the_stable_one():
    import jsonschema

    from aktrec.pipeline.deployment import AUTOSCALING_FIELDS, inference_service_yaml

    service = yaml.safe_load(inference_service_yaml("s3://b/releases/old", "s3://b/releases/new", 10))
    schema = crd_schema("InferenceService", "v1beta1")
    jsonschema.validate(service, schema)
    assert not unknown_fields(service, schema)
    stable = service["spec"]["predictor"]
    [canary] = service["spec"]["canary"]
    assert canary["trafficPercent"] == 10 and canary["predictor"]["name"] == "canary"
    env = {v["name"]: v.get("value") for v in stable["containers"][0]["env"]}
    canary_env = {v["name"]: v.get("value") for v in canary["predictor"]["containers"][0]["env"]}
    assert env["STORAGE_URI"] == "s3://b/releases/old" and canary_env["STORAGE_URI"] == "s3://b/releases/new"
    assert not set(AUTOSCALING_FIELDS) & set(canary["predictor"])  # KServe sizes a canary from its share
    assert canary["predictor"]["containers"][0]["readinessProbe"] == stable["containers"][0]["readinessProbe"]
    # the canary's prediction-log rows say which arm answered; the stable predictor is the default arm
    assert canary["predictor"]["containers"][0]["args"][-2:] == ["--arm", "canary"]
    assert "--arm" not in stable["containers"][0]["args"]


def test_deploy_step_writes_a_canary_with_promote_and_rollback(planted_model, planted_repo, tmp_path):
    import json

    from aktrec.pipeline.steps import deploy_step
    from aktrec.storage import release_uri

    model = tmp_path / "model"
    shutil.copytree(planted_model, model)
    (model / "gate.json").write_text(json.dumps({"promote": True, "failure": None}))
    store = str(tmp_path / "releases")
    deploy_step(str(model), str(planted_repo), str(tmp_path / "first"), store, "")
    first = release_uri(store)
    deploy_step(str(model), str(planted_repo), str(tmp_path / "second"), store, "", canary_percent=20)
    second = release_uri(store)
    assert second != first

    def storage_uris(name: str) -> list[str]:
        service = yaml.safe_load((tmp_path / "second" / name).read_text())
        predictors = [service["spec"]["predictor"], *(c["predictor"] for c in service["spec"].get("canary", []))]
        return [next(v["value"] for v in p["containers"][0]["env"] if v["name"] == "STORAGE_URI") for p in predictors]

    assert storage_uris("inferenceservice.yaml") == [first, second]
    assert storage_uris("promote.yaml") == [second] and storage_uris("rollback.yaml") == [first]
    with pytest.raises(Exception, match="canary needs storage_uri"):
        deploy_step(str(model), str(planted_repo), str(tmp_path / "third"), "", "", canary_percent=20)
    with pytest.raises(Exception, match="canary_percent 100"):
        deploy_step(str(model), str(planted_repo), str(tmp_path / "third"), store, "", canary_percent=100)


def test_a_deploy_that_fails_midway_leaves_the_previous_deployment_whole(planted_model, planted_repo, tmp_path):
    import json

    from aktrec.pipeline.steps import deploy_step

    model = tmp_path / "model"
    shutil.copytree(planted_model, model)
    (model / "gate.json").write_text(json.dumps({"promote": True, "failure": None}))
    deployment = tmp_path / "deployment"
    deploy_step(str(model), str(planted_repo), str(deployment), "", "")
    before = sorted(path.relative_to(deployment) for path in deployment.rglob("*"))
    (tmp_path / "not-a-folder").write_text("")  # publishing under a file fails after the copies
    with pytest.raises(NotADirectoryError):
        deploy_step(str(model), str(planted_repo), str(deployment), str(tmp_path / "not-a-folder"), "")
    assert sorted(path.relative_to(deployment) for path in deployment.rglob("*")) == before
    assert "kind: InferenceService" in (deployment / "inferenceservice.yaml").read_text()
    assert [path.name for path in tmp_path.iterdir() if "staging" in path.name] == []
