"""Reblogs (reposts) of statuses."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from api.auth import optional_viewer, require_user
from api.http import json_response, read_params
from api.keys import RESOURCES
from api.openapi import array, body, errors, obj, ok, operation, path, ref
from api.pagination import link_header, page_params
from api.params import LINK_HEADER, PAGINATION_PARAMETERS, limit_parameter, path_id
from domain import reposts as repost_domain
from handlers.statuses import one_status

routes = web.RouteTableDef()


@routes.post(r"/api/v1/statuses/{id:\d+}/reblog")
async def reblog(request: web.Request) -> web.Response:
    user = await require_user(request, "write:statuses")
    params = await read_params(request)
    repost_id = await repost_domain.repost(
        request.app[RESOURCES],
        user.account_id,
        path_id(request),
        visibility=params.choice("visibility", repost_domain.REPOST_VISIBILITIES),
        application_id=user.app_id,
    )
    return await one_status(request, repost_id, user.account_id)


@routes.post(r"/api/v1/statuses/{id:\d+}/unreblog")
async def unreblog(request: web.Request) -> web.Response:
    user = await require_user(request, "write:statuses")
    post_id = await repost_domain.unrepost(request.app[RESOURCES], user.account_id, path_id(request))
    return await one_status(request, post_id, user.account_id)


@routes.get(r"/api/v1/statuses/{id:\d+}/reblogged_by")
async def reblogged_by(request: web.Request) -> web.Response:
    viewer = await optional_viewer(request, "read:statuses")
    page = page_params(await read_params(request), default_limit=40, max_limit=80)
    accounts, cursors = await repost_domain.reposters_page(
        request.app[RESOURCES], path_id(request), viewer.account_id if viewer else None, page
    )
    return json_response(accounts, headers=link_header(request, cursors, page))


# OpenAPI ---------------------------------------------------------------------------------------------

_TAGS = ("statuses",)
_ID_PATH = [path("id")]

OPENAPI_PATHS: dict[str, dict[str, Any]] = {
    "/api/v1/statuses/{id}/reblog": {
        "post": operation(
            "Repost a post (idempotent: one repost per account)",
            {
                "200": ok(ref("Status"), "The repost, with the original in `reblog`"),
                **errors(401, 403, 404, 422),
            },
            scopes=["write:statuses"],
            request_body=body(
                obj({"visibility": {"type": "string", "enum": list(repost_domain.REPOST_VISIBILITIES)}}, required=[]),
                required=False,
            ),
            parameters=_ID_PATH,
            tags=_TAGS,
            description="Private posts cannot be reposted (403), except by their author, privately.",
        )
    },
    "/api/v1/statuses/{id}/unreblog": {
        "post": operation(
            "Undo a repost (idempotent)",
            {"200": ok(ref("Status"), "The original post"), **errors(401, 403, 404)},
            scopes=["write:statuses"],
            parameters=_ID_PATH,
            tags=_TAGS,
        )
    },
    "/api/v1/statuses/{id}/reblogged_by": {
        "get": operation(
            "Accounts that reposted a post",
            {"200": ok(array(ref("Account")), headers=LINK_HEADER), **errors(401, 403, 404, 422)},
            parameters=[*_ID_PATH, *PAGINATION_PARAMETERS, limit_parameter(40, 80)],
            tags=_TAGS,
        )
    },
}
