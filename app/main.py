"""The application factory: settings in, a configured aiohttp application out."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any, TypeVar

import asyncpg
from aiohttp import web

from api.body_timeout import body_timeout_middleware
from api.cors import cors_middleware, setup_cors
from api.errors import error_middleware
from api.keys import DATABASE, IDS, LIFECYCLE, MEILI, REDIS, REPLICAS, RESOURCES, S3, SETTINGS, Lifecycle
from api.metrics import metrics_middleware
from api.read_your_writes import read_your_writes_middleware
from api.slashes import trailing_slash_middleware
from api.viewer_marks import viewer_marks_middleware
from app.hub import close_streams, hub_ctx
from app.logs import request_id_middleware
from app.ratelimit import rate_limit_middleware
from config import Settings
from handlers.routes import setup_routes
from storage.marks_cache import MarksCache, MarksListener
from storage.pubsub import CacheListener
from storage.read_replicas import ReadRoutes
from storage.resources import (
    Resources,
    open_database,
    open_meili,
    open_node,
    open_redis,
    open_replicas,
    open_s3,
)
from storage.token_cache import RevocationListener, TokenCache

log = logging.getLogger("chirp.app")

T = TypeVar("T")


def _resource_ctx(
    key: web.AppKey[T], opener: Callable[[Settings], AbstractAsyncContextManager[T]]
) -> Callable[[web.Application], AsyncIterator[None]]:
    """A cleanup_ctx that opens a resource at start-up, stores it under `key`, and closes it at shutdown."""

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        async with opener(app[SETTINGS]) as resource:
            app[key] = resource
            yield

    return ctx


def _node_ctx(on_lost: Callable[[], None] | None) -> Callable[[web.Application], AsyncIterator[None]]:
    """cleanup_ctx: the process's leased node id (storage/node_leases.py), once PostgreSQL is open."""

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        async with open_node(app[SETTINGS], app[DATABASE], "api", on_lost) as ids:
            app[IDS] = ids
            yield

    return ctx


async def _resources_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    replicas: list[asyncpg.Pool] = app[REPLICAS]
    app[RESOURCES] = Resources(
        settings=settings,
        db=app[DATABASE],
        redis=app[REDIS],
        meili=app[MEILI],
        s3=app[S3],
        ids=app[IDS],
        tokens=TokenCache.from_settings(settings),
        marks=MarksCache.from_settings(settings),
        reads=ReadRoutes(app[DATABASE], replicas, app[REDIS]),
    )
    yield


async def _cache_listeners_ctx(app: web.Application) -> AsyncIterator[None]:
    """The pub/sub listeners that keep this process's caches current: revoked tokens leave the token cache
    (storage/token_cache.py), changed marks the marks cache (storage/marks_cache.py)."""
    res = app[RESOURCES]
    listeners: list[CacheListener] = []
    if res.tokens.enabled:
        listeners.append(RevocationListener(res.tokens, res.settings.redis_url, res.redis))
    if res.marks.enabled:
        listeners.append(MarksListener(res.marks, res.settings.redis_url, res.redis))
    await asyncio.gather(*(listener.start() for listener in listeners))
    try:
        yield
    finally:
        for listener in listeners:
            await listener.stop()


def app_runner(app: web.Application, **options: Any) -> web.AppRunner:
    """The runner that serves `app`, with its connection-level limits from the app's settings.

    The header timeout: aiohttp's keep-alive timer starts when a connection opens (and again when each
    response ends) and closes the connection if no complete request has arrived when it fires. Bytes of an
    unfinished request line or header do not restart it, so it bounds the time a client has to send its
    headers, one byte at a time or not at all (slowloris). A request being handled is never cut by it
    (the body has its own timeout, api/body_timeout.py; streams have pings).
    """
    settings = app[SETTINGS]
    return web.AppRunner(app, keepalive_timeout=settings.header_timeout_seconds, **options)


def create_app(settings: Settings, *, on_node_lost: Callable[[], None] | None = None) -> web.Application:
    """`on_node_lost`: called if another process takes this one's node id (`chirp serve` shuts down)."""
    # CORS comes first: a preflight is answered before authentication and rate limiting (api/cors.py).
    # A path with a trailing slash then reaches its route as without it (api/slashes.py).
    # Rate limiting sits outside the error middleware, so it stamps its headers on error responses too.
    limiter = [rate_limit_middleware(settings)] if settings.rate_limit_enabled else []
    app = web.Application(
        middlewares=[
            cors_middleware,
            trailing_slash_middleware,
            request_id_middleware,
            metrics_middleware,
            *limiter,
            error_middleware,
            body_timeout_middleware,
            viewer_marks_middleware,
            *([read_your_writes_middleware] if settings.database_replica_urls else []),
        ],
        client_max_size=settings.max_body_bytes,
    )
    app[SETTINGS] = settings
    app[LIFECYCLE] = Lifecycle()
    cleanup: list[Callable[[web.Application], AsyncIterator[Any]]] = [
        _resource_ctx(DATABASE, open_database),
        _resource_ctx(REPLICAS, open_replicas),
        _node_ctx(on_node_lost),
        _resource_ctx(REDIS, open_redis),
        _resource_ctx(MEILI, open_meili),
        _resource_ctx(S3, open_s3),
        _resources_ctx,
        _cache_listeners_ctx,
        hub_ctx,  # the streaming hub's Valkey pub/sub connection (realtime/)
    ]
    app.cleanup_ctx.extend(cleanup)
    app.on_shutdown.append(close_streams)  # websockets closed with 1001 before the stores go
    setup_cors(app)
    setup_routes(app)
    return app
