"""The predictor as a local subprocess on 127.0.0.1 (the demo and the benchmarks use it)."""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from aktrec import schemas
from aktrec.config import ServingConfig
from aktrec.errors import AktrecError

READY_TIMEOUT_S = 180


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def running_predictor(
    model: Path,
    repo: Path,
    extra_args: list[str] | None = None,
    lifetime_s: int | None = None,
    python: str = sys.executable,
    cwd: Path | None = None,
    grpc_port: int = 0,
    log_path: Path | None = None,
    launcher: list[str] | None = None,
) -> Iterator[str]:
    """`aktrec serve` on a free loopback port until the block ends; yields its base URL.
    `lifetime_s`: the server also exits by itself after that long (if this process dies);
    `python` and `cwd`: the interpreter (environment) and directory it runs in; `grpc_port`:
    where gRPC listens (0: no gRPC); `log_path`: keep the server's log there; `launcher`: the
    command that stands for `aktrec` (a `podman run ... IMAGE` whose entrypoint is aktrec; it
    must pass SIGTERM on, as `podman run` does)."""
    port = free_port()
    command = [
        *(launcher or [python, "-m", "aktrec"]),
        "serve",
        "--model",
        str(model),
        "--repo",
        str(repo),
        "--http-port",
        str(port),
        "--grpc-port",
        str(grpc_port),
        *(extra_args or []),
    ]
    if lifetime_s:
        command = ["timeout", str(lifetime_s), *command]
    # The server logs every request: to a file, never to a pipe nobody drains (it would block).
    with open(log_path, "w+") if log_path else tempfile.TemporaryFile(mode="w+") as server_log:
        process = subprocess.Popen(command, stdout=server_log, stderr=subprocess.STDOUT, text=True, cwd=cwd)
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + READY_TIMEOUT_S
            while True:
                if process.poll() is not None:
                    server_log.seek(0)
                    raise AktrecError(f"the predictor exited: {server_log.read()[-2000:]}")
                try:
                    urllib.request.urlopen(f"{url}/v2/health/ready", timeout=1)
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise AktrecError(f"the predictor was not ready within {READY_TIMEOUT_S}s") from None
                    time.sleep(0.5)
            yield url
        finally:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


def example_request(url: str, data_dir: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """One v1 request: the most active test user, five test items and one brand-new item."""
    test = pd.read_parquet(schemas.table_file(data_dir, "test"), columns=[schemas.USER_ID, schemas.ITEM_ID])
    user = test[schemas.USER_ID].value_counts().index[0]
    items = test[schemas.ITEM_ID].drop_duplicates().head(5).tolist() + ["new-item-1"]
    request = {
        "instances": [
            {
                "user_id": user,
                "item_ids": items,
                "items": [{"item_id": "new-item-1", "title": "Organic lavender face cream, 50 ml"}],
            }
        ]
    }
    http = urllib.request.Request(
        f"{url}{ServingConfig().v1_predict_path}",
        data=json.dumps(request).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(http, timeout=60) as response:
        return request, json.loads(response.read())
