"""Process identity: each API or worker process leases a node id (0-4095) in PostgreSQL at start and keeps
it with a heartbeat, so two live processes never mint the same Snowflakes or share a streaming channel.

Why PostgreSQL and not Valkey: a lease must not be forgotten while its holder lives. Valkey may lose
recent writes (a restart without persistence, a cluster failover's asynchronous replication), and a
forgotten lease lets a second process take a live process's id: duplicate post ids, lost live updates.
PostgreSQL keeps it durably and judges expiry by one clock (its `now()`). Its outage costs the least
here: a process that cannot reach PostgreSQL cannot write anything that carries an id anyway.

- Without CHIRP_NODE_ID a process takes the lowest free id (one statement; a race retries). With it, it
  takes exactly that id, and start-up is refused while a live process holds it (`NodeIdTaken` names it).
  A holder on this host whose pid is gone is not live: its id is taken over at once, not after the TTL.
- The heartbeat renews every third of the lease. Each renewal moves the id generator's `valid_until`
  forward to (when the renewal was sent + the lease), which is no later than the expiry PostgreSQL
  recorded: if renewals fail (PostgreSQL unreachable, the process paused), the generator stops minting
  (503) before another process could take the id. A lease found taken by another owner is lost for good:
  `on_lost` is called (the process roots shut the process down).
- On the way out the lease is expired at once, with the last millisecond used, for the next holder.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import asyncpg

from core.ids import MAX_NODE, IdGenerator

log = logging.getLogger("chirp.node")

ACQUIRE_ATTEMPTS = 20  # lost races with processes starting at the same moment before giving up


class NodeLeaseError(RuntimeError):
    """This process cannot lease a node id; the message says why (the process roots print it and stop)."""


class NodeIdTaken(NodeLeaseError):
    """An explicit node id is held by a live process, or every node id is."""


_NOT_MIGRATED = "the node_leases table is missing: run `chirp migrate` before starting this version"


def owner_name(role: str) -> str:
    """`role@host:pid#nonce`: who holds a lease, readable in the table and in the refusal message."""
    return f"{role}@{socket.gethostname()}:{os.getpid()}#{secrets.token_hex(3)}"


def _holder_is_gone(owner: str) -> bool:
    """A holder on this very host whose process no longer exists (a crash, a SIGKILL)."""
    _, _, place = owner.partition("@")
    host, _, rest = place.rpartition(":")
    pid_text = rest.partition("#")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # a process of another user: alive
        return False
    return False


_TAKE_FREE = """
WITH free AS (
    SELECT n FROM generate_series(0, $3::integer) AS n
    WHERE NOT EXISTS (SELECT 1 FROM node_leases l WHERE l.node = n AND l.expires_at > now())
    LIMIT 1
)
INSERT INTO node_leases AS l (node, owner, expires_at)
SELECT n, $1, now() + make_interval(secs => $2) FROM free
ON CONFLICT (node) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at, leased_at = now()
    WHERE l.expires_at <= now()
RETURNING node, last_ms
"""

_TAKE = """
INSERT INTO node_leases AS l (node, owner, expires_at) VALUES ($3, $1, now() + make_interval(secs => $2))
ON CONFLICT (node) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at, leased_at = now()
    WHERE l.expires_at <= now() OR l.owner = $4
RETURNING node, last_ms
"""

_HOLDER = "SELECT owner, expires_at FROM node_leases WHERE node = $1"

# Renewal re-inserts a row that vanished (a wiped table): the id is still this process's while nobody
# else holds it.
_RENEW = """
INSERT INTO node_leases AS l (node, owner, expires_at, last_ms) VALUES ($1, $2, now() + make_interval(secs => $3), $4)
ON CONFLICT (node) DO UPDATE SET expires_at = excluded.expires_at, last_ms = GREATEST(l.last_ms, excluded.last_ms)
    WHERE l.owner = excluded.owner
