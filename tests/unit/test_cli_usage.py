"""Usage errors of every verb: the verb's usage line, one `aktrec: error:` line naming the
parameter, exit code 2, no traceback (issue: command-line usage errors)."""

from __future__ import annotations

import pytest
import typer

from aktrec.cli import app, main


def _verbs(command, path=()):
    if hasattr(command, "commands"):
        for name, sub in command.commands.items():
            yield from _verbs(sub, (*path, name))
    else:
        yield path, command


VERBS = dict(_verbs(typer.main.get_command(app)))
NUMERIC = {
    path: next(p for p in command.params if p.type_descriptor.annotation in (int, float))
    for path, command in VERBS.items()
    if any(p.type_descriptor.annotation in (int, float) for p in command.params)
}


def _required_args(command) -> list[str]:
    return [arg for p in command.params if p.required for arg in (p.opts[0], "x")]


def _usage_error(capsys, args: list[str]) -> list[str]:
    code = main(args)
    captured = capsys.readouterr()
    output = captured.err + captured.out
    assert code == 2, output
    assert "Traceback" not in output
    errors = [line for line in output.splitlines() if line.startswith("aktrec: error:")]
    assert len(errors) == 1, output
    assert output.splitlines()[0].startswith("Usage: aktrec"), output
    return errors


@pytest.mark.parametrize("path", list(VERBS), ids=" ".join)
def test_unknown_option(path, capsys):
    [error] = _usage_error(capsys, [*path, *_required_args(VERBS[path]), "--no-such-option", "1"])
    assert "--no-such-option" in error


@pytest.mark.parametrize(
    "path", [p for p, command in VERBS.items() if any(o.required for o in command.params)], ids=" ".join
)
def test_missing_required_option(path, capsys):
    required = [p for p in VERBS[path].params if p.required]
    args = _required_args(VERBS[path])[2:]  # all but the first required option
    [error] = _usage_error(capsys, [*path, *args])
    assert required[0].opts[0] in error


@pytest.mark.parametrize("path", list(NUMERIC), ids=" ".join)
def test_mistyped_value(path, capsys):
    option = NUMERIC[path].opts[0]
    [error] = _usage_error(capsys, [*path, *_required_args(VERBS[path]), option, "abc"])
    assert option in error


def test_every_verb_is_covered():
    assert len(VERBS) >= 14
    # The verbs whose options are all paths or free text have no value to mistype.
    assert {("data", "synth"), ("data", "prepare"), ("train",), ("serve",), ("demo",)} <= set(NUMERIC)


@pytest.mark.parametrize("path", list(VERBS), ids=" ".join)
def test_every_verb_prints_its_help(path, capsys):
    """Typer renders help texts as rich markup: a bracket in one (redis://HOST:PORT[/DB]) must be
    escaped, or --help dies with a MarkupError."""
    assert main([*path, "--help"]) == 0
    output = capsys.readouterr().out
    assert "Usage:" in output and "--help" in output


def test_unknown_verb_and_help(capsys):
    [error] = _usage_error(capsys, ["nosuchverb"])
    assert "nosuchverb" in error
    assert main(["data", "prepare", "--help"]) == 0
    assert "--raw" in capsys.readouterr().out
