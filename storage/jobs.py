"""The job queue in PostgreSQL (table `jobs`, dead letters in `dead_jobs`).

`enqueue` runs inside the caller's transaction, so a job exists exactly when the write that caused it
committed. Workers `claim` a batch under a lease; a job is deleted when done, retried later with backoff
when it fails, and moved to `dead_jobs` after its last attempt. Jobs sharing an `in_order_of` key run in the
order they were recorded: one is not claimed while an earlier one of its queue with that key is ready or
leased, so concurrent workers cannot overtake each other on one key.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import asyncpg

from storage.db import Executor

NOTIFY_CHANNEL = "chirp_jobs"


@dataclass(frozen=True)
class Job:
    id: int
    queue: str
    kind: str
    payload: dict[str, Any]
    attempts: int  # including the current one


@dataclass(frozen=True)
class QueueStats:
    queue: str
    ready: int
    oldest_ready_seconds: float
    dead: int


@dataclass(frozen=True)
class Claimed:
    """A claim's outcome: the jobs taken, oldest first, and how many ready ones it held back because an
    earlier job with the same `in_order_of` key was still ready or leased (worth claiming again soon)."""

    jobs: list[Job]
    held_back: int


class NewJob(NamedTuple):
    """A job to insert: its queue, kind and payload, and the key it keeps its order by (None: any order)."""

    queue: str
    kind: str
    payload: dict[str, Any]
    in_order_of: int | None = None


async def enqueue(conn: Executor, queue: str, kind: str, payload: dict[str, Any], *, delay: float = 0) -> None:
    await enqueue_many(conn, [NewJob(queue, kind, payload)], delay=delay)


def enqueue_ctes(first: int) -> str:
    """The CTEs that insert jobs and wake their queues' workers at commit (`woken`, whose rows must be read
    for the notifications to be sent), taking `enqueue_args` as parameters from `$first` on: for a write
    that carries its jobs in its own statement (storage/posts.py `insert_post`)."""
    return f"""added_jobs AS (
            INSERT INTO jobs (queue, kind, payload, in_order_of, run_at)
            SELECT q, k, p, o, now() + make_interval(secs => ${first + 4})
            FROM unnest(${first}::text[], ${first + 1}::text[], ${first + 2}::jsonb[], ${first + 3}::bigint[])
                AS t(q, k, p, o)
            RETURNING queue
        ), woken AS (
            SELECT pg_notify(${first + 5}, queue) FROM (SELECT DISTINCT queue FROM added_jobs) AS queues
        )"""


def enqueue_args(jobs: Sequence[NewJob], delay: float = 0) -> list[Any]:
    return [
        [job.queue for job in jobs],
        [job.kind for job in jobs],
        [job.payload for job in jobs],
        [job.in_order_of for job in jobs],
        delay,
        NOTIFY_CHANNEL,
    ]


async def enqueue_many(conn: Executor, jobs: Sequence[NewJob], *, delay: float = 0) -> None:
    """Insert jobs (queue, kind, payload) and wake the workers of their queues when the transaction commits."""
    if not jobs:
        return
    await conn.execute(f"WITH {enqueue_ctes(1)} SELECT count(*) FROM woken", *enqueue_args(jobs, delay))


# A claim's candidates: the queue's oldest ready jobs, not leased, not among those just completed, skipping
# the rows another claim is taking. Then the lease it puts on what it takes.
_READY = """
    WHERE queue = $1 AND run_at <= now() AND (locked_until IS NULL OR locked_until < now())
      AND id <> ALL($4::bigint[])
    ORDER BY run_at, id
    LIMIT $2
    FOR UPDATE SKIP LOCKED
"""
_LEASE = "UPDATE jobs SET attempts = attempts + 1, locked_until = now() + make_interval(secs => $3)"

_CLAIM = f"""
    WITH done AS (DELETE FROM jobs WHERE id = ANY($4::bigint[]))
    {_LEASE}
    WHERE id IN (SELECT id FROM jobs {_READY})
    RETURNING id, queue, kind, payload, attempts
"""

# The same, holding back a keyed job behind an earlier one of its key; its last row (id NULL) counts them.
_CLAIM_IN_ORDER = f"""
    WITH done AS (DELETE FROM jobs WHERE id = ANY($4::bigint[])),
    ready AS (SELECT id, in_order_of FROM jobs {_READY}),
    -- per key, its first job that holds later ones back: leased, or ready but locked by another claim
    blocking AS (
        SELECT in_order_of, min(id) AS first_id FROM jobs
        WHERE queue = $1 AND in_order_of IN (SELECT in_order_of FROM ready)
          AND id <> ALL($4::bigint[]) AND id NOT IN (SELECT id FROM ready)
          AND (run_at <= now() OR locked_until >= now())
        GROUP BY in_order_of
    ),
    taken AS (
        {_LEASE}
        WHERE id IN (
            SELECT r.id FROM ready r LEFT JOIN blocking b ON b.in_order_of = r.in_order_of
            WHERE b.first_id IS NULL OR b.first_id > r.id
        )
        RETURNING id, queue, kind, payload, attempts
    )
    SELECT id, queue, kind, payload, attempts FROM taken
    UNION ALL
    SELECT NULL, NULL, NULL, NULL, (SELECT count(*) FROM ready) - (SELECT count(*) FROM taken)
