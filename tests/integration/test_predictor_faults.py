"""Faults the predictor must survive or refuse cleanly: a bundle that is corrupted, incomplete or
trained against another feature service does not load (one line naming what is wrong), and a
repository rematerialized under load is swapped in without a failed request. (Redis stopping
under load: tests/integration/test_cluster_path.py.)"""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
import urllib.request

import pytest

LIFETIME_S = 600


def serve_fails(model, repo, capsys) -> str:
    from aktrec.cli import main

    assert main(["serve", "--model", str(model), "--repo", str(repo), "--http-port", "0", "--grpc-port", "0"]) == 2
    message = capsys.readouterr().err.strip()
    assert len(message.splitlines()) == 1, message  # one line, no traceback
    return message


@pytest.mark.parametrize(
    "case, damage, expected",
    [
        ("truncated weights", lambda m: (m / "model.safetensors").write_bytes(b"\x00" * 64), "cannot be served"),
        ("missing vocabulary", lambda m: (m / "vocab" / "item.parquet").unlink(), "incomplete model bundle"),
        ("no marker", lambda m: (m / "_aktrec.json").unlink(), "not an aktrec artifact"),
        (
            "another feature service",
            lambda m: (m / "config.json").write_text(
                json.dumps({**json.loads((m / "config.json").read_text()), "feature_service": "aktrec_v9"})
            ),
            "trained with 'aktrec_v9'",
        ),
        ("semantic ids missing", lambda m: shutil.rmtree(m / "semantic"), "cannot be served"),
    ],
)
def test_a_damaged_bundle_refuses_to_load_with_one_line(
    planted_model, planted_repo, tmp_path, capsys, case, damage, expected
):
    model = tmp_path / "model"
    shutil.copytree(planted_model, model)
    damage(model)
    message = serve_fails(model, planted_repo, capsys)
    assert expected in message and str(tmp_path) in message, message


def test_rematerializing_under_load_fails_no_request(planted_emb, planted_model, tmp_path):
    from aktrec.cli import main
    from aktrec.ctr.bundle import load_bundle
    from aktrec.serving.local import running_predictor

    repo = tmp_path / "repo"
    shutil.copytree(planted_emb / "repo", repo)
    config = tmp_path / "serving.yaml"
    config.write_text("cache_refresh_seconds: 0.5\n")
    bundle = load_bundle(planted_model)
    users, items = list(bundle.vocab.user.ids[:20]), list(bundle.vocab.item.ids[:60])
    log = tmp_path / "server.log"
    failures, answered, done = [], [0], threading.Event()
    with running_predictor(planted_model, repo, ["--config", str(config)], lifetime_s=LIFETIME_S, log_path=log) as url:

        def client(n: int) -> None:
            while not done.is_set():
                body = {"instances": [{"user_id": users[(answered[0] + n) % 20], "item_ids": items[n::4]}]}
                request = urllib.request.Request(
                    f"{url}/v1/models/aktrec:predict", json.dumps(body).encode(), {"Content-Type": "application/json"}
                )
                try:
                    with urllib.request.urlopen(request, timeout=30) as response:
                        assert len(json.loads(response.read())["predictions"][0]) == len(items[n::4])
                    answered[0] += 1
                except Exception as exc:  # noqa: BLE001 - every failure counts, whatever it is
                    failures.append(repr(exc))

        threads = [threading.Thread(target=client, args=(n,)) for n in range(4)]
        for thread in threads:
            thread.start()
        try:
            wait_until(lambda: answered[0] >= 5)  # the clients are being served
            before = answered[0]
            args = ["features", "materialize", "--data", str(planted_emb / "data"), "--sids", str(planted_emb / "sid")]
            assert main([*args, "--repo", str(repo)]) == 0
            wait_until(lambda: log.read_text().count("feature cache:") >= 2)
            wait_until(lambda: answered[0] >= before + 5)  # and still served after the reload
        finally:
            done.set()
            for thread in threads:
                thread.join()
    text = log.read_text()
    assert "was rematerialized: loading the feature repository in the background" in text
    assert text.count("feature cache:") == 2, text[-3000:]  # loaded at start, then the new materialization
    assert not failures, failures[:3]
    assert answered[0] > before > 0


def wait_until(condition, seconds: float = 60) -> None:
    """Poll `condition` until it holds; the deadline only bounds a hung server."""
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.1)


def test_worker_processes_share_the_port_and_stop_together(planted_model, planted_repo, tmp_path):
    from aktrec.ctr.bundle import load_bundle
    from aktrec.serving.local import running_predictor

    config = tmp_path / "serving.yaml"
    config.write_text("workers: 2\n")
    bundle = load_bundle(planted_model)
    user, items = bundle.vocab.user.ids[0], list(bundle.vocab.item.ids[:10])
    log = tmp_path / "server.log"
    body = json.dumps({"instances": [{"user_id": user, "item_ids": items}]}).encode()
    with running_predictor(
        planted_model, planted_repo, ["--config", str(config)], lifetime_s=LIFETIME_S, log_path=log
    ) as url:
        wait_until(lambda: log.read_text().count("serving model") >= 2)  # the second may still be loading
        answers = []
        for _ in range(20):
            request = urllib.request.Request(
                f"{url}/v1/models/aktrec:predict", body, {"Content-Type": "application/json"}
            )
            with urllib.request.urlopen(request, timeout=30) as response:
                answers.append(json.loads(response.read())["predictions"][0])
    assert all(answer == answers[0] for answer in answers)  # every worker scores alike
    pids = {
        line.rsplit("(process ", 1)[1].rstrip(")") for line in log.read_text().splitlines() if "serving model" in line
    }
    assert len(pids) == 2
    for pid in pids:  # stopped with the server
        with pytest.raises(ProcessLookupError):
            os.kill(int(pid), 0)


def test_a_worker_that_cannot_load_stops_the_server_with_its_reason(planted_model, planted_repo, tmp_path):
    import subprocess
    import sys

    model = tmp_path / "model"
    shutil.copytree(planted_model, model)
    (model / "model.safetensors").write_bytes(b"\x00" * 64)
    config = tmp_path / "serving.yaml"
    config.write_text("workers: 2\ngrpc_port: 0\nhttp_port: 0\n")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "aktrec",
            "serve",
            "--model",
            str(model),
            "--repo",
            str(planted_repo),
            "--config",
            str(config),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr, result.stderr[-2000:]
    assert f"aktrec: error: {model}" in result.stderr and "cannot be served" in result.stderr
