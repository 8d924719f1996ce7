"""Progress of long loops, in the one form each audience reads: a tqdm bar for an interactive
command (`--progress`-style calls), or `progress NAME: done/total` log lines every few seconds
inside a pipeline task, which `aktrec pipeline run` turns into its own bar
(`aktrec.pipeline.progress`)."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterable, Iterator, Sized
from typing import TypeVar

Item = TypeVar("Item")
LINE = re.compile(r"progress (\S+): (\d+)/(\d+)")  # what `tracked` logs, what the run console reads
REPORT_EVERY_S = 2.0

log = logging.getLogger("aktrec")


def tracked(items: Iterable[Item], name: str, bar: bool, total: int | None = None) -> Iterator[Item]:
    """Iterate `items` (of `total` or len(items) items), showing how far: a tqdm bar when `bar`,
    else a log line at most every REPORT_EVERY_S and at the end."""
    count = total if total is not None else len(items) if isinstance(items, Sized) else 0
    if bar:
        from tqdm.auto import tqdm

        yield from tqdm(items, desc=name, total=count, leave=False)
        return
    reported = time.monotonic()
    for done, item in enumerate(items, 1):
        yield item
        if done == count or time.monotonic() - reported >= REPORT_EVERY_S:
            reported = time.monotonic()
            log.info("progress %s: %d/%d", name, done, count)
