"""Adaptive micro-batching: concurrent requests are scored together, off the event loop.

One worker thread runs `score_batch` over everything queued when it becomes free, up to
`max_size` in all (`size` of a job: its candidates; a job larger than that is a batch alone).
A request that finds the worker idle waits at most `max_wait_s` for companions, and only when
the previous batch had several requests (concurrent clients), so a lone client pays no wait.
Under load, batches form by themselves while the worker is busy: one feature read per view and
one forward pass serve many requests, and the event loop keeps parsing and answering
meanwhile.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Callable
from typing import Generic, TypeVar

Job = TypeVar("Job")
Result = TypeVar("Result")


class MicroBatcher(Generic[Job, Result]):
    def __init__(
        self,
        score_batch: Callable[[list[Job]], list[Result]],
        size: Callable[[Job], int],
        max_size: int,
        max_wait_s: float,
    ) -> None:
        self.score_batch, self.size, self.max_size, self.max_wait_s = score_batch, size, max_size, max_wait_s
        self.worker = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="aktrec-score")
        self.queue: asyncio.Queue[tuple[Job, asyncio.Future]] | None = None
        self.last_batch = 0
        self.waiting: tuple[Job, asyncio.Future] | None = None  # taken from the queue, did not fit the last batch

    async def submit(self, job: Job) -> Result:
        """The result of `job`, scored in a batch with whatever else is queued."""
        if self.queue is None:  # created on the serving event loop, on first use
            self.queue = asyncio.Queue()
            asyncio.get_running_loop().create_task(self._run())
        future = asyncio.get_running_loop().create_future()
        self.queue.put_nowait((job, future))
        return await future

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = [self.waiting or await self.queue.get()]
            self.waiting = None
            size, deadline = self.size(batch[0][0]), loop.time() + self.max_wait_s
            while size < self.max_size:
                if self.queue.empty():
                    if self.last_batch <= 1 or loop.time() >= deadline:
                        break
                    await asyncio.sleep(min(0.0005, max(deadline - loop.time(), 0)))
                    continue
                job = self.queue.get_nowait()
                if size + self.size(job[0]) > self.max_size:
                    self.waiting = job  # first of the next batch
                    break
                batch.append(job)
                size += self.size(job[0])
            batch = [(job, future) for job, future in batch if not future.done()]  # callers that gave up
            if not batch:
                continue
            self.last_batch = len(batch)
            jobs = [job for job, _ in batch]
            try:
                results = await loop.run_in_executor(self.worker, self.score_batch, jobs)
            except Exception as exc:  # every request of the batch gets the error (e.g. the store went away)
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for (_, future), result in zip(batch, results):
                if not future.done():  # a client that gave up has a cancelled future
                    future.set_result(result)
