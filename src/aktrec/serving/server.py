"""Start the predictor on KServe's REST server (its v1/v2, health and metadata endpoints).

KServe's `ModelServer.start` always listens on 0.0.0.0; `serve` runs the same `RESTServer`
with the host chosen here (127.0.0.1 for local use, 0.0.0.0 in a container) and adds a
request-body limit (413) in front of KServe's handlers.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import multiprocessing.connection
import os
import signal
import socket
import sys
from pathlib import Path

import uvloop

from aktrec.config import ServingConfig
from aktrec.errors import AktrecError, log_to_stderr

log = logging.getLogger("aktrec")


class BodyLimit:
    """ASGI middleware: a request body over `max_bytes` gets 413 before any handler runs."""

    def __init__(self, app, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            return await self._reject(send, int(declared))
        body, more = b"", True
        while more:  # bodies are small: read (at most max_bytes + 1) and replay
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > self.max_bytes:
                return await self._reject(send, len(body))
        replayed = False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        return await self.app(scope, replay, send)

    async def _reject(self, send, size: int) -> None:
        content = json.dumps(
            {"error": f"request body of {size} bytes is over the limit of {self.max_bytes} bytes"}
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(content)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": content})


class BadRequestsInOneLine(logging.Filter):
    """KServe logs every 400 as an ERROR with a traceback; a client's bad request is not a server
    error: log it as one WARNING line saying what was wrong."""

    def __init__(self, invalid_input: type[Exception]) -> None:
        super().__init__()
        self.invalid_input = invalid_input

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, self.invalid_input):
            record.msg, record.args, record.exc_info, record.exc_text = "bad request: %s", (error,), None, None
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


def _listening_socket(host: str, port: int) -> socket.socket:
    """A socket on host:port that other worker processes may bind too (the kernel spreads the
    connections over them)."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    return sock


def _serve_process(model_dir: Path, repo: Path, config: ServingConfig, shared_port: bool) -> None:
    """One predictor process: HTTP and gRPC (unless `grpc_port` is 0) until SIGINT/SIGTERM."""
    from aktrec.serving import kserve_adapter
    from aktrec.serving.predictor import AktrecPredictor

    predictor = AktrecPredictor(model_dir, repo, config)
    predictor.load()
    logging.getLogger("kserve").addFilter(BadRequestsInOneLine(kserve_adapter.InvalidInput))
    served = kserve_adapter.serving(
        predictor, config.http_port, config.host, BodyLimit, max_bytes=config.max_body_bytes
    )

    async def run() -> None:
        # One event loop for both protocols: their requests share the predictor's micro-batches.
        grpc_server = (
            await kserve_adapter.start_grpc(served, f"{config.host}:{config.grpc_port}", config.max_body_bytes)
            if config.grpc_port
            else None
        )
        log.info(
            "serving model %r (%s) on http://%s:%d%s (process %d)",
            config.model_name,
            predictor.bundle.variant,
            config.host,
            config.http_port,
            f" and grpc://{config.host}:{config.grpc_port}" if grpc_server else "",
            os.getpid(),
        )
        try:  # both return on SIGINT/SIGTERM (uvicorn's handlers)
            sockets = [_listening_socket(config.host, config.http_port)] if shared_port else None
            await kserve_adapter.serve_rest(served, sockets)
        finally:
            if grpc_server is not None:
                await grpc_server.stop(grace=5)
            predictor.stop()

    # Uvicorn re-raises the SIGTERM it handled once it has shut down; by default that would end
    # the process before `run`'s cleanup (the prediction log's last shard): exit through Python.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    uvloop.run(run())  # uvicorn's loop: less event-loop time per request than asyncio's


def _worker(model_dir: Path, repo: Path, config: ServingConfig) -> None:
    log_to_stderr()
    try:
        _serve_process(model_dir, repo, config, shared_port=True)
    except AktrecError as exc:  # one line, as the CLI says it, not a child's traceback
        print(f"aktrec: error: {exc}", file=sys.stderr)
        sys.exit(2)


def serve(model_dir: Path, repo: Path, config: ServingConfig = ServingConfig()) -> None:
    """Load the predictor and answer HTTP (and gRPC unless `grpc_port` is 0) until SIGINT/SIGTERM:
    in this process, or in `config.workers` processes sharing the ports, each with its own
    micro-batches (the scoring thread of one process holds Python's lock for most of a batch)."""
    if config.workers == 1:
        _serve_process(model_dir, repo, config, shared_port=False)
        return
    context = multiprocessing.get_context("spawn")  # a fresh interpreter: no torch or SQLite state forked
    workers = [
        context.Process(target=_worker, args=(model_dir, repo, config), name=f"aktrec-serve-{n}")
        for n in range(config.workers)
    ]
    for worker in workers:
        worker.start()

    def stop(*_) -> None:
        for worker in workers:
            if worker.is_alive():
                worker.terminate()  # SIGTERM: uvicorn's graceful shutdown

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    multiprocessing.connection.wait([worker.sentinel for worker in workers])  # until one of them ends
    stop()
    for worker in workers:
        worker.join()
    failed = [w for w in workers if w.exitcode not in (0, -signal.SIGTERM)]
    if failed:
        raise AktrecError(f"serving worker {failed[0].name} stopped with exit code {failed[0].exitcode}")
