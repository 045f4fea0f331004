"""A store outage is an answer, not a crash: 503 with Retry-After while PostgreSQL or Valkey is away, 200 after."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient
from conftest import UserFactory

from api.errors import error_middleware
from api.http import json_response
from api.keys import DATABASE, SETTINGS
from config import Settings
from stack import RunningStack
from storage import jobs as job_store
from storage.jobs import Job
from storage.resources import Resources, open_database
from workers.runner import JobRunner, Queue

Client = TestClient[web.Request, web.Application]


async def _assert_unavailable(response: object) -> None:
    from aiohttp import ClientResponse

    assert isinstance(response, ClientResponse)
    body = await response.json()
    assert response.status == 503, body
    assert int(response.headers["Retry-After"]) > 0
    assert isinstance(body["error"], str)
    assert "Traceback" not in body["error"]


async def test_postgres_down_reads_and_writes_answer_503_then_200_when_it_is_back(
    client: Client, stack: RunningStack, make_user: UserFactory
) -> None:
    alice = await make_user("alice")
    posted = await client.post("/api/v1/statuses", json={"status": "before"}, headers=alice.headers)
    assert posted.status == 200
    status_id = (await posted.json())["id"]
    stack.servers["postgres"].stop()
    try:
        await _assert_unavailable(await client.get(f"/api/v1/statuses/{status_id}"))
        await _assert_unavailable(await client.get("/api/v1/accounts/lookup", params={"acct": "alice"}))
        await _assert_unavailable(
            await client.post("/api/v1/statuses", json={"status": "during"}, headers=alice.headers)
        )
        await _assert_unavailable(await client.get("/api/v1/timelines/public"))
    finally:
        stack.servers["postgres"].start()
    # The pool's connections died with the server; the first request after it returns already gets a 200.
    read = await client.get(f"/api/v1/statuses/{status_id}")
    assert read.status == 200, await read.text()
    write = await client.post("/api/v1/statuses", json={"status": "after"}, headers=alice.headers)
    assert write.status == 200, await write.text()


async def test_valkey_down_writes_commit_and_reads_that_need_it_answer_503(
    client: Client, stack: RunningStack, make_user: UserFactory, res: Resources
) -> None:
    alice = await make_user("alice")
    stack.servers["valkey"].stop()
    try:
        posted = await client.post("/api/v1/statuses", json={"status": "while valkey is away"}, headers=alice.headers)
        assert posted.status == 200, await posted.text()
        status_id = int((await posted.json())["id"])
        await _assert_unavailable(await client.get("/api/v1/timelines/home", headers=alice.headers))
        # A single post is read from PostgreSQL when its cache cannot answer.
        read = await client.get(f"/api/v1/statuses/{status_id}")
        assert read.status == 200, await read.text()
    finally:
        stack.servers["valkey"].start()
    # The post committed, and its fan-out waits in the outbox (the job queue) for the worker.
    assert await res.db.fetchval("SELECT count(*) FROM posts WHERE id = $1", status_id) == 1
    assert await res.db.fetchval("SELECT count(*) FROM jobs") >= 1
    home = await client.get("/api/v1/timelines/home", headers=alice.headers)
    assert home.status == 200, await home.text()


class StopsPostgresOnce:
    """A job handler that takes PostgreSQL away under its first batch (as a crash would), then works."""

    def __init__(self, stack: RunningStack) -> None:
        self.stack = stack
        self.calls = 0
        self.done: list[int] = []

    async def __call__(self, res: Resources, batch: list[Job]) -> None:
        self.calls += 1
        if self.calls == 1:
            await asyncio.to_thread(self.stack.servers["postgres"].stop)
        await res.db.fetchval("SELECT 1")
        self.done.extend(job.payload["n"] for job in batch)


async def test_a_worker_backs_off_while_postgres_is_away_and_runs_the_claimed_job_when_it_returns(
    res: Resources, stack: RunningStack
) -> None:
    res = dataclasses.replace(
        res, settings=dataclasses.replace(res.settings, job_lease_seconds=1.0, job_poll_seconds=0.1)
    )
    await job_store.enqueue(res.db, "test", "thing", {"n": 7})
    handler = StopsPostgresOnce(stack)
    stop = asyncio.Event()
    worker = asyncio.create_task(JobRunner(res, [Queue("test", handler)]).run(stop))
    try:
        for _ in range(200):
            if handler.calls:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(1.0)  # the worker keeps running (backing off) while the database is away
        assert not worker.done()
        await asyncio.to_thread(stack.servers["postgres"].start)
        for _ in range(300):
            if handler.done:
                break
            await asyncio.sleep(0.05)
        assert handler.done == [7]
        assert await res.db.fetchval("SELECT count(*) FROM jobs") == 0
        assert await res.db.fetchval("SELECT count(*) FROM dead_jobs") == 0
    finally:
        stop.set()
        await asyncio.wait_for(worker, 10)
        stack.servers["postgres"].start()


async def _terminate_sleepers(res: Resources) -> None:
    """Kill, from PostgreSQL's side, the backend running the handler's sleep: its connection dies mid-query.

    Only once the sleep runs (`wait_event = 'PgSleep'`): `query` shows the statement from its Parse on, and a kill
    between Parse and Bind is the other case (`test_a_connection_killed_between_parse_and_bind_is_an_outage`).
    """
    for _ in range(200):
        killed = await res.db.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE query LIKE 'SELECT pg_sleep(30)%' AND wait_event = 'PgSleep' AND pid <> pg_backend_pid()"
        )
        if killed:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the handler's query never started")


async def test_a_read_whose_connection_dies_mid_query_runs_once_more_on_a_fresh_one(
    aiohttp_client: Any, settings: Settings, res: Resources
) -> None:
    calls: list[str] = []

    async def sleepy(request: web.Request) -> web.Response:
        calls.append(request.method)
        pool = request.app[DATABASE]
        query = "SELECT pg_sleep(30), 1" if len(calls) == 1 else "SELECT 1"
        return json_response({"value": await pool.fetchval(query)})

    app = web.Application(middlewares=[error_middleware])
    app[SETTINGS] = settings
    app.router.add_route("*", "/sleepy", sleepy)
    async with open_database(settings) as pool:
        app[DATABASE] = pool
        client = await aiohttp_client(app)
        read, _ = await asyncio.gather(client.get("/sleepy"), _terminate_sleepers(res))
        assert read.status == 200, await read.text()
        assert calls == ["GET", "GET"]
        # A write is never run twice: it answers 503 and the client decides.
        calls.clear()
        write, _ = await asyncio.gather(client.post("/sleepy"), _terminate_sleepers(res))
        await _assert_unavailable(write)
        assert calls == ["POST"]


async def test_a_write_whose_connection_is_killed_at_any_moment_answers_200_or_503_never_500(
    aiohttp_client: Any, settings: Settings, res: Resources
) -> None:
    """Kills land anywhere in the exchange (before Parse, between Parse and Bind, mid-query): none is a 500."""

    async def sleepy(request: web.Request) -> web.Response:
        return json_response({"value": await request.app[DATABASE].fetchval("SELECT pg_sleep(0.05), 1")})

    async def kill_after(delay: float) -> None:
        await asyncio.sleep(delay)
        await res.db.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE query LIKE 'SELECT pg_sleep(0.05)%' AND pid <> pg_backend_pid()"
        )

    app = web.Application(middlewares=[error_middleware])
    app[SETTINGS] = settings
    app.router.add_route("POST", "/sleepy", sleepy)
    statuses: list[int] = []
    async with open_database(settings) as pool:
        app[DATABASE] = pool
        client = await aiohttp_client(app)
        for attempt in range(40):
            write, _ = await asyncio.gather(client.post("/sleepy"), kill_after(attempt * 0.0015))
            statuses.append(write.status)
            assert write.status in (200, 503), await write.text()
    assert 503 in statuses  # some kills did land under the write
