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

from collections.abc import Iterable, Sequence
from typing import Any, TypeAlias

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.crc import key_slot

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
# Read-your-writes: where in the WAL an account last wrote (storage/read_replicas.py).
WROTE_PREFIX = "wrote:"
# Trends, one key per kind, rewritten by each trends pass (storage/trends.py).
TRENDS_PREFIX = "trends:"
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


def wrote_key(account_id: int) -> str:
    return tagged(WROTE_PREFIX, account_id)


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


async def pipeline(valkey: Valkey, commands: Sequence[Command]) -> list[Any]:
    """Run `commands` in one round trip (one per node, in parallel, on a cluster); each reply in order, an
    error as an exception in its place.

    As plain commands: redis-py refuses `pipe.evalsha` and `pipe.mget` on a cluster, though its cluster
    pipeline routes them by their keys (one slot per command here) like any other command, and follows
    MOVED and ASK. (Sending each node's commands on its pooled connection directly was faster,
    bench/scale_out.py, but did not yet recover from a failover: docs/streaming.md, "Valkey Cluster".)
    """
    if not commands:
        return []
    pipe = valkey.pipeline(transaction=False)
    for _, args in commands:
        pipe.execute_command(*args)
    return list(await pipe.execute(raise_on_error=False))


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
