"""The micro-batcher: concurrent jobs share a batch within the size limit, each caller gets its
own result, a failure reaches every caller of its batch, and a lone caller does not wait."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from aktrec.serving.batching import MicroBatcher


def run(batcher: MicroBatcher, jobs: list[int]) -> list:
    async def main():
        return await asyncio.gather(*(batcher.submit(job) for job in jobs), return_exceptions=True)

    return asyncio.run(main())


def test_concurrent_jobs_are_scored_in_batches_within_the_size_limit():
    batches, gate = [], threading.Event()

    def score(jobs: list[int]) -> list[int]:
        gate.wait(5)  # the first batch holds the worker while the others queue
        batches.append(list(jobs))
        return [job * 10 for job in jobs]

    batcher = MicroBatcher(score, size=lambda job: job, max_size=10, max_wait_s=0.002)
    threading.Timer(0.05, gate.set).start()
    assert run(batcher, [1, 2, 3, 4, 5, 6]) == [10, 20, 30, 40, 50, 60]  # each caller its own result
    assert [job for batch in batches for job in batch] == [1, 2, 3, 4, 5, 6]  # in arrival order
    assert len(batches) < 6 and all(sum(batch) <= 10 for batch in batches)


def test_a_job_larger_than_the_limit_is_a_batch_alone_and_errors_reach_every_caller():
    def score(jobs: list[int]) -> list[int]:
        if 7 in jobs:
            raise ConnectionError("store went away")
        return jobs

    batcher = MicroBatcher(score, size=lambda job: job, max_size=5, max_wait_s=0.0)
    assert run(batcher, [50]) == [50]
    results = run(MicroBatcher(score, size=lambda job: 1, max_size=5, max_wait_s=0.0), [1, 7])
    assert all(isinstance(r, ConnectionError) for r in results)  # queued together: one batch, one failure


def test_a_lone_caller_does_not_wait_for_companions():
    batcher = MicroBatcher(lambda jobs: jobs, size=lambda job: 1, max_size=100, max_wait_s=0.5)

    async def main():
        started = time.perf_counter()
        for n in range(5):
            assert await batcher.submit(n) == n
        return time.perf_counter() - started

    assert asyncio.run(main()) < 0.5  # five sequential calls, none waited the 0.5 s


@pytest.mark.parametrize("max_wait_s", [0.0, 0.002])
def test_results_keep_their_callers_under_many_concurrent_jobs(max_wait_s):
    batcher = MicroBatcher(lambda jobs: [(job, len(jobs)) for job in jobs], lambda job: 1, 8, max_wait_s)
    results = run(batcher, list(range(50)))
    assert [job for job, _ in results] == list(range(50))
    assert max(size for _, size in results) <= 8
