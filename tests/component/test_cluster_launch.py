"""Steps that launch their stage on Kubeflow's operators: the SparkApplication and the TrainJob
they render validate against the CRDs in ../shared/schemas, and against a Kubernetes API on
127.0.0.1 that runs what each resource's pods would run (the driver's `aktrec remote`; torchrun
as the torch-distributed runtime does), the steps' outputs equal the in-process stages'."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import jsonschema
import pandas as pd
import pytest
import yaml
from test_manifests import crd_schema, unknown_fields

BIN = Path(sys.executable).parent


def assert_valid(manifest: dict) -> None:
    schema = crd_schema(manifest["kind"], manifest["apiVersion"].split("/")[1])
    jsonschema.validate(manifest, schema)
    assert not unknown_fields(manifest, schema), unknown_fields(manifest, schema)


def test_rendered_resources_validate_against_the_operators_crds():
    from aktrec.config import SparkApplicationConfig, SparkExecutorsConfig, TrainJobConfig
    from aktrec.pipeline.launch import spark_application, train_job

    arguments = ["remote", "--input", "data=s3://bucket/data", "--", "features", "materialize"]
    spark = spark_application(
        "aktrec-repo-1", arguments, SparkApplicationConfig(executor=SparkExecutorsConfig(instances=8))
    )
    trainer = train_job("aktrec-model-1", arguments, TrainJobConfig(nodes=4, processes_per_node=2))
    for manifest in (spark, trainer):
        assert_valid(manifest)
    assert spark["spec"]["executor"]["instances"] == 8 and spark["spec"]["image"].startswith(
        "ghcr.io/aktrec/aktrec-spark:"
    )
    assert trainer["spec"]["trainer"]["numNodes"] == 4 and trainer["spec"]["runtimeRef"]["name"] == "torch-distributed"
    spark["spec"]["executor"]["instances"] = "eight"
    with pytest.raises(jsonschema.ValidationError):
        assert_valid(spark)
    trainer["spec"]["trainer"]["replicas"] = 2
    assert unknown_fields(trainer, crd_schema("TrainJob", "v1alpha1")) == [".spec.trainer.replicas"]


class FakeOperators:
    """The Kubernetes API of the two CRDs: a created resource starts the process its pods would
    run here; its status follows that process (RUNNING, then COMPLETED/FAILED or Complete/Failed)."""

    def __init__(self, logs: Path):
        self.created: list[dict] = []
        self.processes: dict[str, subprocess.Popen] = {}
        self.logs = logs
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _answer(self, code: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self):
                manifest = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                fake.start(manifest)
                self._answer(201, manifest)

            def do_GET(self):
                name = self.path.rstrip("/").rsplit("/", 1)[-1]
                manifest = next((m for m in fake.created if m["metadata"]["name"] == name), None)
                if manifest is None:
                    return self._answer(404, {"kind": "Status", "code": 404})
                return self._answer(200, {**manifest, "status": fake.status(manifest)})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def start(self, manifest: dict) -> None:
        self.created.append(manifest)
        spec, name = manifest["spec"], manifest["metadata"]["name"]
        env = dict(os.environ)
        env.pop("AKTREC_IN_PROCESS", None)
        if manifest["kind"] == "SparkApplication":
            command = [sys.executable, "-m", "aktrec", *spec["arguments"]]  # the file SPARK_MAIN names
        else:  # torchrun on one node, with the processes of all nodes (the runtime's PET_* settings)
            trainer = spec["trainer"]
            with socket.socket() as probe:
                probe.bind(("127.0.0.1", 0))
                port = probe.getsockname()[1]
            env.update(
                PET_NNODES="1",
                PET_NPROC_PER_NODE=str(trainer["numNodes"] * trainer["numProcPerNode"]),
                PET_NODE_RANK="0",
                PET_MASTER_ADDR="127.0.0.1",
                PET_MASTER_PORT=str(port),
            )
            command = [
                str(BIN / trainer["command"][0]),
                *trainer["command"][1:-1],
                str(BIN / "aktrec"),
                *trainer["args"],
            ]
        log = open(self.logs / f"{name}.log", "w")
        self.processes[name] = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)

    def status(self, manifest: dict) -> dict:
        code = self.processes[manifest["metadata"]["name"]].poll()
        if manifest["kind"] == "SparkApplication":
            state = "RUNNING" if code is None else ("COMPLETED" if code == 0 else "FAILED")
            return {"applicationState": {"state": state, "errorMessage": f"driver exited with {code}"}}
        if code is None:
            return {"conditions": []}
        kind = "Complete" if code == 0 else "Failed"
        return {"conditions": [{"type": kind, "status": "True", "message": f"trainer exited with {code}"}]}

    def kubeconfig(self, path: Path) -> Path:
        server = f"http://127.0.0.1:{self.server.server_address[1]}"
        path.write_text(
            yaml.safe_dump(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "clusters": [{"name": "fake", "cluster": {"server": server}}],
                    "users": [{"name": "fake", "user": {"token": "test-token"}}],
                    "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "fake"}}],
                    "current-context": "fake",
                }
            )
        )
        return path

    def stop(self) -> None:
        for process in self.processes.values():
            process.kill()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def operators(tmp_path, monkeypatch):
    from aktrec.pipeline import launch

    fake = FakeOperators(tmp_path)
    monkeypatch.setenv("KUBECONFIG", str(fake.kubeconfig(tmp_path / "kubeconfig")))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.delenv("AKTREC_IN_PROCESS", raising=False)
    monkeypatch.setattr(launch, "POLL_SECONDS", 0.5)
    yield fake
    fake.stop()


def test_steps_launch_a_spark_application_and_a_train_job_with_the_in_process_results(
    operators, planted_emb, planted_repo, tmp_path
):
    from aktrec.pipeline.steps import materialize_features_step, train_step

    out = tmp_path / "step"
    uris = {
        "data": str(planted_emb / "data"),
        "semantic_ids": str(planted_emb / "sid"),
        "embeddings": str(planted_emb / "emb"),
        "feature_repo": str(tmp_path / "store" / "feature_repo"),
        "model": str(tmp_path / "store" / "model"),
    }
    features = "engine: spark\nspark_application: {namespace: aktrec, executor: {instances: 2}}\n"
    metrics = materialize_features_step(
        uris["data"],
        uris["semantic_ids"],
        uris["embeddings"],
        str(out / "feature_repo"),
        features,
        str(out / "features.html"),
        str(out / "features.md"),
        uris,
    )
    spark = operators.created[0]
    assert_valid(spark)
    assert spark["spec"]["arguments"][:3] == ["remote", "--input", f"data={uris['data']}"]
    assert metrics["feature_service"] == "aktrec_v1" and (out / "features.html").is_file()
    for view in ("user_activity", "user_x_item_cluster", "user_sequence"):
        launched = pd.read_parquet(out / "feature_repo" / "data" / f"{view}.parquet")
        in_process = pd.read_parquet(planted_repo / "data" / f"{view}.parquet")
        assert len(launched) == len(in_process) > 0, view

    train = (
        "variants: [aktrec]\npromotion: {compare_with: aktrec}\nlightgbm: {enabled: false}\ntrain: {epochs: 1}\n"
        "train_job: {nodes: 2, processes_per_node: 1}\n"
    )
    result = train_step(
        uris["data"],
        str(out / "feature_repo"),
        uris["semantic_ids"],
        uris["embeddings"],
        str(out / "model"),
        train,
        str(out / "train.html"),
        str(out / "train.md"),
        {**uris, "feature_repo": uris["feature_repo"]},
    )
    job = operators.created[1]
    assert_valid(job)
    assert job["kind"] == "TrainJob" and job["spec"]["trainer"]["numNodes"] == 2
    assert result["training_processes"] == 2 and "promotion" in result
    assert (out / "model" / "model.safetensors").is_file() and (out / "train.html").is_file()


def test_a_failed_launch_names_the_resource_and_why(operators, planted_emb, tmp_path):
    from aktrec.errors import AktrecError
    from aktrec.pipeline.steps import materialize_features_step

    uris = {name: str(tmp_path / "missing" / name) for name in ("data", "semantic_ids", "embeddings", "feature_repo")}
    with pytest.raises(
        AktrecError, match=r"SparkApplication aktrec/aktrec-feature-repo-\d+ failed: driver exited with 2"
    ):
        materialize_features_step(
            *(uris[name] for name in ("data", "semantic_ids", "embeddings")),
            str(tmp_path / "repo"),
            "engine: spark\nspark_application: {}\n",
            str(tmp_path / "p.html"),
            str(tmp_path / "p.md"),
            uris,
        )
    assert "remote input data: nothing at" in (tmp_path / f"{operators.created[0]['metadata']['name']}.log").read_text()
