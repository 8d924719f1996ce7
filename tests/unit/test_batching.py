"""The micro-batcher: concurrent jobs share a batch within the size limit, each caller gets its
own result, a failure reaches every caller of its batch, and a lone caller does not wait."""

from __future__ import annotations

import asyncio
import threading

import pytest

from aktrec.serving.batching import MicroBatcher


def run(batcher: MicroBatcher, jobs: list[int]) -> list:
    async def main():
        return await asyncio.gather(*(batcher.submit(job) for job in jobs), return_exceptions=True)

    return asyncio.run(main())


def test_concurrent_jobs_are_scored_in_batches_within_the_size_limit():
    batches, busy, release = [], threading.Event(), threading.Event()

    def score(jobs: list[int]) -> list[int]:
        busy.set()
        release.wait(30)  # the first batch holds the worker while the others queue
        batches.append(list(jobs))
        return [job * 10 for job in jobs]

    batcher = MicroBatcher(score, size=lambda job: job, max_size=10, max_wait_s=0.002)

    async def main():
        results = asyncio.gather(*(batcher.submit(job) for job in [1, 2, 3, 4, 5, 6]))
        while not busy.is_set():  # every job is queued before the worker is released
            await asyncio.sleep(0.001)
        release.set()
        return await results

    assert asyncio.run(main()) == [10, 20, 30, 40, 50, 60]  # each caller its own result
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
    # A wait of an hour: a lone caller that waited for companions would never get its answer.
    batcher = MicroBatcher(lambda jobs: jobs, size=lambda job: 1, max_size=100, max_wait_s=3600)

    async def main():
        return [await batcher.submit(n) for n in range(5)]

    assert asyncio.run(asyncio.wait_for(main(), timeout=60)) == [0, 1, 2, 3, 4]


@pytest.mark.parametrize("max_wait_s", [0.0, 0.002])
def test_results_keep_their_callers_under_many_concurrent_jobs(max_wait_s):
    batcher = MicroBatcher(lambda jobs: [(job, len(jobs)) for job in jobs], lambda job: 1, 8, max_wait_s)
    results = run(batcher, list(range(50)))
    assert [job for job, _ in results] == list(range(50))
    assert max(size for _, size in results) <= 8


def test_callers_that_gave_up_while_the_worker_hung_are_not_scored():
    """A hung store holds the worker; the callers queued meanwhile time out (a 503 each), and
    when the worker is free again it scores only who is still waiting."""
    scored, busy, release = [], threading.Event(), threading.Event()

    def score(jobs: list[str]) -> list[str]:
        busy.set()
        if jobs == ["hung"]:
            release.wait(30)
        scored.append(list(jobs))
        return jobs

    batcher = MicroBatcher(score, size=lambda job: 1, max_size=100, max_wait_s=0.0)

    async def main():
        first = asyncio.ensure_future(batcher.submit("hung"))
        while not busy.is_set():
            await asyncio.sleep(0.001)
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(batcher.submit("gave up"), 0.01)
        release.set()
        return await first, await batcher.submit("later")

    assert asyncio.run(main()) == ("hung", "later")
    assert scored == [["hung"], ["later"]]
