"""Direct-message conversations (issue 23): GET /api/v1/conversations, POST /:id/read, DELETE /:id."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from api.auth import require_user
from api.http import json_response, read_params
from api.keys import RESOURCES
from api.openapi import array, errors, nullable, obj, ok, operation, path, ref
from api.pagination import link_header, page_params
from api.params import LINK_HEADER, PAGINATION_PARAMETERS, limit_parameter, path_id
from domain import conversations

routes = web.RouteTableDef()


@routes.get("/api/v1/conversations")
async def list_conversations(request: web.Request) -> web.Response:
    user = await require_user(request, "read:statuses")
    page = page_params(await read_params(request), default_limit=20, max_limit=40)
    entities, cursors = await conversations.conversations_page(request.app[RESOURCES], user.account_id, page)
    return json_response(entities, headers=link_header(request, cursors, page))


@routes.post(r"/api/v1/conversations/{id:\d+}/read")
async def read_conversation(request: web.Request) -> web.Response:
    user = await require_user(request, "write:conversations")
    return json_response(await conversations.mark_read(request.app[RESOURCES], user.account_id, path_id(request)))


@routes.delete(r"/api/v1/conversations/{id:\d+}")
async def remove_conversation(request: web.Request) -> web.Response:
    user = await require_user(request, "write:conversations")
    await conversations.remove(request.app[RESOURCES], user.account_id, path_id(request))
    return json_response({})


# OpenAPI ---------------------------------------------------------------------------------------------

_TAGS = ("conversations",)
_ID_PATH = [path("id")]

OPENAPI_COMPONENTS: dict[str, Any] = {
    "Conversation": obj(
        {
            "id": {"type": "string", "pattern": "^[0-9]+$"},
            "unread": {"type": "boolean"},
            "accounts": array(ref("Account")),
            "last_status": nullable(ref("Status")),
        },
        description="A thread of direct messages as one participant sees it (Mastodon's Conversation).",
    ),
}

OPENAPI_PATHS: dict[str, dict[str, Any]] = {
    "/api/v1/conversations": {
        "get": operation(
            "Your direct-message conversations, the latest message first",
            {"200": ok(array(ref("Conversation")), headers=LINK_HEADER), **errors(401, 403, 422)},
            scopes=["read:statuses"],
            parameters=[*PAGINATION_PARAMETERS, limit_parameter(20, 40)],
            tags=_TAGS,
            description="Paged by the id of each conversation's latest message.",
        )
    },
    "/api/v1/conversations/{id}/read": {
        "post": operation(
            "Mark a conversation as read",
            {"200": ok(ref("Conversation")), **errors(401, 403, 404)},
            scopes=["write:conversations"],
            parameters=_ID_PATH,
            tags=_TAGS,
        )
    },
    "/api/v1/conversations/{id}": {
        "delete": operation(
            "Remove a conversation from your list (a new message brings it back)",
            {"200": ok(obj({}), "An empty object"), **errors(401, 403, 404)},
            scopes=["write:conversations"],
            parameters=_ID_PATH,
            tags=_TAGS,
        )
    },
}
