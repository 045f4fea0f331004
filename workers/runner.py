"""The job runner: claims batches of jobs from the PostgreSQL queue and hands them to their queue's handler.

At-least-once: a job is deleted only after its handler returns (by the next claim's statement, or before
the loop waits idle or stops), so a crash or SIGKILL mid-batch leaves it leased, and it runs again when the
lease runs out. Handlers are therefore idempotent. A batch that fails
is retried job by job, so one poisoned job is retried (with backoff) and finally dead-lettered alone.

A store outage (storage/outages.py) is not the job's fault: its batch goes back without spending an
attempt, and while PostgreSQL itself is away the queue loop backs off (doubling up to a ceiling) and
resumes by itself. A batch claimed just before PostgreSQL went away stays leased in PostgreSQL and runs
again when its lease runs out: nothing claimed is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import asyncpg

from core.metrics import JOBS_DONE
from storage import jobs as job_store
from storage.jobs import Job
from storage.outages import unavailable_store
from storage.resources import Resources

log = logging.getLogger("chirp.worker")

JobHandler = Callable[[Resources, list[Job]], Awaitable[None]]
PeriodicTask = Callable[[Resources], Awaitable[None]]


@dataclass(frozen=True)
class Queue:
    """A named queue and the handler that runs its jobs, a batch at a time."""

    name: str
    handler: JobHandler
    batch_size: int = 100
    concurrency: int = 1
    # After a batch smaller than batch_size, wait this long (seconds) before claiming again, so a steady
    # trickle is handled in fewer, larger batches.
    linger: float = 0.0
    # Its jobs carry `in_order_of` keys (domain.subscriptions.IN_ORDER_OF) and run in their key's order.
    in_order: bool = False


class Unavailable(Exception):
    """Raised by a handler when a store it needs is away. The batch goes back to its queue without
    spending an attempt, so an outage of any length dead-letters nothing; it is tried again shortly."""


UNAVAILABLE_RETRY_SECONDS = 2.0
# A claim that held jobs back behind an earlier one of their key (storage/jobs.py) claims again this soon.
HELD_BACK_RETRY_SECONDS = 0.02
# The LISTEN connection is checked with a round trip this often, and opened again this long after a failure.
LISTEN_CHECK_SECONDS = 5.0
LISTEN_RETRY_SECONDS = 1.0
# While the database is away a queue loop waits this long, doubling each failure up to the ceiling.
OUTAGE_BACKOFF_FIRST = 0.25
OUTAGE_BACKOFF_CEILING = 15.0


@dataclass(frozen=True)
class Periodic:
    """Housekeeping run every `interval` seconds by every worker; it must be safe to run concurrently."""

    name: str
    interval: float
    task: PeriodicTask


def retry_delay(attempts: int) -> float:
    """Exponential backoff with jitter, capped at five minutes."""
    return float(min(2**attempts, 300)) * random.uniform(0.5, 1.0)


def outage_backoff(failures: int) -> float:
    """How long a queue loop waits after `failures` database failures in a row (jittered, capped)."""
    return float(min(OUTAGE_BACKOFF_FIRST * 2 ** (failures - 1), OUTAGE_BACKOFF_CEILING)) * random.uniform(0.5, 1.0)


def _as_unavailable(exc: Exception) -> Unavailable | None:
    """A handler's store outage, raised as whatever its driver raises, seen as `Unavailable`."""
    if isinstance(exc, Unavailable):
        return exc
    store = unavailable_store(exc)
    return Unavailable(f"{store} unavailable: {exc!r}") if store else None


