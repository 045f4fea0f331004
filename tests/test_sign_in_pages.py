"""The sign-in pages look like the web client (its stylesheet, served by this server), name the app asking,
say in words what each scope lets it do, and offer one primary action."""

from __future__ import annotations

import re

from oauth_flow import OOB, PASSWORD, Client, register_app, sign_up

CALLBACK = "http://127.0.0.1:9/callback"


def _query(client_id: str, redirect_uri: str, scope: str) -> dict[str, str]:
    return {"response_type": "code", "client_id": client_id, "redirect_uri": redirect_uri, "scope": scope}


async def _stylesheets_load(client: Client, html: str) -> list[str]:
    hrefs = re.findall(r'<link rel="stylesheet" href="([^"]+)">', html)
    for href in hrefs:
        response = await client.get(href)
        assert response.status == 200 and response.content_type == "text/css", href
    return hrefs


async def test_the_sign_in_page_names_the_app_and_explains_each_scope(client: Client) -> None:
    app = await register_app(client, name="Phanpy", redirect_uris=CALLBACK, scopes="read write:media write:statuses")
    response = await client.get("/oauth/authorize", params=_query(app.client_id, CALLBACK, "read:statuses write:media"))
    html = await response.text()
    assert response.status == 200
    assert '<strong class="app-name">Phanpy</strong> wants to use your account' in html
    scopes = re.findall(r"<li>([^<]+) <code>([^<]+)</code></li>", html)
    assert scopes == [
        ("See posts, including private ones shown to you", "read:statuses"),
        ("Upload pictures and videos", "write:media"),
    ]
    assert len(re.findall(r'class="primary[ "]', html)) == 1  # one clear primary action
    assert re.search(r'<button type="submit" class="primary big"[^>]*>Sign in and allow</button>', html)
    hrefs = await _stylesheets_load(client, html)
    assert [href.rsplit("/", 1)[1] for href in hrefs] == ["style.css", "sign-in.css"]
    policy = response.headers["Content-Security-Policy"]
    assert "style-src 'self'" in policy and "unsafe-inline" not in policy and "<style" not in html


async def test_every_scope_an_app_may_ask_for_has_words(client: Client) -> None:
    from domain.oauth import ALL_SCOPES
    from handlers.oauth import SCOPE_WORDS

    assert set(ALL_SCOPES) == set(SCOPE_WORDS)


async def test_the_out_of_band_code_page_is_styled_and_says_what_to_do(client: Client) -> None:
    app = await register_app(client, name="toot", redirect_uris=OOB)
    await sign_up(client, app, "alice")
    query = _query(app.client_id, OOB, "read")
    form = await (await client.get("/oauth/authorize", params=query)).text()
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', form)
    assert csrf is not None
    response = await client.post(
        "/oauth/authorize",
        data={**query, "csrf_token": csrf.group(1), "username": "alice", "password": PASSWORD, "decision": "approve"},
    )
    html = await response.text()
    assert response.status == 200
    assert "<h1>Your authorization code</h1>" in html and "<strong>toot</strong>" in html
    assert re.search(r'<input id="code" class="code" readonly value="[^"]+"', html)
    assert "paste it into the application" in html
    await _stylesheets_load(client, html)
