"""Routes as tolerant as Rails: a trailing slash reaches the same route (toot opens `/oauth/authorize/?...`),
with its body, its rate limits and its errors, while `/` and paths that do match are left alone."""

from __future__ import annotations

import re

from conftest import ClientFactory, UserFactory
from oauth_flow import Client, register_app, sign_up

CALLBACK = "http://127.0.0.1:9/callback"


async def test_the_sign_in_page_opens_with_a_trailing_slash_as_toot_asks_for_it(client: Client) -> None:
    app = await register_app(client, redirect_uris=CALLBACK)
    query = {"response_type": "code", "client_id": app.client_id, "redirect_uri": CALLBACK, "scope": "read"}
    response = await client.get("/oauth/authorize/", params=query)
    html = await response.text()
    assert response.status == 200 and response.content_type == "text/html"
    assert re.search(r'name="csrf_token" value="[^"]+"', html)


async def test_a_post_with_a_trailing_slash_keeps_its_body(client: Client, make_user: UserFactory) -> None:
    alice = await make_user("alice")
    response = await client.post("/api/v1/statuses/", json={"status": "hello with a slash"}, headers=alice.headers)
    body = await response.json()
    assert response.status == 200, body
    assert "hello with a slash" in body["content"]
    shown = await client.get(f"/api/v1/statuses/{body['id']}/")
    assert shown.status == 200 and (await shown.json())["id"] == body["id"]


async def test_path_parameters_and_the_query_string_survive(client: Client, make_user: UserFactory) -> None:
    alice = await make_user("alice")
    for text in ("one", "two", "three"):
        await client.post("/api/v1/statuses", json={"status": text}, headers=alice.headers)
    response = await client.get(f"/api/v1/accounts/{alice.id}/statuses/?limit=2")
    assert response.status == 200 and len(await response.json()) == 2


async def test_a_trailing_slash_does_not_escape_the_sign_in_rate_limit(make_client: ClientFactory) -> None:
    client = await make_client(rate_limit_sign_in=(2, 300))
    app = await register_app(client)
    await sign_up(client, app, "alice")
    statuses = []
    for _ in range(3):
        response = await client.post(
            "/oauth/token/",
            data={"grant_type": "password", "username": "alice", "password": "wrong", **app.credentials()},
        )
        statuses.append(response.status)
    assert statuses[-1] == 429, statuses


async def test_unknown_paths_and_wrong_methods_keep_their_errors(client: Client) -> None:
    missing = await client.get("/api/v1/nothing/here/")
    assert missing.status == 404 and (await missing.json())["error"]
    wrong = await client.delete("/api/v1/instance/")
    assert wrong.status == 405


async def test_the_root_and_the_web_client_routes_are_untouched(client: Client) -> None:
    root = await client.get("/")
    assert root.status == 200 and root.content_type == "text/html"
    profile = await client.get("/@alice/")
    assert profile.status == 200 and profile.content_type == "text/html"
