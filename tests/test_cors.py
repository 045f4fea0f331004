"""CORS as Mastodon configures it: browser clients on other origins may call the API, the token endpoints,
discovery and media; a preflight is answered 204 before authentication and rate limiting."""

from __future__ import annotations

from conftest import ClientFactory, UserFactory
from oauth_flow import Client, register_app

ORIGIN = "https://phanpy.example"


def preflight(method: str = "GET", headers: str = "authorization, content-type") -> dict[str, str]:
    return {"Origin": ORIGIN, "Access-Control-Request-Method": method, "Access-Control-Request-Headers": headers}


async def test_a_preflight_is_answered_204_with_the_methods_and_headers_mastodon_allows(client: Client) -> None:
    response = await client.options(
        "/api/v1/timelines/home", headers=preflight("POST", "authorization,idempotency-key")
    )
    assert response.status == 204
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    methods = {m.strip() for m in response.headers["Access-Control-Allow-Methods"].split(",")}
    assert methods == {"GET", "POST", "PUT", "PATCH", "DELETE"}
    allowed = {h.strip().lower() for h in response.headers["Access-Control-Allow-Headers"].split(",")}
    assert {"authorization", "content-type", "idempotency-key"} <= allowed
    assert await response.read() == b""


async def test_a_preflight_needs_no_token_and_is_not_rate_limited(make_client: ClientFactory) -> None:
    client = await make_client(rate_limit_ip=(2, 300))
    for _ in range(5):
        response = await client.options("/api/v1/accounts/verify_credentials", headers=preflight())
        assert response.status == 204
        assert "X-RateLimit-Remaining" not in response.headers
    first = await client.get("/api/v1/instance", headers={"Origin": ORIGIN})
    assert first.status == 200 and first.headers["X-RateLimit-Remaining"] == "1"  # the preflights counted for nothing


async def test_actual_responses_expose_link_and_the_rate_limit_headers(client: Client, make_user: UserFactory) -> None:
    alice = await make_user("alice")
    for text in ("one", "two"):
        await client.post("/api/v1/statuses", json={"status": text}, headers=alice.headers)
    response = await client.get(
        f"/api/v1/accounts/{alice.id}/statuses?limit=1", headers={**alice.headers, "Origin": ORIGIN}
    )
    assert response.status == 200 and "Link" in response.headers
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    exposed = {h.strip() for h in response.headers["Access-Control-Expose-Headers"].split(",")}
    assert {"Link", "X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"} <= exposed


async def test_errors_carry_the_headers_too_so_the_browser_can_read_them(client: Client) -> None:
    response = await client.get("/api/v1/accounts/verify_credentials", headers={"Origin": ORIGIN})
    assert response.status == 401
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert (await response.json())["error"]


async def test_the_token_and_revoke_endpoints_and_discovery_are_in_scope(client: Client) -> None:
    for path in ("/oauth/token", "/oauth/revoke", "/.well-known/oauth-authorization-server", "/nodeinfo/2.0"):
        response = await client.options(path, headers=preflight("POST"))
        assert response.status == 204, path
    app = await register_app(client)
    token = await client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", **app.credentials()},
        headers={"Origin": ORIGIN},
    )
    assert token.status == 200 and token.headers["Access-Control-Allow-Origin"] == "*"


async def test_the_sign_in_page_and_the_web_client_are_not_in_scope(client: Client) -> None:
    page = await client.get("/oauth/authorize", headers={"Origin": ORIGIN})
    assert "Access-Control-Allow-Origin" not in page.headers
    home = await client.get("/", headers={"Origin": ORIGIN})
    assert home.status == 200 and "Access-Control-Allow-Origin" not in home.headers
    refused = await client.options("/oauth/authorize", headers=preflight("POST"))
    assert refused.status == 405 and "Access-Control-Allow-Origin" not in refused.headers


async def test_an_options_request_that_is_not_a_preflight_is_not_answered_as_one(client: Client) -> None:
    response = await client.options("/api/v1/instance")
    assert response.status == 405
