"""The hub's place in the aiohttp application: opened and closed with it, sockets closed with 1001 first."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator

from aiohttp import web

from api.keys import HUB, RESOURCES, SETTINGS
from realtime.connection import CLOSE_GOING_AWAY, Connection
from realtime.hub import Hub
from realtime.resume import catch_up

SHUTDOWN_CLOSE_SECONDS = 2.0


async def hub_ctx(app: web.Application) -> AsyncIterator[None]:
    """cleanup_ctx: the process's pub/sub hub, after the stores it uses (RESOURCES) are open."""
    settings = app[SETTINGS]
    hub = Hub(app[RESOURCES], settings)
    hub.catch_up = functools.partial(_catch_up, hub, limit=settings.stream_resume_limit)
    await hub.start()
    app[HUB] = hub
    try:
        yield
    finally:
        await hub.stop()


async def _catch_up(hub: Hub, conn: Connection, *, limit: int) -> None:
    await catch_up(hub.res, conn, limit=limit)


async def close_streams(app: web.Application) -> None:
    """on_shutdown: every websocket closed with 1001 (going away) and every SSE stream ended, so clients
    reconnect elsewhere and resume, instead of waiting on a half-dead socket."""
    hub = app.get(HUB)
    if hub is None:
        return
    await hub.close_all(CLOSE_GOING_AWAY, "server shutting down")
    pending = hub.closing_tasks()
    if pending:
        await asyncio.wait(pending, timeout=SHUTDOWN_CLOSE_SECONDS)