class JobRunner:
    def __init__(self, res: Resources, queues: Sequence[Queue], periodic: Sequence[Periodic] = ()) -> None:
        self._res = res
        self._queues = {q.name: q for q in queues}
        self._periodic = list(periodic)
        self._wake = {name: asyncio.Event() for name in self._queues}

    async def run(self, stop: asyncio.Event) -> None:
        """Work until `stop` is set, then finish the batches in hand and return."""
        log.info("worker started", extra={"queues": sorted(self._queues)})
        tasks = [
            asyncio.create_task(self._queue_loop(queue, stop), name=f"queue:{queue.name}:{i}")
            for queue in self._queues.values()
            for i in range(queue.concurrency)
        ]
        tasks += [asyncio.create_task(self._periodic_loop(p, stop), name=f"periodic:{p.name}") for p in self._periodic]
        tasks.append(asyncio.create_task(self._listen(stop), name="listen"))
        try:
            await stop.wait()
        finally:
            for event in self._wake.values():
                event.set()
            await asyncio.gather(*tasks, return_exceptions=True)
            log.info("worker stopped")

    async def drain(self, queue_name: str, *, max_batches: int = 1000) -> int:
        """Run ready jobs of one queue until none are left; returns how many ran. For tests and tools."""
        total = 0
        for _ in range(max_batches):
            ran = await self.run_batch(self._queues[queue_name])
            if ran == 0:
                break
            total += ran
        return total

    async def run_batch(self, queue: Queue) -> int:
        """Claim and run one batch, and complete what succeeded; returns how many jobs were claimed."""
        ran, finished, _ = await self._claim_and_run(queue, ())
        await self._done(queue, finished)
        return ran

    async def _claim_and_run(self, queue: Queue, completed: Sequence[int]) -> tuple[int, list[int], int]:
        """Claim a batch (deleting `completed`, the previous batch's finished jobs, in the same statement)
        and run it; returns how many were claimed, the ids of those that succeeded, still to delete, and
        how many ready jobs the claim held back behind an earlier one of their key (storage/jobs.py)."""
        settings = self._res.settings
        claimed = await job_store.claim(
            self._res.db,
            queue.name,
            queue.batch_size,
            settings.job_lease_seconds,
            completed=completed,
            in_order=queue.in_order,
        )
        if completed:
            JOBS_DONE.labels(queue.name, "done").inc(len(completed))
        ran, finished = await self._run(queue, claimed.jobs)
        return ran, finished, claimed.held_back

    async def _run(self, queue: Queue, batch: list[Job]) -> tuple[int, list[int]]:
        """Run a claimed batch; returns its size and the ids of the jobs that succeeded."""
        if not batch:
            return 0, []
        started = time.perf_counter()
        try:
            await queue.handler(self._res, batch)
        except Exception as exc:
            unavailable = _as_unavailable(exc)
            if unavailable is not None:
                await self._put_back(queue, batch, unavailable)
                return len(batch), []
            if len(batch) == 1:
                await self._failed(batch[0])
                return 1, []
            log.warning("batch of %d %s jobs failed; retrying one by one", len(batch), queue.name)
            finished: list[int] = []
            for i, job in enumerate(batch):
                try:
                    await queue.handler(self._res, [job])
                except Exception as exc:
                    unavailable = _as_unavailable(exc)
                    if unavailable is not None:
                        await self._put_back(queue, batch[i:], unavailable)
                        break
                    await self._failed(job)
                else:
                    finished.append(job.id)
            return len(batch), finished
        log.debug("ran %d %s jobs in %.1f ms", len(batch), queue.name, (time.perf_counter() - started) * 1000)
        return len(batch), [job.id for job in batch]

    async def _done(self, queue: Queue, job_ids: Sequence[int]) -> None:
        if job_ids:
            await job_store.complete(self._res.db, job_ids)
            JOBS_DONE.labels(queue.name, "done").inc(len(job_ids))

    async def _put_back(self, queue: Queue, jobs: list[Job], exc: Unavailable) -> None:
        log.warning("queue %s: %s; %d jobs put back", queue.name, exc, len(jobs))
        delay = UNAVAILABLE_RETRY_SECONDS * random.uniform(0.5, 1.0)
        await job_store.release(self._res.db, [job.id for job in jobs], retry_in=delay)
        JOBS_DONE.labels(queue.name, "retry").inc(len(jobs))
        # Nothing will NOTIFY for these: without a wake-up of their own they would wait for the next poll
        # (CHIRP_JOB_POLL_SECONDS) after the store came back, not the retry delay.
        asyncio.get_running_loop().call_later(delay, self._wake[queue.name].set)

    async def _failed(self, job: Job) -> None:
        """Called from an `except` block: records the exception in hand against the job."""
        log.exception("job %s (%s/%s) failed on attempt %d", job.id, job.queue, job.kind, job.attempts)
        error = repr(sys.exc_info()[1])
        died = await job_store.fail(
            self._res.db,
            job,
            error,
            retry_in=retry_delay(job.attempts),
            max_attempts=self._res.settings.job_max_attempts,
        )
        JOBS_DONE.labels(job.queue, "dead" if died else "retry").inc()

    async def _queue_loop(self, queue: Queue, stop: asyncio.Event) -> None:
        wake = self._wake[queue.name]
        failures = 0
        # Jobs that succeeded, deleted by the next claim (one transaction for both), or before the loop
        # waits for new jobs or stops.
        finished: list[int] = []
        while not stop.is_set():
            # Cleared before claiming: a job committed from now on sets it again (NOTIFY), so a short batch
            # can wait for the signal instead of claiming again at once and finding nothing: with jobs
            # trickling in, that empty claim was half of all claims.
            wake.clear()
            try:
                ran, finished, held_back = await self._claim_and_run(queue, finished)
                if ran < queue.batch_size and not (ran and queue.linger):
                    await self._done(queue, finished)  # idle from here on: complete them now
                    finished = []
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                # The database is away: nothing is lost (jobs live there), so back off and try again. Jobs
                # finished but not yet deleted are deleted by a later claim (or run again: at least once).
                failures += 1
                log.warning("queue %s cannot reach the database (%d in a row): %s", queue.name, failures, exc)
                # Woken early when the listener is back (PostgreSQL is then reachable) or on stop.
                wake.clear()
                if not stop.is_set():
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(wake.wait(), outage_backoff(failures))
                continue
            failures = 0
            if ran >= queue.batch_size:
                continue  # a full batch: more are likely waiting
            if ran and queue.linger:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), queue.linger)
                continue
            # Jobs held back behind an earlier one of their key become free when that one completes, which
            # sends no notification: look again shortly instead of at the next poll.
            idle = HELD_BACK_RETRY_SECONDS if held_back else self._res.settings.job_poll_seconds
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), idle)
        with contextlib.suppress(OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
            await self._done(queue, finished)  # stopping mid-linger; if this fails they simply run again

    async def _periodic_loop(self, periodic: Periodic, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await periodic.task(self._res)
            except Exception:
                log.exception("periodic task %s failed", periodic.name)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), periodic.interval)

    async def _listen(self, stop: asyncio.Event) -> None:
        """Wake a queue's loops as soon as a job is committed, instead of on the next poll.

        A connection of its own, never one lent by the pool (a pooled connection can be taken back under
        the listener, and its callbacks then stop: "connection released back to pool"). When it drops (the
        server restarted, the backend was terminated, the network went away) it is opened again at once,
        and every queue is woken: a job committed while nobody listened is claimed now, not at the poll.
        """

        def on_notify(_conn: object, _pid: int, _channel: str, queue: str) -> None:
            event = self._wake.get(queue)
            if event is not None:
                event.set()

        while not stop.is_set():
            try:
                await self._listen_once(stop, on_notify)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
                log.warning("job notifications lost (%s); polling until the database is back", exc)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), LISTEN_RETRY_SECONDS)

    async def _listen_once(self, stop: asyncio.Event, on_notify: Callable[..., None]) -> None:
        """One LISTEN session, until it drops or `stop`; raises what opening or checking it met."""
        # To PostgreSQL itself: LISTEN holds a session, which a pooler in transaction mode would hand to
        # other clients between queries (the wake-ups were lost).
        conn = await asyncpg.connect(self._res.settings.session_database_url, timeout=5)
        dropped = asyncio.Event()
        try:
            conn.add_termination_listener(lambda _conn: dropped.set())
            await conn.add_listener(job_store.NOTIFY_CHANNEL, on_notify)
            for event in self._wake.values():
                event.set()  # what was committed while nobody listened
            while not stop.is_set() and not dropped.is_set() and not conn.is_closed():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(_first(stop, dropped), LISTEN_CHECK_SECONDS)
                if not stop.is_set() and not dropped.is_set():
                    # A half-open connection (no FIN ever came) looks open: a round trip proves it is not.
                    await conn.fetchval("SELECT 1", timeout=LISTEN_CHECK_SECONDS)
        finally:
            with contextlib.suppress(Exception):
                await conn.close(timeout=2)
        if not stop.is_set():
            log.warning("job notifications lost (the LISTEN connection dropped); listening again")


async def _first(*events: asyncio.Event) -> None:
    """Returns once any of `events` is set."""
    waits = [asyncio.ensure_future(event.wait()) for event in events]
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for wait in waits:
            wait.cancel()
