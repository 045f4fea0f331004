"""Chirp on a Valkey Cluster: readiness reports the cluster's state, and a primary killed under light load
costs only in-flight requests: its replica takes over, home reads and live updates come back, and no
acknowledged post is lost (timelines lost with the shard are rebuilt from PostgreSQL on the next read)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Awaitable
from typing import TypeVar

import pytest
from aiohttp import ClientWebSocketResponse, WSMsgType
from conftest import UserFactory
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import RedisError
from social import Client, follow, post_status
from streams import connect, online, run_queues

from api.keys import HUB
from stack import ValkeyCluster
from stack.valkey_cluster import ValkeyClusterNode
from storage import keys
from storage.resources import Resources

on_cluster = pytest.mark.parametrize("valkey_mode", ["cluster"], indirect=True)

HANG_GUARD = 60.0  # seconds: a guard against hanging, not a timing assertion
STEP_GUARD = 30.0  # seconds: the same, for one request or one run of the queues
T = TypeVar("T")


async def primary_of(res: Resources, cluster: ValkeyCluster, key: str) -> ValkeyClusterNode:
    assert isinstance(res.redis, RedisCluster)
    node = res.redis.nodes_manager.get_node_from_slot(keys.slot(key))
    return next(n for n in cluster.nodes if n.port == int(node.port))


@on_cluster
async def test_readyz_reports_the_cluster_ready(client: Client, res: Resources) -> None:
    response = await client.get("/readyz")
    assert response.status == 200
    assert (await response.json())["checks"]["valkey"]["status"] == "up"
    # Every node it found (3 primaries and their replicas) talks to it with commands packed by hiredis.
    assert isinstance(res.redis, RedisCluster)
    assert len(res.redis.get_nodes()) >= 3
    assert {node.connection_class for node in res.redis.get_nodes()} == {keys.PackedConnection}


async def test_keys_of_one_account_share_a_slot() -> None:
    account = 1234567890123
    slots = {keys.slot(k) for k in (keys.home_key(account), keys.author_key(account), keys.online_key(account))}
    assert len(slots) == 1


async def bounded(awaitable: Awaitable[T], what: str, seconds: float = STEP_GUARD) -> T:
    """Await with a hang guard that holds even when a cancellation is swallowed (redis-py can swallow one
    that lands inside its calls): the wait ends after `seconds` whatever the awaited call does."""
    task = asyncio.ensure_future(awaitable)
    done, _ = await asyncio.wait([task], timeout=seconds)
    if not done:
        task.cancel()
        raise AssertionError(f"{what} hung for {seconds:.0f} s")
    return task.result()


class FramePump:
    """Reads the websocket in one task and keeps its text frames: the test only looks at what arrived, so a
    late frame is never a receive timeout, and no two receives ever overlap."""

    def __init__(self, ws: ClientWebSocketResponse) -> None:
        self.ws = ws
        self.texts: list[str] = []
        self.ended: str | None = None
        self._task = asyncio.ensure_future(self._pump())

    async def _pump(self) -> None:
        while True:
            message = await self.ws.receive()
            if message.type is WSMsgType.TEXT:
                self.texts.append(str(message.data))
            elif message.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR):
                self.ended = f"{message.type.name} {message.data!r}"
                return

    def saw(self, text: str) -> bool:
        return any(text in t for t in self.texts)

    async def stop(self) -> None:
        self._task.cancel()
        await asyncio.wait([self._task], timeout=STEP_GUARD)
        await bounded(self.ws.close(), "closing the websocket")


@on_cluster
async def test_a_killed_primary_loses_no_acknowledged_post(
    client: Client, res: Resources, make_user: UserFactory, valkey_cluster: ValkeyCluster
) -> None:
    author, reader = await make_user("author"), await make_user("reader")
    await follow(client, reader, author)
    await run_queues(res)
    before = await post_status(client, author, "before the failover")
    await run_queues(res)
    response = await client.get("/api/v1/timelines/home", headers=reader.headers)
    assert [s["id"] for s in await response.json()] == [before["id"]]
    hub = client.app[HUB]
    pump = FramePump(await connect(client, reader.token, stream="user"))
    await online(res, reader.account_id)
    reconnects = hub.reconnects

    # The reader's timeline, presence and user channel all live on this shard's primary.
    victim = await primary_of(res, valkey_cluster, keys.home_key(reader.account_id))
    assert victim.pid is not None
    os.kill(victim.pid, signal.SIGKILL)
    acknowledged = [before["id"]]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + HANG_GUARD
    statuses: list[int] = []
    try:
        while True:
            assert loop.time() < deadline, f"home reads did not come back: {statuses[-20:]}"
            posted = await bounded(
                client.post("/api/v1/statuses", data={"status": "during"}, headers=author.headers), "a post"
            )
            if posted.status == 200:  # acknowledged: it must not be lost
                acknowledged.append((await posted.json())["id"])
            else:
                assert posted.status == 503, await posted.text()
            with contextlib.suppress(RedisError, OSError):  # jobs failing over are retried below
                await bounded(run_queues(res), "running the queues")
            home = await bounded(
                client.get("/api/v1/timelines/home", headers=reader.headers, params={"limit": "40"}), "a home read"
            )
            statuses.append(home.status)
            assert home.status in (200, 503), await home.text()
            if home.status == 200 and {s["id"] for s in await home.json()} >= set(acknowledged):
                break
            await asyncio.sleep(0.2)
        # The hub noticed the failover, subscribed again on the new primary and wrote presence there: a live
        # update reaches the same websocket, which stayed open throughout.
        after = await bounded(post_status(client, author, "after the failover"), "the post after the failover")
        acknowledged.append(after["id"])
        while not pump.saw(after["id"]):
            assert pump.ended is None, f"the websocket ended: {pump.ended}"
            assert loop.time() < deadline, f"no live update after the failover (frames: {pump.texts})"
            with contextlib.suppress(RedisError, OSError):
                await bounded(run_queues(res), "running the queues")
            await asyncio.sleep(0.2)
        assert hub.reconnects > reconnects
        home = await bounded(
            client.get("/api/v1/timelines/home", headers=reader.headers, params={"limit": "40"}), "a home read"
        )
        assert {s["id"] for s in await home.json()} >= set(acknowledged)
    finally:
        await pump.stop()
        victim.start()  # it rejoins as a replica of the primary that took over
        valkey_cluster.wait_ok()
    assert valkey_cluster.roles()[victim.index] == "slave"
