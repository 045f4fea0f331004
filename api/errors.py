"""The one JSON error shape, `{"error": "..."}`, for every failure: raised, routed, or unexpected.

Handlers and the domain raise `core.errors.ApiError`; the middleware also turns aiohttp's own HTTP exceptions
(404, 405, 413, ...) and anything unexpected (500, logged with the request id) into the same shape, never HTML
or a traceback.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import orjson
from aiohttp import web
from aiohttp.typedefs import Handler

from core.errors import REASONS, ApiError

log = logging.getLogger("chirp.errors")


def json_error(
    status: int, message: str | None = None, *, headers: Mapping[str, str] | None = None, **extra: Any
) -> web.Response:
    """The response for an error: the only place that shapes one."""
    body = {"error": message or REASONS.get(status, "Error"), **extra}
    return web.Response(status=status, body=orjson.dumps(body), content_type="application/json", headers=headers)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as exc:
        return json_error(exc.status, exc.message, headers=exc.headers, **exc.extra)
    except web.HTTPException as exc:
        if exc.status < 400:  # redirects and the like pass through untouched
            raise
        headers = {k: v for k, v in exc.headers.items() if k.lower() in ("allow", "retry-after")}
        return json_error(exc.status, REASONS.get(exc.status, exc.reason), headers=headers)
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return json_error(500)
