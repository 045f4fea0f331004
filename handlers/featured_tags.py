"""Featured hashtags (Mastodon's /api/v1/featured_tags): the tags one shows on one's profile, the tags one
could feature (one's most used), and another account's featured tags."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from api.auth import optional_viewer, require_user
from api.http import json_response, read_params
from api.keys import RESOURCES
from api.openapi import array, body, errors, nullable, obj, ok, operation, path, ref
from api.params import path_id
from domain import featured_tags as featured_domain

routes = web.RouteTableDef()


@routes.get("/api/v1/featured_tags")
async def my_featured_tags(request: web.Request) -> web.Response:
    user = await require_user(request, "read:accounts")
    return json_response(await featured_domain.featured_tags(request.app[RESOURCES], user.account_id))


@routes.post("/api/v1/featured_tags")
async def feature_tag(request: web.Request) -> web.Response:
    user = await require_user(request, "write:accounts")
    name = (await read_params(request)).required_text("name", max_length=200)
    return json_response(await featured_domain.feature_tag(request.app[RESOURCES], user.account_id, name))


@routes.delete(r"/api/v1/featured_tags/{id:\d+}")
async def unfeature_tag(request: web.Request) -> web.Response:
    user = await require_user(request, "write:accounts")
    await featured_domain.unfeature_tag(request.app[RESOURCES], user.account_id, path_id(request))
    return json_response({})


@routes.get("/api/v1/featured_tags/suggestions")
async def featured_tag_suggestions(request: web.Request) -> web.Response:
    user = await require_user(request, "read:accounts")
    return json_response(await featured_domain.suggested_tags(request.app[RESOURCES], user.account_id))


@routes.get(r"/api/v1/accounts/{id:\d+}/featured_tags")
async def account_featured_tags(request: web.Request) -> web.Response:
    await optional_viewer(request, "read:accounts")
    return json_response(await featured_domain.featured_tags(request.app[RESOURCES], path_id(request)))


# OpenAPI ---------------------------------------------------------------------------------------------

_TAGS = ("featured tags",)
_STRING = {"type": "string"}

OPENAPI_COMPONENTS: dict[str, Any] = {
    "FeaturedTag": obj(
        {
            "id": _STRING,
            "name": _STRING,
            "url": _STRING,
            "statuses_count": _STRING,
            "last_status_at": nullable({"type": "string", "format": "date"}),
        },
        description=(
            "Mastodon's FeaturedTag: the account's public and unlisted posts with the tag, counted when read "
            "(so they follow posts made and deleted), and the day of the latest."
        ),
    ),
}

OPENAPI_PATHS: dict[str, dict[str, Any]] = {
    "/api/v1/featured_tags": {
        "get": operation(
            "Your featured hashtags, oldest first",
            {"200": ok(array(ref("FeaturedTag"))), **errors(401, 403)},
            scopes=["read:accounts"],
            tags=_TAGS,
        ),
        "post": operation(
            "Feature a hashtag on your profile (idempotent; at most 10)",
            {"200": ok(ref("FeaturedTag")), **errors(401, 403, 422)},
            scopes=["write:accounts"],
            request_body=body(obj({"name": {"type": "string", "description": "A hashtag, with or without #"}})),
            tags=_TAGS,
            description="422 for a name that is not a hashtag, or an eleventh featured tag.",
        ),
    },
    "/api/v1/featured_tags/{id}": {
        "delete": operation(
            "Stop featuring a hashtag",
            {"200": ok(obj({})), **errors(401, 403, 404)},
            scopes=["write:accounts"],
            parameters=[path()],
            tags=_TAGS,
        )
    },
    "/api/v1/featured_tags/suggestions": {
        "get": operation(
            "Hashtags you could feature: your most used ones in your last 1,000 posts, not featured yet",
            {"200": ok(array(ref("Tag"))), **errors(401, 403)},
            scopes=["read:accounts"],
            tags=_TAGS,
        )
    },
    "/api/v1/accounts/{id}/featured_tags": {
        "get": operation(
            "An account's featured hashtags",
            {"200": ok(array(ref("FeaturedTag"))), **errors(401, 404)},
            parameters=[path()],
            tags=_TAGS,
        )
    },
}
