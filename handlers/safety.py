"""Blocks, mutes (accounts and conversations), private account notes, removing a follower, and the empty
domain blocks of a server that does not federate. HTTP only: the rules are in domain/blocks.py and
domain/mutes.py, and what they hide is decided in domain/visibility.py."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from api.auth import require_user
from api.http import json_response, read_params
from api.keys import RESOURCES
from api.openapi import array, body, errors, obj, ok, operation, path, ref
from api.pagination import link_header, page_params
from api.params import LINK_HEADER, PAGINATION_PARAMETERS, limit_parameter, path_id
from domain import blocks as block_domain
from domain import mutes as mute_domain
from domain.post_entities import post_entities

routes = web.RouteTableDef()

MAX_NOTE_LENGTH = 2_000


@routes.post(r"/api/v1/accounts/{id:\d+}/block")
async def block(request: web.Request) -> web.Response:
    user = await require_user(request, "write:blocks")
    return json_response(await block_domain.block(request.app[RESOURCES], user.account_id, path_id(request)))


@routes.post(r"/api/v1/accounts/{id:\d+}/unblock")
async def unblock(request: web.Request) -> web.Response:
    user = await require_user(request, "write:blocks")
    return json_response(await block_domain.unblock(request.app[RESOURCES], user.account_id, path_id(request)))


@routes.get("/api/v1/blocks")
async def blocks(request: web.Request) -> web.Response:
    user = await require_user(request, "read:blocks")
    page = page_params(await read_params(request), default_limit=40, max_limit=80)
    accounts, cursors = await block_domain.blocks_page(request.app[RESOURCES], user.account_id, page)
    return json_response(accounts, headers=link_header(request, cursors, page))


@routes.post(r"/api/v1/accounts/{id:\d+}/mute")
async def mute(request: web.Request) -> web.Response:
    user = await require_user(request, "write:mutes")
    params = await read_params(request)
    relationship = await mute_domain.mute(
        request.app[RESOURCES],
        user.account_id,
        path_id(request),
        notifications=params.boolean("notifications", default=True),
        duration=params.integer("duration", default=0, low=0, high=mute_domain.MAX_DURATION_SECONDS),
    )
    return json_response(relationship)


@routes.post(r"/api/v1/accounts/{id:\d+}/unmute")
async def unmute(request: web.Request) -> web.Response:
    user = await require_user(request, "write:mutes")
    return json_response(await mute_domain.unmute(request.app[RESOURCES], user.account_id, path_id(request)))


@routes.get("/api/v1/mutes")
async def mutes(request: web.Request) -> web.Response:
    user = await require_user(request, "read:mutes")
    page = page_params(await read_params(request), default_limit=40, max_limit=80)
    accounts, cursors = await mute_domain.mutes_page(request.app[RESOURCES], user.account_id, page)
    return json_response(accounts, headers=link_header(request, cursors, page))


async def _conversation(request: web.Request, *, muted: bool) -> web.Response:
    user = await require_user(request, "write:mutes")
    res = request.app[RESOURCES]
    post_id = await mute_domain.mute_conversation(res, user.account_id, path_id(request), muted=muted)
    entities = await post_entities(res, [post_id], user.account_id)
    return json_response({**entities[0], "muted": muted} if entities else {})


@routes.post(r"/api/v1/statuses/{id:\d+}/mute")
async def mute_conversation(request: web.Request) -> web.Response:
    return await _conversation(request, muted=True)


@routes.post(r"/api/v1/statuses/{id:\d+}/unmute")
async def unmute_conversation(request: web.Request) -> web.Response:
    return await _conversation(request, muted=False)


@routes.post(r"/api/v1/accounts/{id:\d+}/note")
async def note(request: web.Request) -> web.Response:
    user = await require_user(request, "write:accounts")
    params = await read_params(request)
    comment = params.text("comment", default="", max_length=MAX_NOTE_LENGTH) or ""
    return json_response(await mute_domain.set_note(request.app[RESOURCES], user.account_id, path_id(request), comment))


@routes.post(r"/api/v1/accounts/{id:\d+}/remove_from_followers")
async def remove_from_followers(request: web.Request) -> web.Response:
    user = await require_user(request, "write:follows")
    res = request.app[RESOURCES]
    return json_response(await block_domain.remove_from_followers(res, user.account_id, path_id(request)))


@routes.get("/api/v1/domain_blocks")
async def domain_blocks(request: web.Request) -> web.Response:
    await require_user(request, "read:blocks")
    return json_response([])  # Chirp does not federate: there are no other domains to block


# OpenAPI ---------------------------------------------------------------------------------------------

_TAGS = ("accounts",)
_ID = [path("id")]


def _relationship_op(summary: str, scope: str, *, request_body: dict[str, Any] | None = None) -> dict[str, Any]:
    return operation(
        summary,
        {"200": ok(ref("Relationship")), **errors(401, 403, 404, 422)},
        scopes=[scope],
        parameters=_ID,
        tags=_TAGS,
        request_body=request_body,
    )


def _list_op(summary: str, scope: str) -> dict[str, Any]:
    return operation(
        summary,
        {"200": ok(array(ref("Account")), headers=LINK_HEADER), **errors(401, 403, 422)},
        scopes=[scope],
        parameters=[*PAGINATION_PARAMETERS, limit_parameter(40, 80)],
        tags=_TAGS,
    )


def _conversation_op(summary: str) -> dict[str, Any]:
    return operation(
        summary,
        {"200": ok(ref("Status")), **errors(401, 403, 404)},
        scopes=["write:mutes"],
        parameters=_ID,
        tags=("statuses",),
    )


_MUTE_BODY = body(
    obj(
        {"notifications": {"type": "boolean"}, "duration": {"type": "integer", "minimum": 0}},
        required=[],
        description="notifications defaults to true; duration in seconds, 0 (the default) for no end",
    ),
    required=False,
)

OPENAPI_COMPONENTS: dict[str, Any] = {}

OPENAPI_PATHS: dict[str, dict[str, Any]] = {
    "/api/v1/accounts/{id}/block": {"post": _relationship_op("Block an account (ends follows)", "write:blocks")},
    "/api/v1/accounts/{id}/unblock": {"post": _relationship_op("Unblock an account", "write:blocks")},
    "/api/v1/blocks": {"get": _list_op("Accounts you block", "read:blocks")},
    "/api/v1/accounts/{id}/mute": {
        "post": _relationship_op("Mute an account, for a while or for good", "write:mutes", request_body=_MUTE_BODY)
    },
    "/api/v1/accounts/{id}/unmute": {"post": _relationship_op("Unmute an account", "write:mutes")},
    "/api/v1/mutes": {"get": _list_op("Accounts you mute (with mute_expires_at)", "read:mutes")},
    "/api/v1/statuses/{id}/mute": {"post": _conversation_op("Mute a post's conversation (its notifications)")},
    "/api/v1/statuses/{id}/unmute": {"post": _conversation_op("Unmute a post's conversation")},
    "/api/v1/accounts/{id}/note": {
        "post": _relationship_op(
            "Set your private note about an account (empty removes it)",
            "write:accounts",
            request_body=body(obj({"comment": {"type": "string"}}, required=[]), required=False),
        )
    },
    "/api/v1/accounts/{id}/remove_from_followers": {
        "post": _relationship_op("Make an account stop following you", "write:follows")
    },
    "/api/v1/domain_blocks": {
        "get": operation(
            "Blocked domains: always empty (Chirp does not federate)",
            {"200": ok(array({"type": "string"})), **errors(401, 403)},
            scopes=["read:blocks"],
            tags=_TAGS,
        )
    },
}
