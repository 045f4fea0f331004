"""A request body that stops arriving is answered 408, instead of holding its connection for ever.

aiohttp has no timeout on reading a body: a client that sends its headers and part of a body kept a
connection (and whatever the handler holds meanwhile) for as long as it liked. A watchdog beside each
request with a body notes when bytes last arrived; after `CHIRP_BODY_TIMEOUT_SECONDS` with none it puts a
408 into the body stream, so whatever is reading it (`read_params`, the upload parser) raises that, and
the error middleware answers. Once the whole body has arrived the watchdog stops.
"""

from __future__ import annotations

import asyncio
import time

from aiohttp import web
from aiohttp.typedefs import Handler

from api.keys import SETTINGS
from core.errors import ApiError

CHECKS_PER_TIMEOUT = 4


@web.middleware
async def body_timeout_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    if not request.body_exists or request.content.is_eof():
        return await handler(request)
    watchdog = asyncio.create_task(_watch(request, request.app[SETTINGS].body_timeout_seconds))
    try:
        return await handler(request)
    finally:
        watchdog.cancel()


async def _watch(request: web.Request, stall_seconds: float) -> None:
    content = request.content
    seen, progressed_at = content.total_bytes, time.monotonic()
    while not content.is_eof():
        await asyncio.sleep(stall_seconds / CHECKS_PER_TIMEOUT)
        if content.total_bytes != seen:
            seen, progressed_at = content.total_bytes, time.monotonic()
        elif time.monotonic() - progressed_at >= stall_seconds and not content.is_eof():
            content.set_exception(ApiError(408, f"The request body made no progress for {stall_seconds:g} s"))
            return
