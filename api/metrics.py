"""Each HTTP request counted and timed by its route's pattern, into the process's Prometheus metrics."""

from __future__ import annotations

import time

from aiohttp import web
from aiohttp.typedefs import Handler

from core.metrics import HTTP_LATENCY, HTTP_REQUESTS


def route_label(request: web.Request) -> str:
    """The route's pattern, not the path: ids in paths would make one series per post."""
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"


@web.middleware
async def metrics_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        route = route_label(request)
        HTTP_REQUESTS.labels(request.method, route, str(status)).inc()
        HTTP_LATENCY.labels(request.method, route).observe(time.perf_counter() - started)
