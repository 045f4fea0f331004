"""Chirp behind a real PgBouncer in transaction mode (CHIRP_DATABASE_POOLER=transaction): requests run on
pooled server connections without prepared statements kept between queries, while the worker's LISTEN
holds a session of its own on PostgreSQL itself (DATABASE_DIRECT_URL), so wake-ups stay immediate."""

from __future__ import annotations

import asyncio
import dataclasses
import subprocess
from collections.abc import AsyncIterator, Iterator

import pytest
from conftest import ClientFactory, UserFactory
from mastodon import Mastodon
from social import Client, expect, follow, post_status
from streams import run_queues

from config import Settings
from stack import RunningStack
from stack.pgbouncer import PgBouncer, start_pgbouncer
from stack.servers import PostgresServer
from storage import jobs as job_store
from storage.jobs import Job
from storage.resources import Resources, open_resources
from workers.runner import JobRunner, Queue

WAIT = 15.0  # seconds: a hang guard, not a timing assertion


@pytest.fixture(scope="session")
def pgbouncer(stack: RunningStack) -> Iterator[PgBouncer]:
    primary = stack.servers["postgres"]
    assert isinstance(primary, PostgresServer)
    bouncer = start_pgbouncer(primary)  # StackError naming `apt-get install pgbouncer` when it is missing
    try:
        yield bouncer
    finally:
        bouncer.stop()
        bouncer.cleanup()


@pytest.fixture
def pooled(settings: Settings, pgbouncer: PgBouncer) -> Settings:
    return dataclasses.replace(
        settings,
        database_url=pgbouncer.url,
        database_pooler="transaction",
        database_direct_url=settings.database_url,
    )


@pytest.fixture
async def pooled_client(make_client: ClientFactory, pooled: Settings) -> Client:
    return await make_client(
        database_url=pooled.database_url, database_pooler="transaction", database_direct_url=pooled.database_direct_url
    )


@pytest.fixture
async def pooled_res(pooled: Settings) -> AsyncIterator[Resources]:
    async with open_resources(pooled) as resources:
        yield resources


def transactions_through(bouncer: PgBouncer) -> int:
    """How many transactions PgBouncer has passed to PostgreSQL (its admin console's SHOW STATS)."""
    psql = bouncer.primary.bin_dir / "psql"
    argv = [str(psql), "-h", "127.0.0.1", "-p", str(bouncer.port), "-U", "postgres", "-At", "-F", ",", "pgbouncer"]
    out = subprocess.run([*argv, "-c", "SHOW STATS"], capture_output=True, text=True, check=True, timeout=10).stdout
    for line in out.splitlines():
        fields = line.split(",")
        if fields[0] == "chirp":
            return int(fields[1])  # total_xact_count
    return 0


async def test_requests_run_through_pgbouncer_in_transaction_mode(
    pooled_client: Client, pooled_res: Resources, make_user: UserFactory, pgbouncer: PgBouncer
) -> None:
    before = transactions_through(pgbouncer)
    alice, bob = await make_user("alice"), await make_user("bob")
    await follow(pooled_client, bob, alice)

    # Many requests at once, more than the pool has server connections: every one of them meets whichever
    # server connection is free, which would break a prepared statement kept from an earlier query.
    async def post_and_read(n: int) -> None:
        await post_status(pooled_client, alice, f"pooled {n}")
        await expect(await pooled_client.get("/api/v1/timelines/public"), 200)
        await expect(await pooled_client.get(f"/api/v1/accounts/{alice.id}/statuses", headers=bob.headers), 200)

    await asyncio.gather(*(post_and_read(n) for n in range(40)))
    await run_queues(pooled_res)
    home = await expect(
        await pooled_client.get("/api/v1/timelines/home", headers=bob.headers, params={"limit": "40"}), 200
    )
    assert len(home) == 40
    assert transactions_through(pgbouncer) - before >= 120  # the requests went through PgBouncer


async def test_mastodon_py_through_pgbouncer(pooled_client: Client, make_user: UserFactory) -> None:
    alice = await make_user("alice")
    base = str(pooled_client.make_url("")).rstrip("/")
    api = Mastodon(access_token=alice.token, api_base_url=base, version_check_mode="none")

    def post_and_read() -> tuple[str, list[str]]:
        status = api.status_post("through pgbouncer")
        return str(status["id"]), [str(s["id"]) for s in api.account_statuses(alice.id)]

    posted, listed = await asyncio.to_thread(post_and_read)
    assert listed == [posted]


async def test_the_worker_listens_on_a_direct_session_and_wakes_at_once(pooled_res: Resources) -> None:
    res = dataclasses.replace(pooled_res, settings=dataclasses.replace(pooled_res.settings, job_poll_seconds=30))
    ran: list[int] = []

    async def record(_res: Resources, batch: list[Job]) -> None:
        ran.extend(job.payload["n"] for job in batch)

    stop = asyncio.Event()
    worker = asyncio.create_task(JobRunner(res, [Queue("test", record)]).run(stop))
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + WAIT
        # Wait for its LISTEN; through PgBouncer in transaction mode, the session would be lent to other
        # clients and the notification below lost (the job would wait for the 30 s poll).
        while not await pooled_res.db.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'LISTEN%' AND backend_type = 'client backend'"
        ):
            assert loop.time() < deadline, "the worker did not LISTEN"
            await asyncio.sleep(0.02)
        await job_store.enqueue(res.db, "test", "thing", {"n": 7})  # committed through PgBouncer
        while not ran:  # the poll interval is 30 s: only the notification can make this quick
            assert loop.time() < deadline, "the worker was not woken by the commit"
            await asyncio.sleep(0.02)
        assert ran == [7]
    finally:
        stop.set()
        await asyncio.wait_for(worker, 5)


def test_the_pooler_needs_a_direct_url() -> None:
    with pytest.raises(ValueError, match="DATABASE_DIRECT_URL"):
        Settings.from_env({"CHIRP_DATABASE_POOLER": "transaction"})
