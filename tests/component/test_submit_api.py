"""`aktrec pipeline submit` through the real kfp.Client against a local HTTP server that
answers like the Kubeflow Pipelines v2beta1 REST API and records what it receives."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from conftest import run_aktrec

ANSWERS = {  # (method, path prefix) -> the body the API answers with
    ("GET", "/apis/v2beta1/healthz"): {"commit_sha": "test"},
    ("GET", "/apis/v2beta1/experiments"): {"experiments": []},
    ("POST", "/apis/v2beta1/experiments"): {"experiment_id": "exp-1", "display_name": "nightly"},
    ("POST", "/apis/v2beta1/runs"): {"run_id": "run-123", "display_name": "my-run"},
}


@pytest.fixture
def kfp_api():
    received = []

    class Api(BaseHTTPRequestHandler):
        def _answer(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length)) if length else None
            received.append({"method": self.command, "path": self.path, "headers": dict(self.headers), "body": body})
            answer = next((a for (m, p), a in ANSWERS.items() if m == self.command and self.path.startswith(p)), None)
            data = json.dumps(answer if answer is not None else {"error": "not found"}).encode()
            self.send_response(200 if answer is not None else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = _answer

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Api)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}", received
    server.shutdown()


def test_submit_sends_the_compiled_pipeline_and_arguments_with_the_token(kfp_api, tmp_path, monkeypatch, capsys):
    host, received = kfp_api
    monkeypatch.setenv("KFP_TOKEN", "secret")
    # RAW cannot be read from here (no S3): the run still goes, with a fingerprint of its own.
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    (tmp_path / "c.yaml").write_text("train: {loop: {epochs: 1}}\n")
    code = run_aktrec(
        "pipeline",
        "submit",
        "--host",
        host,
        "--raw-uri",
        "s3://bucket/raw",
        "--config",
        tmp_path / "c.yaml",
        "--experiment",
        "nightly",
        "--run-name",
        "my-run",
        "--storage-uri",
        "s3://bucket/deploy",
        "--online-store",
        "redis://aktrec-redis:6379",
    )
    assert code == 0 and "submitted run run-123" in capsys.readouterr().out
    assert all(request["headers"].get("authorization") == "Bearer secret" for request in received)
    experiment = next(r for r in received if r["method"] == "POST" and r["path"].startswith("/apis/v2beta1/exp"))
    assert experiment["body"]["display_name"] == "nightly"
    [run] = [r for r in received if r["method"] == "POST" and r["path"].startswith("/apis/v2beta1/runs")]
    assert run["body"]["display_name"] == "my-run" and run["body"]["experiment_id"] == "exp-1"
    parameters = run["body"]["runtime_config"]["parameters"]
    assert parameters["raw_uri"] == "s3://bucket/raw" and parameters["raw_fingerprint"].startswith("submitted-")
    assert (
        parameters["storage_uri"] == "s3://bucket/deploy" and parameters["online_store"] == "redis://aktrec-redis:6379"
    )
    assert "epochs: 1" in parameters["train_config"]
    committed, platform = yaml.safe_load_all(
        (Path(__file__).resolve().parents[2] / "pipelines" / "aktrec_pipeline.yaml").read_text()
    )
    # What the cluster runs is the committed pipeline, with its Kubernetes platform spec (the Secret).
    assert run["body"]["pipeline_spec"] == {"pipeline_spec": committed, "platform_spec": platform}
    secret = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]["exec-deploy"]["secretAsEnv"]
    assert secret[0]["secretName"] == "aktrec-redis" and secret[0]["keyToEnv"][0]["envVar"] == "AKTREC_REDIS_PASSWORD"
    assert any("importer" in executor for executor in committed["deploymentSpec"]["executors"].values())
