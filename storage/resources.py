"""Opening and closing the connections to the four stores, shared by the API and the worker processes.

Each opener is an async context manager, so the API wraps them in `cleanup_ctx` and the worker in an
`AsyncExitStack`: one way to open each thing, closed in reverse order on the way out.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, replace
from typing import Any

import aioboto3
import asyncpg
import orjson
from botocore.config import Config as BotoConfig
from meilisearch_python_sdk import AsyncClient as MeiliClient
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisClusterException, RedisError

from config import Settings
from core.ids import IdGenerator
from storage.keys import Valkey, pack_in_c
from storage.marks_cache import MarksCache
from storage.node_leases import hold_node
from storage.read_replicas import ReadRoutes
from storage.token_cache import TokenCache


@dataclass(frozen=True)
class Resources:
    """What domain functions and jobs need to reach the stores. Passed in, never imported."""

    settings: Settings
    db: asyncpg.Pool
    redis: Valkey
    meili: MeiliClient
    s3: Any
    ids: IdGenerator
    # This process's access-token cache; it answers only in API processes, whose listener keeps it current.
    tokens: TokenCache
    # This process's cache of viewers' marks (storage/marks_cache.py); it too answers only in API processes.
    marks: MarksCache
    # Where lag-tolerant reads go (DATABASE_REPLICA_URL); with no replica, always `db`.
    reads: ReadRoutes

    async def reader(self, account_id: int | None) -> asyncpg.Pool:
        """For one lag-tolerant query: a replica fresh enough for `account_id`'s own writes (any replica for
        None), else the primary. Only for queries whose answer is not cached: a cache filled from a lagging
        replica would keep the stale answer after the write's invalidation."""
        return await self.reads.pool_for(account_id)

    async def current_reader(self) -> asyncpg.Pool:
        """For a read whose answer is kept (a timeline rebuild): a replica that has replayed everything the
        primary had written when this was called, so the answer is as fresh as the primary's; else the
        primary. With no replica, the primary at once."""
        return await self.reads.pool_at_now()

    def reading_from(self, pool: asyncpg.Pool) -> Resources:
        """The same stores with `pool` for PostgreSQL: for a read-only path (search hydration) whose every
        query may go to the replica `reader` chose. Never for code that writes."""
        return self if pool is self.db else replace(self, db=pool)


async def _init_connection(conn: asyncpg.Connection) -> None:
    # jsonb columns come and go as Python objects, encoded by orjson.
    await conn.set_type_codec(
        "jsonb", encoder=lambda v: orjson.dumps(v).decode(), decoder=orjson.loads, schema="pg_catalog"
    )


async def _release(conn: asyncpg.Connection) -> None:
    """Nothing to reset on the server when a connection goes back to the pool.

    asyncpg's default sends `pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL` on every release,
    a second round trip for every single-statement query (+60% CPU per query, measured). Chirp leaves no
    session state on pooled connections: transactions are rolled back by asyncpg on release anyway,
    advisory locks are transaction-scoped, LISTEN is undone with remove_listener. Code that SETs session
    parameters must use SET LOCAL inside a transaction.
    """


@asynccontextmanager
async def open_database(settings: Settings, *, max_size: int | None = None) -> AsyncIterator[asyncpg.Pool]:
    pool = await asyncpg.create_pool(
        settings.database_url,
        min_size=1,
        max_size=max_size or settings.database_pool_size,
        init=_init_connection,
        reset=_release,
        command_timeout=30,
        timeout=5,
        # Behind PgBouncer in transaction mode each query may meet another server connection, which does
        # not know a statement prepared on the last one: no named statements are kept.
        statement_cache_size=0 if settings.database_pooler == "transaction" else 100,
    )
    try:
        yield pool
    finally:
        await pool.close()


@asynccontextmanager
async def open_replicas(settings: Settings) -> AsyncIterator[list[asyncpg.Pool]]:
    """A pool per DATABASE_REPLICA_URL. None is opened at start (min_size 0): a replica that is down
    leaves the process starting and serving from the primary (storage/read_replicas.py)."""
    pools: list[asyncpg.Pool] = []
    try:
        for url in settings.database_replica_urls:
            pool = asyncpg.create_pool(
                url,
                min_size=0,
                max_size=settings.database_pool_size,
                init=_init_connection,
                reset=_release,
                command_timeout=30,
                timeout=2,
            )
            pools.append(await pool)
        yield pools
    finally:
        for pool in pools:
            await pool.close()


