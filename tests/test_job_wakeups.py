"""The worker's wake-ups resume after outages: a job committed after PostgreSQL or Valkey is back runs at
once, woken by the LISTEN connection or by its own retry timer, not found by the next poll.

Each test sets the poll interval to 60 s, far above its hang guard, so a job that runs in time can only have
been woken. The LISTEN connection is the worker's own (workers/runner.py `_listen`): once it drops it is
opened again and every queue is woken, and a batch put back for a Valkey outage wakes its queue when its
retry delay ends.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator

import pytest

from stack import RunningStack
from storage import jobs as job_store
from storage.jobs import Job
from storage.resources import Resources
from workers.runner import JobRunner, Queue, Unavailable

WAIT = 20.0  # seconds: a hang guard, a third of the poll interval, not a timing assertion
POLL = 60.0

LISTENERS = (
    "SELECT pid FROM pg_stat_activity WHERE query LIKE 'LISTEN%' AND backend_type = 'client backend'"
    " AND datname = current_database()"
)


async def _until(check: object, what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT
    while True:
        assert callable(check)
        if await check():
            return
        assert loop.time() < deadline, what
        await asyncio.sleep(0.05)


@pytest.fixture
async def slow_poll(res: Resources) -> Resources:
    return dataclasses.replace(res, settings=dataclasses.replace(res.settings, job_poll_seconds=POLL))


async def _listener_pid(res: Resources) -> int | None:
    try:
        pid = await res.db.fetchval(LISTENERS)
    except Exception:  # PostgreSQL still away
        return None
    return int(pid) if pid is not None else None


@pytest.fixture
async def ran_jobs(slow_poll: Resources) -> AsyncIterator[list[int]]:
    """A worker with one queue, `test`, whose handler needs Valkey (a PING) and records what it ran."""
    ran: list[int] = []

    async def record(res: Resources, batch: list[Job]) -> None:
        try:
            await res.redis.ping()
        except Exception as exc:
            raise Unavailable(f"valkey: {exc!r}") from exc
        ran.extend(job.payload["n"] for job in batch)

    stop = asyncio.Event()
    worker = asyncio.create_task(JobRunner(slow_poll, [Queue("test", record)]).run(stop))
    try:
        await _until(lambda: _listener_pid(slow_poll), "the worker did not LISTEN")
        yield ran
    finally:
        stop.set()
        await asyncio.wait_for(worker, 10)


async def test_wake_ups_resume_after_postgres_restarts(
    slow_poll: Resources, ran_jobs: list[int], stack: RunningStack
) -> None:
    before = await _listener_pid(slow_poll)
    stack.servers["postgres"].stop()
    try:
        await asyncio.sleep(1.5)  # the queue loop and the listener meet the outage
    finally:
        stack.servers["postgres"].start()

    async def listening_again() -> bool:
        pid = await _listener_pid(slow_poll)
        return pid is not None and pid != before

    await _until(listening_again, "the worker did not LISTEN again after PostgreSQL came back")
    await _until(lambda: _enqueued(slow_poll, 1), "could not enqueue after PostgreSQL came back")
    await _until(lambda: _ran(ran_jobs, [1]), "the job committed after the restart was not woken")


async def test_a_job_committed_while_the_listener_was_cut_off_runs_without_waiting_for_the_poll(
    slow_poll: Resources, ran_jobs: list[int]
) -> None:
    # The LISTEN session is killed (a dropped connection, as a failover or a network cut does) and a job is
    # committed at once, likely before anyone listens again: the reconnect wakes every queue.
    pid = await _listener_pid(slow_poll)
    assert pid is not None
    await slow_poll.db.execute("SELECT pg_terminate_backend($1)", pid)
    await job_store.enqueue(slow_poll.db, "test", "thing", {"n": 2})
    await _until(lambda: _ran(ran_jobs, [2]), "the job committed while the listener was away waited for the poll")

    async def listening_again() -> bool:
        again = await _listener_pid(slow_poll)
        return again is not None and again != pid

    await _until(listening_again, "the worker did not LISTEN again")
    await job_store.enqueue(slow_poll.db, "test", "thing", {"n": 3})
    await _until(lambda: _ran(ran_jobs, [2, 3]), "wake-ups did not resume after the LISTEN session was killed")


async def test_a_job_put_back_during_a_valkey_outage_runs_once_valkey_is_back_without_the_poll(
    slow_poll: Resources, ran_jobs: list[int], stack: RunningStack
) -> None:
    stack.servers["valkey"].stop()
    try:
        await job_store.enqueue(slow_poll.db, "test", "thing", {"n": 4})
        # Claimed, met the outage, put back (its attempts unspent) to run again in about 2 s.
        await _until(lambda: _attempted(slow_poll), "the job was not tried during the outage")
        assert ran_jobs == []
    finally:
        stack.servers["valkey"].start()
    await _until(lambda: _ran(ran_jobs, [4]), "the job put back during the Valkey outage waited for the poll")
    await job_store.enqueue(slow_poll.db, "test", "thing", {"n": 5})
    await _until(lambda: _ran(ran_jobs, [4, 5]), "wake-ups did not resume after the Valkey outage")


async def _enqueued(res: Resources, n: int) -> bool:
    try:
        await job_store.enqueue(res.db, "test", "thing", {"n": n})
    except Exception:  # PostgreSQL still away
        return False
    return True


async def _ran(ran: list[int], expected: list[int]) -> bool:
    return sorted(ran) == expected


async def _attempted(res: Resources) -> bool:
    # release() pushes run_at into the future; the job is still there, with no attempt spent.
    row = await res.db.fetchrow("SELECT attempts, run_at > now() AS later FROM jobs WHERE queue = 'test'")
    return row is not None and bool(row["later"])
