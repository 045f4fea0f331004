"""Presence in Valkey: which users hold a live streaming connection, and on which API process.

Per user, `on:{account}` (a string, in the account's slot like its timeline) lists the processes (nodes)
holding the user's streams with the time (ms) each entry expires: `node:expires,node:expires`. A process
rewrites its users' entries while it runs (every third of the TTL), so an entry lives only as long as its
connection, and a process that dies takes its users offline within one TTL; the key carries the TTL too.

Publishers ask `online_by_node(ids)`: one MGET per slot group of the followers' keys (on one Valkey, one MGET
per 5,000 accounts) answers where to send each event; the fan-out reads the same keys inside its script
call of their slot, after that call's timeline writes (`online_keys`, timeline_cache.fan_out's `reads`).
No lookup walks a registry of processes, and no write spans slots in a MULTI: each script call touches
the keys of one slot.

For walking who is online (the live updates of high-follower authors' posts, `all_online`), each process
also keeps `pn:{node}`, a sorted set of its users (score: expiry), and `chirp:nodes` lists the live
processes the same way.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import Any, TypeVar

from storage.keys import NODES_KEY, Valkey, by_slot, node_presence_key, online_key, tag_of
from storage.timeline_cache import Script, ScriptCall, run_pipelined

_CHUNK = 5_000  # keys or members per command: keeps each command's reply and Valkey's time slice small

T = TypeVar("T")


def _now_ms() -> int:
    return int(time.time() * 1000)


def _chunks(items: Sequence[T], size: int = _CHUNK) -> Iterable[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


# KEYS: users' presence keys, of one slot. ARGV: node, expires (ms), now (ms), ttl (ms), "1" to add the node
# ("0" to take it out). Rewrites each key's list without this node's old entry and without expired ones.
_MARK = Script(
    """
