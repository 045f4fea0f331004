"""The durable job queue and the worker that runs it: at-least-once, retried, dead-lettered, replayable."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import signal
import subprocess
import sys
import time

import pytest

from storage import jobs as job_store
from storage.jobs import Job, NewJob
from storage.resources import Resources
from workers.queues import vacuum_jobs
from workers.runner import JobRunner, Queue


class Recorder:
    """A job handler that remembers what it ran and fails for payloads marked `fail`."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []

    async def __call__(self, res: Resources, batch: list[Job]) -> None:
        self.batches.append([job.payload["n"] for job in batch])
        if any(job.payload.get("fail") for job in batch):
            raise RuntimeError("boom")

    @property
    def ran(self) -> list[int]:
        return [n for batch in self.batches for n in batch]


async def test_jobs_enqueued_in_a_rolled_back_transaction_never_exist(res: Resources) -> None:
    async with res.db.acquire() as conn:
        transaction = conn.transaction()
        await transaction.start()
        await job_store.enqueue(conn, "test", "thing", {"n": 1})
        await transaction.rollback()
    assert await res.db.fetchval("SELECT count(*) FROM jobs") == 0


async def test_ready_jobs_run_in_batches_and_are_removed(res: Resources) -> None:
    await job_store.enqueue_many(res.db, [NewJob("test", "thing", {"n": n}) for n in range(5)])
    recorder = Recorder()
    runner = JobRunner(res, [Queue("test", recorder, batch_size=2)])
    assert await runner.drain("test") == 5
    assert recorder.batches == [[0, 1], [2, 3], [4]]
    assert await res.db.fetchval("SELECT count(*) FROM jobs") == 0


async def test_a_poisoned_job_does_not_hold_back_its_batch(res: Resources) -> None:
    await job_store.enqueue_many(
        res.db,
        [
            NewJob("test", "thing", {"n": 1}),
            NewJob("test", "thing", {"n": 2, "fail": True}),
            NewJob("test", "thing", {"n": 3}),
        ],
    )
    recorder = Recorder()
    await JobRunner(res, [Queue("test", recorder)]).drain("test")
    # The batch failed, then each job ran alone: 1 and 3 succeeded, 2 waits for its retry.
    assert recorder.batches == [[1, 2, 3], [1], [2], [3]]
    row = await res.db.fetchrow("SELECT payload, attempts, last_error, run_at > now() AS later FROM jobs")
    assert row["payload"]["n"] == 2 and row["attempts"] == 1 and row["later"]
    assert "boom" in row["last_error"]


async def test_a_job_that_keeps_failing_is_dead_lettered_and_can_be_replayed(res: Resources) -> None:
    res = dataclasses.replace(res, settings=dataclasses.replace(res.settings, job_max_attempts=3))
    await job_store.enqueue(res.db, "test", "thing", {"n": 7, "fail": True})
    runner = JobRunner(res, [Queue("test", Recorder())])
    for attempt in range(3):
        await res.db.execute("UPDATE jobs SET run_at = now()")  # skip the backoff wait
        assert await runner.drain("test") == 1, f"attempt {attempt + 1}"
    assert await res.db.fetchval("SELECT count(*) FROM jobs") == 0
    dead = await job_store.dead_jobs(res.db)
    assert [(d["queue"], d["kind"], d["payload"]["n"], d["attempts"]) for d in dead] == [("test", "thing", 7, 3)]
    assert "boom" in dead[0]["last_error"]

    assert await job_store.replay_dead(res.db) == 1
    assert await res.db.fetchval("SELECT attempts FROM jobs") == 0
    assert await res.db.fetchval("SELECT count(*) FROM dead_jobs") == 0


