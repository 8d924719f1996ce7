"""Typer behind one module: running the command line with click's usage errors as one line and
exit code 2, and commands whose options differ from their function's parameters. Typer 0.29
vendors click as `typer._click` and gives its exceptions no public name: this is the one place
that reaches in. `tests/unit/test_framework_adapters.py` fails, naming what moved, when the
installed Typer differs from TYPER_TESTED, these names are gone or Typer stops reading a
command's `__signature__`."""

from __future__ import annotations

import functools
import importlib.metadata
import inspect
import sys
from collections.abc import Callable
from typing import Any

import typer
from typer._click import exceptions as click_exceptions

TYPER_TESTED = "0.29"  # the minor release these names were checked against


def installed_version() -> str:
    return importlib.metadata.version("typer")


def with_parameters(
    command: Callable[..., Any],
    dropped: set[str],
    added: list[inspect.Parameter],
    adapt: Callable[[dict[str, Any]], dict[str, Any]],
) -> Callable[..., Any]:
    """`command` as Typer builds it: its parameters less `dropped`, then `added`; a call's
    keyword arguments go through `adapt`, which returns the ones `command` takes. Typer reads a
    command's options from `inspect.signature` (honouring `__signature__`) and its annotations."""
    signature = inspect.signature(command, eval_str=True)
    parameters = [p for p in signature.parameters.values() if p.name not in dropped] + added

    @functools.wraps(command)
    def adapted(**arguments: Any) -> Any:
        return command(**adapt(arguments))

    adapted.__signature__ = signature.replace(parameters=parameters)
    adapted.__annotations__ = {p.name: p.annotation for p in parameters} | {"return": signature.return_annotation}
    return adapted


def run_app(app: typer.Typer, argv: list[str] | None, prog_name: str) -> int:
    """Run `app` on `argv` and return its exit code: help for a bare group, usage and one error
    line for a usage mistake (2), 130 when aborted. Exceptions of the commands themselves
    propagate to the caller, which owns their wording."""
    command = typer.main.get_command(app)
    try:
        # Outside standalone mode click returns a command's typer.Exit code instead of raising it.
        code = command.main(args=argv, prog_name=prog_name, standalone_mode=False)
    except typer.Exit as exc:
        return exc.exit_code
    except click_exceptions.NoArgsIsHelpError as exc:
        print(exc.ctx.get_help(), file=sys.stderr)
        return 2
    except click_exceptions.UsageError as exc:
        if exc.ctx is not None:
            print(exc.ctx.get_usage(), file=sys.stderr)
        print(f"{prog_name}: error: {exc.format_message()}", file=sys.stderr)
        return 2
    except click_exceptions.ClickException as exc:
        print(f"{prog_name}: error: {exc.format_message()}", file=sys.stderr)
        return exc.exit_code
    except (typer.Abort, KeyboardInterrupt):
        print(f"{prog_name}: aborted", file=sys.stderr)
        return 130
    return code if isinstance(code, int) else 0
