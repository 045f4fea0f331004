"""Operator endpoints: /healthz for liveness, /readyz per dependency, /metrics for Prometheus."""

from __future__ import annotations

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from stack import RunningStack

Client = TestClient[web.Request, web.Application]


async def test_healthz_answers_ok(client: Client) -> None:
    response = await client.get("/healthz")
    assert response.status == 200
    assert await response.json() == {"status": "ok"}


async def test_readyz_reports_every_dependency_up(client: Client) -> None:
    response = await client.get("/readyz")
    body = await response.json()
    assert response.status == 200, body
    assert body["status"] == "ready"
    assert set(body["checks"]) == {"postgres", "valkey", "meilisearch", "s3"}
    for check in body["checks"].values():
        assert check["status"] == "up"
        assert check["latency_ms"] >= 0


@pytest.mark.parametrize("server", ["postgres", "valkey", "meilisearch", "s3"])
async def test_readyz_names_a_stopped_dependency_while_healthz_stays_up(
    client: Client, stack: RunningStack, server: str
) -> None:
    assert (await client.get("/readyz")).status == 200
    stack.servers[server].stop()
    try:
        response = await client.get("/readyz")
        body = await response.json()
        assert response.status == 503
        assert body["error"] == f"unavailable: {server}"
        assert body["checks"][server]["status"] == "down"
        assert all(c["status"] == "up" for name, c in body["checks"].items() if name != server)
        assert (await client.get("/healthz")).status == 200
    finally:
        stack.servers[server].start()
    # Once the server is back, so is readiness, without restarting the API: from the first request on.
    assert (await client.get("/readyz")).status == 200


async def test_metrics_count_requests_by_route_and_status(client: Client) -> None:
    await client.get("/healthz")
    await client.get("/no/such/route")
    response = await client.get("/metrics")
    assert response.status == 200
    text = await response.text()
    assert 'chirp_http_requests_total{method="GET",route="/healthz",status="200"}' in text
    assert 'route="unmatched",status="404"' in text
    assert "chirp_http_request_duration_seconds_bucket" in text
    assert "chirp_open_websockets" in text


@pytest.mark.parametrize("server", ["valkey", "postgres"])
async def test_the_first_readyz_after_a_store_returns_says_ready(
    client: Client, stack: RunningStack, server: str
) -> None:
    assert (await client.get("/readyz")).status == 200  # the pools hold connections that are about to die
    stack.servers[server].stop()
    try:
        assert (await client.get("/readyz")).status == 503
    finally:
        stack.servers[server].start()
    response = await client.get("/readyz")
    body = await response.json()
    assert response.status == 200, body


@pytest.mark.parametrize("server", ["valkey", "postgres"])
async def test_the_first_readyz_after_an_unnoticed_restart_says_ready(
    client: Client, stack: RunningStack, server: str
) -> None:
    assert (await client.get("/readyz")).status == 200
    stack.servers[server].stop()
    stack.servers[server].start()  # nothing asked meanwhile: the pooled connections are stale
    response = await client.get("/readyz")
    body = await response.json()
    assert response.status == 200, body