async def test_a_job_whose_worker_died_runs_again_after_its_lease(res: Resources) -> None:
    await job_store.enqueue(res.db, "test", "thing", {"n": 1})
    first = (await job_store.claim(res.db, "test", 10, lease_seconds=0.3)).jobs
    assert [j.attempts for j in first] == [1]
    # Leased: nobody else gets it...
    assert (await job_store.claim(res.db, "test", 10, lease_seconds=0.3)).jobs == []
    await asyncio.sleep(0.5)
    # ...until the lease runs out, as when the worker holding it was killed.
    again = (await job_store.claim(res.db, "test", 10, lease_seconds=0.3)).jobs
    assert [(j.id, j.attempts) for j in again] == [(first[0].id, 2)]


async def test_a_running_worker_wakes_on_commit_and_stops_cleanly(res: Resources) -> None:
    res = dataclasses.replace(res, settings=dataclasses.replace(res.settings, job_poll_seconds=30))
    recorder = Recorder()
    stop = asyncio.Event()
    worker = asyncio.create_task(JobRunner(res, [Queue("test", recorder)]).run(stop))
    await asyncio.sleep(0.3)  # let it listen
    await job_store.enqueue(res.db, "test", "thing", {"n": 42})
    for _ in range(100):  # the poll interval is 30 s: only the notification can make this quick
        if recorder.ran:
            break
        await asyncio.sleep(0.02)
    assert recorder.ran == [42]
    stop.set()
    await asyncio.wait_for(worker, 5)


async def test_a_claim_deletes_the_jobs_completed_before_it_in_the_same_statement(res: Resources) -> None:
    await job_store.enqueue_many(res.db, [NewJob("test", "thing", {"n": n}) for n in range(3)])
    first = (await job_store.claim(res.db, "test", 2, lease_seconds=60)).jobs
    before = await res.db.fetchval("SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()")
    second = (await job_store.claim(res.db, "test", 10, lease_seconds=60, completed=[job.id for job in first])).jobs
    assert [job.payload["n"] for job in second] == [2]
    assert await res.db.fetchval("SELECT array_agg(id) FROM jobs") == [second[0].id]
    # The completion and the claim were one transaction (plus the counting query's own).
    after = await res.db.fetchval("SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()")
    assert after - before <= 2


async def test_a_lingering_queue_completes_its_jobs_once_it_runs_dry(res: Resources) -> None:
    res = dataclasses.replace(res, settings=dataclasses.replace(res.settings, job_poll_seconds=30))
    recorder = Recorder()
    stop = asyncio.Event()
    worker = asyncio.create_task(JobRunner(res, [Queue("test", recorder, batch_size=2, linger=0.05)]).run(stop))
    await asyncio.sleep(0.3)  # let it listen
    await job_store.enqueue_many(res.db, [NewJob("test", "thing", {"n": n}) for n in range(5)])
    for _ in range(200):
        if await res.db.fetchval("SELECT count(*) FROM jobs") == 0:
            break
        await asyncio.sleep(0.02)
    assert sorted(recorder.ran) == [0, 1, 2, 3, 4]
    assert await res.db.fetchval("SELECT count(*) FROM jobs") == 0
    await job_store.enqueue(res.db, "test", "thing", {"n": 5})
    for _ in range(100):
        if 5 in recorder.ran:
            break
        await asyncio.sleep(0.02)
    stop.set()  # stopping within the linger still completes what ran
    await asyncio.wait_for(worker, 5)
    assert recorder.ran.count(5) == 1
    assert await res.db.fetchval("SELECT count(*) FROM jobs") == 0


def ns(claimed: job_store.Claimed) -> list[int]:
    return [job.payload["n"] for job in claimed.jobs]


async def test_jobs_with_one_key_are_claimed_one_after_another(res: Resources) -> None:
    """A keyed job waits while an earlier one with its key is leased; other keys and unkeyed jobs do not."""
    await job_store.enqueue_many(
        res.db,
        [
            NewJob("test", "thing", {"n": 0}, in_order_of=1),
            NewJob("test", "thing", {"n": 1}, in_order_of=1),
            NewJob("test", "thing", {"n": 2}, in_order_of=2),
            NewJob("test", "thing", {"n": 3}),
        ],
    )
    first = await job_store.claim(res.db, "test", 1, lease_seconds=60, in_order=True)  # one worker takes 0...
    assert ns(first) == [0] and first.held_back == 0
    second = await job_store.claim(
        res.db, "test", 10, lease_seconds=60, in_order=True
    )  # ...another may not take 1 meanwhile
    assert ns(second) == [2, 3] and second.held_back == 1
    third = await job_store.claim(res.db, "test", 10, lease_seconds=60, completed=[first.jobs[0].id], in_order=True)
    assert ns(third) == [1] and third.held_back == 0


