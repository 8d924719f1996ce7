"""Errors that reach users as one line, never as a traceback."""

from __future__ import annotations

from typing import Any


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
