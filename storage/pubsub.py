"""Reading a Valkey pub/sub connection that may die silently (the API's streaming hub and token cache).

A subscriber that only waits for messages never notices a connection that died without a FIN (a
restarted container, a dropped NAT entry): it waits forever and delivers nothing, the way Mastodon's
streaming server stopped delivering (mastodon#25157). So a quiet connection is pinged, and one that
answers nothing, not even a PONG, is given up so that its owner reconnects.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from redis.asyncio.client import PubSub
from redis.exceptions import RedisError

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
