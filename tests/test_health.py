"""Operator endpoints: /healthz for liveness, /readyz per dependency, /metrics for Prometheus."""

from __future__ import annotations

import asyncio

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from api.keys import LIFECYCLE
from stack import RunningStack

Client = TestClient[web.Request, web.Application]


async def test_healthz_answers_ok(client: Client) -> None:
    response = await client.get("/healthz")
    assert response.status == 200
    assert await response.json() == {"status": "ok"}


async def test_livez_answers_ok(client: Client) -> None:
    response = await client.get("/livez")
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


async def test_livez_answers_while_the_stores_are_down(client: Client, stack: RunningStack) -> None:
    stack.servers["valkey"].stop()
    try:
        response = await client.get("/livez")
        assert response.status == 200
        assert await response.json() == {"status": "ok"}
    finally:
        stack.servers["valkey"].start()


async def wait_ready(client: Client) -> None:
    """Once the server is back, so is readiness, without restarting the API."""
    for _ in range(50):
        if (await client.get("/readyz")).status == 200:
            return
        await asyncio.sleep(0.1)
    raise AssertionError("readiness did not come back")


@pytest.mark.parametrize("server", ["postgres", "valkey"])
async def test_readyz_fails_when_a_store_the_process_cannot_serve_without_is_down(
    client: Client, stack: RunningStack, server: str
) -> None:
    assert (await client.get("/readyz")).status == 200
    stack.servers[server].stop()
    try:
        response = await client.get("/readyz")
        body = await response.json()
        assert response.status == 503
        assert body["status"] == "unavailable"
        assert body["error"] == f"unavailable: {server}"
        assert body["checks"][server] == {**body["checks"][server], "status": "down", "required": True}
        assert all(c["status"] == "up" for name, c in body["checks"].items() if name != server)
        assert (await client.get("/healthz")).status == 200
        assert (await client.get("/livez")).status == 200
    finally:
        stack.servers[server].start()
    await wait_ready(client)


@pytest.mark.parametrize("server", ["meilisearch", "s3"])
async def test_search_or_media_down_is_degraded_not_unready(client: Client, stack: RunningStack, server: str) -> None:
    stack.servers[server].stop()
    try:
        response = await client.get("/readyz")
        body = await response.json()
        assert response.status == 200, body
        assert body["status"] == "degraded"
        assert body["degraded"] == [server]
        assert body["checks"][server]["status"] == "down"
        assert body["checks"][server]["required"] is False
        assert "error" in body["checks"][server]
        assert all(c["status"] == "up" for name, c in body["checks"].items() if name != server)
    finally:
        stack.servers[server].start()
    # Once the server is back, so is readiness, without restarting the API: from the first request on.
    response = await client.get("/readyz")
    assert response.status == 200
    assert (await response.json())["status"] == "ready"


async def test_a_draining_process_is_not_ready_but_alive(client: Client) -> None:
    client.app[LIFECYCLE].draining = True
    response = await client.get("/readyz")
    assert response.status == 503
    assert (await response.json())["status"] == "draining"
    assert (await client.get("/livez")).status == 200


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
