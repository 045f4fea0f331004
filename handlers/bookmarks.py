"""Bookmarks, pinned posts and endorsed accounts: marks one puts on posts and accounts to find them again."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from api.auth import require_user
from api.http import json_response, read_params
from api.keys import RESOURCES
from api.openapi import array, errors, ok, operation, path, ref
from api.pagination import link_header, page_params
from api.params import LINK_HEADER, PAGINATION_PARAMETERS, limit_parameter, path_id
from domain import bookmarks as bookmark_domain
from domain import endorsements as endorsement_domain
from handlers.statuses import one_status

routes = web.RouteTableDef()


@routes.post(r"/api/v1/statuses/{id:\d+}/bookmark")
async def bookmark(request: web.Request) -> web.Response:
    user = await require_user(request, "write:bookmarks")
    post_id = await bookmark_domain.bookmark_post(request.app[RESOURCES], user.account_id, path_id(request))
    return await one_status(request, post_id, user.account_id)


@routes.post(r"/api/v1/statuses/{id:\d+}/unbookmark")
async def unbookmark(request: web.Request) -> web.Response:
    user = await require_user(request, "write:bookmarks")
    post_id = await bookmark_domain.unbookmark_post(request.app[RESOURCES], user.account_id, path_id(request))
    return await one_status(request, post_id, user.account_id)


@routes.get("/api/v1/bookmarks")
async def bookmarks(request: web.Request) -> web.Response:
    user = await require_user(request, "read:bookmarks")
    page = page_params(await read_params(request), default_limit=20, max_limit=40)
    entities, cursors = await bookmark_domain.bookmarked_posts(request.app[RESOURCES], user.account_id, page)
    return json_response(entities, headers=link_header(request, cursors, page))


@routes.post(r"/api/v1/statuses/{id:\d+}/pin")
async def pin(request: web.Request) -> web.Response:
    user = await require_user(request, "write:accounts")
    post_id = await bookmark_domain.pin_post(request.app[RESOURCES], user.account_id, path_id(request))
    return await one_status(request, post_id, user.account_id)


@routes.post(r"/api/v1/statuses/{id:\d+}/unpin")
async def unpin(request: web.Request) -> web.Response:
    user = await require_user(request, "write:accounts")
    post_id = await bookmark_domain.unpin_post(request.app[RESOURCES], user.account_id, path_id(request))
    return await one_status(request, post_id, user.account_id)


@routes.post(r"/api/v1/accounts/{id:\d+}/endorse")
@routes.post(r"/api/v1/accounts/{id:\d+}/pin")  # Mastodon's name before 4.4 (Mastodon.py's account_pin)
async def endorse(request: web.Request) -> web.Response:
    user = await require_user(request, "write:accounts")
    return json_response(await endorsement_domain.endorse(request.app[RESOURCES], user.account_id, path_id(request)))


@routes.post(r"/api/v1/accounts/{id:\d+}/unendorse")
@routes.post(r"/api/v1/accounts/{id:\d+}/unpin")
async def unendorse(request: web.Request) -> web.Response:
    user = await require_user(request, "write:accounts")
    return json_response(await endorsement_domain.unendorse(request.app[RESOURCES], user.account_id, path_id(request)))


@routes.get("/api/v1/endorsements")
async def endorsements(request: web.Request) -> web.Response:
    user = await require_user(request, "read:accounts")
    page = page_params(await read_params(request), default_limit=40, max_limit=80)
    accounts, cursors = await endorsement_domain.endorsed_accounts(request.app[RESOURCES], user.account_id, page)
    return json_response(accounts, headers=link_header(request, cursors, page))


# OpenAPI ---------------------------------------------------------------------------------------------

_ID_PATH = [path("id")]


def _status_action(summary: str, scope: str, *codes: int) -> dict[str, Any]:
    return {
        "post": operation(
            summary,
            {"200": ok(ref("Status")), **errors(401, 403, 404, *codes)},
            scopes=[scope],
            parameters=_ID_PATH,
            tags=("statuses",),
        )
    }


def _account_action(summary: str) -> dict[str, Any]:
    return {
        "post": operation(
            summary,
            {"200": ok(ref("Relationship")), **errors(401, 403, 404, 422)},
            scopes=["write:accounts"],
            parameters=_ID_PATH,
            tags=("accounts",),
        )
    }


OPENAPI_COMPONENTS: dict[str, Any] = {}

OPENAPI_PATHS: dict[str, dict[str, Any]] = {
    "/api/v1/statuses/{id}/bookmark": _status_action("Bookmark a post (idempotent)", "write:bookmarks"),
    "/api/v1/statuses/{id}/unbookmark": _status_action("Remove a bookmark (idempotent)", "write:bookmarks"),
    "/api/v1/bookmarks": {
        "get": operation(
            "Posts you bookmarked, newest bookmark first",
            {"200": ok(array(ref("Status")), headers=LINK_HEADER), **errors(401, 403, 422)},
            scopes=["read:bookmarks"],
            parameters=[*PAGINATION_PARAMETERS, limit_parameter(20, 40)],
            tags=("statuses",),
        )
    },
    "/api/v1/statuses/{id}/pin": _status_action(
        "Pin one of your public or unlisted posts to your profile (at most five; idempotent)", "write:accounts", 422
    ),
    "/api/v1/statuses/{id}/unpin": _status_action("Unpin a post (idempotent)", "write:accounts"),
    "/api/v1/accounts/{id}/endorse": _account_action("Feature an account you follow on your profile"),
    "/api/v1/accounts/{id}/unendorse": _account_action("Stop featuring an account"),
    "/api/v1/accounts/{id}/pin": _account_action("Feature an account you follow (the name before Mastodon 4.4)"),
    "/api/v1/accounts/{id}/unpin": _account_action("Stop featuring an account (the name before Mastodon 4.4)"),
    "/api/v1/endorsements": {
        "get": operation(
            "Accounts you feature on your profile",
            {"200": ok(array(ref("Account")), headers=LINK_HEADER), **errors(401, 403, 422)},
            scopes=["read:accounts"],
            parameters=[*PAGINATION_PARAMETERS, limit_parameter(40, 80)],
            tags=("accounts",),
        )
    },
}
