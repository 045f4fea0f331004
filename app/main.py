"""The application factory: settings in, a configured aiohttp application out."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any, TypeVar

from aiohttp import web

from api.errors import error_middleware
from api.keys import DATABASE, IDS, MEILI, REDIS, RESOURCES, S3, SETTINGS
from api.metrics import metrics_middleware
from app.hub import close_streams, hub_ctx
from app.logs import request_id_middleware
from app.ratelimit import rate_limit_middleware
from config import Settings
from core.ids import IdGenerator
from handlers.routes import setup_routes
from storage.resources import Resources, open_database, open_meili, open_redis, open_s3
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


async def _resources_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    app[RESOURCES] = Resources(
        settings=settings,
        db=app[DATABASE],
        redis=app[REDIS],
        meili=app[MEILI],
        s3=app[S3],
        ids=app[IDS],
        tokens=TokenCache.from_settings(settings),
    )
    yield


async def _token_cache_ctx(app: web.Application) -> AsyncIterator[None]:
    """The pub/sub listener that drops revoked tokens from this process's token cache (app/token_cache.py)."""
    res = app[RESOURCES]
    if not res.tokens.enabled:
        yield
        return
    listener = RevocationListener(res.tokens, res.settings.redis_url, res.redis)
    await listener.start()
    try:
        yield
    finally:
        await listener.stop()


def create_app(settings: Settings) -> web.Application:
    # Rate limiting sits outside the error middleware, so it stamps its headers on error responses too.
    limiter = [rate_limit_middleware(settings)] if settings.rate_limit_enabled else []
    app = web.Application(
        middlewares=[request_id_middleware, metrics_middleware, *limiter, error_middleware],
        client_max_size=settings.max_body_bytes,
    )
    app[SETTINGS] = settings
    app[IDS] = IdGenerator(settings.node_id)
    cleanup: list[Callable[[web.Application], AsyncIterator[Any]]] = [
        _resource_ctx(DATABASE, open_database),
        _resource_ctx(REDIS, open_redis),
        _resource_ctx(MEILI, open_meili),
        _resource_ctx(S3, open_s3),
        _resources_ctx,
        _token_cache_ctx,
        hub_ctx,  # the streaming hub's Valkey pub/sub connection (realtime/)
    ]
    app.cleanup_ctx.extend(cleanup)
    app.on_shutdown.append(close_streams)  # websockets closed with 1001 before the stores go
    setup_routes(app)
    return app
