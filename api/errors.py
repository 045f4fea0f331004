"""The one JSON error shape, `{"error": "..."}`, for every failure: raised, routed, or unexpected.

Handlers and the domain raise `core.errors.ApiError`; the middleware also turns aiohttp's own HTTP exceptions
(404, 405, 413, ...) into the same shape, a store outage (storage/outages.py) into a 503 with `Retry-After`,
and anything unexpected into a 500 logged with the request id: never HTML or a traceback.

A GET or HEAD whose pooled PostgreSQL connection died under it (the server restarted) runs once more on
fresh connections: reading twice is harmless, and the client never sees the pool's stale connections.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import asyncpg
import orjson
from aiohttp import web
from aiohttp.typedefs import Handler

from api.keys import DATABASE, SETTINGS
from core.errors import REASONS, ApiError
from storage.outages import lost_connection, unavailable_store

log = logging.getLogger("chirp.errors")

_READS = ("GET", "HEAD")
# Text PostgreSQL refuses to store. `Params.text` refuses it first; this catches any path that skipped it.
_UNSTORABLE = (asyncpg.exceptions.CharacterNotInRepertoireError, asyncpg.exceptions.UntranslatableCharacterError)


def json_error(
    status: int, message: str | None = None, *, headers: Mapping[str, str] | None = None, **extra: Any
) -> web.Response:
    """The response for an error: the only place that shapes one."""
    body = {"error": message or REASONS.get(status, "Error"), **extra}
    return web.Response(status=status, body=orjson.dumps(body), content_type="application/json", headers=headers)


def store_unavailable(request: web.Request, store: str) -> web.Response:
    retry_after = request.app[SETTINGS].store_retry_after_seconds
    return json_error(503, f"{store} is unavailable; try again shortly", headers={"Retry-After": str(retry_after)})


async def _handle(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The handler, run a second time for a read that lost its PostgreSQL connection."""
    try:
        return await handler(request)
    except Exception as exc:
        if request.method not in _READS or not lost_connection(exc) or DATABASE not in request.app:
            raise
        log.warning("%s %s lost its database connection (%s); retrying once", request.method, request.path, exc)
        await request.app[DATABASE].expire_connections()
        return await handler(request)


def _with_retry_after(request: web.Request, status: int, headers: dict[str, str]) -> dict[str, str]:
    """Every 503 says when to come back, also those a domain function raises itself (search's timeout)."""
    if status != 503 or any(name.lower() == "retry-after" for name in headers):
        return headers
    return {**headers, "Retry-After": str(request.app[SETTINGS].store_retry_after_seconds)}


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await _handle(request, handler)
    except ApiError as exc:
        return json_error(
            exc.status, exc.message, headers=_with_retry_after(request, exc.status, exc.headers), **exc.extra
        )
    except web.HTTPException as exc:
        if exc.status < 400:  # redirects and the like pass through untouched
            raise
        headers = {k: v for k, v in exc.headers.items() if k.lower() in ("allow", "retry-after")}
        return json_error(exc.status, REASONS.get(exc.status, exc.reason), headers=headers)
    except _UNSTORABLE:
        return json_error(422, "Validation failed: a parameter contains a character that is not allowed")
    except Exception as exc:
        store = unavailable_store(exc)
        if store is None:
            log.exception("unhandled error on %s %s", request.method, request.path)
            return json_error(500)
        log.warning("%s %s: %s unavailable: %r", request.method, request.path, store, exc)
        return store_unavailable(request, store)
