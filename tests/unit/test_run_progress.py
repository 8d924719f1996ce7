"""The local run's console: one line per task from the runner's records, everything in the log
file, progress bars only on a terminal; and `tracked` reports long loops either way."""

from __future__ import annotations

import io
import logging

from aktrec.pipeline.progress import RunLog
from aktrec.progress import tracked

RUNNER_OUTPUT = """\
12:00:00.001 - INFO - Executing task \x1b[96m'prepare'\x1b[0m
12:00:00.002 - INFO - Streamed logs:

    [KFP Executor 12:00:01.000 INFO]: Looking for component `prepare` in --component_module_path
    12:00:02 - INFO - progress encode: 64/128
12:00:03.000 - INFO - Task \x1b[96m'prepare'\x1b[0m finished with status \x1b[92mSUCCESS\x1b[0m
12:00:03.001 - INFO - Task \x1b[96m'prepare'\x1b[0m outputs:
    data: Dataset( name='data', uri='/tmp/x' )
12:00:03.100 - INFO - Executing task \x1b[96m'report'\x1b[0m
12:00:04.000 - INFO - Task \x1b[96m'report'\x1b[0m finished with status \x1b[91mFAILURE\x1b[0m
"""


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_one_line_per_task_and_every_line_in_the_log_file():
    log_file, console = io.StringIO(), io.StringIO()
    run_log = RunLog(log_file, console)
    for chunk in (RUNNER_OUTPUT[:50], RUNNER_OUTPUT[50:333], RUNNER_OUTPUT[333:]):  # lines arrive in pieces
        run_log.write(chunk)
    assert log_file.getvalue() == RUNNER_OUTPUT
    lines = console.getvalue().splitlines()
    assert len(lines) == 2, lines
    assert lines[0].split()[0] == "prepare" and lines[0].endswith("s  success, validation passed")
    assert lines[1].split()[0] == "report" and lines[1].endswith("failure")
    assert run_log.finished == ["prepare", "report"]


def test_a_progress_bar_is_drawn_on_a_terminal_and_replaced_by_the_task_line():
    console = Terminal()
    RunLog(io.StringIO(), console).write(RUNNER_OUTPUT)
    shown = console.getvalue()
    assert "[###############               ] encode 64/128" in shown
    assert shown.splitlines()[-2].lstrip("\r ").startswith("prepare")  # the bar's line was overwritten


def test_tracked_logs_progress_lines_when_there_is_no_bar(caplog):
    with caplog.at_level(logging.INFO, logger="aktrec"):
        assert list(tracked(range(5), "encode", bar=False)) == [0, 1, 2, 3, 4]
    assert "progress encode: 5/5" in caplog.text  # the last one always


def test_a_task_that_ends_while_a_failure_is_recorded_failed_whatever_kfp_read(tmp_path):
    failure = tmp_path / "last_failure.json"
    console = io.StringIO()
    run_log = RunLog(io.StringIO(), console, failure)
    run_log.write("12:00:00.001 - INFO - Executing task 'validate-raw'\n")
    failure.write_text('{"step": "validate_raw", "error": "validation of raw failed"}')
    run_log.write("12:00:03.000 - INFO - Task 'validate-raw' finished with status SUCCESS\n")
    [line] = console.getvalue().splitlines()
    assert line.split()[0] == "validate-raw" and line.endswith("failure")
