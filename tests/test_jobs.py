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
from storage.jobs import Job
from storage.resources import Resources
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
    await job_store.enqueue_many(res.db, [("test", "thing", {"n": n}) for n in range(5)])
    recorder = Recorder()
    runner = JobRunner(res, [Queue("test", recorder, batch_size=2)])
    assert await runner.drain("test") == 5
    assert recorder.batches == [[0, 1], [2, 3], [4]]
    assert await res.db.fetchval("SELECT count(*) FROM jobs") == 0


async def test_a_poisoned_job_does_not_hold_back_its_batch(res: Resources) -> None:
    await job_store.enqueue_many(
        res.db, [("test", "thing", {"n": 1}), ("test", "thing", {"n": 2, "fail": True}), ("test", "thing", {"n": 3})]
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
    first = await job_store.claim(res.db, "test", 10, lease_seconds=0.3)
    assert [j.attempts for j in first] == [1]
    # Leased: nobody else gets it...
    assert await job_store.claim(res.db, "test", 10, lease_seconds=0.3) == []
    await asyncio.sleep(0.5)
    # ...until the lease runs out, as when the worker holding it was killed.
    again = await job_store.claim(res.db, "test", 10, lease_seconds=0.3)
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
    await job_store.enqueue_many(res.db, [("test", "thing", {"n": n}) for n in range(3)])
    first = await job_store.claim(res.db, "test", 2, lease_seconds=60)
    before = await res.db.fetchval("SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()")
    second = await job_store.claim(res.db, "test", 10, lease_seconds=60, completed=[job.id for job in first])
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
    await job_store.enqueue_many(res.db, [("test", "thing", {"n": n}) for n in range(5)])
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
