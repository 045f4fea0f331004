"""Favourites (likes) and reactions on statuses."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from api.auth import optional_viewer, require_user
from api.http import json_response, read_params
from api.keys import RESOURCES
from api.openapi import array, errors, obj, ok, operation, path, ref
from api.pagination import link_header, page_params
from api.params import LINK_HEADER, PAGINATION_PARAMETERS, limit_parameter, path_id
from domain import likes as like_domain
from handlers.statuses import one_status

routes = web.RouteTableDef()


@routes.post(r"/api/v1/statuses/{id:\d+}/favourite")
async def favourite(request: web.Request) -> web.Response:
    user = await require_user(request, "write:favourites")
    post_id = await like_domain.like_post(request.app[RESOURCES], user.account_id, path_id(request))
    return await one_status(request, post_id, user.account_id)


@routes.post(r"/api/v1/statuses/{id:\d+}/unfavourite")
async def unfavourite(request: web.Request) -> web.Response:
    user = await require_user(request, "write:favourites")
    post_id = await like_domain.unlike_post(request.app[RESOURCES], user.account_id, path_id(request))
    return await one_status(request, post_id, user.account_id)


@routes.get(r"/api/v1/statuses/{id:\d+}/favourited_by")
async def favourited_by(request: web.Request) -> web.Response:
    viewer = await optional_viewer(request, "read:statuses")
    page = page_params(await read_params(request), default_limit=40, max_limit=80)
    accounts, cursors = await like_domain.likers_page(
        request.app[RESOURCES], path_id(request), viewer.account_id if viewer else None, page
    )
    return json_response(accounts, headers=link_header(request, cursors, page))


@routes.get("/api/v1/favourites")
async def favourites(request: web.Request) -> web.Response:
    user = await require_user(request, "read:favourites")
    page = page_params(await read_params(request), default_limit=20, max_limit=40)
    entities, cursors = await like_domain.liked_posts(request.app[RESOURCES], user.account_id, page)
    return json_response(entities, headers=link_header(request, cursors, page))


@routes.put(r"/api/v1/statuses/{id:\d+}/reactions/{name}")
async def add_reaction(request: web.Request) -> web.Response:
    user = await require_user(request, "write:favourites")
    post_id = await like_domain.react(
        request.app[RESOURCES], user.account_id, path_id(request), request.match_info["name"]
    )
    return await one_status(request, post_id, user.account_id)


@routes.delete(r"/api/v1/statuses/{id:\d+}/reactions/{name}")
async def remove_reaction(request: web.Request) -> web.Response:
    user = await require_user(request, "write:favourites")
    post_id = await like_domain.unreact(
        request.app[RESOURCES], user.account_id, path_id(request), request.match_info["name"]
    )
    return await one_status(request, post_id, user.account_id)


@routes.get(r"/api/v1/statuses/{id:\d+}/reactions")
async def list_reactions(request: web.Request) -> web.Response:
    viewer = await optional_viewer(request, "read:statuses")
    reactions = await like_domain.post_reactions(
        request.app[RESOURCES], path_id(request), viewer.account_id if viewer else None
    )
    return json_response(reactions)


# OpenAPI ---------------------------------------------------------------------------------------------

_TAGS = ("statuses",)
_ID_PATH = [path("id")]
_NAME_PATH = path("name", "A reaction name from the server's list (default like, love, dislike, laugh)")

OPENAPI_COMPONENTS: dict[str, Any] = {
    "ReactionWithAccounts": obj(
        {
            "name": {"type": "string"},
            "count": {"type": "integer", "minimum": 1},
            "me": {"type": "boolean"},
            "accounts": array(ref("Account")),
        },
        description="A reaction with the latest (up to 40) accounts that made it.",
    ),
}

OPENAPI_PATHS: dict[str, dict[str, Any]] = {
    "/api/v1/statuses/{id}/favourite": {
        "post": operation(
            "Like a post (idempotent)",
            {"200": ok(ref("Status")), **errors(401, 403, 404)},
            scopes=["write:favourites"],
            parameters=_ID_PATH,
            tags=_TAGS,
        )
    },
    "/api/v1/statuses/{id}/unfavourite": {
        "post": operation(
            "Take a like back (idempotent)",
            {"200": ok(ref("Status")), **errors(401, 403, 404)},
            scopes=["write:favourites"],
            parameters=_ID_PATH,
            tags=_TAGS,
        )
    },
    "/api/v1/statuses/{id}/favourited_by": {
        "get": operation(
            "Accounts that liked a post",
            {"200": ok(array(ref("Account")), headers=LINK_HEADER), **errors(401, 403, 404, 422)},
            parameters=[*_ID_PATH, *PAGINATION_PARAMETERS, limit_parameter(40, 80)],
            tags=_TAGS,
        )
    },
    "/api/v1/favourites": {
        "get": operation(
            "Posts you liked, newest like first",
            {"200": ok(array(ref("Status")), headers=LINK_HEADER), **errors(401, 403, 422)},
            scopes=["read:favourites"],
            parameters=[*PAGINATION_PARAMETERS, limit_parameter(20, 40)],
            tags=_TAGS,
        )
    },
    "/api/v1/statuses/{id}/reactions/{name}": {
        "put": operation(
            "React to a post (idempotent); the reaction `like` is a like",
            {"200": ok(ref("Status")), **errors(401, 403, 404, 422)},
            scopes=["write:favourites"],
            parameters=[*_ID_PATH, _NAME_PATH],
            tags=_TAGS,
        ),
        "delete": operation(
            "Take a reaction back (idempotent)",
            {"200": ok(ref("Status")), **errors(401, 403, 404, 422)},
            scopes=["write:favourites"],
            parameters=[*_ID_PATH, _NAME_PATH],
            tags=_TAGS,
        ),
    },
    "/api/v1/statuses/{id}/reactions": {
        "get": operation(
            "A post's reactions, with who made them",
            {"200": ok(array(ref("ReactionWithAccounts"))), **errors(401, 403, 404)},
            parameters=_ID_PATH,
            tags=_TAGS,
        )
    },
}
