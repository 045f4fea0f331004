"""Every Valkey key and sharded channel name, and the one way to group keys that may share a command.

Chirp runs on one Valkey or on a Valkey Cluster (`CHIRP_VALKEY_CLUSTER=true`); the code is the same for
both. What makes that work is here:
- `Valkey`: the client type every Valkey user takes (`redis.asyncio.Redis` or `RedisCluster`).
- Key names with a hash tag: all of one account's keys share `{account_id}` (`tl:{123}`, `ta:{123}`,
  `tlp:{123}`, `ac:{123}`, `on:{123}`, `chirp:user:{123}`), so they live in one slot; a post's piece is
  `pc:{post_id}`; a process's keys share `{node}`.
- `by_slot(valkey, keys)`: keys grouped so that each group may go into one command or script call. On a
  cluster a group is one hash slot; on one Valkey every key is in the one group, so a batch that was one
  call stays one call (single-Valkey speed is unchanged). Nothing else asks which kind of Valkey it has,
  except `one_shard`, which lets the two reads that derive keys inside a script (the home page and the
  post-cache hydration) keep their one-round-trip script where there is only one shard.

Valkey holds only what can be rebuilt from PostgreSQL, so key names may change between versions.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from typing import Any, TypeAlias

from redis.asyncio import Redis
from redis.asyncio.cluster import ClusterNode, PipelineCommand, RedisCluster
from redis.crc import key_slot
from redis.exceptions import AskError, ConnectionError, MovedError, SlotNotCoveredError, TimeoutError, TryAgainError

Valkey: TypeAlias = Redis | RedisCluster
"""The client Chirp's Valkey users take: one Valkey or a Valkey Cluster."""

# Timelines (storage/timeline_cache.py).
HOME_PREFIX = "tl:"
AUTHOR_PREFIX = "ta:"
PROMOTED_PREFIX = "tlp:"
# The post cache (storage/post_cache.py).
PIECE_PREFIX = "pc:"
ACCOUNT_PREFIX = "ac:"
# Presence (storage/presence.py).
ONLINE_PREFIX = "on:"
NODE_PRESENCE_PREFIX = "pn:"
NODES_KEY = "chirp:nodes"
# Sharded pub/sub channels (storage/channels.py).
NODE_CHANNEL_PREFIX = "chirp:node:"
USER_CHANNEL_PREFIX = "chirp:user:"
HUB_CHANNEL_PREFIX = "chirp:hub:"


def tagged(prefix: str, ident: int | str) -> str:
    """`prefix{ident}`: the braces make the cluster place the key by `ident` alone."""
    return f"{prefix}{{{ident}}}"


def tagged_csv(prefix: str, ids_csv: str) -> str:
    """Comma-separated ids as comma-separated tagged keys, without a conversion per id."""
    if not ids_csv:
        return ""
    return prefix + "{" + ids_csv.replace(",", "}," + prefix + "{") + "}"


def tag_of(key: str) -> str:
    """What is inside a key's braces (the account or post id of `tl:{123}`)."""
    start = key.index("{") + 1
    return key[start : key.index("}", start)]


def home_key(account_id: int) -> str:
    return tagged(HOME_PREFIX, account_id)


def author_key(account_id: int) -> str:
    return tagged(AUTHOR_PREFIX, account_id)


def promoted_key(account_id: int) -> str:
    return tagged(PROMOTED_PREFIX, account_id)


def piece_key(post_id: int) -> str:
    return tagged(PIECE_PREFIX, post_id)


def account_key(account_id: int) -> str:
    return tagged(ACCOUNT_PREFIX, account_id)


def online_key(account_id: int | str) -> str:
    return tagged(ONLINE_PREFIX, account_id)


def node_presence_key(node_id: int) -> str:
    return tagged(NODE_PRESENCE_PREFIX, node_id)


def rate_limit_key(rule: str, period: int, window: int) -> str:
    return f"chirp:rl:{{{rule}}}:{period}:{window}"


# grouping ----------------------------------------------------------------------------------------------


def one_shard(valkey: Valkey) -> bool:
    """True on one Valkey: every key can go into one command."""
    return not isinstance(valkey, RedisCluster)


