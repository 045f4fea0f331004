"""OAuth 2 as Mastodon clients use it: apps, the four grants, revocation, the sign-in page, scopes."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from oauth_flow import OOB, PASSWORD, Client, OAuthApp, app_token, bearer, register_app, request_token, sign_up

from api.auth import Viewer
from domain.oauth import pkce_challenge, purge_expired_codes
from storage.resources import Resources

CALLBACK = "https://client.example/callback"


# Applications ----------------------------------------------------------------------------------------


async def test_registering_an_app_returns_its_credentials_and_keeps_only_a_hash_of_the_secret(
    client: Client, res: Resources
) -> None:
    response = await client.post(
        "/api/v1/apps",
        data={
            "client_name": "Tusky",
            "redirect_uris": f"{CALLBACK}\n{OOB}",
            "scopes": "read write push",
            "website": "https://tusky.example",
        },
    )
    body = await response.json()
    assert response.status == 200, body
    assert body["name"] == "Tusky"
    assert body["website"] == "https://tusky.example"
    assert body["scopes"] == ["read", "write", "push"]
    assert body["redirect_uris"] == [CALLBACK, OOB]
    assert body["redirect_uri"] == f"{CALLBACK}\n{OOB}"
    assert body["client_secret_expires_at"] == 0
    assert len(body["client_id"]) >= 43 and len(body["client_secret"]) >= 43
    row = await res.db.fetchrow("SELECT client_secret_hash FROM oauth_apps WHERE id = $1", int(body["id"]))
    assert bytes(row["client_secret_hash"]) == hashlib.sha256(body["client_secret"].encode()).digest()
    assert body["client_secret"].encode() not in bytes(row["client_secret_hash"])


async def test_an_app_may_send_redirect_uris_as_a_json_array_and_defaults_to_read(client: Client) -> None:
    response = await client.post("/api/v1/apps", json={"client_name": "x", "redirect_uris": [CALLBACK, OOB]})
    body = await response.json()
    assert response.status == 200, body
    assert body["redirect_uris"] == [CALLBACK, OOB]
    assert body["scopes"] == ["read"]


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"redirect_uris": OOB}, "client_name can't be blank"),
        ({"client_name": "x" * 61, "redirect_uris": OOB}, "client_name is too long"),
        ({"client_name": "x"}, "redirect_uris can't be blank"),
        ({"client_name": "x", "redirect_uris": "javascript:alert(1)"}, "redirect_uris must be absolute"),
        ({"client_name": "x", "redirect_uris": "/relative"}, "redirect_uris must be absolute"),
        ({"client_name": "x", "redirect_uris": "https://a.example/cb#frag"}, "redirect_uris must be absolute"),
        ({"client_name": "x", "redirect_uris": OOB, "scopes": "read admin:everything"}, "scopes contains unknown"),
        ({"client_name": "x", "redirect_uris": OOB, "website": "ftp://nope"}, "website must be"),
    ],
)
async def test_an_invalid_app_is_a_422_naming_the_field(client: Client, fields: dict[str, str], problem: str) -> None:
    response = await client.post("/api/v1/apps", data=fields)
    body = await response.json()
    assert response.status == 422
    assert body["error"].startswith(f"Validation failed: {problem}")


async def test_verify_app_credentials_shows_the_app_without_its_secret(client: Client) -> None:
    app = await register_app(client)
    token = await app_token(client, app)
    response = await client.get("/api/v1/apps/verify_credentials", headers=bearer(token))
    body = await response.json()
    assert response.status == 200
    assert body["id"] == app.id and body["name"] == "Tester"
    assert "client_secret" not in body and "client_id" not in body
    assert (await client.get("/api/v1/apps/verify_credentials")).status == 401
    bad = await client.get("/api/v1/apps/verify_credentials", headers=bearer("not-a-token"))
    assert bad.status == 401
    assert (await bad.json())["error"] == "The access token is invalid"


# Token grants ----------------------------------------------------------------------------------------


async def test_client_credentials_gives_an_app_token_with_the_requested_scopes(client: Client) -> None:
    app = await register_app(client, scopes="read write")
    status, body = await request_token(client, app, grant_type="client_credentials", scope="read write:accounts")
    assert status == 200, body
    assert set(body) == {"access_token", "token_type", "scope", "created_at", "refresh_token"}
    assert body["token_type"] == "Bearer"
    assert body["scope"] == "read write:accounts"
    assert isinstance(body["created_at"], int)
    status, body = await request_token(client, app, grant_type="client_credentials")
    assert status == 200 and body["scope"] == "read"


async def test_scopes_beyond_the_apps_are_an_invalid_scope(client: Client) -> None:
    app = await register_app(client, scopes="read")
    status, body = await request_token(client, app, grant_type="client_credentials", scope="read write")
    assert status == 400
    assert body["error"] == "invalid_scope" and body["error_description"]
    status, body = await request_token(client, app, grant_type="client_credentials", scope="read:nonsense")
    assert (status, body["error"]) == (400, "invalid_scope")


@pytest.mark.parametrize(
    ("credentials", "status", "error"),
    [
        ({"client_secret": "wrong"}, 401, "invalid_client"),
        ({"client_id": "nobody", "client_secret": "wrong"}, 401, "invalid_client"),
        ({"client_secret": ""}, 401, "invalid_client"),
    ],
)
async def test_a_client_that_fails_to_authenticate_gets_401_invalid_client(
    client: Client, credentials: dict[str, str], status: int, error: str
) -> None:
    app = await register_app(client)
    response = await client.post(
        "/oauth/token", data={**app.credentials(), **credentials, "grant_type": "client_credentials"}
    )
    body = await response.json()
    assert response.status == status
    assert body["error"] == error and "error_description" in body
    assert response.headers["WWW-Authenticate"].startswith("Basic")


async def test_missing_or_unknown_grant_types_are_400s(client: Client) -> None:
    app = await register_app(client)
    status, body = await request_token(client, app)
    assert (status, body["error"]) == (400, "invalid_request")
    status, body = await request_token(client, app, grant_type="implicit")
    assert (status, body["error"]) == (400, "unsupported_grant_type")


async def test_client_credentials_may_come_by_http_basic(client: Client) -> None:
    app = await register_app(client)
    basic = base64.b64encode(f"{app.client_id}:{app.client_secret}".encode()).decode()
    response = await client.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, headers={"Authorization": f"Basic {basic}"}
    )
    assert response.status == 200, await response.text()
    wrong = base64.b64encode(f"{app.client_id}:nope".encode()).decode()
    response = await client.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, headers={"Authorization": f"Basic {wrong}"}
    )
    assert response.status == 401


async def test_password_grant_accepts_the_username_or_the_email_in_any_case(client: Client) -> None:
    app = await register_app(client)
    await sign_up(client, app, "Alice", email="alice@example.test")
    for login in ("Alice", "alice", "ALICE@example.test"):
        status, body = await request_token(client, app, grant_type="password", username=login, password=PASSWORD)
        assert status == 200, body
        me = await client.get("/api/v1/accounts/verify_credentials", headers=bearer(body["access_token"]))
        assert (await me.json())["username"] == "Alice"


@pytest.mark.parametrize(("login", "password"), [("alice", "wrong password"), ("nobody", PASSWORD), ("alice", "")])
async def test_password_grant_refuses_a_wrong_password_or_unknown_user(
    client: Client, login: str, password: str
) -> None:
    app = await register_app(client)
    await sign_up(client, app, "alice")
    status, body = await request_token(client, app, grant_type="password", username=login, password=password)
    assert status == 400
    assert body["error"] in ("invalid_grant", "invalid_request")
    assert body["error"] == ("invalid_request" if not password else "invalid_grant")


async def test_an_account_without_a_usable_password_cannot_sign_in(client: Client, make_user: Any) -> None:
    await make_user("fixture")  # stored with the password hash "!"
    app = await register_app(client)
    status, body = await request_token(client, app, grant_type="password", username="fixture", password="!")
    assert (status, body["error"]) == (400, "invalid_grant")


async def test_token_requests_may_be_json(client: Client) -> None:
    app = await register_app(client)
    response = await client.post("/oauth/token", json={**app.credentials(), "grant_type": "client_credentials"})
    assert response.status == 200
    assert response.headers["Cache-Control"] == "no-store"


async def test_refresh_rotates_the_token_pair(client: Client) -> None:
    app = await register_app(client)
    first = await sign_up(client, app, "alice")
    status, second = await request_token(
        client, app, grant_type="refresh_token", refresh_token=first["refresh_token"], scope="read"
    )
    assert status == 200, second
    assert second["scope"] == "read"
    assert second["access_token"] != first["access_token"]
    old = await client.get("/api/v1/accounts/verify_credentials", headers=bearer(first["access_token"]))
    assert old.status == 401
    new = await client.get("/api/v1/accounts/verify_credentials", headers=bearer(second["access_token"]))
    assert new.status == 200
    status, body = await request_token(client, app, grant_type="refresh_token", refresh_token=first["refresh_token"])
    assert (status, body["error"]) == (400, "invalid_grant")
    # Rotation never widens: the new pair holds only `read` now.
    status, body = await request_token(
        client, app, grant_type="refresh_token", refresh_token=second["refresh_token"], scope="write"
    )
    assert (status, body["error"]) == (400, "invalid_scope")


async def test_a_refresh_token_only_works_for_its_own_app(client: Client) -> None:
    app, other = await register_app(client), await register_app(client, name="Other")
    token = await sign_up(client, app, "alice")
    status, body = await request_token(client, other, grant_type="refresh_token", refresh_token=token["refresh_token"])
    assert (status, body["error"]) == (400, "invalid_grant")


# Revocation ------------------------------------------------------------------------------------------


async def test_a_revoked_token_is_refused_with_401(client: Client) -> None:
    app = await register_app(client)
    token = await sign_up(client, app, "alice")
    response = await client.post("/oauth/revoke", data={**app.credentials(), "token": token["access_token"]})
    assert response.status == 200
    assert await response.json() == {}
    me = await client.get("/api/v1/accounts/verify_credentials", headers=bearer(token["access_token"]))
    assert me.status == 401
    # Idempotent, and unknown tokens are fine too (RFC 7009).
    again = await client.post("/oauth/revoke", data={**app.credentials(), "token": token["access_token"]})
    assert again.status == 200
    unknown = await client.post("/oauth/revoke", data={**app.credentials(), "token": "never-issued"})
    assert unknown.status == 200


async def test_revoking_by_refresh_token_revokes_the_pair(client: Client) -> None:
    app = await register_app(client)
    token = await sign_up(client, app, "alice")
    await client.post("/oauth/revoke", data={**app.credentials(), "token": token["refresh_token"]})
    me = await client.get("/api/v1/accounts/verify_credentials", headers=bearer(token["access_token"]))
    assert me.status == 401


async def test_an_app_cannot_revoke_another_apps_token(client: Client) -> None:
    app, other = await register_app(client), await register_app(client, name="Other")
    token = await sign_up(client, app, "alice")
    response = await client.post("/oauth/revoke", data={**other.credentials(), "token": token["access_token"]})
    body = await response.json()
    assert response.status == 403 and body["error"] == "unauthorized_client"
    wrong = await client.post(
        "/oauth/revoke", data={"client_id": app.client_id, "client_secret": "x", "token": token["access_token"]}
    )
    assert wrong.status == 401
    me = await client.get("/api/v1/accounts/verify_credentials", headers=bearer(token["access_token"]))
    assert me.status == 200


# The authorization-code flow -------------------------------------------------------------------------


def _authorize_query(app: OAuthApp, **extra: str) -> dict[str, str]:
    return {"response_type": "code", "client_id": app.client_id, "redirect_uri": CALLBACK, "scope": "read", **extra}


async def _open_form(client: Client, query: dict[str, str]) -> tuple[str, str]:
    """GET the sign-in page; returns its HTML and the CSRF token of its form."""
    response = await client.get("/oauth/authorize", params=query)
    html = await response.text()
    assert response.status == 200, html
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match is not None
    return html, match.group(1)


async def _approve(client: Client, query: dict[str, str], *, password: str = PASSWORD, login: str = "alice") -> Any:
    _, csrf = await _open_form(client, query)
    return await client.post(
        "/oauth/authorize",
        data={**query, "csrf_token": csrf, "username": login, "password": password, "decision": "approve"},
        allow_redirects=False,
    )


def _redirect_params(response: Any) -> dict[str, str]:
    location = urlsplit(response.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == CALLBACK
    return {key: values[0] for key, values in parse_qs(location.query).items()}


async def test_the_sign_in_page_is_escaped_html_without_script_with_a_csrf_cookie(client: Client) -> None:
    app = await register_app(client, name="<script>alert(1)</script>", redirect_uris=CALLBACK)
    response = await client.get("/oauth/authorize", params=_authorize_query(app, state='"><img src=x>'))
    html = await response.text()
    assert response.status == 200
    assert response.content_type == "text/html"
    assert "<script" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert 'value="&quot;&gt;&lt;img src=x&gt;"' in html
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Frame-Options"] == "DENY"
    cookie = response.cookies["chirp_oauth_csrf"]
    assert cookie["httponly"] and cookie["samesite"] == "Strict"
    assert f'name="csrf_token" value="{cookie.value}"' in html


async def test_the_code_flow_redirects_with_code_and_state_and_the_code_works_once(client: Client) -> None:
    app = await register_app(client, redirect_uris=CALLBACK)
    await sign_up(client, app, "alice")
    response = await _approve(client, _authorize_query(app, state="xyz", scope="read write"))
    assert response.status == 302, await response.text()
    params = _redirect_params(response)
    assert params["state"] == "xyz"
    status, token = await request_token(
        client, app, grant_type="authorization_code", code=params["code"], redirect_uri=CALLBACK
    )
    assert status == 200, token
    assert token["scope"] == "read write"
    me = await client.get("/api/v1/accounts/verify_credentials", headers=bearer(token["access_token"]))
    assert (await me.json())["username"] == "alice"
    # A second use fails, and revokes the token the first one got (RFC 6749 §4.1.2).
    status, body = await request_token(
        client, app, grant_type="authorization_code", code=params["code"], redirect_uri=CALLBACK
    )
    assert (status, body["error"]) == (400, "invalid_grant")
    me = await client.get("/api/v1/accounts/verify_credentials", headers=bearer(token["access_token"]))
    assert me.status == 401


async def test_a_code_is_bound_to_its_app_redirect_uri_and_lifetime(client: Client, res: Resources) -> None:
    app, other = await register_app(client, redirect_uris=CALLBACK), await register_app(client, name="Other")
    await sign_up(client, app, "alice")
    code = _redirect_params(await _approve(client, _authorize_query(app)))["code"]
    for who, redirect in ((other, CALLBACK), (app, "https://client.example/elsewhere")):
        status, body = await request_token(
            client, who, grant_type="authorization_code", code=code, redirect_uri=redirect
        )
        assert (status, body["error"]) == (400, "invalid_grant")
    await res.db.execute("UPDATE oauth_codes SET expires_at = now() - interval '1 second'")
    status, body = await request_token(client, app, grant_type="authorization_code", code=code, redirect_uri=CALLBACK)
    assert (status, body["error"]) == (400, "invalid_grant")
    status, body = await request_token(
        client, app, grant_type="authorization_code", code="made-up", redirect_uri=CALLBACK
    )
    assert (status, body["error"]) == (400, "invalid_grant")


async def test_codes_are_forgotten_a_day_after_they_expire(client: Client, res: Resources) -> None:
    app = await register_app(client, redirect_uris=CALLBACK)
    await sign_up(client, app, "alice")
    for _ in range(3):
        _redirect_params(await _approve(client, _authorize_query(app)))
    await res.db.execute(
        """
        UPDATE oauth_codes SET expires_at = now() - make_interval(secs => ages.age)
        FROM (SELECT code_hash, (ARRAY[60, 86_340, 86_460])[row_number() OVER ()] AS age FROM oauth_codes) ages
        WHERE oauth_codes.code_hash = ages.code_hash
        """
    )
    await purge_expired_codes(res)
    # Expired a minute and almost a day ago: kept (a reuse still revokes its token); over a day: gone.
    minutes = await res.db.fetch(
        "SELECT floor(extract(epoch FROM now() - expires_at) / 60) AS m FROM oauth_codes ORDER BY 1"
    )
    assert [int(row["m"]) for row in minutes] == [1, 1439]


async def test_pkce_needs_the_matching_verifier(client: Client) -> None:
    app = await register_app(client, redirect_uris=CALLBACK)
    await sign_up(client, app, "alice")
    verifier = secrets.token_urlsafe(48)
    query = _authorize_query(app, code_challenge=pkce_challenge(verifier), code_challenge_method="S256")
    code = _redirect_params(await _approve(client, query))["code"]
    for attempt in ({}, {"code_verifier": secrets.token_urlsafe(48)}):
        status, body = await request_token(
            client, app, grant_type="authorization_code", code=code, redirect_uri=CALLBACK, **attempt
        )
        assert (status, body["error"]) == (400, "invalid_grant")
    status, body = await request_token(
        client, app, grant_type="authorization_code", code=code, redirect_uri=CALLBACK, code_verifier=verifier
    )
    assert status == 200, body


def test_pkce_challenge_is_rfc_7636_s256() -> None:
    # The example of RFC 7636 appendix B.
    assert (
        pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk") == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    )


async def test_plain_pkce_is_refused_back_to_the_client(client: Client) -> None:
    app = await register_app(client, redirect_uris=CALLBACK)
    response = await client.get(
        "/oauth/authorize",
        params=_authorize_query(app, state="s", code_challenge="x" * 43, code_challenge_method="plain"),
        allow_redirects=False,
    )
    assert response.status == 302
    params = _redirect_params(response)
    assert params["error"] == "invalid_request" and params["state"] == "s"


async def test_the_out_of_band_flow_shows_the_code(client: Client) -> None:
    app = await register_app(client, redirect_uris=OOB)
    await sign_up(client, app, "alice")
    query = {**_authorize_query(app), "redirect_uri": OOB}
    response = await _approve(client, query)
    html = await response.text()
    assert response.status == 200
    match = re.search(r'readonly value="([^"]+)"', html)
    assert match is not None
    status, body = await request_token(
        client, app, grant_type="authorization_code", code=match.group(1), redirect_uri=OOB
    )
    assert status == 200, body


async def test_a_wrong_password_shows_the_form_again(client: Client, res: Resources) -> None:
    app = await register_app(client, redirect_uris=CALLBACK)
    await sign_up(client, app, "alice")
    response = await _approve(client, _authorize_query(app), password="not the password")
    html = await response.text()
    assert response.status == 401
    assert "not right" in html and 'name="password"' in html
    assert await res.db.fetchval("SELECT count(*) FROM oauth_codes") == 0


async def test_a_form_post_without_the_csrf_cookie_is_refused(client: Client) -> None:
    app = await register_app(client, redirect_uris=CALLBACK)
    await sign_up(client, app, "alice")
    query = _authorize_query(app)
    _, csrf = await _open_form(client, query)
    client.session.cookie_jar.clear()  # as a form posted from another site: no SameSite=Strict cookie
    response = await client.post(
        "/oauth/authorize",
        data={**query, "csrf_token": csrf, "username": "alice", "password": PASSWORD},
        allow_redirects=False,
    )
    assert response.status == 403
    assert "did not come from this site" in await response.text()


async def test_denying_sends_access_denied_back(client: Client) -> None:
    app = await register_app(client, redirect_uris=CALLBACK)
    query = _authorize_query(app, state="s1")
    _, csrf = await _open_form(client, query)
    response = await client.post(
        "/oauth/authorize", data={**query, "csrf_token": csrf, "decision": "deny"}, allow_redirects=False
    )
    assert response.status == 302
    assert _redirect_params(response)["error"] == "access_denied"


@pytest.mark.parametrize(
    "change",
    [{"client_id": "unknown"}, {"redirect_uri": "https://evil.example/steal"}],
)
async def test_an_unknown_client_or_redirect_uri_is_shown_not_redirected(
    client: Client, change: dict[str, str]
) -> None:
    app = await register_app(client, redirect_uris=CALLBACK)
    response = await client.get("/oauth/authorize", params={**_authorize_query(app), **change}, allow_redirects=False)
    assert response.status == 400
    assert "Location" not in response.headers
    assert response.content_type == "text/html"


@pytest.mark.parametrize(
    ("change", "error"),
    [({"scope": "read write"}, "invalid_scope"), ({"response_type": "token"}, "unsupported_response_type")],
)
async def test_a_bad_request_from_a_known_client_goes_back_as_an_oauth_error(
    client: Client, change: dict[str, str], error: str
) -> None:
    app = await register_app(client, scopes="read", redirect_uris=CALLBACK)
    query = {**_authorize_query(app, state="st"), **change}
    response = await client.get("/oauth/authorize", params=query, allow_redirects=False)
    assert response.status == 302
    params = _redirect_params(response)
    assert params["error"] == error and params["state"] == "st"


async def test_authorization_server_metadata_lists_the_grants_and_endpoints(client: Client) -> None:
    response = await client.get("/.well-known/oauth-authorization-server")
    body = await response.json()
    assert response.status == 200
    origin = f"http://{client.host}:{client.port}"
    assert body["issuer"] == f"{origin}/"
    assert body["token_endpoint"] == f"{origin}/oauth/token"
    assert body["authorization_endpoint"] == f"{origin}/oauth/authorize"
    assert body["revocation_endpoint"] == f"{origin}/oauth/revoke"
    assert {"password", "authorization_code", "client_credentials", "refresh_token"} <= set(
        body["grant_types_supported"]
    )
    assert {"read", "write", "follow", "push", "profile", "read:statuses", "write:media"} <= set(
        body["scopes_supported"]
    )
    assert body["code_challenge_methods_supported"] == ["S256"]


# Scopes ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("granted", "wanted", "allowed"),
    [
        ({"read"}, "read:statuses", True),
        ({"write"}, "write:media", True),
        ({"read:accounts"}, "read:accounts", True),
        ({"read:accounts"}, "read:statuses", False),
        ({"read"}, "write:statuses", False),
        ({"follow"}, "read:follows", True),
        ({"follow"}, "write:blocks", True),
        ({"follow"}, "write:statuses", False),
        ({"profile"}, "read:accounts", False),
    ],
)
def test_a_scope_is_granted_by_itself_its_parent_or_legacy_follow(
    granted: set[str], wanted: str, allowed: bool
) -> None:
    assert Viewer(1, 1, 1, frozenset(granted)).has_scope(wanted) is allowed


async def test_a_token_without_the_routes_scope_gets_403(client: Client) -> None:
    app = await register_app(client)
    await sign_up(client, app, "alice")
    status, read_only = await request_token(
        client, app, grant_type="password", username="alice", password=PASSWORD, scope="read"
    )
    assert status == 200
    response = await client.patch(
        "/api/v1/accounts/update_credentials", data={"display_name": "A"}, headers=bearer(read_only["access_token"])
    )
    assert response.status == 403
    assert (await response.json())["error"] == "This action is outside the authorized scopes"


async def test_the_profile_scope_reads_only_the_users_own_account(client: Client) -> None:
    await sign_up(client, await register_app(client), "alice")
    app = await register_app(client, scopes="profile read")
    status, profile = await request_token(
        client, app, grant_type="password", username="alice", password=PASSWORD, scope="profile"
    )
    assert status == 200, profile
    me = await client.get("/api/v1/accounts/verify_credentials", headers=bearer(profile["access_token"]))
    assert me.status == 200
    account_id = (await me.json())["id"]
    other = await client.get(f"/api/v1/accounts/{account_id}", headers=bearer(profile["access_token"]))
    assert other.status == 403


async def test_an_app_token_is_not_a_user(client: Client) -> None:
    app = await register_app(client)
    token = await app_token(client, app, "read")
    response = await client.get("/api/v1/accounts/verify_credentials", headers=bearer(token))
    assert response.status == 422
    assert (await response.json())["error"] == "This method requires an authenticated user"
