"""The image as a platform team meets it: built by `make image` (before the suite, in `make
test`), every pipeline task run inside it by kfp.local's DockerRunner over podman's Docker API,
with RAW read from and the release published to moto S3 and the features filled into Redis on
127.0.0.1 (the cluster path in containers); the metrics equal an in-process run's on the same
data. The release is then served by the image's own entrypoint as the InferenceService runs it
(read-only root, uid 10001, all capabilities dropped, /mnt/models read-only, the manifests'
serving config): v1, v2, gRPC and :explain answer with the in-process predictor's scores, a
damaged bundle is one line and exit 2, SIGTERM stops it cleanly. The Spark image runs the Spark
feature engine and writes the pandas engine's offline tables.

Run alone: `make rehearsal-containers`."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from aktrec import schemas
from aktrec.cli import main
from aktrec.pipeline import IMAGE, SPARK_IMAGE
from aktrec.pipeline.progress import ANSI
from conftest import BUCKET, GRPC_CLIENT, JOIN_KEYS, REPO_ROOT, assert_same_table, running_redis

LIFETIME_S = 900
CONTAINER_UID = "10001:10001"  # the manifests' runAsUser / runAsGroup


def podman(*args: str, check: bool = True, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run(["podman", *args], capture_output=True, text=True, timeout=timeout, check=check)


@pytest.fixture(scope="module", autouse=True)
def docker_api(tmp_path_factory):
    """Podman with the project's settings, both images present, and podman's Docker API on a
    socket of this test (DOCKER_HOST) while it runs."""
    if shutil.which("podman") is None:
        pytest.fail("podman is not installed; `make test` installs it (scripts/system-packages.sh)")
    os.environ.setdefault("CONTAINERS_CONF", str(REPO_ROOT / "containers" / "containers.conf"))
    for image in (IMAGE, SPARK_IMAGE):
        if podman("image", "exists", image, check=False).returncode != 0:
            pytest.fail(f"the image {image} is not built; `make image` builds it (`make test` does)")
    socket_path = tmp_path_factory.mktemp("podman") / "podman.sock"
    service = subprocess.Popen(
        ["podman", "system", "service", "--time=0", f"unix://{socket_path}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while not socket_path.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    with pytest.MonkeyPatch.context() as env:
        env.setenv("DOCKER_HOST", f"unix://{socket_path}")
        yield
    service.terminate()
    service.wait(timeout=30)


@pytest.fixture(scope="module")
def redis_url():
    with running_redis() as url:
        yield url


@pytest.fixture(scope="module")
def runs(tiny_raw_dir, tiny_pipeline_run, object_store, redis_url):
    """The same RAW through the pipeline twice: in-process (local RAW, the shared
    `tiny_pipeline_run`), and in containers (RAW from s3://, the release to s3://, the features
    to Redis). Returns both work directories."""
    object_store.put(str(tiny_raw_dir), f"{BUCKET}/raw", recursive=True)
    contained = tiny_raw_dir.parent / "contained"
    command = [
        *("pipeline", "run", "--runner", "docker", "--raw", f"s3://{BUCKET}/raw", "--workdir", str(contained)),
        *("--config", str(tiny_raw_dir.parent / "lenient.yaml")),
        *("--storage-uri", f"s3://{BUCKET}/deploy", "--online-store", redis_url),
    ]
    assert main(command) == 0
    return tiny_pipeline_run, contained


def test_every_task_runs_in_the_image_and_the_metrics_equal_the_in_process_run(runs):
    local, contained = runs
    log = ANSI.sub("", max((contained / "runs").glob("*.log")).read_text())
    for task in ("validate-raw", "prepare", "embed-items", "embed-users", "semantic-ids", "train", "deploy"):
        assert f"Executing task '{task}'" in log and f"Task '{task}' finished with status SUCCESS" in log
    assert log.count(f"Found image '{IMAGE}'") >= 9 and "pip install" not in log  # no install at run time
    local_metrics = json.loads((local / "metrics.json").read_text())
    contained_metrics = json.loads((contained / "metrics.json").read_text())
    for key in ("models", "validation", "promotion", "dataset", "diagnostics"):
        assert contained_metrics[key] == local_metrics[key], key
    assert (contained / "reports" / "index.html").is_file() and (contained / "deployment").is_dir()


def test_a_task_that_fails_in_its_container_stops_the_run_naming_its_step(tiny_raw, tmp_path, capsys):
    """kfp's DockerRunner reads a failed container that podman already removed as a success: the
    run must still stop at the first failed step, say so, and cache nothing of its own."""
    from aktrec.data.raw import write_raw

    broken = tiny_raw.interactions.to_pandas()
    broken.loc[0, "label"] = 7
    interactions = pa.Table.from_pandas(broken, schema=tiny_raw.interactions.schema, preserve_index=False)
    write_raw(dataclasses.replace(tiny_raw, interactions=interactions), tmp_path / "raw", validate=False)
    work = tmp_path / "work"
    assert main(["pipeline", "run", "--runner", "docker", "--raw", str(tmp_path / "raw"), "--workdir", str(work)]) == 2
    captured = capsys.readouterr()
    assert "pipeline stopped at step validate_raw: validation of raw failed" in captured.err
    assert (
        re.search(r"validate-raw +\d+ s  failure", captured.out) and "prepare" not in captured.out.split("failure")[0]
    )
    assert not list((work / "runs" / ".kfp_cache").glob("*.json"))


@pytest.fixture(scope="module")
def release(runs, object_store, tmp_path_factory) -> Path:
    """The published release, downloaded from s3:// by the image itself as the storage
    initializer (`aktrec fetch --release URI --out DIR`) into a volume the predictor's uid may write, as the
    pod's emptyDir is."""
    from aktrec.storage import release_uri

    mounted = tmp_path_factory.mktemp("mnt") / "models"
    mounted.mkdir(mode=0o777)
    mounted.chmod(0o777)
    credentials = [f"--env={name}" for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION")]
    podman(
        *("run", "--rm", "--network=host", "--read-only", "--tmpfs", "/tmp:rw,exec", "--user", CONTAINER_UID),
        *credentials,
        f"--env=AWS_ENDPOINT_URL={os.environ['AWS_ENDPOINT_URL']}",
        *("--volume", f"{mounted}:/mnt/models", IMAGE, "fetch", "--release", release_uri(f"s3://{BUCKET}/deploy")),
        *("--out", "/mnt/models"),
    )
    assert (mounted / "model" / "model.safetensors").is_file()
    return mounted


def predictor_launcher(models: Path, config_dir: Path, log_dir: Path | None = None) -> list[str]:
    """`podman run` of the image as the InferenceService's predictor container runs it
    (`log_dir`: a writable mount at /var/log/aktrec, for the prediction log)."""
    return [
        *("podman", "run", "--rm", "--network=host", "--read-only", "--tmpfs", "/tmp:rw,exec"),
        *("--user", CONTAINER_UID, "--cap-drop=ALL", "--security-opt=no-new-privileges"),
        *("--volume", f"{models}:/mnt/models:ro", "--volume", f"{config_dir}:/etc/aktrec:ro"),
        *(("--volume", f"{log_dir}:/var/log/aktrec:rw") if log_dir else ()),
        IMAGE,
    ]


@pytest.fixture(scope="module")
def serving_config(tmp_path_factory) -> Path:
    """The manifests' serving config (the aktrec-serving ConfigMap), two workers included."""
    config_dir = tmp_path_factory.mktemp("etc-aktrec")
    shutil.copyfile(REPO_ROOT / "manifests" / "base" / "serving.yaml", config_dir / "serving.yaml")
    subprocess.run(["chmod", "-R", "a+rX", str(config_dir)], check=True)
    return config_dir


def post(url: str, body: dict) -> dict:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


def wait_for_status(url: str, status: int, seconds: float = 30) -> int:
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                got = response.status
        except urllib.error.HTTPError as error:
            got = error.code
        if got == status or time.monotonic() > deadline:
            return got
        time.sleep(0.5)


def test_the_predictor_container_serves_the_release_like_the_in_process_predictor(
    runs, release, serving_config, redis_url, tmp_path
):
    from aktrec.serving.local import example_request, free_port, running_predictor

    _, contained = runs
    with running_predictor(contained / "model", contained / "feature_repo", lifetime_s=LIFETIME_S) as url:
        request, local_answer = example_request(url, contained / "data")
        local_explained = post(f"{url}/v1/models/aktrec:explain", request)
    user, items = request["instances"][0]["user_id"], request["instances"][0]["item_ids"][:-1]

    grpc_port = free_port()
    log_path = tmp_path / "predictor.log"
    predictions = tmp_path / "prediction-log"
    predictions.mkdir(mode=0o777)
    predictions.chmod(0o777)  # the container's uid writes there
    started = time.monotonic()
    with running_predictor(
        Path("/mnt/models/model"),
        Path("/mnt/models/feature_repo"),
        ["--config", "/etc/aktrec/serving.yaml", "--prediction-log", "/var/log/aktrec"],
        grpc_port=grpc_port,
        log_path=log_path,
        launcher=predictor_launcher(release, serving_config, predictions),
    ) as url:
        print(f"predictor container ready in {time.monotonic() - started:.1f}s")
        _, answer = example_request(url, contained / "data")
        np.testing.assert_allclose(answer["predictions"][0], local_answer["predictions"][0], atol=1e-6)
        explained = post(f"{url}/v1/models/aktrec:explain", request)
        assert [e["item_id"] for e in explained["explanations"][0]] == request["instances"][0]["item_ids"]
        for mine, theirs in zip(explained["explanations"][0], local_explained["explanations"][0]):
            assert mine["score"] == pytest.approx(theirs["score"], abs=1e-6)
            assert mine["cluster_level_share"] == pytest.approx(theirs["cluster_level_share"], abs=1e-6)
        v2 = post(
            f"{url}/v2/models/aktrec/infer",
            {
                "inputs": [
                    {"name": "user_id", "shape": [1], "datatype": "BYTES", "data": [user]},
                    {"name": "item_ids", "shape": [len(items)], "datatype": "BYTES", "data": items},
                ]
            },
        )
        scores = next(output["data"] for output in v2["outputs"] if output["name"] == "scores")
        np.testing.assert_allclose(scores, local_answer["predictions"][0][:-1], atol=1e-6)
        grpc = subprocess.run(
            [sys.executable, "-c", GRPC_CLIENT, f"127.0.0.1:{grpc_port}", user, json.dumps(items), "500"],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert grpc.returncode == 0, grpc.stderr[-2000:]
        out = json.loads(grpc.stdout)
        assert out["ready"]
        np.testing.assert_allclose(out["scores"], local_answer["predictions"][0][:-1], atol=1e-6)
        # Readiness reads the online store inside the container as outside: an empty store is 503.
        import redis

        from aktrec.features.online import fill_online

        ready = f"{url}/v2/models/aktrec/ready"
        redis.Redis.from_url(redis_url).flushall()
        assert wait_for_status(ready, 503) == 503
        fill_online(contained / "feature_repo", redis_url)
        assert wait_for_status(ready, 200) == 200
        # Nothing written outside /tmp: the root file system is read-only and the server runs on it.
        [container] = podman("ps", "--filter", f"ancestor={IMAGE}", "--format", "{{.ID}}").stdout.split()
        assert podman("exec", container, "id", "-u").stdout.strip() == CONTAINER_UID.split(":")[0]
        denied = podman("exec", container, "touch", "/opt/venv/written", check=False)
        assert denied.returncode != 0 and "Read-only file system" in denied.stderr
    # running_predictor's SIGTERM reached the server through `podman run`: each worker drains and exits.
    shutdown = log_path.read_text().partition("Shutting down")[2]
    assert shutdown.count("Application shutdown complete") == 2 and "Traceback" not in shutdown
    # ... writing what its prediction log held: every predicted candidate (v1, v2, gRPC), none lost.
    from aktrec.monitoring.prediction_log import read_prediction_log

    logged = read_prediction_log(str(predictions))
    assert set(request["instances"][0]["item_ids"]) <= set(logged[schemas.ITEM_ID])
    assert len(logged) == len(request["instances"][0]["item_ids"]) + 2 * len(items)
    assert set(logged[schemas.ARM]) == {"stable"} and set(logged[schemas.RELEASE]) == {"/mnt/models/model"}
    assert podman("ps", "--all", "--filter", f"id={container}", "--format", "{{.ID}}").stdout.strip() == ""


def test_a_damaged_bundle_stops_the_container_with_one_line_and_exit_2(release, serving_config, tmp_path):
    damaged = tmp_path / "models"
    shutil.copytree(release, damaged)
    (damaged / "model" / "model.safetensors").write_bytes(b"not a model")
    subprocess.run(["chmod", "-R", "a+rX", str(damaged)], check=True)
    launcher = predictor_launcher(damaged, serving_config)
    result = subprocess.run(
        [*launcher, "serve", "--model", "/mnt/models/model", "--repo", "/mnt/models/feature_repo"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 2, result.stderr[-2000:]
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("aktrec: error: /mnt/models/model") and "cannot be served" in line, line


def test_the_spark_image_writes_the_pandas_engines_offline_tables(planted_emb, planted_repo, tmp_path):
    """The Spark feature engine in local mode inside the Spark image, as the driver of a
    SparkApplication would run it, against the pandas engine's repository."""
    (tmp_path / "spark.yaml").write_text("engine: spark\n")
    result = subprocess.run(
        [
            *("podman", "run", "--rm", "--network=none", "--read-only", "--tmpfs", "/tmp:rw,exec"),
            *("--user", f"{os.getuid()}:{os.getgid()}", "--volume", f"{planted_emb}:{planted_emb}:ro"),
            *("--volume", f"{tmp_path}:{tmp_path}", SPARK_IMAGE, "aktrec", "features", "materialize"),
            *("--data", str(planted_emb / "data"), "--sids", str(planted_emb / "sid")),
            *("--repo", str(tmp_path / "repo"), "--config", str(tmp_path / "spark.yaml")),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    for name in JOIN_KEYS:
        pandas_rows = pd.read_parquet(planted_repo / "data" / f"{name}.parquet")
        assert len(pandas_rows) > 0, name
        assert_same_table(name, pandas_rows, pd.read_parquet(tmp_path / "repo" / "data" / f"{name}.parquet"))


def test_the_spark_images_entrypoint_starts_a_driver_as_the_spark_operator_does():
    """A driver pod's arguments: spark-submit in client mode runs the aktrec command line."""
    driver = podman(
        *("run", "--rm", "--network=none", "--read-only", "--tmpfs", "/tmp:rw,exec", "--user", CONTAINER_UID),
        *(SPARK_IMAGE, "driver", "--master", "local[1]", "/opt/aktrec/aktrec_main.py", "pipeline", "--help"),
    )
    assert "compile" in driver.stdout and "submit" in driver.stdout
