"""Hashtags: one tag with its history and whether you follow it, following and unfollowing, followed tags."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from api.auth import optional_viewer, require_user
from api.http import json_response, read_params
from api.keys import RESOURCES
from api.openapi import array, errors, obj, ok, operation, path, ref
from api.pagination import link_header, page_params
from api.params import LINK_HEADER, PAGINATION_PARAMETERS, limit_parameter
from domain import tags as tag_domain

routes = web.RouteTableDef()


@routes.get("/api/v1/tags/{name}")
async def one_tag(request: web.Request) -> web.Response:
    viewer = await optional_viewer(request, "read:statuses")
    account_id = viewer.account_id if viewer else None
    return json_response(await tag_domain.tag(request.app[RESOURCES], request.match_info["name"], account_id))


@routes.post("/api/v1/tags/{name}/follow")
async def follow_tag(request: web.Request) -> web.Response:
    user = await require_user(request, "write:follows")
    return json_response(
        await tag_domain.follow_tag(request.app[RESOURCES], user.account_id, request.match_info["name"])
    )


@routes.post("/api/v1/tags/{name}/unfollow")
async def unfollow_tag(request: web.Request) -> web.Response:
    user = await require_user(request, "write:follows")
    return json_response(
        await tag_domain.unfollow_tag(request.app[RESOURCES], user.account_id, request.match_info["name"])
    )


@routes.get("/api/v1/followed_tags")
async def followed_tags(request: web.Request) -> web.Response:
    user = await require_user(request, "read:follows")
    page = page_params(await read_params(request), default_limit=100, max_limit=200)
    tags, cursors = await tag_domain.followed_tags(request.app[RESOURCES], user.account_id, page)
    return json_response(tags, headers=link_header(request, cursors, page))


# OpenAPI ---------------------------------------------------------------------------------------------

_TAGS = ("tags",)
_NAME = [path("name", "A hashtag, without #")]
_DAY = obj({"day": {"type": "string"}, "uses": {"type": "string"}, "accounts": {"type": "string"}})

OPENAPI_COMPONENTS: dict[str, Any] = {
    "FollowedTag": obj(
        {
            "id": {"type": "string"},
            "name": {"type": "string"},
            "url": {"type": "string"},
            "history": array(_DAY),
            "following": {"type": "boolean"},
        },
        description="A hashtag with its daily use (the last 7 days, newest first) and whether you follow it.",
    ),
}


def _tag_op(summary: str, *, scope: str | None) -> dict[str, Any]:
    return operation(
        summary,
        {"200": ok(ref("FollowedTag")), **errors(401, 403, 422)},
        scopes=[scope] if scope else None,
        parameters=_NAME,
        tags=_TAGS,
    )


OPENAPI_PATHS: dict[str, dict[str, Any]] = {
    "/api/v1/tags/{name}": {"get": _tag_op("A hashtag, its 7-day history and whether you follow it", scope=None)},
    "/api/v1/tags/{name}/follow": {
        "post": _tag_op("Follow a hashtag: its public posts reach your home timeline", scope="write:follows")
    },
    "/api/v1/tags/{name}/unfollow": {"post": _tag_op("Stop following a hashtag", scope="write:follows")},
    "/api/v1/followed_tags": {
        "get": operation(
            "The hashtags you follow, newest first",
            {"200": ok(array(ref("FollowedTag")), headers=LINK_HEADER), **errors(401, 403, 422)},
            scopes=["read:follows"],
            parameters=[*PAGINATION_PARAMETERS, limit_parameter(100, 200)],
            tags=_TAGS,
        )
    },
}
