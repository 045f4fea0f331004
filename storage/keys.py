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
import math
from collections.abc import Iterable, Sequence
from typing import Any, TypeAlias, TypeVar

import hiredis
from redis._parsers.hiredis import NOT_ENOUGH_DATA, _AsyncHiredisParser
from redis.asyncio import Connection, Redis, SSLConnection, UnixDomainSocketConnection
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.connection import AbstractConnection
from redis.crc import key_slot
from redis.exceptions import (
    AskError,
    ClusterDownError,
    ConnectionError,
    DataError,
    MovedError,
    RedisError,
    ResponseError,
    SlotNotCoveredError,
    TryAgainError,
)
from redis.exceptions import TimeoutError as ValkeyTimeout

Valkey: TypeAlias = Redis | RedisCluster
"""The client Chirp's Valkey users take: one Valkey or a Valkey Cluster."""
V = TypeVar("V", Redis, RedisCluster)

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
# Open streams per account and per token without an account, counted across processes (storage/stream_leases.py).
STREAM_LEASES_PREFIX = "sl:"
TOKEN_STREAM_LEASES_PREFIX = "slt:"
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


def stream_leases_key(account_id: int) -> str:
    return tagged(STREAM_LEASES_PREFIX, account_id)


def token_stream_leases_key(token_id: int) -> str:
    return tagged(TOKEN_STREAM_LEASES_PREFIX, token_id)


def node_presence_key(node_id: int) -> str:
    return tagged(NODE_PRESENCE_PREFIX, node_id)


def rate_limit_key(rule: str, period: int, window: int) -> str:
    return f"chirp:rl:{{{rule}}}:{period}:{window}"


# grouping ----------------------------------------------------------------------------------------------


def one_shard(valkey: Valkey) -> bool:
    """True on one Valkey: every key can go into one command."""
    return not isinstance(valkey, RedisCluster)


# Slots already computed, by key: a fan-out places the same followers' keys batch after batch, and the CRC16
# with its encoding and brace search cost more than a dict lookup. Emptied when it reaches SLOTS_CACHED keys.
_slots: dict[str | bytes, int] = {}
SLOTS_CACHED = 1 << 20


def slot(key: str | bytes) -> int:
    """The cluster hash slot of a key or sharded channel (the part in braces when there is one)."""
    found = _slots.get(key)
    if found is None:
        if len(_slots) >= SLOTS_CACHED:
            _slots.clear()
        found = _slots[key] = int(key_slot(key.encode() if isinstance(key, str) else key))
    return found


def by_slot(valkey: Valkey, keys: Iterable[str]) -> dict[int, list[str]]:
    """`keys` grouped so that each group may share a command: by hash slot on a cluster, all in one
    group (0) on one Valkey. Order within a group is kept."""
    if one_shard(valkey):
        return {0: list(keys)}
    groups: dict[int, list[str]] = {}
    cached = _slots.get
    for key in keys:
        found = cached(key)
        groups.setdefault(slot(key) if found is None else found, []).append(key)
    return groups


Command = tuple[str, Sequence[Any]]
"""A command for `pipeline`: the key that places it (all its keys share that slot), and its arguments."""

# Replies that say this process's map of slots is stale, or that a node is away (a failover under way):
# the command goes again after the map is fetched afresh. ASK (a slot being moved) is followed command by
# command by the cluster client, which sends the ASKING it needs.
_REROUTED = (MovedError, TryAgainError, ClusterDownError, ConnectionError, ValkeyTimeout, SlotNotCoveredError)
# Rounds of a cluster pipeline: the first, then again after a fresh slot map, waiting ROUTE_PAUSE longer each
# time (a replica takes over within cluster-node-timeout plus an election, a few seconds). What still fails
# after them comes back as an error in its place; the caller's job or request fails and is retried.
ROUTE_ROUNDS = 4
ROUTE_PAUSE = 0.25


async def pipeline(valkey: Valkey, commands: Sequence[Command]) -> list[Any]:
    """Run `commands` in one round trip (one per node, in parallel, on a cluster); each reply in order, an
    error as an exception in its place.

    On a cluster each node's commands are packed here into one write on one of that node's pooled
    connections, and its replies read back in order: redis-py's cluster pipeline resolves a routing policy,
    a slot and a timeout per command in Python, which cost more than Valkey's work for them (the fan-out's
    ~1,900 calls per batch: bench/scale_out.py). Each command's node comes from its placing key's slot.
    """
    if not commands:
        return []
    if not isinstance(valkey, RedisCluster):
        pipe = valkey.pipeline(transaction=False)
        for _, args in commands:
            pipe.execute_command(*args)
        return list(await pipe.execute(raise_on_error=False))
    await valkey.initialize()  # the map of slots, once (a no-op after that)
    results: list[Any] = [None] * len(commands)
    todo = list(range(len(commands)))
    for round_ in range(ROUTE_ROUNDS):
        if round_:
            await asyncio.sleep(ROUTE_PAUSE * round_)
            await valkey.nodes_manager.initialize()
        await _by_node(valkey, commands, todo, results)
        for position in [p for p in todo if isinstance(results[p], AskError)]:
            try:
                results[position] = await valkey.execute_command(*commands[position][1])
            except RedisError as error:
                results[position] = error
        todo = [p for p in todo if isinstance(results[p], _REROUTED)]
        if not todo:
            break
    return results


