"""Rate limits from Valkey: per token, per IP without one, tighter for sign-up and sign-in; fail open."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from conftest import ClientFactory
from oauth_flow import PASSWORD, bearer, register_app, request_token

from stack import RunningStack

# Each test runs on one Valkey and on a Valkey Cluster (tests/conftest.py).
pytestmark = pytest.mark.valkey_modes


def _reset_time(value: str) -> datetime:
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


async def test_responses_carry_mastodons_rate_limit_headers(make_client: ClientFactory) -> None:
    client = await make_client(rate_limit_ip=(10, 300))
    first = await client.get("/api/v1/instance")
    second = await client.get("/no/such/route")  # errors count and carry the headers too
    assert first.headers["X-RateLimit-Limit"] == "10"
    assert first.headers["X-RateLimit-Remaining"] == "9"
    assert second.status == 404 and second.headers["X-RateLimit-Remaining"] == "8"
    reset = _reset_time(first.headers["X-RateLimit-Reset"])
    now = datetime.now(UTC)
    assert now < reset and (reset - now).total_seconds() <= 300


async def test_over_the_ip_limit_is_a_429_with_retry_after(make_client: ClientFactory) -> None:
    client = await make_client(rate_limit_ip=(3, 600))
    for _ in range(3):
        assert (await client.get("/api/v1/custom_emojis")).status == 200
    response = await client.get("/api/v1/custom_emojis")
    assert response.status == 429
    assert await response.json() == {"error": "Too many requests"}
    assert 1 <= int(response.headers["Retry-After"]) <= 600
    assert response.headers["X-RateLimit-Remaining"] == "0"


async def test_each_token_has_its_own_budget_apart_from_the_ip(make_client: ClientFactory, make_user: object) -> None:
    client = await make_client(rate_limit_token=(2, 600), rate_limit_ip=(1, 600))
    for _ in range(2):
        assert (await client.get("/api/v1/custom_emojis", headers=bearer("token-one"))).status == 200
    assert (await client.get("/api/v1/custom_emojis", headers=bearer("token-one"))).status == 429
    assert (await client.get("/api/v1/custom_emojis", headers=bearer("token-two"))).status == 200
    assert (await client.get("/api/v1/custom_emojis")).status == 200  # the IP's own budget is untouched
    assert (await client.get("/api/v1/custom_emojis")).status == 429


async def test_signing_up_has_a_tighter_limit(make_client: ClientFactory) -> None:
    client = await make_client(rate_limit_sign_up=(2, 1800))
    app = await register_app(client)
    status, token = await request_token(client, app, grant_type="client_credentials", scope="write")
    assert status == 200
    statuses = []
    for name in ("a1", "a2", "a3"):
        response = await client.post(
            "/api/v1/accounts",
            json={"username": name, "email": f"{name}@example.test", "password": PASSWORD, "agreement": True},
            headers=bearer(token["access_token"]),
        )
        statuses.append(response.status)
    assert statuses == [200, 200, 429]
    # Other requests with the same token go on.
    assert (await client.get("/api/v1/apps/verify_credentials", headers=bearer(token["access_token"]))).status == 200


async def test_signing_in_has_a_tighter_limit(make_client: ClientFactory) -> None:
    client = await make_client(rate_limit_sign_in=(2, 300))
    app = await register_app(client)
    statuses = [
        (await client.post("/oauth/token", data={**app.credentials(), "grant_type": "password",
                                                  "username": "x", "password": "y"})).status
        for _ in range(3)
    ]  # fmt: skip
    assert statuses == [400, 400, 429]


async def test_operator_endpoints_are_not_limited(make_client: ClientFactory) -> None:
    client = await make_client(rate_limit_ip=(1, 600))
    for _ in range(3):
        response = await client.get("/healthz")
        assert response.status == 200
        assert "X-RateLimit-Limit" not in response.headers
    assert (await client.get("/metrics")).status == 200


async def test_rate_limiting_can_be_switched_off(make_client: ClientFactory) -> None:
    client = await make_client(rate_limit_enabled=False, rate_limit_ip=(1, 600))
    for _ in range(3):
        response = await client.get("/api/v1/custom_emojis")
        assert response.status == 200
        assert "X-RateLimit-Limit" not in response.headers


@pytest.mark.single_valkey
async def test_requests_go_through_when_valkey_is_down(make_client: ClientFactory, stack: RunningStack) -> None:
    client = await make_client(rate_limit_ip=(100, 600))
    assert "X-RateLimit-Limit" in (await client.get("/api/v1/custom_emojis")).headers
    stack.servers["valkey"].stop()
    try:
        for _ in range(3):
            response = await client.get("/api/v1/custom_emojis")
            assert response.status == 200
            assert "X-RateLimit-Limit" not in response.headers
    finally:
        stack.servers["valkey"].start()
