"""The cluster path, rehearsed on this machine with real servers on 127.0.0.1: RAW in an
S3-compatible store (moto), the pipeline on the KFP local runner importing RAW from s3://,
the deploy step filling Redis and publishing a release to s3://, then the predictor started
from the release as KServe's storage initializer would download it. It scores like the local
path; it is not ready while Redis is empty, holds another feature service or an older
materialization (a newer one of the same service serves: the next release may fill Redis
first), and it answers 503 (never 500) while Redis is down, coming back by itself.

Run alone: `make rehearsal`."""

from __future__ import annotations

import json
import os
import signal
import time
import urllib.error
import urllib.request

import numpy as np
import pytest
import yaml

from aktrec.cli import main
from conftest import BUCKET, running_redis

# A 600-user synthetic set, as a team would first try the cluster path, with the default
# settings: the promotion gate decides on its merits (a slice too small to read would be
# "not enough data", not a failure).
REHEARSAL_DATA = {"n_users": 600, "n_items": 300, "n_interactions": 15_000, "n_days": 15, "seed": 7}
LIFETIME_S = 900


@pytest.fixture(scope="module")
def redis_url():
    with running_redis() as url:
        yield url


@pytest.fixture(scope="module")
def cluster_run(object_store, redis_url, tmp_path_factory):
    from aktrec.config import SynthConfig
    from aktrec.data.raw import write_raw
    from aktrec.data.synth import generate

    root = tmp_path_factory.mktemp("rehearsal")
    write_raw(generate(SynthConfig(**REHEARSAL_DATA)), root / "raw")
    object_store.put(str(root / "raw"), f"{BUCKET}/raw", recursive=True)
    arguments = ["--workdir", str(root / "work")]
    remote = ["--storage-uri", f"s3://{BUCKET}/deploy", "--online-store", redis_url]
    assert main(["pipeline", "run", "--raw", f"s3://{BUCKET}/raw", *arguments, *remote]) == 0
    return root


def call(url: str, body: dict | None = None) -> tuple[int, dict]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def wait_for(url: str, status: int, seconds: float = 20) -> int:
    deadline = time.monotonic() + seconds
    while (got := call(url)[0]) != status and time.monotonic() < deadline:
        time.sleep(0.5)
    return got


def test_release_from_object_storage_serves_like_the_local_path_and_only_from_its_materialization(
    cluster_run, object_store, redis_url, tmp_path
):
    import redis

    from aktrec.features.online import STAMP_KEY, fill_online
    from aktrec.serving.local import example_request, running_predictor
    from aktrec.storage import fetch, release_uri

    work = cluster_run / "work"
    service = yaml.safe_load((work / "deployment" / "inferenceservice.yaml").read_text())
    [storage] = [v for v in service["spec"]["predictor"]["containers"][0]["env"] if v["name"] == "STORAGE_URI"]
    release = release_uri(f"s3://{BUCKET}/deploy")
    assert storage["value"] == release and release.startswith(f"s3://{BUCKET}/deploy/releases/")
    assert object_store.exists(f"{release.removeprefix('s3://')}/_COMPLETE")
    mounted = fetch(release, tmp_path / "mnt" / "models")  # what the storage initializer does
    assert "redis" in (mounted / "feature_repo" / "feature_store.yaml").read_text()
    assert not (mounted / "feature_repo" / "data").exists()  # no offline tables in the serving unit

    with running_predictor(work / "model", work / "feature_repo", lifetime_s=LIFETIME_S) as local:
        request, local_answer = example_request(local, work / "data")
    with running_predictor(mounted / "model", mounted / "feature_repo", lifetime_s=LIFETIME_S) as url:
        ready = f"{url}/v2/models/aktrec/ready"
        assert wait_for(ready, 200) == 200
        status, answer = call(f"{url}/v1/models/aktrec:predict", request)
        assert status == 200, answer
        np.testing.assert_allclose(answer["predictions"][0], local_answer["predictions"][0], atol=1e-6)

        client = redis.Redis.from_url(redis_url)
        client.flushall()  # an empty online store: refuse, never serve zeros
        assert wait_for(ready, 503) == 503
        status, refused = call(f"{url}/v1/models/aktrec:predict", request)
        assert status == 503 and "holds no materialization" in refused["error"], refused

        fill_online(work / "feature_repo", redis_url)  # the store comes back: so does the predictor
        assert wait_for(ready, 200) == 200
        status, answer = call(f"{url}/v1/models/aktrec:predict", request)
        assert status == 200
        np.testing.assert_allclose(answer["predictions"][0], local_answer["predictions"][0], atol=1e-6)

        client.set(STAMP_KEY, "aktrec_v1@2000-01-01T00:00:00+00:00")  # older than the release's
        assert wait_for(ready, 503) == 503
        assert "older than" in call(ready)[1]["error"]
        client.set(STAMP_KEY, "aktrec_v2@2999-01-01T00:00:00+00:00")  # another feature service
        assert wait_for(ready, 503) == 503
        client.set(STAMP_KEY, "aktrec_v1@2999-01-01T00:00:00+00:00")  # the next release filled the store first
        assert wait_for(ready, 200) == 200
        fill_online(work / "feature_repo", redis_url)

        client.shutdown(nosave=True)  # Redis stops under load: 503s naming it, no 500, and back by itself
        status, refused = call(f"{url}/v1/models/aktrec:predict", request)
        assert status == 503 and "unreachable" in refused["error"], refused
        assert call(ready)[0] == 503
        with running_redis(port=int(redis_url.rsplit(":", 1)[1])):
            fill_online(work / "feature_repo", redis_url)
            assert wait_for(ready, 200) == 200
            status, answer = call(f"{url}/v1/models/aktrec:predict", request)
            assert status == 200
            np.testing.assert_allclose(answer["predictions"][0], local_answer["predictions"][0], atol=1e-6)

            # Redis hung, not down: a 503 at the store deadline, readiness false, and back on SIGCONT.
            redis_pid = redis.Redis.from_url(redis_url).info("server")["process_id"]
            os.kill(redis_pid, signal.SIGSTOP)
            try:
                status, refused = call(f"{url}/v1/models/aktrec:predict", request)  # a hang would time out at 30 s
                assert status == 503 and "did not answer within 5s" in refused["error"], refused
                assert call(ready)[0] == 503
            finally:
                os.kill(redis_pid, signal.SIGCONT)
            assert wait_for(ready, 200) == 200
            status, answer = call(f"{url}/v1/models/aktrec:predict", request)
            assert status == 200
            np.testing.assert_allclose(answer["predictions"][0], local_answer["predictions"][0], atol=1e-6)


@pytest.mark.parametrize("key", ["../../escape.txt", "/escape.txt"])
def test_a_release_with_a_key_outside_its_folder_is_refused_on_s3(object_store, tmp_path, key):
    from aktrec.errors import ArtifactError
    from aktrec.storage import COMPLETE, fetch

    release = f"{BUCKET}/hostile/releases/r1"
    for name in (COMPLETE, "model/ok.txt", key):
        object_store.pipe_file(f"{release}/{name}", b"x")
    assert any(".." in name or "//" in name for name in object_store.find(release))  # S3 keeps such keys
    with pytest.raises(ArtifactError, match="would be written outside"):
        fetch(f"s3://{release}", tmp_path / "mnt" / "models")
    assert not any(path.is_file() for path in tmp_path.rglob("*"))
