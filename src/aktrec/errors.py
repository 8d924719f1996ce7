"""Errors that reach users as one line, never as a traceback; and the log lines beside them."""

from __future__ import annotations

import logging
import sys
from typing import Any


def log_to_stderr() -> None:
    """The `aktrec` logger as users read it: `[aktrec] message` lines on stderr, INFO and up
    (set up by the CLI, and by each serving worker process it starts)."""
    log = logging.getLogger("aktrec")
    if any(getattr(handler, "aktrec_stderr", False) for handler in log.handlers):
        return  # set up already (`aktrec remote` runs a command within the CLI)
    handler = logging.StreamHandler(sys.stderr)
    handler.aktrec_stderr = True
    handler.setFormatter(logging.Formatter("[aktrec] %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False


class AktrecError(Exception):
    """Base of every error the CLI turns into a one-line message and a non-zero exit."""


class DataError(AktrecError):
    """An input table breaks the data contract.

    The message always names the table and, where one is at fault, the column and an example
    of a bad value, so the user can find the row without reading code.
    """

    def __init__(self, table: str, message: str, column: str | None = None, example: Any = None):
        self.table = table
        self.column = column
        self.example = example
        where = f"{table}.{column}" if column else table
        text = f"{where}: {message}"
        if example is not None:
            text += f" (e.g. {example!r})"
        super().__init__(text)


class ValidationFailed(AktrecError):
    """A Great Expectations suite failed; the message names the expectation and column."""


class ArtifactError(AktrecError):
    """An artifact directory is missing, incomplete or not ours to overwrite."""
