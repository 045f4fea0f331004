"""Lists: create, rename, delete, members, and the list timeline (GET /api/v1/timelines/list/:id)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from api.auth import require_user
from api.http import Params, json_response, read_params
from api.keys import RESOURCES
from api.openapi import array, body, errors, obj, ok, operation, path, ref
from api.pagination import link_header, page_params
from api.params import LINK_HEADER, PAGINATION_PARAMETERS, limit_parameter, path_id
from domain import lists as list_domain
from domain.lists import list_entity
from handlers.timelines import _statuses

routes = web.RouteTableDef()


def _exclusive(params: Params) -> bool | None:
    return params.boolean("exclusive") if "exclusive" in params else None


@routes.get("/api/v1/lists")
async def all_lists(request: web.Request) -> web.Response:
    user = await require_user(request, "read:lists")
    return json_response(await list_domain.lists_of(request.app[RESOURCES], user.account_id))


@routes.post("/api/v1/lists")
async def create_list(request: web.Request) -> web.Response:
    user = await require_user(request, "write:lists")
    params = await read_params(request)
    row = await list_domain.create_list(
        request.app[RESOURCES],
        user.account_id,
        params.text("title"),
        params.text("replies_policy"),
        bool(_exclusive(params)),
    )
    return json_response(list_entity(row))


@routes.get(r"/api/v1/lists/{id:\d+}")
async def one_list(request: web.Request) -> web.Response:
    user = await require_user(request, "read:lists")
    return json_response(
        list_entity(await list_domain.owned_list(request.app[RESOURCES], user.account_id, path_id(request)))
    )


@routes.put(r"/api/v1/lists/{id:\d+}")
async def update_list(request: web.Request) -> web.Response:
    user = await require_user(request, "write:lists")
    params = await read_params(request)
    row = await list_domain.update_list(
        request.app[RESOURCES],
        user.account_id,
        path_id(request),
        params.text("title"),
        params.text("replies_policy"),
        _exclusive(params),
    )
    return json_response(list_entity(row))


@routes.delete(r"/api/v1/lists/{id:\d+}")
async def delete_list(request: web.Request) -> web.Response:
    user = await require_user(request, "write:lists")
    await list_domain.delete_list(request.app[RESOURCES], user.account_id, path_id(request))
    return json_response({})


@routes.get(r"/api/v1/lists/{id:\d+}/accounts")
async def members(request: web.Request) -> web.Response:
    user = await require_user(request, "read:lists")
    page = page_params(await read_params(request), default_limit=40, max_limit=80)
    accounts, cursors = await list_domain.list_members(request.app[RESOURCES], user.account_id, path_id(request), page)
    return json_response(accounts, headers=link_header(request, cursors, page))


@routes.post(r"/api/v1/lists/{id:\d+}/accounts")
async def add_members(request: web.Request) -> web.Response:
    user = await require_user(request, "write:lists")
    ids = (await read_params(request)).idents("account_ids", max_items=list_domain.MEMBERS_PER_CALL + 1)
    await list_domain.add_members(request.app[RESOURCES], user.account_id, path_id(request), ids)
    return json_response({})


@routes.delete(r"/api/v1/lists/{id:\d+}/accounts")
async def remove_members(request: web.Request) -> web.Response:
    user = await require_user(request, "write:lists")
    ids = (await read_params(request)).idents("account_ids", max_items=list_domain.MEMBERS_PER_CALL + 1)
    await list_domain.remove_members(request.app[RESOURCES], user.account_id, path_id(request), ids)
    return json_response({})


@routes.get(r"/api/v1/accounts/{id:\d+}/lists")
async def lists_with_account(request: web.Request) -> web.Response:
    user = await require_user(request, "read:lists")
    return json_response(await list_domain.lists_of(request.app[RESOURCES], user.account_id, path_id(request)))


@routes.get(r"/api/v1/timelines/list/{id:\d+}")
async def list_timeline(request: web.Request) -> web.Response:
    user = await require_user(request, "read:lists")
    page = page_params(await read_params(request), default_limit=20, max_limit=40)
    entities, cursors = await list_domain.list_timeline(request.app[RESOURCES], user.account_id, path_id(request), page)
    return _statuses(request, entities, cursors, page)


# OpenAPI ---------------------------------------------------------------------------------------------

_TAGS = ("lists",)
_ID_PATH = [path("id")]
_LIST_FIELDS: dict[str, Any] = {
    "title": {"type": "string", "maxLength": 100},
    "replies_policy": {"type": "string", "enum": ["followed", "list", "none"]},
    "exclusive": {"type": "boolean"},
}
_MEMBERS_BODY = body(obj({"account_ids": array({"type": "string"})}, required=["account_ids"]))

OPENAPI_COMPONENTS: dict[str, Any] = {
    "List": obj(
        {"id": {"type": "string"}, **_LIST_FIELDS},
        required=["id", "title", "replies_policy", "exclusive"],
        description="A list of followed accounts with a timeline of its own.",
    ),
}


def _op(summary: str, response: dict[str, Any], scope: str, *codes: int, **extra: Any) -> dict[str, Any]:
    return operation(summary, {"200": response, **errors(401, 403, *codes)}, scopes=[scope], tags=_TAGS, **extra)


OPENAPI_PATHS: dict[str, dict[str, Any]] = {
    "/api/v1/lists": {
        "get": _op("Your lists", ok(array(ref("List"))), "read:lists"),
        "post": _op(
            "Create a list",
            ok(ref("List")),
            "write:lists",
            422,
            request_body=body(obj(_LIST_FIELDS, required=["title"])),
        ),
    },
    "/api/v1/lists/{id}": {
        "get": _op("One of your lists", ok(ref("List")), "read:lists", 404, parameters=_ID_PATH),
        "put": _op(
            "Rename a list or change its rules",
            ok(ref("List")),
            "write:lists",
            404,
            422,
            parameters=_ID_PATH,
            request_body=body(obj(_LIST_FIELDS)),
        ),
        "delete": _op("Delete a list", ok(obj({})), "write:lists", 404, parameters=_ID_PATH),
    },
    "/api/v1/lists/{id}/accounts": {
        "get": _op(
            "A list's members",
            ok(array(ref("Account")), headers=LINK_HEADER),
            "read:lists",
            404,
            422,
            parameters=[*_ID_PATH, *PAGINATION_PARAMETERS, limit_parameter(40, 80)],
        ),
        "post": _op(
            "Add accounts you follow to a list (422 for any you do not follow)",
            ok(obj({})),
            "write:lists",
            404,
            422,
            parameters=_ID_PATH,
            request_body=_MEMBERS_BODY,
        ),
        "delete": _op(
            "Remove accounts from a list",
            ok(obj({})),
            "write:lists",
            404,
            422,
            parameters=_ID_PATH,
            request_body=_MEMBERS_BODY,
        ),
    },
    "/api/v1/accounts/{id}/lists": {
        "get": _op("Your lists that hold an account", ok(array(ref("List"))), "read:lists", 404, parameters=_ID_PATH),
    },
    "/api/v1/timelines/list/{id}": {
        "get": _op(
            "A list's timeline, newest first",
            ok(array(ref("Status")), headers=LINK_HEADER),
            "read:lists",
            404,
            422,
            503,
            parameters=[*_ID_PATH, *PAGINATION_PARAMETERS, limit_parameter(20, 40)],
        ),
    },
}
