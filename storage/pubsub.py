"""Reading a Valkey pub/sub connection that may die silently (the API's streaming hub and token cache),
and the shards those connections go to (one Valkey: one; a Valkey Cluster: one per primary).

A subscriber that only waits for messages never notices a connection that died without a FIN (a
restarted container, a dropped NAT entry): it waits forever and delivers nothing, the way Mastodon's
streaming server stopped delivering (mastodon#25157). So a quiet connection is pinged, and one that
answers nothing, not even a PONG, is given up so that its owner reconnects.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

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