def slot(key: str | bytes) -> int:
    """The cluster hash slot of a key or sharded channel (the part in braces when there is one)."""
    return int(key_slot(key.encode() if isinstance(key, str) else key))


def by_slot(valkey: Valkey, keys: Iterable[str]) -> dict[int, list[str]]:
    """`keys` grouped so that each group may share a command: by hash slot on a cluster, all in one
    group (0) on one Valkey. Order within a group is kept."""
    if one_shard(valkey):
        return {0: list(keys)}
    groups: dict[int, list[str]] = {}
    for key in keys:
        groups.setdefault(slot(key), []).append(key)
    return groups


Command = tuple[str, Sequence[Any]]
"""A command for `pipeline`: the key that places it (all its keys share that slot), and its arguments."""

# Replies that say the map of slots was stale: the command goes again through the cluster client, which
# follows the redirection and refreshes its map.
_REDIRECTED = (MovedError, AskError, TryAgainError, ConnectionError, TimeoutError)


async def pipeline(valkey: Valkey, commands: Sequence[Command]) -> list[Any]:
    """Run `commands` in one round trip (one per node, in parallel, on a cluster); each reply in order, an
    error as an exception in its place.

    On a cluster each node's commands go out as one pipeline on that node's pooled connection: redis-py's
    cluster pipeline resolves a routing policy per command, which cost more than the commands (measured by
    bench/scale_out.py). Commands a node redirects (MOVED, ASK, TRYAGAIN) or could not take (a node that
    died) go again through the cluster client, which follows the redirection and refreshes its map.
    """
    if not commands:
        return []
    if not isinstance(valkey, RedisCluster):
        pipe = valkey.pipeline(transaction=False)
        for _, args in commands:
            pipe.execute_command(*args)
        return list(await pipe.execute(raise_on_error=False))
    await valkey.initialize()  # the map of slots, once (a no-op after the first command)
    by_node: dict[str, tuple[ClusterNode, list[PipelineCommand]]] = {}
    results: list[Any] = [None] * len(commands)
    again: list[int] = []
    for position, (key, args) in enumerate(commands):
        try:
            node = valkey.nodes_manager.get_node_from_slot(slot(key))
        except (KeyError, SlotNotCoveredError):  # no primary known for it right now (a failover)
            again.append(position)
            continue
        by_node.setdefault(node.name, (node, []))[1].append(PipelineCommand(position, *args))
    sent = list(by_node.values())
    outcomes = await asyncio.gather(*(node.execute_pipeline(cmds) for node, cmds in sent), return_exceptions=True)
    for (_, cmds), outcome in zip(sent, outcomes, strict=True):
        for cmd in cmds:
            result = outcome if isinstance(outcome, BaseException) else cmd.result
            if isinstance(result, _REDIRECTED):
                again.append(cmd.position)
            else:
                results[cmd.position] = result
    if again:
        again.sort()
        retry = valkey.pipeline(transaction=False)
        for position in again:
            retry.execute_command(*commands[position][1])
        for position, result in zip(again, await retry.execute(raise_on_error=False), strict=True):
            results[position] = result
    return results


async def mget(valkey: Valkey, keys: Sequence[str]) -> list[Any]:
    """GET of every key (None when missing), one MGET per slot group, all in one round trip per node."""
    if not keys:
        return []
    groups = by_slot(valkey, keys)
    if len(groups) == 1:
        return list(await valkey.mget(keys))
    replies = await pipeline(valkey, [(group[0], ("MGET", *group)) for group in groups.values()])
    found: dict[str, Any] = {}
    for group, values in zip(groups.values(), replies, strict=True):
        if isinstance(values, Exception):
            raise values
        found.update(zip(group, values, strict=True))
    return [found[key] for key in keys]


async def delete(valkey: Valkey, keys: Sequence[str]) -> None:
    """DEL of every key, one command per slot group."""
    if not keys:
        return
    groups = by_slot(valkey, keys)
    if len(groups) == 1:
        await valkey.delete(*keys)
        return
    pipe = valkey.pipeline(transaction=False)
    for group in groups.values():
        pipe.delete(*group)
    await pipe.execute()
