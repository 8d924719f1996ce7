"""KServe behind one module: the public classes the predictor builds on, and the three internals
the server needs where KServe 0.21 has no public API. A KServe upgrade is checked here:
`tests/unit/test_framework_adapters.py` fails, naming what moved, when the installed release
differs from KSERVE_TESTED or one of the internals is gone.

Internals used, and why:
- `kserve.model_server` parses `sys.argv` when imported (its own flags: `--model_name`, ...);
  argparse would read our `--model` as an abbreviation of one of them. It is imported here,
  once, with the program's arguments set aside.
- `kserve.model_server.app`, the FastAPI app `RESTServer` always serves: middleware (the body
  limit) can only be added to it.
- `RESTServer._server`, its uvicorn server: serving on sockets shared by several processes in
  the event loop that also runs gRPC (`RESTServer.run` starts a loop of its own).
"""

from __future__ import annotations

import importlib.metadata
import socket
import sys
from dataclasses import dataclass

_argv, sys.argv = sys.argv, sys.argv[:1]
try:
    from kserve import Model, ModelServer
    from kserve.errors import InvalidInput, ModelNotReady
    from kserve.model_server import app as kserve_app
    from kserve.protocol.infer_type import InferOutput, InferRequest, InferResponse
    from kserve.protocol.rest.server import RESTServer
finally:
    sys.argv = _argv

KSERVE_TESTED = "0.21"  # the minor release these internals were checked against
__all__ = ["InferOutput", "InferRequest", "InferResponse", "InvalidInput", "Model", "ModelNotReady"]


def installed_version() -> str:
    return importlib.metadata.version("kserve")


@dataclass
class Serving:
    """A model on KServe's servers: the model server (its dataplane) and the REST server."""

    model_server: ModelServer
    rest: RESTServer


def serving(model: Model, http_port: int, host: str, middleware: type, **options) -> Serving:
    """KServe's REST server (v1, v2, health and metadata endpoints) for `model` on host:port,
    with `middleware(app, **options)` in front of its handlers."""
    server = ModelServer(http_port=http_port, enable_grpc=False, workers=1)
    server.register_model(model)
    kserve_app.add_middleware(middleware, **options)
    rest = RESTServer("kserve.model_server:app", server.dataplane, server.model_repository_extension, http_port)
    rest.config.host = host
    return Serving(server, rest)


async def serve_rest(served: Serving, sockets: list[socket.socket] | None = None) -> None:
    """Answer HTTP until SIGINT/SIGTERM: on its own port, or on `sockets` bound by the caller."""
    if sockets is None:
        await served.rest.start()
        return
    served.rest.create_application()  # RESTServer.start() without its own bind
    await served.rest._server.serve(sockets=sockets)


async def start_grpc(served: Serving, address: str, max_message_bytes: int):
    """KServe's gRPC inference service (Open Inference Protocol v2) on `address`, with KServe's
    error mapping (INVALID_ARGUMENT for bad input, UNAVAILABLE when not ready); KServe's own
    GRPCServer always binds [::]."""
    from grpc import aio
    from kserve.protocol.grpc import grpc_predict_v2_pb2_grpc
    from kserve.protocol.grpc.interceptors import ExceptionToStatusInterceptor
    from kserve.protocol.grpc.servicer import InferenceServicer

    grpc_server = aio.server(
        interceptors=(ExceptionToStatusInterceptor(),),
        options=[("grpc.max_receive_message_length", max_message_bytes)],
    )
    grpc_predict_v2_pb2_grpc.add_GRPCInferenceServiceServicer_to_server(
        InferenceServicer(served.model_server.dataplane, served.model_server.model_repository_extension), grpc_server
    )
    grpc_server.add_insecure_port(address)
    await grpc_server.start()
    return grpc_server