async def _by_node(cluster: RedisCluster, commands: Sequence[Command], todo: Sequence[int], results: list[Any]) -> None:
    """Send the `todo` commands, each to the primary of its slot, one pipeline per node; replies into `results`."""
    nodes: dict[str, tuple[ClusterNode, list[int]]] = {}
    manager = cluster.nodes_manager
    for position in todo:
        try:
            node = manager.get_node_from_slot(slot(commands[position][0]))
        except SlotNotCoveredError as error:  # no primary known for it right now (a failover)
            results[position] = error
            continue
        nodes.setdefault(node.name, (node, []))[1].append(position)
    sent = list(nodes.values())
    replies = await asyncio.gather(
        *(_node_pipeline(node, [commands[p][1] for p in positions]) for node, positions in sent),
        return_exceptions=True,
    )
    for (_, positions), got in zip(sent, replies, strict=True):
        for i, position in enumerate(positions):
            results[position] = got if isinstance(got, BaseException) else got[i]


async def _node_pipeline(node: ClusterNode, commands: Sequence[Sequence[Any]]) -> list[Any]:
    """One write of every command on one pooled connection of `node`, then each reply (an error reply in
    its place). A broken connection fails them all, and is dropped."""
    connection = node.acquire_connection()
    try:
        await node.disconnect_if_needed(connection)
        # One timeout (the connection's socket timeout, none by default) for the whole exchange, not one per
        # reply: arming a timer per reply was a good part of the cost.
        async with asyncio.timeout(connection.socket_timeout):
            await connection.send_packed_command(b"".join(map(pack_command, commands)))
            return await _read_replies(connection, len(commands))
    except TimeoutError as error:  # asyncio.timeout's (the builtin), as redis-py's own
        await connection.disconnect(nowait=True)
        raise ValkeyTimeout(f"no reply from {node.name} in {connection.socket_timeout} s") from error
    except BaseException:
        await connection.disconnect(nowait=True)  # replies may still be in flight on it
        raise
    finally:
        node.release(connection)


async def _read_replies(connection: Connection, count: int) -> list[Any]:
    """`count` replies, an error reply as its exception in its place. With hiredis (a dependency) they come
    straight from its reader, fed from the connection's stream: redis-py's `read_response` per reply (its
    checks and awaits) cost more than the parsing."""
    parser = connection._parser
    if not isinstance(parser, _AsyncHiredisParser) or parser._reader is None:
        replies: list[Any] = []
        for _ in range(count):
            try:
                replies.append(await connection.read_response(timeout=math.inf))
            except ResponseError as error:
                replies.append(error)
        return replies
    reader = parser._reader
    replies = []
    while len(replies) < count:
        reply = reader.gets()
        if reply is NOT_ENOUGH_DATA:
            await parser.read_from_socket()  # raises ConnectionError when the server closed it
            continue
        if isinstance(reply, ConnectionError):
            raise reply
        replies.append(reply)
    return replies


class Bulk(bytes):
    """An argument made into bytes once for many commands (a script's SHA, a post's member, a cap): the
    fan-out sends the same few values in every call of a batch."""

    def __new__(cls, value: bytes | str | int) -> Bulk:
        raw = value.encode() if isinstance(value, str) else (b"%d" % value if isinstance(value, int) else value)
        return super().__new__(cls, raw)


def pack_command(args: Sequence[Any]) -> bytes:
    """One command in RESP (str as UTF-8, numbers as their text), packed by hiredis in C. redis-py's asyncio
    connections pack in Python, one argument at a time: 575-805 ns an argument against hiredis's 77 for a
    fan-out call of 512 keys (measured here), and a fan-out sends every follower's key. A command name of
    several words (`SCRIPT LOAD`) goes as its words, as redis-py sends it."""
    first = args[0]
    if (isinstance(first, str) and " " in first) or (isinstance(first, bytes) and b" " in first):
        args = (*first.split(), *args[1:])
    packed: bytes
    try:
        packed = hiredis.pack_command(args if type(args) is tuple else tuple(args))
    except TypeError:  # a bytearray goes as its bytes; anything else has no form on the wire (as redis-py)
        try:
            as_bytes: tuple[Any, ...] = tuple(bytes(a) if isinstance(a, bytearray) else a for a in args)
            packed = hiredis.pack_command(as_bytes)
        except TypeError as error:
            raise DataError(str(error)) from None
    return packed


class _PackedInC:
    """redis-py's asyncio connection with its commands packed by `pack_command` (one buffer a pipeline)."""

    def pack_command(self, *args: Any) -> list[bytes]:
        return [pack_command(args)]

    def pack_commands(self, commands: Iterable[Iterable[Any]]) -> list[bytes]:
        return [b"".join(pack_command(tuple(command)) for command in commands)]


class PackedConnection(_PackedInC, Connection):
    pass


class PackedSSLConnection(_PackedInC, SSLConnection):
    pass


class PackedUnixConnection(_PackedInC, UnixDomainSocketConnection):
    pass


_PACKED: dict[type[AbstractConnection], type[AbstractConnection]] = {
    Connection: PackedConnection,
    SSLConnection: PackedSSLConnection,
    UnixDomainSocketConnection: PackedUnixConnection,
}


def _packed(kind: Any) -> Any:
    return _PACKED.get(kind, kind)


def pack_in_c(client: V) -> V:
    """The client, its connections (redis://, rediss:// or unix://, as its URL said) packing in C from now on.
    A cluster client takes the connection kind of every node it will find from its node manager's
    connection settings, and its startup nodes hold theirs: both are set (before its first command)."""
    if isinstance(client, RedisCluster):
        manager = client.nodes_manager
        kind = manager.connection_kwargs.get("connection_class", Connection)
        manager.connection_kwargs["connection_class"] = _packed(kind)
        for node in manager.startup_nodes.values():
            node.connection_class = _packed(node.connection_class)
    else:
        pool = client.connection_pool
        pool.connection_class = _packed(pool.connection_class)
    return client


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