local node, expires, now, ttl, add = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4], ARGV[5] == '1'
for _, key in ipairs(KEYS) do
  local kept = {}
  local old = redis.call('GET', key)
  if old then
    for n, e in string.gmatch(old, '(%d+):(%d+)') do
      if n ~= node and tonumber(e) > now then kept[#kept + 1] = n .. ':' .. e end
    end
  end
  if add then kept[#kept + 1] = node .. ':' .. expires end
  if #kept > 0 then
    redis.call('SET', key, table.concat(kept, ','), 'PX', ttl)
  else
    redis.call('DEL', key)
  end
end
return #KEYS
"""
)

# KEYS[1]: a process's user set. ARGV: ttl (ms), expires (ms), then account ids. Replaces the set.
_REPLACE_NODE_SET = Script(
    """
redis.call('DEL', KEYS[1])
local batch = {}
for i = 3, #ARGV do
  batch[#batch + 1] = ARGV[2]
  batch[#batch + 1] = ARGV[i]
  if #batch >= 2000 then
    redis.call('ZADD', KEYS[1], unpack(batch))
    batch = {}
  end
end
if #batch > 0 then redis.call('ZADD', KEYS[1], unpack(batch)) end
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1
"""
)

# KEYS: users' presence keys, of one slot: one MGET (unpack takes up to ~8,000 values: _CHUNK keys).
_LOOKUP = Script("return redis.call('MGET', unpack(KEYS))")


def _mark_calls(
    valkey: Valkey, node_id: int, account_ids: Iterable[int], ttl_ms: int, *, add: bool
) -> list[ScriptCall]:
    now = _now_ms()
    args = [str(node_id), str(now + ttl_ms), str(now), str(ttl_ms), "1" if add else "0"]
    calls: list[ScriptCall] = []
    for group in by_slot(valkey, [online_key(a) for a in dict.fromkeys(account_ids)]).values():
        calls += [(_MARK, chunk, args) for chunk in _chunks(group)]
    return calls


async def mark_online(valkey: Valkey, node_id: int, account_ids: Sequence[int], ttl_seconds: float) -> None:
    """Add users to the process's presence (on their first connection there)."""
    if not account_ids:
        return
    ttl_ms = int(ttl_seconds * 1000)
    expires = _now_ms() + ttl_ms
    await run_pipelined(valkey, _mark_calls(valkey, node_id, account_ids, ttl_ms, add=True))
    key = node_presence_key(node_id)
    async with valkey.pipeline(transaction=False) as pipe:
        for chunk in _chunks(account_ids):
            pipe.zadd(key, dict.fromkeys(map(str, chunk), expires))
        pipe.pexpire(key, ttl_ms)
        pipe.zadd(NODES_KEY, {str(node_id): expires})
        await pipe.execute()


async def mark_offline(valkey: Valkey, node_id: int, account_ids: Sequence[int]) -> None:
    """Remove users whose last connection on this process closed."""
    if not account_ids:
        return
    await run_pipelined(valkey, _mark_calls(valkey, node_id, account_ids, 1000, add=False))
    await valkey.zrem(node_presence_key(node_id), *map(str, account_ids))


async def rewrite(valkey: Valkey, node_id: int, account_ids: Sequence[int], ttl_seconds: float) -> None:
    """Record exactly `account_ids` as this process's users, fresh for another TTL.

    Run periodically and after a Valkey reconnect (a restarted Valkey, or a shard that failed over, has lost
    entries); users whose entry a failed clear left behind drop out of the process's set here, and their
    own entry expires within one TTL.
    """
    ttl_ms = int(ttl_seconds * 1000)
    expires = _now_ms() + ttl_ms
    calls = _mark_calls(valkey, node_id, account_ids, ttl_ms, add=True)
    calls.append((_REPLACE_NODE_SET, [node_presence_key(node_id)], [ttl_ms, expires, *account_ids]))
    await run_pipelined(valkey, calls)
    async with valkey.pipeline(transaction=False) as pipe:
        pipe.zadd(NODES_KEY, {str(node_id): expires})
        pipe.zremrangebyscore(NODES_KEY, "-inf", _now_ms())
        await pipe.execute()


async def leave(valkey: Valkey, node_id: int, account_ids: Sequence[int] = ()) -> None:
    """The process is shutting down: none of its users is online through it any more."""
    if account_ids:
        await run_pipelined(valkey, _mark_calls(valkey, node_id, account_ids, 1000, add=False))
    async with valkey.pipeline(transaction=False) as pipe:
        pipe.delete(node_presence_key(node_id))
        pipe.zrem(NODES_KEY, str(node_id))
        await pipe.execute()


async def online_by_node(valkey: Valkey, account_ids: Sequence[int]) -> dict[int, list[int]]:
    """Which of `account_ids` are connected, grouped by the process holding their connections (one round
    trip). A user connected to two processes appears under both."""
    calls = online_lookup(valkey, account_ids)
    return online_from(calls, await run_pipelined(valkey, calls))


def online_lookup(valkey: Valkey, account_ids: Sequence[int] | Sequence[str]) -> list[ScriptCall]:
    """The script calls `online_by_node` runs, for a caller to append to a pipeline of its own (Valkey runs
    them after the commands before them); `online_from` reads their replies."""
    calls: list[ScriptCall] = []
    for group in by_slot(valkey, online_keys(account_ids)).values():
        calls += [(_LOOKUP, chunk, ()) for chunk in _chunks(group)]
    return calls


def online_from(calls: Sequence[ScriptCall], replies: Sequence[Any]) -> dict[int, list[int]]:
    """The replies of `online_lookup`'s calls as `online_by_node` returns them."""
    keys = [key for _, call_keys, _ in calls for key in call_keys]
    return online_from_values(keys, [value for reply in replies for value in reply])


def online_keys(account_ids: Iterable[int] | Iterable[str]) -> list[str]:
    """The presence keys of `account_ids` (each once), for a caller that reads them with commands of its
    own (the fan-out reads them in its script calls: storage.timeline_cache.fan_out's `reads`)."""
    return [online_key(a) for a in dict.fromkeys(map(str, account_ids))]


def online_from_values(keys: Sequence[str], values: Sequence[Any]) -> dict[int, list[int]]:
    """Presence keys and their values (None when missing) as `online_by_node` returns them."""
    now = _now_ms()
    online: dict[int, list[int]] = {}
    for key, value in zip(keys, values, strict=True):
        if not value:
            continue
        account = int(tag_of(key))
        for part in value.split(b","):
            node, _, expires = part.partition(b":")
            if int(expires) > now:
                online.setdefault(int(node), []).append(account)
    return online


async def all_online(valkey: Valkey) -> list[int]:
    """Every connected account (each once), from every live process's user set."""
    now = _now_ms()
    nodes = [int(n) for n in await valkey.zrangebyscore(NODES_KEY, now, "+inf")]  # type: ignore[arg-type]
    if not nodes:
        return []
    async with valkey.pipeline(transaction=False) as pipe:
        for node in nodes:
            pipe.zrangebyscore(node_presence_key(node), now, "+inf")
        replies = await pipe.execute()
    return list({int(member) for members in replies for member in members})


async def online_among(valkey: Valkey, account_ids: Sequence[int]) -> set[int]:
    """Which of `account_ids` are connected anywhere."""
    return {account for accounts in (await online_by_node(valkey, account_ids)).values() for account in accounts}
