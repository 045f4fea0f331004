"""Timelines: home (Valkey, fan-out on write), public and hashtag (PostgreSQL indexes)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from api.auth import optional_viewer, require_user
from api.http import Params, json_documents_response, read_params
from api.keys import RESOURCES
from api.openapi import array, errors, ok, operation, path, query, ref
from api.pagination import link_header, page_params
from api.params import LINK_HEADER, PAGINATION_PARAMETERS, limit_parameter
from core.pagination import Page
from domain import timelines

routes = web.RouteTableDef()

MAX_TAG_LENGTH = 200


def _statuses(request: web.Request, entities: list[bytes], cursors: list[int], page: Page) -> web.Response:
    """Statuses already rendered as JSON go out as they are, with the page's Link header."""
    return json_documents_response(entities, headers=link_header(request, cursors, page))


@routes.get("/api/v1/timelines/home")
async def home(request: web.Request) -> web.Response:
    user = await require_user(request, "read:statuses")
    page = page_params(await read_params(request), default_limit=20, max_limit=40)
    entities, cursors = await timelines.home_timeline(request.app[RESOURCES], user.account_id, page)
    return _statuses(request, entities, cursors, page)


@routes.get("/api/v1/timelines/public")
async def public(request: web.Request) -> web.Response:
    viewer = await optional_viewer(request, "read:statuses")
    params = await read_params(request)
    page = page_params(params, default_limit=20, max_limit=40)
    params.boolean("local")  # validated; every post here is local, so it changes nothing
    entities, cursors = await timelines.public_timeline(
        request.app[RESOURCES],
        viewer.account_id if viewer else None,
        page,
        remote=params.boolean("remote"),
        only_media=params.boolean("only_media"),
    )
    return _statuses(request, entities, cursors, page)


def _tags(params: Params, name: str) -> list[str]:
    return params.strings(name, max_items=timelines.MAX_EXTRA_TAGS)


@routes.get("/api/v1/timelines/tag/{hashtag}")
async def tag(request: web.Request) -> web.Response:
    viewer = await optional_viewer(request, "read:statuses")
    params = await read_params(request)
    page = page_params(params, default_limit=20, max_limit=40)
    params.boolean("local")
    hashtag = request.match_info["hashtag"][:MAX_TAG_LENGTH]
    entities, cursors = await timelines.tag_timeline(
        request.app[RESOURCES],
        viewer.account_id if viewer else None,
        page,
        hashtag,
        any_tags=_tags(params, "any"),
        all_tags=_tags(params, "all"),
        no_tags=_tags(params, "none"),
        remote=params.boolean("remote"),
        only_media=params.boolean("only_media"),
    )
    return _statuses(request, entities, cursors, page)


# OpenAPI ---------------------------------------------------------------------------------------------

_BOOL = {"type": "boolean"}
_TAGS = ("timelines",)
_PAGE = [*PAGINATION_PARAMETERS, limit_parameter(20, 40)]
_STATUSES = ok(array(ref("Status")), "Newest first", headers=LINK_HEADER)
_EXTRA_TAGS = {"type": "array", "items": {"type": "string"}, "maxItems": timelines.MAX_EXTRA_TAGS}

OPENAPI_PATHS: dict[str, dict[str, Any]] = {
    "/api/v1/timelines/home": {
        "get": operation(
            "The home timeline: posts of followed accounts and your own",
            {"200": _STATUSES, **errors(401, 403, 422)},
            scopes=["read:statuses"],
            parameters=_PAGE,
            tags=_TAGS,
            description="Served from Valkey (the newest 800 entries); rebuilt from PostgreSQL when missing.",
        )
    },
    "/api/v1/timelines/public": {
        "get": operation(
            "Public posts (no reposts, no replies to others)",
            {"200": _STATUSES, **errors(401, 403, 422)},
            parameters=[
                *_PAGE,
                query("local", _BOOL, description="Only local posts (every post is local)"),
                query("remote", _BOOL, description="Only remote posts (none: Chirp does not federate)"),
                query("only_media", _BOOL),
            ],
            tags=_TAGS,
        )
    },
    "/api/v1/timelines/tag/{hashtag}": {
        "get": operation(
            "Public posts with a hashtag",
            {"200": _STATUSES, **errors(401, 403, 422)},
            parameters=[
                path("hashtag", "The hashtag, without #"),
                *_PAGE,
                query("any[]", _EXTRA_TAGS, description="Also posts with any of these hashtags"),
                query("all[]", _EXTRA_TAGS, description="Only posts that also have all of these"),
                query("none[]", _EXTRA_TAGS, description="Only posts that have none of these"),
                query("local", _BOOL),
                query("remote", _BOOL, description="Only remote posts (none)"),
                query("only_media", _BOOL),
            ],
            tags=_TAGS,
        )
    },
}
