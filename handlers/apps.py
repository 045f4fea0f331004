"""OAuth client applications: registering one, and checking an application's token."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from api.auth import require_viewer
from api.http import json_response, read_params
from api.keys import RESOURCES
from api.openapi import array, body, errors, nullable, obj, ok, operation, ref
from core.errors import ApiError
from domain import oauth
from storage import apps as app_store

routes = web.RouteTableDef()


@routes.post("/api/v1/apps")
async def create_app(request: web.Request) -> web.Response:
    params = await read_params(request)
    row, secret = await oauth.create_app(
        request.app[RESOURCES],
        name=params.text("client_name") or "",
        website=params.text("website"),
        # A list, or one string of URIs separated by newlines (Mastodon.py) or spaces.
        redirect_uris=params.strings("redirect_uris") or params.strings("redirect_uri"),
        scopes=params.strings("scopes"),
    )
    return json_response(oauth.application_entity(row, secret), headers={"Cache-Control": "no-store"})


@routes.get("/api/v1/apps/verify_credentials")
async def verify_app_credentials(request: web.Request) -> web.Response:
    """Any valid token, an application's own or a user's, shows the application it was issued to."""
    viewer = await require_viewer(request)
    row = await app_store.get_app(request.app[RESOURCES].db, viewer.app_id) if viewer.app_id is not None else None
    if row is None:
        raise ApiError(404, "This token was not issued to an application")
    return json_response(oauth.application_entity(row))


# OpenAPI ---------------------------------------------------------------------------------------------

_STRING = {"type": "string"}
_APPLICATION_PROPERTIES: dict[str, Any] = {
    "id": _STRING,
    "name": _STRING,
    "website": nullable({"type": "string", "format": "uri"}),
    "scopes": array(_STRING),
    "redirect_uri": {"type": "string", "description": "deprecated: the redirect URIs joined by newlines"},
    "redirect_uris": array(_STRING),
    "vapid_key": {"type": "string", "description": "deprecated in Mastodon 4.3; empty: Chirp offers no Web Push"},
}

OPENAPI_COMPONENTS: dict[str, Any] = {
    "Application": obj(_APPLICATION_PROPERTIES),
    "CredentialApplication": obj(
        {
            **_APPLICATION_PROPERTIES,
            "client_id": _STRING,
            "client_secret": _STRING,
            "client_secret_expires_at": {"type": "integer", "const": 0},
        },
        description="The Application with its client credentials; the secret is shown only here, once.",
    ),
}

OPENAPI_PATHS: dict[str, dict[str, Any]] = {
    "/api/v1/apps": {
        "post": operation(
            "Register a client application",
            {"200": ok(ref("CredentialApplication")), **errors(422, 429)},
            request_body=body(
                obj(
                    {
                        "client_name": {"type": "string", "maxLength": oauth.MAX_APP_NAME},
                        "redirect_uris": {
                            "oneOf": [_STRING, array(_STRING)],
                            "description": f"absolute URIs, or {oauth.OOB_REDIRECT} to show the code instead",
                        },
                        "scopes": {"type": "string", "description": "space-separated; default `read`"},
                        "website": {"type": "string", "format": "uri"},
                    },
                    required=["client_name", "redirect_uris"],
                )
            ),
            tags=["apps"],
        )
    },
    "/api/v1/apps/verify_credentials": {
        "get": operation(
            "The application a token was issued to",
            {"200": ok(ref("Application")), **errors(401, 404)},
            scopes=[],
            tags=["apps"],
        )
    },
}
