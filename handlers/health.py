"""Operator endpoints: liveness, readiness of each dependency, and Prometheus metrics.

Readiness answers the balancer's one question, "may this process get traffic?". It says no (503) only
when the process cannot serve: PostgreSQL or Valkey is down, or the process is draining before it stops
(SIGTERM). Meilisearch and S3 down is "degraded" (200): search and media answer 503 on their own, and
taking every process off the balancer for a search outage would take the whole site down with it.
`/livez` (and the older `/healthz`) only say the process's event loop turns: restart it if not.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from api.http import json_response
from api.keys import LIFECYCLE, RESOURCES
from api.openapi import obj, ok, operation
from core.metrics import DEAD_JOBS, JOB_LAG, JOB_QUEUE_DEPTH
from storage import jobs as job_store
from storage.objects import bucket_reachable
from storage.resources import Resources
from storage.valkey_state import check_valkey

routes = web.RouteTableDef()


# Without these, the process cannot serve; without the others, only search or media fail.
REQUIRED = frozenset({"postgres", "valkey"})


@routes.get("/livez")
@routes.get("/healthz")
async def livez(request: web.Request) -> web.Response:
    """The process is alive and its event loop turns; says nothing about the stores (nor about draining)."""
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
    """503 when draining or PostgreSQL or Valkey does not answer within the readiness timeout; 200
    "degraded" when only Meilisearch or S3 doesn't; 200 "ready" when all do. Each check is reported."""
    res = request.app[RESOURCES]
    probes = _probes(res)
    results = await asyncio.gather(*(_check(p, res.settings.readiness_timeout) for p in probes.values()))
    checks = dict(zip(probes, results, strict=True))
    for name, outcome in checks.items():
        outcome["required"] = name in REQUIRED
    down = [name for name, outcome in checks.items() if outcome["status"] != "up"]
    if request.app[LIFECYCLE].draining:
        body = {"status": "draining", "error": "shutting down", "checks": checks}
        return json_response(body, status=503)
    if REQUIRED.intersection(down):
        body = {"status": "unavailable", "error": f"unavailable: {', '.join(down)}", "checks": checks}
        return json_response(body, status=503)
    if down:
        return json_response({"status": "degraded", "degraded": down, "checks": checks})
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
        "required": {"type": "boolean", "description": "whether readiness fails while it is down"},
    },
    required=["status", "latency_ms", "required"],
)
_READINESS = obj(
    {
        "status": {"type": "string", "enum": ["ready", "degraded", "unavailable", "draining"]},
        "error": {"type": "string"},
        "degraded": {"type": "array", "items": {"type": "string"}, "description": "optional stores down"},
        "checks": {"type": "object", "additionalProperties": _CHECK},
    },
    required=["status", "checks"],
)
_LIVENESS = {"200": ok(obj({"status": {"type": "string", "const": "ok"}}))}

OPENAPI_PATHS: dict[str, dict[str, Any]] = {
    "/livez": {"get": operation("Liveness (the event loop turns)", _LIVENESS, tags=["operations"])},
    "/healthz": {"get": operation("Liveness (as /livez)", _LIVENESS, tags=["operations"])},
    "/readyz": {
        "get": operation(
            "Readiness: may this process get traffic",
            {
                "200": ok(_READINESS, "PostgreSQL and Valkey answer (`degraded` lists Meilisearch or S3 if down)"),
                "503": ok(_READINESS, "PostgreSQL or Valkey does not answer (`error` names them), or draining"),
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
