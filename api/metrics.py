"""Each HTTP request counted and timed by its route's pattern, into the process's Prometheus metrics."""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from core.metrics import HTTP_LATENCY, HTTP_REQUESTS


def route_label(request: web.Request) -> str:
    """The route's pattern, not the path: ids in paths would make one series per post."""
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"


# The labelled series by their labels: prometheus_client's `labels()` takes a lock and checks its arguments
# on every call; a route's series, once made, is the same object for the life of the process.
_COUNTED: dict[tuple[str, str, str], Any] = {}
_TIMED: dict[tuple[str, str], Any] = {}


def _record(method: str, route: str, status: int, seconds: float) -> None:
    counted = _COUNTED.get((method, route, str(status)))
    if counted is None:
        counted = _COUNTED[method, route, str(status)] = HTTP_REQUESTS.labels(method, route, str(status))
    timed = _TIMED.get((method, route))
    if timed is None:
        timed = _TIMED[method, route] = HTTP_LATENCY.labels(method, route)
    counted.inc()
    timed.observe(seconds)


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
        _record(request.method, route_label(request), status, time.perf_counter() - started)
