"""Polls (issue 23): GET /api/v1/polls/:id and POST /api/v1/polls/:id/votes."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from api.auth import optional_viewer, require_user
from api.http import json_response, read_params, whole_number
from api.keys import RESOURCES
from api.openapi import array, body, errors, nullable, obj, ok, operation, path
from api.params import path_id
from core.errors import validation_error
from domain import polls

routes = web.RouteTableDef()


@routes.get(r"/api/v1/polls/{id:\d+}")
async def get_poll(request: web.Request) -> web.Response:
    viewer = await optional_viewer(request, "read:statuses")
    poll = await polls.get_poll(request.app[RESOURCES], path_id(request), viewer.account_id if viewer else None)
    return json_response(poll)


@routes.post(r"/api/v1/polls/{id:\d+}/votes")
async def vote(request: web.Request) -> web.Response:
    user = await require_user(request, "write:statuses")
    params = await read_params(request)
    choices = [whole_number(choice) for choice in params.strings("choices", max_items=polls.MAX_OPTIONS * 2)]
    if any(choice is None for choice in choices):
        raise validation_error("choices", "must be option indexes (whole numbers from 0)")
    poll = await polls.vote(
        request.app[RESOURCES], user.account_id, path_id(request), [c for c in choices if c is not None]
    )
    return json_response(poll)


# OpenAPI ---------------------------------------------------------------------------------------------

_TAGS = ("polls",)
_ID_PATH = [path("id")]
_COUNT = {"type": "integer", "minimum": 0}

OPENAPI_COMPONENTS: dict[str, Any] = {
    "Poll": obj(
        {
            "id": {"type": "string", "pattern": "^[0-9]+$"},
            "expires_at": {"type": "string", "format": "date-time"},
            "expired": {"type": "boolean"},
            "multiple": {"type": "boolean"},
            "votes_count": _COUNT,
            "voters_count": _COUNT,
            "options": array(obj({"title": {"type": "string"}, "votes_count": nullable(_COUNT)})),
            "emojis": array({"type": "object"}),
            "voted": {"type": "boolean", "description": "signed in only"},
            "own_votes": array({"type": "integer", "minimum": 0}),
        },
        required=["id", "expires_at", "expired", "multiple", "votes_count", "voters_count", "options", "emojis"],
        description="Mastodon's Poll; an option's votes_count is null while hide_totals hides it.",
    ),
}

OPENAPI_PATHS: dict[str, dict[str, Any]] = {
    "/api/v1/polls/{id}": {
        "get": operation(
            "View a poll",
            {"200": ok({"$ref": "#/components/schemas/Poll"}), **errors(401, 403, 404)},
            parameters=_ID_PATH,
            tags=_TAGS,
        )
    },
    "/api/v1/polls/{id}/votes": {
        "post": operation(
            "Vote in a poll (once)",
            {"200": ok({"$ref": "#/components/schemas/Poll"}), **errors(400, 401, 403, 404, 415, 422)},
            scopes=["write:statuses"],
            request_body=body(obj({"choices[]": array({"type": "integer", "minimum": 0})})),
            parameters=_ID_PATH,
            tags=_TAGS,
            description="A second vote, an unknown option or an ended poll is a 422.",
        )
    },
}
