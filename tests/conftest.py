"""Test harness: one set of real servers per test session, a clean slate for every test.

The session starts its own PostgreSQL, Valkey, Meilisearch and SeaweedFS (S3) on free ports in a
temporary directory, so it never touches `make run` data and works while `make run` is up. Before each
test every table is truncated and Valkey is flushed. Under pytest-xdist (`make test` runs two workers)
each worker is a session of its own: its own servers, so its own database and Valkey, on ports drawn
from a band of its own so that two workers starting at once never pick the same port.

Tests marked `valkey_modes` (or modules with `pytestmark = pytest.mark.valkey_modes`) run twice: on the one
Valkey and on a real 3-primary + 3-replica Valkey Cluster (`settings.valkey_cluster`), which the first such
test starts for the session (stack/valkey_cluster.py).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import asyncpg
import pytest
from aiohttp import web, web_app
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from app.launcher import AUTO_BASE_HIGH, AUTO_BASE_LOW, find_free_base, stack_environment
from app.main import create_app
from config import Settings
from config.settings import dev_ports
from stack import RunningStack, ValkeyCluster, install_binaries, start_stack, start_valkey_cluster
from stack.postgres_replica import PostgresReplica, start_postgres_replica
from stack.servers import PostgresServer
from storage.accounts import insert_account
from storage.prepare import prepare_stores
from storage.resources import Resources, open_resources
from storage.tokens import issue_token

REPO_ROOT = Path(__file__).resolve().parent.parent
ALL_SERVERS = {"postgres", "valkey", "meilisearch", "s3"}
S3_HEAP_LIMIT_MB = 96

ClientFactory = Callable[..., Awaitable[TestClient[web.Request, web.Application]]]


def worker_ports() -> dict[str, int] | None:
    """Under pytest-xdist, this worker's stack ports, from its own band; else None (start_stack picks)."""
    worker, count = os.environ.get("PYTEST_XDIST_WORKER"), os.environ.get("PYTEST_XDIST_WORKER_COUNT")
    if not worker or not count:
        return None
    width = (AUTO_BASE_HIGH - AUTO_BASE_LOW) // int(count) // 10 * 10
    low = AUTO_BASE_LOW + int(worker.removeprefix("gw")) * width
    ports = dev_ports(find_free_base(low, low + width))
    del ports["api"]
    return ports


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    install_binaries(REPO_ROOT)
    running = start_stack(
        tmp_path_factory.mktemp("stack"),
        ports=worker_ports(),
        persistent=False,
        s3_heap_limit_mb=S3_HEAP_LIMIT_MB,
    )
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="session")
def base_stack_env(stack: RunningStack) -> dict[str, str]:
    """The environment a Chirp process needs to use the test servers (for tests that spawn processes)."""
    return {
        **stack_environment(stack.urls, ALL_SERVERS),
        "CHIRP_LOG_FORMAT": "text",
        "CHIRP_JOB_POLL_SECONDS": "0.2",
        "CHIRP_DRAIN_SECONDS": "0",  # spawned API processes stop at once; tests that drain set it
    }


@pytest.fixture(scope="session")
def base_settings(base_stack_env: dict[str, str]) -> Settings:
    settings = Settings.from_env(base_stack_env)
    asyncio.run(prepare_stores(settings))
    return settings


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "valkey_modes: run the test on one Valkey and on a Valkey Cluster")
    config.addinivalue_line("markers", "single_valkey: only on the one Valkey (it stops and starts that server)")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    marked = metafunc.definition.get_closest_marker("valkey_modes")
    if (
        "valkey_mode" in metafunc.fixturenames
        and marked
        and not metafunc.definition.get_closest_marker("single_valkey")
    ):
        metafunc.parametrize("valkey_mode", ["single", "cluster"], indirect=True)


@pytest.fixture
def valkey_mode(request: pytest.FixtureRequest) -> str:
    """ "single" (one Valkey) unless the test is marked `valkey_modes`, which runs it on both."""
    return str(getattr(request, "param", "single"))


@pytest.fixture(scope="session")
def valkey_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ValkeyCluster]:
    """A 3-primary + 3-replica Valkey Cluster, started by the first test that needs it."""
    install_binaries(REPO_ROOT)
    cluster = start_valkey_cluster(tmp_path_factory.mktemp("valkey-cluster"))
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def pg_replica(stack: RunningStack) -> Iterator[PostgresReplica]:
    """A streaming replica of the test stack's PostgreSQL (pg_basebackup -R), started by the first test that
    needs it; it follows every truncation and insert of the primary."""
    primary = stack.servers["postgres"]
    assert isinstance(primary, PostgresServer)
    replica = start_postgres_replica(primary)
    try:
        yield replica
    finally:
        replica.stop()
        replica.cleanup()


