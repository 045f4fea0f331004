"""Search (Mastodon's GET /api/v2/search): accounts, statuses and hashtags, with Chirp's query operators."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from api.auth import optional_viewer
from api.http import json_response, read_params
from api.keys import RESOURCES
from api.openapi import array, errors, obj, ok, operation, query, ref
from domain.search import SORTS, TYPES, SearchRequest, search

routes = web.RouteTableDef()

MAX_QUERY = 500
MAX_OFFSET = 10_000


@routes.get("/api/v2/search")
async def search_route(request: web.Request) -> web.Response:
    viewer = await optional_viewer(request, "read:search")
    params = await read_params(request)
    kind = params.choice("type", TYPES)
    result = await search(
        request.app[RESOURCES],
        viewer.account_id if viewer is not None else None,
        SearchRequest(
            q=params.required_text("q", max_length=MAX_QUERY),
            types=(kind,) if kind else TYPES,
            limit=params.integer("limit", default=20, low=1, high=40, clamp=True),
            offset=params.integer("offset", default=0, low=0, high=MAX_OFFSET),
            sort=params.choice("sort", SORTS, default="relevant") or "relevant",
            account_id=params.ident("account_id"),
            min_id=params.ident("min_id"),
            max_id=params.ident("max_id"),
            following=params.boolean("following"),
        ),
    )
    return json_response(result)


_STRING = {"type": "string"}
_ID = {"type": "string", "pattern": "^[0-9]+$"}

OPENAPI_COMPONENTS: dict[str, Any] = {
    "Tag": obj(
        {
            "id": _ID,
            "name": _STRING,
            "url": {"type": "string", "format": "uri"},
            "history": array({"type": "object"}),
        },
        description=(
            "Mastodon's Tag entity; `id` is derived from the name (Chirp keeps no table of tags) and no usage "
            "history is kept, so `history` is empty."
        ),
    ),
    "SearchResults": obj(
        {"accounts": array(ref("Account")), "statuses": array(ref("Status")), "hashtags": array(ref("Tag"))},
        description="Mastodon's Search entity.",
    ),
}

OPENAPI_PATHS: dict[str, dict[str, Any]] = {
    "/api/v2/search": {
        "get": operation(
            "Search accounts, posts and hashtags",
            {"200": ok(ref("SearchResults")), **errors(401, 403, 422, 503)},
            parameters=[
                query(
                    "q",
                    _STRING,
                    required=True,
                    description=(
                        'Words, "exact phrases", -word, and the operators from:username, #tag, has:media, '
                        "is:reply, is:repost, lang:xx, since:YYYY-MM-DD, until:YYYY-MM-DD (statuses only)"
                    ),
                ),
                query("type", {"type": "string", "enum": list(TYPES)}, description="Only this kind of result"),
                query("limit", {"type": "integer", "minimum": 1, "maximum": 40, "default": 20}),
                query("offset", {"type": "integer", "minimum": 0, "maximum": MAX_OFFSET, "default": 0}),
                query(
                    "sort",
                    {"type": "string", "enum": list(SORTS), "default": "relevant"},
                    description="Chirp extension: statuses by relevance or newest first",
                ),
                query("account_id", _ID, description="Only statuses by this account"),
                query("min_id", _ID, description="Only statuses newer than this id"),
                query("max_id", _ID, description="Only statuses older than this id"),
                query("following", {"type": "boolean"}, description="Only accounts the user follows"),
            ],
            tags=("search",),
            description=(
                "Public and unlisted posts are found by everyone; private ones by their author, the accounts "
                "they mention and followers of the author. 503 `search is unavailable` when Meilisearch is down."
            ),
        )
    }
}
