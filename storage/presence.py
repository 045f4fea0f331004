"""Presence in Valkey: which users hold a live streaming connection, and on which API process.

Each API process (node) keeps one sorted set `chirp:presence:{node}`: member = account id, score = the time
(ms) the entry expires. The process rewrites it while it runs (every third of the TTL), so an entry lives
only as long as its connection, and a process that dies takes its users offline within one TTL: the
set itself carries the same TTL. `chirp:nodes` lists the live processes the same way.

Publishers ask `online_by_node(ids)`: one script call (a ZMSCORE per live process) answers for a whole
follower list in one round trip, and the answer says where to send each event. The fan-out asks in the
same round trip as its timeline writes (`online_lookup`, run after them).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import Any, TypeVar

from redis.asyncio import Redis

from storage.timeline_cache import Script, ScriptCall, run_pipelined

NODES_KEY = "chirp:nodes"
_CHUNK = 5_000  # members per command: keeps each command's reply and Valkey's time slice small


PRESENCE_PREFIX = "chirp:presence:"

T = TypeVar("T")


def presence_key(node_id: int) -> str:
    return f"{PRESENCE_PREFIX}{node_id}"


def _now_ms() -> int:
    return int(time.time() * 1000)


def _chunks(items: Sequence[T], size: int = _CHUNK) -> Iterable[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


async def mark_online(redis: Redis, node_id: int, account_ids: Sequence[int], ttl_seconds: float) -> None:
    """Add users to the process's presence set (on their first connection there)."""
    if not account_ids:
        return
    expires = _now_ms() + int(ttl_seconds * 1000)
    key = presence_key(node_id)
    async with redis.pipeline(transaction=False) as pipe:
        for chunk in _chunks(account_ids):
            pipe.zadd(key, dict.fromkeys(map(str, chunk), expires))
        pipe.pexpire(key, int(ttl_seconds * 1000))
        pipe.zadd(NODES_KEY, {str(node_id): expires})
        await pipe.execute()


async def mark_offline(redis: Redis, node_id: int, account_ids: Sequence[int]) -> None:
    """Remove users whose last connection on this process closed."""
    if account_ids:
        await redis.zrem(presence_key(node_id), *map(str, account_ids))


async def rewrite(redis: Redis, node_id: int, account_ids: Sequence[int], ttl_seconds: float) -> None:
    """Replace the process's presence set with exactly `account_ids`, fresh for another TTL.

    Run periodically and after a Valkey reconnect (a restarted Valkey has lost everything); entries a
    failed ZREM left behind disappear here too.
    """
    expires = _now_ms() + int(ttl_seconds * 1000)
    key = presence_key(node_id)
    async with redis.pipeline(transaction=True) as pipe:
        pipe.delete(key)
        for chunk in _chunks(account_ids):
            pipe.zadd(key, dict.fromkeys(map(str, chunk), expires))
        pipe.pexpire(key, int(ttl_seconds * 1000))
        pipe.zadd(NODES_KEY, {str(node_id): expires})
        pipe.zremrangebyscore(NODES_KEY, "-inf", _now_ms())
        await pipe.execute()


async def leave(redis: Redis, node_id: int) -> None:
    """The process is shutting down: none of its users is online through it any more."""
    async with redis.pipeline(transaction=True) as pipe:
        pipe.delete(presence_key(node_id))
        pipe.zrem(NODES_KEY, str(node_id))
        await pipe.execute()


# KEYS[1]: the node registry. ARGV[1]: now (ms); ARGV[2]: the presence key prefix; ARGV[3]: account ids,
# comma-separated. Returns {node, "present,ids", node, ...} for every live process holding any of them: the
# registry and every process's set in one round trip. The ids travel as one string each way: a thousand
# separate arguments and replies cost more to encode and parse than the lookup itself. (Keys are derived
# from arguments, as in storage/timeline_cache.py: one Valkey, not a cluster.)
_ONLINE_BY_NODE = Script(
    """
local now = tonumber(ARGV[1])
local ids = {}
for id in string.gmatch(ARGV[3], '[^,]+') do ids[#ids + 1] = id end
local out = {}
for _, node in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[1], '+inf')) do
  local scores = redis.call('ZMSCORE', ARGV[2] .. node, unpack(ids))
  local present = {}
  for i, score in ipairs(scores) do
    if score and tonumber(score) > now then present[#present + 1] = ids[i] end
  end
  if #present > 0 then
    out[#out + 1] = node
    out[#out + 1] = table.concat(present, ',')
  end
end
return out
"""
)


async def online_by_node(redis: Redis, account_ids: Sequence[int]) -> dict[int, list[int]]:
    """Which of `account_ids` are connected, grouped by the process holding their connections (one round
    trip per 5,000 accounts). A user connected to two processes appears under both."""
    return online_from(await run_pipelined(redis, online_lookup(account_ids)))


def online_lookup(account_ids: Sequence[int] | Sequence[str]) -> list[ScriptCall]:
    """The script calls `online_by_node` runs, for a caller to append to a pipeline of its own (Valkey runs
    them after the commands before them); `online_from` reads their replies."""
    ids = list(dict.fromkeys(map(str, account_ids)))
    now = str(_now_ms())
    return [(_ONLINE_BY_NODE, (NODES_KEY,), [now, PRESENCE_PREFIX, ",".join(chunk)]) for chunk in _chunks(ids)]


def online_from(replies: Sequence[Any]) -> dict[int, list[int]]:
    """The replies of `online_lookup`'s calls as `online_by_node` returns them."""
    online: dict[int, list[int]] = {}
    for reply in replies:
        for i in range(0, len(reply), 2):
            online.setdefault(int(reply[i]), []).extend(map(int, reply[i + 1].split(b",")))
    return online


async def all_online(redis: Redis) -> list[int]:
    """Every connected account (each once), from every live process's presence set."""
    now = _now_ms()
    nodes = [int(n) for n in await redis.zrangebyscore(NODES_KEY, now, "+inf")]  # type: ignore[arg-type]
    if not nodes:
        return []
    async with redis.pipeline(transaction=False) as pipe:
        for node in nodes:
            pipe.zrangebyscore(presence_key(node), now, "+inf")
        replies = await pipe.execute()
    return list({int(member) for members in replies for member in members})


async def online_among(redis: Redis, account_ids: Sequence[int]) -> set[int]:
    """Which of `account_ids` are connected anywhere."""
    return {account for accounts in (await online_by_node(redis, account_ids)).values() for account in accounts}
