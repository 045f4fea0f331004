"""Trends (Mastodon's /api/v1/trends/*): the hashtags, posts and links the trends pass found rising
(domain/trends.py), paged by offset."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from api.auth import optional_viewer
from api.http import json_response, read_params
from api.keys import RESOURCES
from api.openapi import array, errors, nullable, obj, ok, operation, query, ref
from api.pagination import offset_link_header
from domain import trends

routes = web.RouteTableDef()

MAX_OFFSET = 1_000


async def _page(request: web.Request, default: int, maximum: int) -> tuple[int, int]:
    params = await read_params(request)
    limit = params.integer("limit", default=default, low=1, high=maximum, clamp=True)
    return params.integer("offset", default=0, low=0, high=MAX_OFFSET), limit


def _paged(request: web.Request, found: list[dict[str, Any]], offset: int, limit: int) -> web.Response:
    return json_response(found, headers=offset_link_header(request, offset=offset, limit=limit, returned=len(found)))


@routes.get("/api/v1/trends/tags")
@routes.get("/api/v1/trends")  # Mastodon's older name for trending tags
async def trending_tags(request: web.Request) -> web.Response:
    viewer = await optional_viewer(request, "read")
    offset, limit = await _page(request, 10, 20)
    found = await trends.trending_tags(
        request.app[RESOURCES], viewer.account_id if viewer else None, offset=offset, limit=limit
    )
    return _paged(request, found, offset, limit)


@routes.get("/api/v1/trends/statuses")
async def trending_statuses(request: web.Request) -> web.Response:
    viewer = await optional_viewer(request, "read:statuses")
    offset, limit = await _page(request, 20, 40)
    found = await trends.trending_posts(
        request.app[RESOURCES], viewer.account_id if viewer else None, offset=offset, limit=limit
    )
    return _paged(request, found, offset, limit)


@routes.get("/api/v1/trends/links")
async def trending_links(request: web.Request) -> web.Response:
    await optional_viewer(request, "read")
    offset, limit = await _page(request, 10, 20)
    return _paged(
        request, await trends.trending_links(request.app[RESOURCES], offset=offset, limit=limit), offset, limit
    )


# OpenAPI ---------------------------------------------------------------------------------------------

_TAGS = ("trends",)
_STRING = {"type": "string"}
_DAY = obj({"day": _STRING, "uses": _STRING, "accounts": _STRING})
_LINK = {"Link": {"description": "next/prev pages by offset (RFC 8288)", "schema": _STRING}}

OPENAPI_COMPONENTS: dict[str, Any] = {
    "TrendingTag": obj(
        {
            "id": _STRING,
            "name": _STRING,
            "url": _STRING,
            "history": array(_DAY),
            "following": {"type": "boolean"},
        },
        required=["id", "name", "url", "history"],
        description="A trending hashtag: its public use on each of the last 7 UTC days, newest first; "
        "`following` for a signed-in viewer.",
    ),
    "TrendsLink": obj(
        {
            "url": _STRING,
            "title": _STRING,
            "description": _STRING,
            "type": {"type": "string", "enum": ["link"]},
            "author_name": _STRING,
            "author_url": _STRING,
            "provider_name": _STRING,
            "provider_url": _STRING,
            "html": _STRING,
            "width": {"type": "integer"},
            "height": {"type": "integer"},
            "image": nullable(_STRING),
            "image_description": _STRING,
            "embed_url": _STRING,
            "blurhash": nullable(_STRING),
            "published_at": nullable(_STRING),
            "authors": array({"type": "object"}),
            "history": array(_DAY),
        },
        description="Mastodon's Trends::Link. Chirp fetches no outside page, so the title is the URL.",
    ),
}


def _op(summary: str, item: str, default: int, maximum: int) -> dict[str, Any]:
    return operation(
        summary,
        {"200": ok(array(ref(item)), headers=_LINK), **errors(401, 422)},
        parameters=[
            query("limit", {"type": "integer", "minimum": 1, "maximum": maximum, "default": default}),
            query("offset", {"type": "integer", "minimum": 0, "maximum": MAX_OFFSET, "default": 0}),
        ],
        tags=_TAGS,
        description="Recomputed by the worker every few minutes from public, non-sensitive posts of accounts "
        "neither silenced nor suspended, with recent use weighing most.",
    )


OPENAPI_PATHS: dict[str, dict[str, Any]] = {
    "/api/v1/trends/tags": {"get": _op("Trending hashtags", "TrendingTag", 10, 20)},
    "/api/v1/trends": {"get": _op("Trending hashtags (the older name of /api/v1/trends/tags)", "TrendingTag", 10, 20)},
    "/api/v1/trends/statuses": {"get": _op("Trending posts", "Status", 20, 40)},
    "/api/v1/trends/links": {"get": _op("Trending links", "TrendsLink", 10, 20)},
}
