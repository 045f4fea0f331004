"""Operator endpoints: liveness, readiness of each dependency, and Prometheus metrics."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from api.http import json_response
from api.keys import RESOURCES
from api.openapi import obj, ok, operation
from core.metrics import DEAD_JOBS, JOB_LAG, JOB_QUEUE_DEPTH
from storage import jobs as job_store
from storage.objects import bucket_reachable
from storage.resources import Resources
from storage.valkey_state import check_valkey

routes = web.RouteTableDef()


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    """The process is alive and its event loop turns; says nothing about the stores."""
    return json_response({"status": "ok"})


async def _check(probe: Callable[[], Awaitable[object]], within: float) -> dict[str, object]:
    started = time.perf_counter()
    try:
        await asyncio.wait_for(probe(), within)
    except TimeoutError:
        outcome: dict[str, object] = {"status": "down", "error": f"no answer within {within:g} s"}
    except Exception as exc:
        outcome = {"status": "down", "error": f"{type(exc).__name__}: {exc}"[:300]}
    else:
        outcome = {"status": "up"}
    outcome["latency_ms"] = round((time.perf_counter() - started) * 1000, 2)
    return outcome


def _probes(res: Resources) -> dict[str, Callable[[], Awaitable[object]]]:
    return {
        "postgres": lambda: res.db.fetchval("SELECT 1"),
        "valkey": lambda: check_valkey(res.redis),
        "meilisearch": res.meili.health,
        "s3": lambda: bucket_reachable(res.s3, res.settings.s3_bucket),
    }


@routes.get("/readyz")
async def readyz(request: web.Request) -> web.Response:
    """Ready when every store answers within the readiness timeout; 503 naming those that don't."""
    res = request.app[RESOURCES]
    probes = _probes(res)
    results = await asyncio.gather(*(_check(p, res.settings.readiness_timeout) for p in probes.values()))
    checks = dict(zip(probes, results, strict=True))
    down = [name for name, outcome in checks.items() if outcome["status"] != "up"]
    if down:
        body = {"status": "unavailable", "error": f"unavailable: {', '.join(down)}", "checks": checks}
        return json_response(body, status=503)
    return json_response({"status": "ready", "checks": checks})


@routes.get("/metrics")
async def metrics(request: web.Request) -> web.Response:
    res = request.app[RESOURCES]
    # Queue depth and lag live in PostgreSQL, so any API process can report the workers' backlog.
    try:
        stats = await asyncio.wait_for(job_store.queue_stats(res.db), res.settings.readiness_timeout)
    except Exception:
        stats = []
    for gauge in (JOB_QUEUE_DEPTH, JOB_LAG, DEAD_JOBS):
        gauge.clear()  # a queue that emptied must read 0, not its last value
    for stat in stats:
        JOB_QUEUE_DEPTH.labels(stat.queue).set(stat.ready)
        JOB_LAG.labels(stat.queue).set(stat.oldest_ready_seconds)
        DEAD_JOBS.labels(stat.queue).set(stat.dead)
    return web.Response(body=generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})


# OpenAPI ---------------------------------------------------------------------------------------------

_CHECK = obj(
    {
        "status": {"type": "string", "enum": ["up", "down"]},
        "error": {"type": "string"},
        "latency_ms": {"type": "number"},
    },
    required=["status", "latency_ms"],
)
_READINESS = obj(
    {
        "status": {"type": "string", "enum": ["ready", "unavailable"]},
        "error": {"type": "string"},
        "checks": {"type": "object", "additionalProperties": _CHECK},
    },
    required=["status", "checks"],
)

OPENAPI_PATHS: dict[str, dict[str, Any]] = {
    "/healthz": {
        "get": operation(
            "Liveness", {"200": ok(obj({"status": {"type": "string", "const": "ok"}}))}, tags=["operations"]
        )
    },
    "/readyz": {
        "get": operation(
            "Readiness of every store",
            {
                "200": ok(_READINESS, "Every store answers"),
                "503": ok(_READINESS, "Some store does not answer; `error` names them"),
            },
            tags=["operations"],
        )
    },
    "/metrics": {
        "get": operation(
            "Prometheus metrics",
            {
                "200": {
                    "description": "Prometheus text format",
                    "content": {"text/plain": {"schema": {"type": "string"}}},
                }
            },
            tags=["operations"],
        )
    },
}