async def flush_valkey(settings: Settings) -> None:
    """Every key gone (on a cluster: on every primary), and the scripts too, as after a restart."""
    if settings.valkey_cluster:
        cluster = RedisCluster.from_url(settings.redis_url)
        try:
            await cluster.flushall(target_nodes=RedisCluster.PRIMARIES)
        finally:
            await cluster.aclose()
        return
    redis = Redis.from_url(settings.redis_url)
    try:
        await redis.flushdb()
    finally:
        await redis.aclose()


async def reset_stores(settings: Settings) -> None:
    """Empty every table (keeping the schema) and every Valkey key."""
    conn = await asyncpg.connect(settings.database_url)
    try:
        tables = await conn.fetchval(
            "SELECT string_agg(format('%I', tablename), ', ') FROM pg_tables "
            "WHERE schemaname = 'public' AND tablename <> 'schema_migrations'"
        )
        if tables:
            await conn.execute(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
    finally:
        await conn.close()
    await flush_valkey(settings)


@pytest.fixture
async def settings(base_settings: Settings, valkey_mode: str, request: pytest.FixtureRequest) -> Settings:
    chosen = base_settings
    if valkey_mode == "cluster":
        cluster: ValkeyCluster = request.getfixturevalue("valkey_cluster")
        chosen = Settings(**{**base_settings.__dict__, "redis_url": cluster.url, "valkey_cluster": True})
    await reset_stores(chosen)
    return chosen


@pytest.fixture
def stack_env(base_stack_env: dict[str, str], settings: Settings) -> dict[str, str]:
    """The environment a Chirp process needs to use the test servers (for tests that spawn processes): on
    the Valkey Cluster when the test runs there."""
    if not settings.valkey_cluster:
        return base_stack_env
    return {**base_stack_env, "REDIS_URL": settings.redis_url, "CHIRP_VALKEY_CLUSTER": "true"}


@pytest.fixture
async def res(settings: Settings) -> AsyncIterator[Resources]:
    """The stores, opened directly: for checking what a request left behind."""
    async with open_resources(settings) as resources:
        yield resources


@pytest.fixture(autouse=True)
def _forget_finished_apps() -> Iterator[None]:
    """aiohttp keeps each (handler, apps) middleware chain in an lru_cache of 1,024 entries, so every app a test
    built stayed alive with its stores' clients (a cluster client's slot table and COMMAND table, the OpenAPI
    document): the suite's pytest processes grew about 10 MB a test. After a test, its apps are let go."""
    yield
    web_app._cached_build_middleware.cache_clear()


@pytest.fixture
async def make_client(aiohttp_client: Any, settings: Settings) -> ClientFactory:
    """A test client for an app built with `settings` plus any overrides."""

    async def make(**overrides: Any) -> TestClient[web.Request, web.Application]:
        app_settings = Settings(**{**settings.__dict__, **overrides}) if overrides else settings
        client: TestClient[web.Request, web.Application] = await aiohttp_client(create_app(app_settings))
        return client

    return make


@pytest.fixture
async def client(make_client: ClientFactory) -> TestClient[web.Request, web.Application]:
    return await make_client()


@dataclass(frozen=True)
class TestUser:
    __test__: ClassVar[bool] = False  # a helper, not a test class for pytest to collect

    account_id: int
    username: str
    token: str

    @property
    def id(self) -> str:
        return str(self.account_id)

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


UserFactory = Callable[..., Awaitable[TestUser]]


@pytest.fixture
async def make_user(res: Resources) -> UserFactory:
    """Create an account with a token directly in storage (no sign-in flow): for tests about other things."""

    async def make(username: str, *, scopes: tuple[str, ...] = ("read", "write", "follow")) -> TestUser:
        account_id = res.ids.next_id()
        await insert_account(res.db, account_id, username=username, email=f"{username}@example.test", password_hash="!")
        issued = await issue_token(res.db, res.ids.next_id(), app_id=None, account_id=account_id, scopes=scopes)
        return TestUser(account_id, username, issued.access_token)

    return make