@asynccontextmanager
async def open_redis(settings: Settings) -> AsyncIterator[Valkey]:
    """One Valkey, or a Valkey Cluster found from the node REDIS_URL names (CHIRP_VALKEY_CLUSTER)."""
    client: Valkey
    if settings.valkey_cluster:
        cluster = pack_in_c(
            RedisCluster.from_url(
                settings.redis_url, socket_connect_timeout=2, health_check_interval=30, max_connections=256
            )
        )
        # The slot map and the command table, before the first request: redis-py fills them on the first
        # command otherwise, and requests arriving together at a fresh process (one restarted behind a
        # balancer) raced it: AttributeError "'AsyncCommandsParser' object has no attribute 'node'" (500).
        # A cluster away at start is found on the first command instead, as before.
        with contextlib.suppress(RedisError, RedisClusterException, OSError):
            await cluster.initialize()
        client = cluster
    else:
        # One retry on a fresh connection: after Valkey restarts, every pooled connection is dead, and without
        # it the first command on each (the first /readyz, the first timeline read) failed although Valkey was
        # back. A command that fails twice is an outage (503, storage/outages.py). The few that are not
        # idempotent (INCR of a rate-limit window) can at worst count one request twice.
        client = pack_in_c(
            Redis.from_url(
                settings.redis_url,
                socket_connect_timeout=2,
                health_check_interval=30,
                max_connections=256,
                retry=Retry(NoBackoff(), 1),
            )
        )
    try:
        yield client
    finally:
        await client.aclose()


@asynccontextmanager
async def open_meili(settings: Settings) -> AsyncIterator[MeiliClient]:
    client = MeiliClient(settings.meili_url, settings.meili_master_key or None, timeout=5)
    try:
        yield client
    finally:
        await client.aclose()


def s3_config() -> BotoConfig:
    # SigV4 is required for pre-signed multipart parts; path-style addressing works with any S3.
    return BotoConfig(
        signature_version="s3v4",
        s3={"addressing_style": "path"},
        retries={"max_attempts": 3, "mode": "standard"},
        connect_timeout=3,
        read_timeout=60,
    )


@functools.cache
def _s3_session() -> aioboto3.Session:
    """One per process: every Session parses botocore's S3 model and endpoint rules again (~20 MB), and a
    test suite that opened one per test held gigabytes of them."""
    return aioboto3.Session()


@asynccontextmanager
async def open_s3(settings: Settings) -> AsyncIterator[Any]:
    async with _s3_session().client(
        "s3",
        endpoint_url=settings.s3_endpoint,
        aws_access_key_id=settings.s3_access_key or None,
        aws_secret_access_key=settings.s3_secret_key or None,
        region_name=settings.s3_region,
        config=s3_config(),
    ) as client:
        yield client


def open_node(
    settings: Settings, db: asyncpg.Pool, role: str, on_lost: Callable[[], None] | None = None
) -> AbstractAsyncContextManager[IdGenerator]:
    """This process's leased node id (CHIRP_NODE_ID, or any free one) as its id generator."""
    return hold_node(db, role=role, node_id=settings.node_id, seconds=settings.node_lease_seconds, on_lost=on_lost)


@asynccontextmanager
async def open_resources(
    settings: Settings,
    *,
    db_pool_size: int | None = None,
    role: str = "tool",
    on_node_lost: Callable[[], None] | None = None,
) -> AsyncIterator[Resources]:
    """All four stores at once, for processes other than the API (worker, CLI commands, benchmarks)."""
    async with AsyncExitStack() as stack:
        db = await stack.enter_async_context(open_database(settings, max_size=db_pool_size))
        replicas = await stack.enter_async_context(open_replicas(settings))
        redis = await stack.enter_async_context(open_redis(settings))
        yield Resources(
            settings=settings,
            db=db,
            redis=redis,
            meili=await stack.enter_async_context(open_meili(settings)),
            s3=await stack.enter_async_context(open_s3(settings)),
            ids=await stack.enter_async_context(open_node(settings, db, role, on_node_lost)),
            tokens=TokenCache.from_settings(settings),
            marks=MarksCache.from_settings(settings),
            reads=ReadRoutes(db, replicas, redis),
        )
