"""Test helpers that go through the real sign-up and sign-in routes (conftest's make_user skips them)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient

Client = TestClient[web.Request, web.Application]

OOB = "urn:ietf:wg:oauth:2.0:oob"
PASSWORD = "correct horse battery"


@dataclass(frozen=True)
class OAuthApp:
    id: str
    client_id: str
    client_secret: str
    scopes: list[str]

    def credentials(self) -> dict[str, str]:
        return {"client_id": self.client_id, "client_secret": self.client_secret}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def register_app(
    client: Client,
    *,
    scopes: str = "read write follow push",
    redirect_uris: str | list[str] = OOB,
    name: str = "Tester",
) -> OAuthApp:
    response = await client.post(
        "/api/v1/apps", json={"client_name": name, "redirect_uris": redirect_uris, "scopes": scopes}
    )
    body = await response.json()
    assert response.status == 200, body
    return OAuthApp(body["id"], body["client_id"], body["client_secret"], body["scopes"])


async def request_token(client: Client, app: OAuthApp, **params: str) -> tuple[int, dict[str, Any]]:
    response = await client.post("/oauth/token", data={**app.credentials(), **params})
    body: dict[str, Any] = await response.json()
    return response.status, body


async def app_token(client: Client, app: OAuthApp, scope: str | None = None) -> str:
    status, body = await request_token(
        client, app, grant_type="client_credentials", **({"scope": scope} if scope else {})
    )
    assert status == 200, body
    token: str = body["access_token"]
    return token


async def sign_up(
    client: Client, app: OAuthApp, username: str, *, email: str | None = None, password: str = PASSWORD
) -> dict[str, Any]:
    """Register through POST /api/v1/accounts with a client_credentials token; returns the Token entity."""
    token = await app_token(client, app, " ".join(app.scopes))
    response = await client.post(
        "/api/v1/accounts",
        data={
            "username": username,
            "email": email or f"{username}@example.test",
            "password": password,
            "agreement": "true",
            "locale": "en",
        },
        headers=bearer(token),
    )
    body: dict[str, Any] = await response.json()
    assert response.status == 200, body
    return body
