"""Mastodon's announcements: the operator's current notices (set with `chirp announce`), dismissing one, and
reacting to one with emoji."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from api.auth import require_user
from api.http import json_response, read_params
from api.keys import RESOURCES
from api.openapi import array, errors, nullable, obj, ok, operation, path, query, ref
from api.params import path_id
from domain import announcements as announcement_domain

routes = web.RouteTableDef()


@routes.get("/api/v1/announcements")
async def list_announcements(request: web.Request) -> web.Response:
    user = await require_user(request, "read")
    params = await read_params(request)
    entities = await announcement_domain.current_announcements(
        request.app[RESOURCES], user.account_id, with_dismissed=params.boolean("with_dismissed")
    )
    return json_response(entities)


@routes.post(r"/api/v1/announcements/{id:\d+}/dismiss")
async def dismiss_announcement(request: web.Request) -> web.Response:
    user = await require_user(request, "write:accounts")
    await announcement_domain.dismiss(request.app[RESOURCES], user.account_id, path_id(request))
    return json_response({})


async def _react(request: web.Request, *, on: bool) -> web.Response:
    user = await require_user(request, "write:favourites")
    await announcement_domain.react(
        request.app[RESOURCES], user.account_id, path_id(request), request.match_info["name"], on=on
    )
    return json_response({})


@routes.put(r"/api/v1/announcements/{id:\d+}/reactions/{name}")
async def add_reaction(request: web.Request) -> web.Response:
    return await _react(request, on=True)


@routes.delete(r"/api/v1/announcements/{id:\d+}/reactions/{name}")
async def remove_reaction(request: web.Request) -> web.Response:
    return await _react(request, on=False)


# OpenAPI ---------------------------------------------------------------------------------------------

_TAGS = ["announcements"]
_STRING = {"type": "string"}
_TIME = {"type": "string", "format": "date-time"}
_NAME = path("name", "The emoji, URL-encoded")

OPENAPI_COMPONENTS: dict[str, Any] = {
    "Announcement": obj(
        {
            "id": _STRING,
            "content": {"type": "string", "description": "HTML"},
            "starts_at": nullable(_TIME),
            "ends_at": nullable(_TIME),
            "all_day": {"type": "boolean"},
            "published_at": _TIME,
            "updated_at": _TIME,
            "read": {"type": "boolean", "description": "Whether you dismissed it"},
            "mentions": array({"type": "object"}),
            "statuses": array({"type": "object"}),
            "tags": array({"type": "object"}),
            "emojis": array({"type": "object"}),
            "reactions": array(obj({"name": _STRING, "count": {"type": "integer"}, "me": {"type": "boolean"}})),
        },
        description="Mastodon's Announcement, published by the operator with `chirp announce`.",
    ),
}

OPENAPI_PATHS: dict[str, dict[str, Any]] = {
    "/api/v1/announcements": {
        "get": operation(
            "The current announcements, newest first",
            {"200": ok(array(ref("Announcement"))), **errors(401, 403, 422)},
            scopes=["read"],
            parameters=[query("with_dismissed", {"type": "boolean"}, description="Include the dismissed ones")],
            tags=_TAGS,
        )
    },
    "/api/v1/announcements/{id}/dismiss": {
        "post": operation(
            "Dismiss an announcement (mark it read)",
            {"200": ok({"type": "object"}), **errors(401, 403, 404, 422)},
            scopes=["write:accounts"],
            parameters=[path()],
            tags=_TAGS,
        )
    },
    "/api/v1/announcements/{id}/reactions/{name}": {
        "put": operation(
            "React to an announcement with an emoji",
            {"200": ok({"type": "object"}), **errors(401, 403, 404, 422)},
            scopes=["write:favourites"],
            parameters=[path(), _NAME],
            tags=_TAGS,
        ),
        "delete": operation(
            "Take back a reaction to an announcement",
            {"200": ok({"type": "object"}), **errors(401, 403, 404, 422)},
            scopes=["write:favourites"],
            parameters=[path(), _NAME],
            tags=_TAGS,
        ),
    },
}