async def test_jobs_of_one_key_ready_together_are_claimed_together_in_order(res: Resources) -> None:
    await job_store.enqueue_many(res.db, [NewJob("test", "thing", {"n": n}, in_order_of=7) for n in range(4)])
    claimed = await job_store.claim(res.db, "test", 10, lease_seconds=60, in_order=True)
    assert ns(claimed) == [0, 1, 2, 3] and claimed.held_back == 0


async def test_a_keyed_job_waiting_for_its_retry_holds_nothing_back(res: Resources) -> None:
    await job_store.enqueue_many(res.db, [NewJob("test", "thing", {"n": n}, in_order_of=1) for n in range(2)])
    [failing] = (await job_store.claim(res.db, "test", 1, lease_seconds=60, in_order=True)).jobs
    await job_store.fail(res.db, failing, "boom", retry_in=60, max_attempts=5)
    assert ns(await job_store.claim(res.db, "test", 10, lease_seconds=60, in_order=True)) == [1]


async def test_a_keyed_job_given_back_in_an_outage_still_holds_its_key(res: Resources) -> None:
    """Put back untried (a store was away), job 0 keeps job 1, written meanwhile, behind it until its retry."""
    await job_store.enqueue_many(res.db, [NewJob("test", "thing", {"n": 0}, in_order_of=1)])
    [given_back] = (await job_store.claim(res.db, "test", 1, lease_seconds=60, in_order=True)).jobs
    await job_store.release(res.db, [given_back.id], retry_in=0.3)
    await job_store.enqueue_many(res.db, [NewJob("test", "thing", {"n": 1}, in_order_of=1)])
    held = await job_store.claim(res.db, "test", 10, lease_seconds=60, in_order=True)
    assert held.jobs == [] and held.held_back == 1
    await asyncio.sleep(0.4)  # its retry is due (not a timing assertion: waiting for the state it leads to)
    assert ns(await job_store.claim(res.db, "test", 10, lease_seconds=60, in_order=True)) == [0, 1]


async def test_a_keyed_job_another_claim_is_taking_holds_the_later_ones_back(res: Resources) -> None:
    """Two claims at once: the first has locked job 0 (not yet committed), so the second skips it, and must
    not take job 1 either although job 0 does not look leased yet."""
    await job_store.enqueue_many(res.db, [NewJob("test", "thing", {"n": n}, in_order_of=1) for n in range(2)])
    async with res.db.acquire() as conn, conn.transaction():
        assert ns(await job_store.claim(conn, "test", 1, lease_seconds=60, in_order=True)) == [0]
        meanwhile = await job_store.claim(res.db, "test", 10, lease_seconds=60, in_order=True)
        assert meanwhile.jobs == [] and meanwhile.held_back == 1


async def test_a_held_back_job_is_claimed_soon_after_the_one_before_it_completes(res: Resources) -> None:
    """A completion sends no notification, so a loop that held a job back looks again shortly by itself."""
    res = dataclasses.replace(res, settings=dataclasses.replace(res.settings, job_poll_seconds=30))
    await job_store.enqueue_many(res.db, [NewJob("test", "thing", {"n": n}, in_order_of=1) for n in range(2)])
    elsewhere = await job_store.claim(res.db, "test", 1, lease_seconds=60, in_order=True)  # another worker has job 0
    recorder = Recorder()
    stop = asyncio.Event()
    worker = asyncio.create_task(JobRunner(res, [Queue("test", recorder, in_order=True)]).run(stop))
    await asyncio.sleep(0.3)  # it has claimed, held job 1 back, and waits
    assert recorder.ran == []
    await job_store.complete(res.db, [job.id for job in elsewhere.jobs])
    for _ in range(250):  # a hang guard: the poll interval is 30 s
        if recorder.ran:
            break
        await asyncio.sleep(0.02)
    stop.set()
    await asyncio.wait_for(worker, 5)
    assert recorder.ran == [1]


