"""Stores and the worker stopped under a light, steady load (a post every few tens of milliseconds): the
answers during the outage are 503s where the store is needed and 200s elsewhere, and once it is back every
acknowledged post reaches what it should (search, media, followers' timelines), nothing lost and nothing
done twice.

Meilisearch and S3 run in the test process's worker (a `JobRunner`); the worker test kills a real
`chirp worker` process with SIGKILL while it holds claimed jobs.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import signal
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from conftest import ClientFactory, TestUser, UserFactory
from media_samples import png
from processes import chirp, chirp_env
from streams import WAIT, run_queues
from test_search import found, sclient, search_settings, sres  # noqa: F401 (fixtures)

from stack import RunningStack
from storage.resources import Resources
from workers.queues import all_queues
from workers.runner import JobRunner

Client = TestClient[web.Request, web.Application]
# How long a test waits for the system to catch up after a store returns (a hang guard, not a speed claim).
CATCH_UP = 60.0


class Poster:
    """The light load: one account posting `"<word> <n>"` every `pause` seconds; every answer is kept."""

    def __init__(self, client: Client, user: TestUser, word: str, pause: float = 0.05) -> None:
        self.client, self.user, self.word, self.pause = client, user, word, pause
        self.statuses: Counter[int] = Counter()
        self.acknowledged: list[str] = []
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        n = 0
        while not self._stop.is_set():
            n += 1
            response = await self.client.post(
                "/api/v1/statuses", json={"status": f"{self.word} {n}"}, headers=self.user.headers
            )
            self.statuses[response.status] += 1
            if response.status == 200:
                self.acknowledged.append((await response.json())["id"])
            else:
                assert response.status == 503, await response.text()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self.pause)

    async def __aenter__(self) -> Poster:
        self._task = asyncio.create_task(self._run())
        return self

    async def __aexit__(self, *_: object) -> None:
        self._stop.set()
        assert self._task is not None
        await self._task


@contextlib.asynccontextmanager
async def worker_in_process(res: Resources) -> AsyncIterator[None]:
    """The worker's queues running in this process, polling often, until the block ends."""
    fast = dataclasses.replace(res, settings=dataclasses.replace(res.settings, job_poll_seconds=0.1))
    stop = asyncio.Event()
    task = asyncio.create_task(JobRunner(fast, all_queues()).run(stop))
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)


