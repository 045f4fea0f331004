"""Finding people: account search (Mastodon's /api/v1/accounts/search), familiar followers, the profile
directory and suggested accounts (v1 and v2), with dismissing a suggestion."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from api.auth import optional_viewer, require_user
from api.http import json_response, read_params
from api.keys import RESOURCES
from api.openapi import array, errors, obj, ok, operation, path, query, ref
from api.pagination import offset_link_header
from api.params import path_id
from domain import people
from domain.search import SearchRequest, search_accounts
from handlers.search import MAX_OFFSET, MAX_QUERY

routes = web.RouteTableDef()

MAX_FAMILIAR_IDS = 40


@routes.get("/api/v1/accounts/search")
async def account_search(request: web.Request) -> web.Response:
    user = await require_user(request, "read:accounts")
    params = await read_params(request)
    params.boolean("resolve")  # nothing to resolve: Chirp does not federate, but a bad value is still a 422
    limit = params.integer("limit", default=40, low=1, high=80, clamp=True)
    offset = params.integer("offset", default=0, low=0, high=MAX_OFFSET)
    found = await search_accounts(
        request.app[RESOURCES],
        user.account_id,
        SearchRequest(
            q=params.required_text("q", max_length=MAX_QUERY),
            types=("accounts",),
            limit=limit,
            offset=offset,
            following=params.boolean("following"),
        ),
    )
    return json_response(found, headers=offset_link_header(request, offset=offset, limit=limit, returned=len(found)))


@routes.get("/api/v1/accounts/familiar_followers")
async def familiar_followers(request: web.Request) -> web.Response:
    user = await require_user(request, "read:follows")
    ids = (await read_params(request)).idents("id", max_items=MAX_FAMILIAR_IDS)
    return json_response(await people.familiar_followers(request.app[RESOURCES], user.account_id, ids))


@routes.get("/api/v1/directory")
async def directory(request: web.Request) -> web.Response:
    viewer = await optional_viewer(request, "read:accounts")
    params = await read_params(request)
    params.boolean("local")  # every account here is local
    order = params.choice("order", people.DIRECTORY_ORDERS, default="active") or "active"
    limit = params.integer("limit", default=40, low=1, high=80, clamp=True)
    offset = params.integer("offset", default=0, low=0, high=MAX_OFFSET)
    found = await people.directory(
        request.app[RESOURCES], viewer.account_id if viewer else None, order=order, offset=offset, limit=limit
    )
    return json_response(found, headers=offset_link_header(request, offset=offset, limit=limit, returned=len(found)))


async def _suggestions(request: web.Request) -> list[dict[str, Any]]:
    user = await require_user(request, "read:accounts")
    limit = (await read_params(request)).integer("limit", default=40, low=1, high=80, clamp=True)
    return await people.suggestions(request.app[RESOURCES], user.account_id, limit)


@routes.get("/api/v2/suggestions")
async def suggestions(request: web.Request) -> web.Response:
    return json_response(await _suggestions(request))


@routes.get("/api/v1/suggestions")
async def suggestions_v1(request: web.Request) -> web.Response:
    return json_response([suggestion["account"] for suggestion in await _suggestions(request)])


@routes.delete(r"/api/v1/suggestions/{id:\d+}")
async def dismiss_suggestion(request: web.Request) -> web.Response:
    user = await require_user(request, "read:accounts")
    await people.dismiss_suggestion(request.app[RESOURCES], user.account_id, path_id(request))
    return json_response({})


# OpenAPI ---------------------------------------------------------------------------------------------

_TAGS = ("people",)
_LIMIT = query("limit", {"type": "integer", "minimum": 1, "maximum": 80, "default": 40})
_OFFSET = query("offset", {"type": "integer", "minimum": 0, "maximum": MAX_OFFSET, "default": 0})
_LINK = {"Link": {"description": "next/prev pages by offset (RFC 8288)", "schema": {"type": "string"}}}

OPENAPI_COMPONENTS: dict[str, Any] = {
    "FamiliarFollowers": obj(
        {"id": {"type": "string"}, "accounts": array(ref("Account"))},
        description="Mastodon's FamiliarFollowers: accounts you follow that follow the account `id`.",
    ),
    "Suggestion": obj(
        {
            "source": {"type": "string", "enum": ["past_interactions", "global"]},
            "sources": array({"type": "string", "enum": [people.FRIENDS_OF_FRIENDS, people.MOST_FOLLOWED]}),
            "account": ref("Account"),
        },
        description="Mastodon's Suggestion (v2): an account to follow and why it is suggested.",
    ),
}

OPENAPI_PATHS: dict[str, dict[str, Any]] = {
    "/api/v1/accounts/search": {
        "get": operation(
            "Search accounts by username and display name, ranked as /api/v2/search ranks accounts",
            {"200": ok(array(ref("Account")), headers=_LINK), **errors(401, 403, 422, 503)},
            scopes=["read:accounts"],
            parameters=[
                query("q", {"type": "string"}, required=True, description="Words, `@name` or `@name@host`"),
                _LIMIT,
                _OFFSET,
                query("resolve", {"type": "boolean"}, description="Accepted; Chirp does not federate"),
                query("following", {"type": "boolean"}, description="Only accounts you follow"),
            ],
            tags=_TAGS,
            description="Suspended accounts and accounts blocking you or blocked by you are left out.",
        )
    },
    "/api/v1/accounts/familiar_followers": {
        "get": operation(
            "For each account: the accounts you follow that follow it",
            {"200": ok(array(ref("FamiliarFollowers"))), **errors(401, 403, 422)},
            scopes=["read:follows"],
            parameters=[query("id[]", array({"type": "string"}), description=f"Up to {MAX_FAMILIAR_IDS} ids")],
            tags=_TAGS,
            description="Unknown and suspended accounts are left out of the answer, as Mastodon does.",
        )
    },
    "/api/v1/directory": {
        "get": operation(
            "The profile directory: accounts that opted in to discovery",
            {"200": ok(array(ref("Account")), headers=_LINK), **errors(401, 422)},
            parameters=[
                query("order", {"type": "string", "enum": list(people.DIRECTORY_ORDERS), "default": "active"}),
                query("local", {"type": "boolean"}, description="Accepted; every account is local"),
                _OFFSET,
                _LIMIT,
            ],
            tags=_TAGS,
            description=(
                "`active`: most recently posting first; `new`: newest accounts first. Silenced, suspended, "
                "blocked and muted accounts are left out."
            ),
        )
    },
    "/api/v2/suggestions": {
        "get": operation(
            "Accounts to follow: friends of friends, then the most followed recently active accounts",
            {"200": ok(array(ref("Suggestion"))), **errors(401, 403, 422)},
            scopes=["read:accounts"],
            parameters=[_LIMIT],
            tags=_TAGS,
        )
    },
    "/api/v1/suggestions": {
        "get": operation(
            "Accounts to follow (v1: the accounts of /api/v2/suggestions)",
            {"200": ok(array(ref("Account"))), **errors(401, 403, 422)},
            scopes=["read:accounts"],
            parameters=[_LIMIT],
            tags=_TAGS,
        )
    },
    "/api/v1/suggestions/{id}": {
        "delete": operation(
            "Never suggest this account again",
            {"200": ok(obj({})), **errors(401, 403, 404)},
            scopes=["read:accounts"],
            parameters=[path("id", "The suggested account's id")],
            tags=_TAGS,
        )
    },
}