async def test_concurrent_loops_run_one_keys_jobs_in_order_and_never_side_by_side(res: Resources) -> None:
    """Four loops (two runners, two each) on one queue, batches of one: each key's jobs run one at a time, in
    the order they were recorded, and those held back are picked up without waiting for the poll."""
    res = dataclasses.replace(res, settings=dataclasses.replace(res.settings, job_poll_seconds=30))
    running: set[int] = set()
    order: dict[int, list[int]] = {1: [], 2: []}

    async def handler(_res: Resources, batch: list[Job]) -> None:
        [job] = batch
        key = job.payload["key"]
        assert key not in running, "two jobs of one key ran side by side"
        running.add(key)
        await asyncio.sleep(0.03 if job.payload["n"] // 2 % 2 == 0 else 0.001)  # slow, fast, slow: a later one
        # would overtake
        order[key].append(job.payload["n"])
        running.discard(key)

    stop = asyncio.Event()
    queues = [Queue("test", handler, batch_size=1, concurrency=2, in_order=True)]
    workers = [asyncio.create_task(JobRunner(res, queues).run(stop)) for _ in range(2)]
    await asyncio.sleep(0.3)  # let them listen
    await job_store.enqueue_many(
        res.db, [NewJob("test", "thing", {"n": n, "key": 1 + n % 2}, in_order_of=1 + n % 2) for n in range(12)]
    )
    for _ in range(500):  # a hang guard: the poll interval is 30 s
        if len(order[1]) + len(order[2]) == 12:
            break
        await asyncio.sleep(0.02)
    stop.set()
    await asyncio.wait_for(asyncio.gather(*workers), 5)
    assert order == {1: [n for n in range(12) if n % 2 == 0], 2: [n for n in range(12) if n % 2 == 1]}


@pytest.mark.processes  # starts a worker process of its own
def test_the_worker_process_exits_cleanly_on_sigterm(stack_env: dict[str, str], base_settings: object) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "worker"],
        env={**os.environ, **stack_env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 20
        assert process.stdout is not None
        for line in process.stdout:
            if "worker started" in line or time.monotonic() > deadline:
                break
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


@pytest.mark.parametrize("attempts", [1, 3, 10])
def test_backoff_grows_and_is_capped(attempts: int) -> None:
    from workers.runner import retry_delay

    delays = [retry_delay(attempts) for _ in range(50)]
    assert all(0 < d <= 300 for d in delays)
    assert min(delays) >= min(2**attempts, 300) * 0.5


async def test_the_workers_vacuum_gives_finished_jobs_space_back(res: Resources) -> None:
    """Each job leaves dead rows (its insert, its lease, its delete). The workers' periodic vacuum
    (workers.queues.vacuum_jobs) gives their space back, so the table stops growing and claims do not read
    through a trail of finished jobs."""
    pages = "SELECT pg_relation_size('jobs') / current_setting('block_size')::int"

    async def a_round_of_jobs() -> int:
        await job_store.enqueue_many(res.db, [NewJob("test", "thing", {"n": n}) for n in range(3_000)])
        assert await JobRunner(res, [Queue("test", Recorder(), batch_size=500)]).drain("test") == 3_000
        filled = int(await res.db.fetchval(pages))
        await vacuum_jobs(res)
        return filled

    first = await a_round_of_jobs()
    assert first >= 20  # 3,000 jobs' rows filled that many pages
    later = [await a_round_of_jobs() for _ in range(3)]
    assert max(later) <= first + 2, (first, later)  # the same pages reused, round after round (without: 2x, 3x, 4x)
