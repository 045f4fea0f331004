"""Following accounts, their followers and followings, relationships, and a locked account's follow requests."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from api.auth import optional_viewer, require_user
from api.http import Params, json_response, read_params
from api.keys import RESOURCES
from api.openapi import array, body, errors, nullable, obj, ok, operation, path, query, ref
from api.pagination import link_header, page_params
from api.params import LINK_HEADER, PAGINATION_PARAMETERS, limit_parameter, path_id
from domain import follow_requests as request_domain
from domain import follows as follow_domain

routes = web.RouteTableDef()

MAX_RELATIONSHIPS = 100


def _optional_flag(params: Params, name: str) -> bool | None:
    return params.boolean(name) if name in params else None


@routes.post(r"/api/v1/accounts/{id:\d+}/follow")
async def follow(request: web.Request) -> web.Response:
    user = await require_user(request, "write:follows")
    params = await read_params(request)
    relationship = await follow_domain.follow(
        request.app[RESOURCES],
        user.account_id,
        path_id(request),
        show_reposts=_optional_flag(params, "reblogs"),
        notify=_optional_flag(params, "notify"),
    )
    return json_response(relationship)


@routes.post(r"/api/v1/accounts/{id:\d+}/unfollow")
async def unfollow(request: web.Request) -> web.Response:
    user = await require_user(request, "write:follows")
    relationship = await follow_domain.unfollow(request.app[RESOURCES], user.account_id, path_id(request))
    return json_response(relationship)


@routes.get(r"/api/v1/accounts/{id:\d+}/followers")
async def followers(request: web.Request) -> web.Response:
    await optional_viewer(request, "read:accounts")
    page = page_params(await read_params(request), default_limit=40, max_limit=80)
    accounts, cursors = await follow_domain.followers_page(request.app[RESOURCES], path_id(request), page)
    return json_response(accounts, headers=link_header(request, cursors, page))


@routes.get(r"/api/v1/accounts/{id:\d+}/following")
async def following(request: web.Request) -> web.Response:
    await optional_viewer(request, "read:accounts")
    page = page_params(await read_params(request), default_limit=40, max_limit=80)
    accounts, cursors = await follow_domain.following_page(request.app[RESOURCES], path_id(request), page)
    return json_response(accounts, headers=link_header(request, cursors, page))


@routes.get("/api/v1/accounts/relationships")
async def relationships(request: web.Request) -> web.Response:
    user = await require_user(request, "read:follows")
    params = await read_params(request)
    ids = params.idents("id", max_items=MAX_RELATIONSHIPS)
    return json_response(await follow_domain.relationships(request.app[RESOURCES], user.account_id, ids))


@routes.get("/api/v1/follow_requests")
async def follow_requests(request: web.Request) -> web.Response:
    user = await require_user(request, "read:follows")
    page = page_params(await read_params(request), default_limit=40, max_limit=80)
    accounts, cursors = await request_domain.requests_page(request.app[RESOURCES], user.account_id, page)
    return json_response(accounts, headers=link_header(request, cursors, page))


@routes.post(r"/api/v1/follow_requests/{id:\d+}/authorize")
async def authorize_follow_request(request: web.Request) -> web.Response:
    user = await require_user(request, "write:follows")
    relationship = await request_domain.authorize(request.app[RESOURCES], user.account_id, path_id(request))
    return json_response(relationship)


@routes.post(r"/api/v1/follow_requests/{id:\d+}/reject")
async def reject_follow_request(request: web.Request) -> web.Response:
    user = await require_user(request, "write:follows")
    relationship = await request_domain.reject(request.app[RESOURCES], user.account_id, path_id(request))
    return json_response(relationship)


# OpenAPI ---------------------------------------------------------------------------------------------

_BOOL = {"type": "boolean"}
_TAGS = ("accounts",)
_ID_PATH = [path("id")]

OPENAPI_COMPONENTS: dict[str, Any] = {
    "Relationship": obj(
        {
            "id": {"type": "string"},
            "following": _BOOL,
            "showing_reblogs": _BOOL,
            "notifying": _BOOL,
            "languages": nullable(array({"type": "string"})),
            "followed_by": _BOOL,
            "blocking": _BOOL,
            "blocked_by": _BOOL,
            "muting": _BOOL,
            "muting_notifications": _BOOL,
            "requested": _BOOL,
            "requested_by": _BOOL,
            "domain_blocking": _BOOL,
            "endorsed": _BOOL,
            "note": {"type": "string"},
        },
        description="Mastodon's Relationship: how the signed-in account relates to another.",
    ),
}

OPENAPI_PATHS: dict[str, dict[str, Any]] = {
    "/api/v1/accounts/{id}/follow": {
        "post": operation(
            "Follow an account (idempotent; groups and bots alike); a locked one is asked instead",
            {"200": ok(ref("Relationship")), **errors(401, 403, 404, 422)},
            scopes=["write:follows"],
            request_body=body(
                obj({"reblogs": _BOOL, "notify": _BOOL}, required=[], description="reblogs defaults to true"),
                required=False,
            ),
            parameters=_ID_PATH,
            tags=_TAGS,
            description="Following yourself is a 403.",
        )
    },
    "/api/v1/accounts/{id}/unfollow": {
        "post": operation(
            "Stop following an account (idempotent)",
            {"200": ok(ref("Relationship")), **errors(401, 403, 404)},
            scopes=["write:follows"],
            parameters=_ID_PATH,
            tags=_TAGS,
        )
    },
    "/api/v1/accounts/{id}/followers": {
        "get": operation(
            "An account's followers, newest first",
            {"200": ok(array(ref("Account")), headers=LINK_HEADER), **errors(401, 403, 404, 422)},
            parameters=[*_ID_PATH, *PAGINATION_PARAMETERS, limit_parameter(40, 80)],
            tags=_TAGS,
        )
    },
    "/api/v1/accounts/{id}/following": {
        "get": operation(
            "The accounts an account follows, newest first",
            {"200": ok(array(ref("Account")), headers=LINK_HEADER), **errors(401, 403, 404, 422)},
            parameters=[*_ID_PATH, *PAGINATION_PARAMETERS, limit_parameter(40, 80)],
            tags=_TAGS,
        )
    },
    "/api/v1/follow_requests": {
        "get": operation(
            "The accounts asking to follow you, newest first",
            {"200": ok(array(ref("Account")), headers=LINK_HEADER), **errors(401, 403, 422)},
            scopes=["read:follows"],
            parameters=[*PAGINATION_PARAMETERS, limit_parameter(40, 80)],
            tags=["follow_requests"],
        )
    },
    **{
        f"/api/v1/follow_requests/{{id}}/{verb}": {
            "post": operation(
                f"{verb.capitalize()} an account's request to follow you",
                {"200": ok(ref("Relationship")), **errors(401, 403, 404)},
                scopes=["write:follows"],
                parameters=[path("id", "The id of the account that asked")],
                tags=["follow_requests"],
                description="404 when that account has not asked.",
            )
        }
        for verb in ("authorize", "reject")
    },
    "/api/v1/accounts/relationships": {
        "get": operation(
            "Your relationships to the given accounts",
            {"200": ok(array(ref("Relationship"))), **errors(401, 403, 422)},
            scopes=["read:follows"],
            parameters=[query("id[]", array({"type": "string"}), required=True)],
            tags=_TAGS,
        )
    },
}