"""


async def claim(
    conn: Executor,
    queue: str,
    limit: int,
    lease_seconds: float,
    *,
    completed: Sequence[int] = (),
    in_order: bool = False,
) -> Claimed:
    """Take up to `limit` ready jobs for `lease_seconds`; other workers skip them meanwhile.

    `completed`: jobs this worker finished since its last claim, deleted by the same statement (one
    transaction for a batch's completion and the next batch's claim, instead of two). Until then they
    stay leased, so a crash in between runs them again, as any crash before completion does.

    `in_order`, for a queue whose jobs carry `in_order_of` keys: a ready job is held back while an earlier
    job of the queue with its key is ready but not among this claim's (another claim has it locked) or
    leased, `completed` aside; it is claimed once that one is done, by whichever claim comes next. A job
    waiting for its retry holds nothing back. Each key's first holding job is found once per claim
    (`blocking`), not once per ready job: that was a scan per ready job, 2,400 buffers for a batch of 12.
    (A queue without keys skips the check.)"""
    rows = await conn.fetch(_CLAIM_IN_ORDER if in_order else _CLAIM, queue, limit, lease_seconds, list(completed))
    jobs = [Job(r["id"], r["queue"], r["kind"], r["payload"], r["attempts"]) for r in rows if r["id"] is not None]
    jobs.sort(key=lambda job: job.id)
    held_back = sum(r["attempts"] for r in rows if r["id"] is None)  # the count row of an in-order claim
    return Claimed(jobs, int(held_back))


async def vacuum(conn: Executor) -> None:
    """Reclaim the space of finished jobs. Every job is an insert, a lease (an update) and a delete, so at
    a few hundred jobs a second the table fills with dead rows far faster than autovacuum visits it (once a
    minute at most by default). Between visits each claim scanned them all: at 200 posts/s a table of ~90
    live jobs had grown to ~190 pages, and the in-order claim read them once for every ready job (2,600
    buffers, ~1 ms a claim). Skipped when another worker is vacuuming it; cheap when nothing changed."""
    await conn.execute("VACUUM (SKIP_LOCKED) jobs")


async def complete(conn: Executor, job_ids: Sequence[int]) -> None:
    await conn.execute("DELETE FROM jobs WHERE id = ANY($1::bigint[])", list(job_ids))


async def fail(conn: Executor, job: Job, error: str, *, retry_in: float, max_attempts: int) -> bool:
    """Record a failure: retry after `retry_in` seconds, or dead-letter it. True when it died."""
    if job.attempts >= max_attempts:
        # One statement, so the move is atomic without a transaction of its own.
        await conn.execute(
            """
            WITH gone AS (DELETE FROM jobs WHERE id = $1 RETURNING *)
            INSERT INTO dead_jobs (id, queue, kind, payload, attempts, last_error, created_at)
            SELECT id, queue, kind, payload, attempts, $2, created_at FROM gone
            """,
            job.id,
            error[:4000],
        )
        return True
    await conn.execute(
        """
        UPDATE jobs SET locked_until = NULL, last_error = $2, run_at = now() + make_interval(secs => $3)
        WHERE id = $1
        """,
        job.id,
        error[:4000],
        retry_in,
    )
    return False


async def release(conn: Executor, job_ids: Sequence[int], *, retry_in: float) -> None:
    """Give claimed jobs back untried (a store their handler needs is away): the attempt is not counted.
    A keyed one stays leased until its retry, so it still holds its key's later jobs back: the store's
    return does not let a job written meanwhile overtake it."""
    await conn.execute(
        """
        UPDATE jobs SET attempts = GREATEST(attempts - 1, 0), run_at = now() + make_interval(secs => $2),
                        locked_until = CASE WHEN in_order_of IS NULL THEN NULL
                                            ELSE now() + make_interval(secs => $2) END
        WHERE id = ANY($1::bigint[])
        """,
        list(job_ids),
        retry_in,
    )


async def dead_jobs(conn: Executor, *, limit: int = 100) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(
        "SELECT id, queue, kind, payload, attempts, last_error, died_at FROM dead_jobs ORDER BY id DESC LIMIT $1",
        limit,
    )
    return rows


async def replay_dead(conn: Executor, job_ids: Sequence[int] | None = None) -> int:
    """Put dead jobs back on their queues with fresh attempts (all of them when `job_ids` is None)."""
    rows = await conn.fetch(
        """
        WITH revived AS (
            DELETE FROM dead_jobs WHERE $1::bigint[] IS NULL OR id = ANY($1::bigint[])
            RETURNING queue, kind, payload
        )
        INSERT INTO jobs (queue, kind, payload) SELECT queue, kind, payload FROM revived  -- in any order now
        RETURNING queue
        """,
        list(job_ids) if job_ids is not None else None,
    )
    for queue in {r["queue"] for r in rows}:
        await conn.execute("SELECT pg_notify($1, $2)", NOTIFY_CHANNEL, queue)
    return len(rows)


async def queue_stats(conn: Executor) -> list[QueueStats]:
    rows = await conn.fetch(
        """
        WITH ready AS (
            SELECT queue, count(*) AS ready,
                   coalesce(extract(epoch FROM now() - min(run_at)), 0)::float8 AS oldest
            FROM jobs WHERE run_at <= now() GROUP BY queue
        ), dead AS (
            SELECT queue, count(*) AS dead FROM dead_jobs GROUP BY queue
        )
        SELECT coalesce(ready.queue, dead.queue) AS queue,
               coalesce(ready.ready, 0) AS ready, coalesce(ready.oldest, 0) AS oldest,
               coalesce(dead.dead, 0) AS dead
        FROM ready FULL JOIN dead ON ready.queue = dead.queue
        ORDER BY 1
        """
    )
    return [QueueStats(r["queue"], r["ready"], r["oldest"], r["dead"]) for r in rows]
