"""KServe and Typer each sit behind one adapter module that reaches into a few of their
internals. These tests pin those internals to the installed releases and fail loudly, naming
what moved, when an upgrade breaks them (then: check the adapter, bump its *_TESTED)."""

from __future__ import annotations

import inspect
import sys

import pytest
import typer

from aktrec.serving import kserve_adapter
from aktrec.typer_adapter import TYPER_TESTED, run_app, with_parameters
from aktrec.typer_adapter import installed_version as typer_version


def test_kserve_is_the_release_the_adapter_was_checked_against():
    version = kserve_adapter.installed_version()
    assert version.startswith(kserve_adapter.KSERVE_TESTED + "."), (
        f"kserve {version} is installed; aktrec.serving.kserve_adapter was checked against "
        f"{kserve_adapter.KSERVE_TESTED}: check its internals, then bump KSERVE_TESTED"
    )


def test_the_kserve_internals_the_adapter_uses_are_there():
    from kserve.protocol.grpc import grpc_predict_v2_pb2_grpc
    from kserve.protocol.grpc.interceptors import ExceptionToStatusInterceptor
    from kserve.protocol.grpc.servicer import InferenceServicer
    from kserve.protocol.rest.server import RESTServer

    assert hasattr(kserve_adapter.kserve_app, "add_middleware"), "kserve.model_server.app is no longer an app"
    assert "app" in inspect.signature(RESTServer.__init__).parameters, "RESTServer takes no app string"
    assert callable(RESTServer.create_application) and inspect.iscoroutinefunction(RESTServer.start)
    assert callable(grpc_predict_v2_pb2_grpc.add_GRPCInferenceServiceServicer_to_server)
    assert {"data_plane", "model_repository_extension"} <= set(inspect.signature(InferenceServicer).parameters)
    assert callable(ExceptionToStatusInterceptor)


def test_the_rest_server_serves_on_sockets_through_its_uvicorn_server():
    class Probe(kserve_adapter.Model):
        def load(self) -> bool:
            self.ready = True
            return True

    class Passthrough:
        def __init__(self, app, **_) -> None:
            self.app = app

        async def __call__(self, scope, receive, send):
            return await self.app(scope, receive, send)

    probe = Probe("probe")
    probe.load()
    served = kserve_adapter.serving(probe, 0, "127.0.0.1", Passthrough)
    server = served.rest._server  # uvicorn's Server: serve(sockets=...) is what serve_rest calls
    assert "sockets" in inspect.signature(server.serve).parameters
    assert served.model_server.dataplane is not None and served.rest.config.host == "127.0.0.1"


def test_importing_kserve_through_the_adapter_ignores_the_programs_arguments(monkeypatch):
    import subprocess

    code = "import aktrec.serving.kserve_adapter as a; print(a.KSERVE_TESTED)"
    result = subprocess.run(
        [sys.executable, "-c", code, "--model", "/somewhere", "--http_port", "not-a-port"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0 and result.stdout.strip() == kserve_adapter.KSERVE_TESTED, result.stderr[-1500:]


def test_typer_is_the_release_the_adapter_was_checked_against():
    version = typer_version()
    assert version.startswith(TYPER_TESTED + "."), (
        f"typer {version} is installed; aktrec.typer_adapter was checked against {TYPER_TESTED}: "
        "check typer._click's exceptions, then bump TYPER_TESTED"
    )


@pytest.mark.parametrize(
    "argv, code, message",
    [
        (["greet", "--name"], 2, "probe: error: Option '--name' requires an argument"),
        (["greet", "--nam", "x"], 2, "probe: error: No such option: --nam"),
        (["nothing"], 2, "probe: error: No such command 'nothing'"),
        (["greet", "--name", "x"], 0, ""),
        (["stop"], 3, ""),
    ],
)
def test_typer_usage_errors_become_one_line_and_an_exit_code(capsys, argv, code, message):
    app = typer.Typer(no_args_is_help=True)

    @app.command("greet")
    def greet(name: str = typer.Option(...)) -> None:
        print(f"hello {name}")

    @app.command("stop")
    def stop() -> None:
        raise typer.Exit(3)

    assert run_app(app, argv, "probe") == code
    assert message in capsys.readouterr().err
    assert run_app(app, [], "probe") == 2  # a bare group: its help
    shown = capsys.readouterr()
    assert "greet" in shown.out + shown.err


def test_typer_reads_a_commands_options_from_its_adapted_signature(capsys):
    """`settings_verb` relies on it: Typer builds options from `__signature__`, so a dropped
    parameter is no option and an added one is, and the call goes through the adapter."""
    app = typer.Typer()

    def greet(greeting: str, name: str = typer.Option(...)) -> None:
        print(f"{greeting} {name}")

    loud = inspect.Parameter("loud", inspect.Parameter.KEYWORD_ONLY, default=typer.Option(False), annotation=bool)

    def adapt(arguments: dict) -> dict:
        greeting = "HELLO" if arguments.pop("loud") else "hello"
        return {**arguments, "greeting": greeting}

    app.command("greet")(with_parameters(greet, {"greeting"}, [loud], adapt))
    app.command("other")(lambda: None)
    assert run_app(app, ["greet", "--name", "x", "--loud"], "probe") == 0
    assert capsys.readouterr().out == "HELLO x\n"
    assert run_app(app, ["greet", "--name", "x", "--greeting", "hi"], "probe") == 2
    assert "No such option: --greeting" in capsys.readouterr().err
