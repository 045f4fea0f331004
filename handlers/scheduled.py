"""Scheduled posts (issue 23): POST /api/v1/statuses with `scheduled_at` (see handlers.statuses), and
GET/PUT/DELETE /api/v1/scheduled_statuses."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aiohttp import web

from api.auth import require_user
from api.http import Params, json_response, read_params
from api.keys import RESOURCES
from api.openapi import array, body, errors, nullable, obj, ok, operation, path, ref
from api.pagination import link_header, page_params
from api.params import LINK_HEADER, PAGINATION_PARAMETERS, limit_parameter, path_id
from core.errors import validation_error
from domain import scheduled

routes = web.RouteTableDef()


def scheduled_at(params: Params) -> datetime | None:
    """`scheduled_at` as an ISO 8601 time (UTC when it names no offset), None when not given."""
    raw = params.text("scheduled_at", max_length=64)
    if not raw:
        return None
    try:
        return datetime.fromisoformat(raw.strip())
    except ValueError:
        raise validation_error("scheduled_at", "is not an ISO 8601 time") from None


@routes.get("/api/v1/scheduled_statuses")
async def list_scheduled(request: web.Request) -> web.Response:
    user = await require_user(request, "read:statuses")
    page = page_params(await read_params(request), default_limit=20, max_limit=40)
    entities, cursors = await scheduled.scheduled_page(request.app[RESOURCES], user.account_id, page)
    return json_response(entities, headers=link_header(request, cursors, page))


@routes.get(r"/api/v1/scheduled_statuses/{id:\d+}")
async def get_scheduled(request: web.Request) -> web.Response:
    user = await require_user(request, "read:statuses")
    return json_response(await scheduled.get_scheduled(request.app[RESOURCES], user.account_id, path_id(request)))


@routes.put(r"/api/v1/scheduled_statuses/{id:\d+}")
async def reschedule(request: web.Request) -> web.Response:
    user = await require_user(request, "write:statuses")
    when = scheduled_at(await read_params(request))
    if when is None:
        raise validation_error("scheduled_at", "can't be blank")
    entity = await scheduled.reschedule(request.app[RESOURCES], user.account_id, path_id(request), when)
    return json_response(entity)


@routes.delete(r"/api/v1/scheduled_statuses/{id:\d+}")
async def cancel(request: web.Request) -> web.Response:
    user = await require_user(request, "write:statuses")
    await scheduled.cancel(request.app[RESOURCES], user.account_id, path_id(request))
    return json_response({})


# OpenAPI ---------------------------------------------------------------------------------------------

_ID = {"type": "string", "pattern": "^[0-9]+$"}
_TIME = {"type": "string", "format": "date-time"}
_TAGS = ("scheduled_statuses",)
_ID_PATH = [path("id")]

OPENAPI_COMPONENTS: dict[str, Any] = {
    "ScheduledStatus": obj(
        {
            "id": _ID,
            "scheduled_at": _TIME,
            "params": {"type": "object", "description": "what will be posted: text, visibility, media_ids, poll..."},
            "media_attachments": array({"type": "object"}),
        },
        description="A post waiting for its time (Mastodon's ScheduledStatus).",
    ),
}

OPENAPI_PATHS: dict[str, dict[str, Any]] = {
    "/api/v1/scheduled_statuses": {
        "get": operation(
            "Your scheduled posts",
            {"200": ok(array(ref("ScheduledStatus")), headers=LINK_HEADER), **errors(401, 403, 422)},
            scopes=["read:statuses"],
            parameters=[*PAGINATION_PARAMETERS, limit_parameter(20, 40)],
            tags=_TAGS,
        )
    },
    "/api/v1/scheduled_statuses/{id}": {
        "get": operation(
            "One scheduled post",
            {"200": ok(ref("ScheduledStatus")), **errors(401, 403, 404)},
            scopes=["read:statuses"],
            parameters=_ID_PATH,
            tags=_TAGS,
        ),
        "put": operation(
            "Move a scheduled post to another time (at least 5 minutes ahead)",
            {"200": ok(ref("ScheduledStatus")), **errors(400, 401, 403, 404, 415, 422)},
            scopes=["write:statuses"],
            request_body=body(obj({"scheduled_at": nullable(_TIME)}, required=["scheduled_at"])),
            parameters=_ID_PATH,
            tags=_TAGS,
        ),
        "delete": operation(
            "Cancel a scheduled post",
            {"200": ok(obj({}), "An empty object"), **errors(401, 403, 404)},
            scopes=["write:statuses"],
            parameters=_ID_PATH,
            tags=_TAGS,
        ),
    },
}
