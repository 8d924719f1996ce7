"""What `aktrec pipeline run` shows while the local runner works: one line per task (name,
seconds, status, and for a stage that validates its output that the checks passed), a bar for
long loops on a terminal, and everything the runner and its tasks print (the executor's records,
the tasks' logs) in a log file instead.

The local runner writes its records and each task's streamed output to `sys.stdout`: `RunLog`
takes its place for the run, writes every line to the file, and reads from them the runner's
task records and the `progress` lines of `aktrec.progress.tracked`.
"""

from __future__ import annotations

import io
import re
import time
from pathlib import Path
from typing import TextIO

from aktrec.pipeline.stages import training_stages
from aktrec.progress import LINE as PROGRESS

TASK_STARTED = re.compile(r"Executing task '([^']+)'")
TASK_ENDED = re.compile(r"Task '([^']+)' finished with status (\w+)")
ANSI = re.compile(r"\x1b\[[0-9;]*m")
BAR_WIDTH = 30


def stage_tasks() -> list[str]:
    """KFP's task names of the training stages (each validates its output)."""
    return [stage.name.replace("_", "-") for stage in training_stages()]


class RunLog(io.TextIOBase):
    """A stand-in for `sys.stdout` during a run: every line to `log_file`, task lines to `console`."""

    def __init__(self, log_file: TextIO, console: TextIO, failure_file: Path | None = None) -> None:
        """`failure_file`: where a failed step or task container records why; a task that ends
        while it holds a record failed, whatever kfp read (aktrec.pipeline.containers)."""
        self.log_file, self.console, self.failure_file = log_file, console, failure_file
        self.pending, self.current = "", ""
        self.started: dict[str, float] = {}
        self.finished: list[str] = []
        self.bar_shown = False
        self.interactive = bool(getattr(console, "isatty", lambda: False)())

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self.log_file.write(text)
        *lines, self.pending = (self.pending + text).split("\n")
        for line in lines:
            self._read(ANSI.sub("", line))
        return len(text)

    def flush(self) -> None:
        self.log_file.flush()

    def _say(self, line: str) -> None:
        if self.bar_shown:  # the task's line replaces its bar
            self.console.write("\r" + " " * (BAR_WIDTH + 60) + "\r")
            self.bar_shown = False
        self.console.write(line + "\n")
        self.console.flush()

    def _read(self, line: str) -> None:
        if started := TASK_STARTED.search(line):
            self.current = started.group(1)
            self.started[self.current] = time.monotonic()
        elif ended := TASK_ENDED.search(line):
            task, status = ended.groups()
            if self.failure_file is not None and self.failure_file.is_file() and self.failure_file.stat().st_size:
                status = "FAILURE"
            seconds = time.monotonic() - self.started.get(task, time.monotonic())
            checked = ", validation passed" if task in stage_tasks() and status == "SUCCESS" else ""
            self._say(f"  {task:<22} {seconds:6.0f} s  {status.lower()}{checked}")
            self.finished.append(task)
        elif self.interactive and (progress := PROGRESS.search(line)):
            name, done, total = progress.group(1), int(progress.group(2)), int(progress.group(3))
            filled = BAR_WIDTH * done // max(total, 1)
            bar = f"[{'#' * filled}{' ' * (BAR_WIDTH - filled)}]"
            self.console.write(f"\r  {self.current:<22} {bar} {name} {done:,}/{total:,}")
            self.console.flush()
            self.bar_shown = True