RETURNING node
"""

_RELEASE = """
UPDATE node_leases SET expires_at = now(), last_ms = GREATEST(last_ms, $3) WHERE node = $1 AND owner = $2
"""


async def take_any(db: asyncpg.Pool, owner: str, seconds: float) -> tuple[int, int]:
    """The lowest free node id, leased to `owner`: (node, the last millisecond its previous holder used)."""
    for _ in range(ACQUIRE_ATTEMPTS):
        row = await db.fetchrow(_TAKE_FREE, owner, seconds, MAX_NODE)
        if row is not None:
            return int(row["node"]), int(row["last_ms"])
        # Either another process took our candidate a moment ago (try again), or every id is live.
        if await db.fetchval("SELECT count(*) FROM node_leases WHERE expires_at > now()") > MAX_NODE:
            break
    raise NodeIdTaken(f"no free node id: all {MAX_NODE + 1} are leased by live processes")


async def take(db: asyncpg.Pool, owner: str, seconds: float, node: int) -> int:
    """Lease exactly `node` (an explicit CHIRP_NODE_ID); NodeIdTaken, naming it and its holder, when a live
    process holds it. Returns the last millisecond its previous holder used."""
    holder = await db.fetchrow(_HOLDER, node)
    gone = str(holder["owner"]) if holder is not None and _holder_is_gone(str(holder["owner"])) else ""
    row = await db.fetchrow(_TAKE, owner, seconds, node, gone)
    if row is not None:
        return int(row["last_ms"])
    holder = await db.fetchrow(_HOLDER, node)
    who = f"{holder['owner']} (lease until {holder['expires_at']:%H:%M:%S})" if holder else "another process"
    raise NodeIdTaken(f"CHIRP_NODE_ID={node} is already held by a live process: {who}")


async def renew(db: asyncpg.Pool, node: int, owner: str, seconds: float, last_ms: int) -> bool:
    """Extend the lease; False when another process holds the id now."""
    return await db.fetchval(_RENEW, node, owner, seconds, last_ms) is not None


async def release(db: asyncpg.Pool, node: int, owner: str, last_ms: int) -> None:
    await db.execute(_RELEASE, node, owner, last_ms)


async def _heartbeat(
    db: asyncpg.Pool, ids: IdGenerator, owner: str, seconds: float, on_lost: Callable[[], None] | None
) -> None:
    while True:
        await asyncio.sleep(seconds / 3)
        sent = time.monotonic()
        try:
            kept = await asyncio.wait_for(renew(db, ids.node_id, owner, seconds, ids.last_ms), seconds / 3)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
            log.warning("node %d: lease renewal failed (%s); ids stop when it lapses", ids.node_id, exc)
            continue
        if kept:
            ids.valid_until = sent + seconds
            continue
        ids.valid_until = 0.0
        log.critical("node %d: the lease was taken by another process; this process mints no more ids", ids.node_id)
        if on_lost is not None:
            on_lost()
        return


@asynccontextmanager
async def hold_node(
    db: asyncpg.Pool,
    *,
    role: str,
    node_id: int | None,
    seconds: float,
    on_lost: Callable[[], None] | None = None,
) -> AsyncIterator[IdGenerator]:
    """Lease a node id for the block, kept alive by a heartbeat; yields the id generator bound to it."""
    owner = owner_name(role)
    sent = time.monotonic()
    try:
        if node_id is None:
            node, after_ms = await take_any(db, owner, seconds)
        else:
            node, after_ms = node_id, await take(db, owner, seconds, node_id)
    except asyncpg.UndefinedTableError:
        raise NodeLeaseError(_NOT_MIGRATED) from None
    ids = IdGenerator(node, after_ms=after_ms)
    ids.valid_until = sent + seconds
    log.info("node id %d leased by %s", node, owner)
    beat = asyncio.create_task(_heartbeat(db, ids, owner, seconds, on_lost), name=f"node-lease:{node}")
    try:
        yield ids
    finally:
        beat.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await beat
        ids.valid_until = 0.0
        with contextlib.suppress(OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
            await release(db, node, owner, ids.last_ms)