async def eventually(check: Any, wait: float = CATCH_UP) -> None:
    """Wait for the async `check()` to be true (polling; a hang guard, not a timing assertion)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    while not await check():
        assert loop.time() < deadline, "the system did not catch up"
        await asyncio.sleep(0.2)


async def _assert_503(response: aiohttp.ClientResponse) -> None:
    body = await response.json()
    assert response.status == 503, body
    assert int(response.headers["Retry-After"]) > 0 and isinstance(body["error"], str)


async def test_meilisearch_away_search_answers_503_posting_goes_on_and_the_index_catches_up(
    sclient: Client,  # noqa: F811
    sres: Resources,  # noqa: F811
    stack: RunningStack,
    make_user: UserFactory,
) -> None:
    alice = await make_user("alice")
    meili = stack.servers["meilisearch"]
    async with worker_in_process(sres):
        async with Poster(sclient, alice, "lighthouse", pause=0.1) as load:
            await eventually(lambda: _have(load, 3))
            await asyncio.to_thread(meili.stop)
            try:
                during = len(load.acknowledged)
                await eventually(lambda: _have(load, during + 5))
                await _assert_503(await sclient.get("/api/v2/search", params={"q": "lighthouse"}))
            finally:
                await asyncio.to_thread(meili.start)
            back = len(load.acknowledged)
            await eventually(lambda: _have(load, back + 3))
        assert set(load.statuses) == {200}, load.statuses  # posting never needed Meilisearch
        assert len(load.acknowledged) <= 40

        async def all_found() -> bool:
            return len(await found(sclient, "lighthouse", limit=40)) == len(load.acknowledged)

        await eventually(all_found)  # the search jobs put back during the outage ran once it returned
    texts = await found(sclient, "lighthouse", limit=40)
    assert sorted(texts) == sorted(f"lighthouse {n}" for n in range(1, len(load.acknowledged) + 1))


async def _have(load: Poster, count: int) -> bool:
    return len(load.acknowledged) >= count


async def test_s3_away_uploads_answer_503_other_reads_work_and_pending_media_finishes_after(
    make_client: ClientFactory, res: Resources, stack: RunningStack, make_user: UserFactory
) -> None:
    # Every image goes to the worker (202), so one is still being processed when S3 goes away.
    client = await make_client(media_sync_max_bytes=0, rate_limit_enabled=False)
    alice = await make_user("alice")
    image = png(400, 300)

    async def upload() -> aiohttp.ClientResponse:
        form = aiohttp.FormData()
        form.add_field("file", image, filename="a.png", content_type="image/png")
        return await client.post("/api/v2/media", data=form, headers=alice.headers)

    pending = await upload()
    assert pending.status == 202, await pending.text()
    media_id = (await pending.json())["id"]
    s3 = stack.servers["s3"]
    await asyncio.to_thread(s3.stop)
    try:
        async with worker_in_process(res), Poster(client, alice, "bucket") as load:
            await _assert_503(await upload())
            await eventually(lambda: _have(load, 5))
            timeline = await client.get("/api/v1/timelines/home", headers=alice.headers)
            assert timeline.status == 200, await timeline.text()
            shown = await client.get(f"/api/v1/media/{media_id}", headers=alice.headers)
            assert shown.status == 206, await shown.text()  # still processing: its job waits for S3
    finally:
        await asyncio.to_thread(s3.start)
    assert set(load.statuses) == {200}, load.statuses
    async with worker_in_process(res):

        async def processed() -> bool:
            response = await client.get(f"/api/v1/media/{media_id}", headers=alice.headers)
            return response.status == 200

        await eventually(processed)
    after = await upload()
    assert after.status == 202, await after.text()
    assert await res.db.fetchval("SELECT count(*) FROM dead_jobs") == 0


@pytest.mark.processes
async def test_a_worker_killed_mid_job_loses_nothing_and_does_nothing_twice(
    make_client: ClientFactory, res: Resources, stack_env: dict[str, str], make_user: UserFactory
) -> None:
    client = await make_client(rate_limit_enabled=False)
    alice, bob = await make_user("alice"), await make_user("bob")
    followed = await client.post(f"/api/v1/accounts/{alice.id}/follow", headers=bob.headers)
    assert followed.status == 200
    await run_queues(res)
    # Small batches and a short lease: a killed worker's claimed jobs are free again 2 s later.
    env = chirp_env(stack_env, CHIRP_JOB_BATCH_SIZE="2", CHIRP_JOB_LEASE_SECONDS="2", CHIRP_JOB_POLL_SECONDS="0.05")
    async with Poster(client, alice, "@bob anchor", pause=0.02) as load:
        await eventually(lambda: _have(load, 30))
        with chirp("worker", env) as worker:
            claimed = 0
            loop = asyncio.get_running_loop()
            deadline = loop.time() + WAIT
            while claimed == 0 and loop.time() < deadline:
                claimed = await res.db.fetchval("SELECT count(*) FROM jobs WHERE locked_until > now()")
            assert claimed > 0, "the worker never held a claimed job"
            worker.send_signal(signal.SIGKILL)
            worker.wait()
        leased = await res.db.fetchval("SELECT count(*) FROM jobs WHERE locked_until > now()")
        target = len(load.acknowledged) + 10  # the load goes on with no worker
        await eventually(lambda: _have(load, target))
    with chirp("worker", env):

        async def drained() -> bool:
            return bool(await res.db.fetchval("SELECT count(*) = 0 FROM jobs"))

        await eventually(drained)
    assert leased > 0  # jobs were held by the killed worker when it died
    assert set(load.statuses) == {200}, load.statuses
    assert await res.db.fetchval("SELECT count(*) FROM dead_jobs") == 0
    # Every acknowledged post is in bob's home timeline exactly once, with exactly one mention each.
    home: list[str] = []
    max_id = ""
    while True:
        page = await client.get(
            "/api/v1/timelines/home",
            params={"limit": "40", **({"max_id": max_id} if max_id else {})},
            headers=bob.headers,
        )
        assert page.status == 200
        ids = [status["id"] for status in await page.json()]
        if not ids:
            break
        home += ids
        max_id = ids[-1]
    assert sorted(home) == sorted(load.acknowledged)
    mentions = await res.db.fetch(
        "SELECT post_id, count(*) AS n FROM notifications WHERE account_id = $1 AND type = 'mention' GROUP BY post_id",
        bob.account_id,
    )
    assert {str(row["post_id"]) for row in mentions} == set(load.acknowledged)
    assert {row["n"] for row in mentions} == {1}
