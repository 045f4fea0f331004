"""Reading a Valkey pub/sub connection that may die silently (the API's streaming hub and its caches),
the shards those connections go to (one Valkey: one; a Valkey Cluster: one per primary), and the listener
that keeps a process's cache current from a broadcast channel (`CacheListener`).

A subscriber that only waits for messages never notices a connection that died without a FIN (a
restarted container, a dropped NAT entry): it waits forever and delivers nothing, the way Mastodon's
streaming server stopped delivering (mastodon#25157). So a quiet connection is pinged, and one that
answers nothing, not even a PONG, is given up so that its owner reconnects.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import orjson
from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from storage.keys import Valkey, one_shard, slot

READ_IDLE_SECONDS = 5.0  # ping Valkey after this long without a message...
DEAD_AFTER_SECONDS = 15.0  # ...and give the connection up when nothing at all came back for this long


async def pubsub_messages(pubsub: PubSub, *, name: str) -> AsyncIterator[dict[str, Any]]:
    """Every message (including subscribe confirmations and PONGs) from `pubsub`, forever; RedisError when
    the connection is dead. `name` says which connection, for the error."""
    loop = asyncio.get_running_loop()
    last_seen = loop.time()
    while True:
        message = await pubsub.get_message(timeout=READ_IDLE_SECONDS)
        now = loop.time()
        if message is None:
            if now - last_seen > DEAD_AFTER_SECONDS:
                raise RedisError(f"no answer from Valkey on the {name} connection")
            await pubsub.ping()
            continue
        last_seen = now
        yield message


# Shards: where each channel is subscribed ----------------------------------------------------------------


def is_sharded(channel: str) -> bool:
    """Per-user and per-process channels carry a hash tag (`chirp:user:{123}`): sharded pub/sub
    (SSUBSCRIBE/SPUBLISH), served by the shard owning the tag's slot. The public and hashtag channels are
    classic pub/sub, which a cluster broadcasts to every node (docs/streaming.md, "Valkey Cluster")."""
    return "{" in channel


def _direct(url: str | None = None, *, host: str = "", port: int = 0) -> Redis:
    # A connection that never retries behind its owner's back: a break must surface, so that the owner
    # subscribes again (and replays or suspends what depends on it).
    options: dict[str, Any] = {"socket_connect_timeout": 2, "retry": Retry(NoBackoff(), 0), "health_check_interval": 0}
    if url is not None:
        return Redis.from_url(url, **options)
    return Redis(host=host, port=port, **options)


@dataclass
class Shards:
    """One pub/sub client per shard (primary), and which shard each channel goes to. One Valkey is one
    shard; on a cluster the map is read from the cluster when opened, so reopening after a failover or a
    MOVED follows the new primaries."""

    clients: dict[str, Redis]
    _owner: Callable[[str], str]

    @property
    def first(self) -> str:
        """The shard classic (broadcast) channels are subscribed on."""
        return next(iter(self.clients))

    def shard_of(self, channel: str) -> str:
        return self._owner(channel) if is_sharded(channel) else self.first

    async def aclose(self) -> None:
        for client in self.clients.values():
            with contextlib.suppress(Exception):
                await client.aclose()


async def open_shards(valkey: Valkey, url: str) -> Shards:
    """The shards as they are now (on a cluster: after refreshing its map of slots and primaries)."""
    if one_shard(valkey):
        return Shards({"valkey": _direct(url)}, lambda _channel: "valkey")
    assert isinstance(valkey, RedisCluster)
    await valkey.nodes_manager.initialize()
    primaries = sorted(valkey.get_primaries(), key=lambda node: node.name)
    clients = {node.name: _direct(host=node.host, port=int(node.port)) for node in primaries}

    def owner(channel: str) -> str:
        node = valkey.nodes_manager.get_node_from_slot(slot(channel))
        return str(node.name)

    return Shards(clients, owner)


async def broadcast_client(valkey: Valkey, url: str) -> Redis:
    """A client for classic (broadcast) pub/sub: REDIS_URL's Valkey, or on a cluster a primary that is up
    now (any node hears every PUBLISH), so a listener reconnecting after a failover finds a live one."""
    shards = await open_shards(valkey, url)
    first = shards.clients.pop(shards.first)
    await shards.aclose()
    return first


# Keeping a process's cache current from a broadcast channel --------------------------------------------

CONNECT_WAIT_SECONDS = 2.0  # start-up waits this long for the first subscription (then carries on uncached)
MAX_BACKOFF_SECONDS = 5.0
STOP_SECONDS = 5.0


class BroadcastCache:
    """A process's cache that may answer only while the messages dropping its stale entries reach it (its
    `CacheListener` is subscribed): empty and silent while they cannot, and empty again when they can,
    since some may have been missed. Every emptying moves `generation`, so a lookup begun before one does
    not store what it read. Entries live `ttl` seconds from their read, at most `max_entries` of them."""

    def __init__(self, ttl_seconds: float, max_entries: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl_seconds
        self.max_entries = max_entries
        self._clock = clock
        self._live = False
        self.generation = 0

    @property
    def enabled(self) -> bool:
        return self.ttl > 0 and self.max_entries > 0

    @property
    def live(self) -> bool:
        """Whether the drops reach this cache (its listener is subscribed), so it may answer."""
        return self._live

    def suspend(self) -> None:
        """The messages no longer arrive: empty the cache and answer nothing until `resume`."""
        self._live = False
        self._clear()

    def resume(self) -> None:
        """Subscribed (again): start empty, since messages may have been missed meanwhile."""
        self._clear()
        self._live = True

    def apply(self, data: bytes | str) -> None:
        """One message from the channel."""
        raise NotImplementedError

    def _clear(self) -> None:
        """Empty the cache (a subclass empties its entries too)."""
        self.generation += 1


def parse_ids(raw: bytes | str) -> list[int] | None:
    """The ids a broadcast message names (a JSON list of integers), or None when it names none readably
    (then the whole cache goes)."""
    try:
        ids = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(ids, list) or not all(isinstance(one, int) and not isinstance(one, bool) for one in ids):
        return None
    return ids


class CacheListener:
    """A process's own pub/sub connection on one broadcast channel, feeding one cache, reconnecting with
    backoff. The cache is suspended whenever the connection is down and resumed (empty) once subscribed."""

    def __init__(self, cache: BroadcastCache, channel: str, redis_url: str, valkey: Valkey, *, name: str) -> None:
        self.cache = cache
        self.channel = channel
        self.name = name
        self._log = logging.getLogger(f"chirp.{name.replace(' ', '_')}")
        self._url = redis_url
        # Asked for a node to listen on at every (re)connect: on a cluster, one that is up now.
        self._valkey = valkey
        self._client: Redis | None = None
        self._task: asyncio.Task[None] | None = None
        self.subscribed = asyncio.Event()
        self._ever_subscribed = False
        self.reconnects = 0

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"{self.name}:listener")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.subscribed.wait(), CONNECT_WAIT_SECONDS)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.wait([self._task], timeout=STOP_SECONDS)
        self.cache.suspend()
        if self._client is not None:
            await self._client.aclose()

    async def _run(self) -> None:
        delay = 0.1
        warned = False
        while True:
            pubsub: PubSub | None = None
            try:
                if self._client is not None:
                    await self._client.aclose()
                # A connection that never retries behind our back: a break must surface, to suspend the cache.
                self._client = await broadcast_client(self._valkey, self._url)
                pubsub = self._client.pubsub(ignore_subscribe_messages=False)
                await pubsub.subscribe(self.channel)
                await self._read(pubsub)
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:
                if self.subscribed.is_set() or not warned:  # once per outage
                    self._log.warning("%s off: Valkey pub/sub connection lost: %s; reconnecting", self.name, exc)
                    warned = True
            finally:
                was_up = self.subscribed.is_set()
                self.cache.suspend()
                self.subscribed.clear()
                if pubsub is not None:
                    with contextlib.suppress(Exception):
                        await pubsub.aclose()  # type: ignore[no-untyped-call,unused-ignore]  # typed from redis 8.2
            delay = 0.1 if was_up else min(delay * 2, MAX_BACKOFF_SECONDS)
            await asyncio.sleep(delay)

    async def _read(self, pubsub: PubSub) -> None:
        async for message in pubsub_messages(pubsub, name=self.name):
            kind = message["type"]
            if kind == "message":
                self.cache.apply(message["data"])
            elif kind == "subscribe":
                if self._ever_subscribed:
                    self.reconnects += 1
                    self._log.info("%s back on: Valkey pub/sub reconnected", self.name)
                self._ever_subscribed = True
                self.cache.resume()
                self.subscribed.set()
