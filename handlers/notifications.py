"""Notifications: list (paginated, filtered by type), one, dismiss one, clear all."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from api.auth import require_user
from api.http import json_response, read_params
from api.keys import RESOURCES
from api.openapi import array, errors, obj, ok, operation, path, query, ref
from api.pagination import link_header, page_params
from api.params import LINK_HEADER, PAGINATION_PARAMETERS, limit_parameter, path_id
from api.viewer_marks import leaves_marks
from domain import notifications as notification_domain

routes = web.RouteTableDef()


def _types(values: list[str]) -> list[str]:
    # Unknown types match nothing rather than failing, so clients naming newer Mastodon types keep working.
    return [value for value in values if value in notification_domain.MASTODON_TYPES]


@routes.get("/api/v1/notifications")
async def list_notifications(request: web.Request) -> web.Response:
    user = await require_user(request, "read:notifications")
    params = await read_params(request)
    page = page_params(params, default_limit=40, max_limit=80)
    wanted = params.strings("types")
    excluded = params.strings("exclude_types")
    entities, cursors = await notification_domain.notifications_page(
        request.app[RESOURCES],
        user.account_id,
        page,
        types=_types(wanted) if wanted else None,
        exclude_types=_types(excluded),
        from_account_id=params.ident("account_id"),
    )
    return json_response(entities, headers=link_header(request, cursors, page))


@routes.get(r"/api/v1/notifications/{id:\d+}")
async def get_notification(request: web.Request) -> web.Response:
    user = await require_user(request, "read:notifications")
    entity = await notification_domain.get_notification(request.app[RESOURCES], user.account_id, path_id(request))
    return json_response(entity)


@routes.post(r"/api/v1/notifications/{id:\d+}/dismiss")
@leaves_marks
async def dismiss_notification(request: web.Request) -> web.Response:
    user = await require_user(request, "write:notifications")
    await notification_domain.dismiss(request.app[RESOURCES], user.account_id, path_id(request))
    return json_response({})


@routes.post("/api/v1/notifications/clear")
@leaves_marks
async def clear_notifications(request: web.Request) -> web.Response:
    user = await require_user(request, "write:notifications")
    await notification_domain.clear(request.app[RESOURCES], user.account_id)
    return json_response({})


# OpenAPI ---------------------------------------------------------------------------------------------

_TAGS = ["notifications"]
_TYPE = {"type": "string", "enum": list(notification_domain.TYPES)}
_TYPE_LIST = {"type": "array", "items": {"type": "string"}}

OPENAPI_COMPONENTS: dict[str, Any] = {
    "Notification": obj(
        {
            "id": {"type": "string"},
            "type": _TYPE,
            "group_key": {"type": "string"},
            "created_at": {"type": "string", "format": "date-time"},
            "account": ref("Account"),
            "status": ref("Status"),
            "reaction": obj({"name": {"type": "string"}}),
        },
        required=["id", "type", "group_key", "created_at", "account"],
        description=(
            "Mastodon's Notification. A reply is a `mention`; `status` is set for every type but follow; "
            "`reaction` (Chirp) names the reaction of a `reaction` notification."
        ),
    ),
}

OPENAPI_PATHS: dict[str, dict[str, Any]] = {
    "/api/v1/notifications": {
        "get": operation(
            "Your notifications, newest first",
            {"200": ok(array(ref("Notification")), headers=LINK_HEADER), **errors(401, 403, 422)},
            scopes=["read:notifications"],
            parameters=[
                *PAGINATION_PARAMETERS,
                limit_parameter(40, 80),
                query("types[]", _TYPE_LIST, description="Only these types"),
                query("exclude_types[]", _TYPE_LIST, description="All but these types"),
                query("account_id", {"type": "string"}, description="Only those from this account"),
            ],
            tags=_TAGS,
        )
    },
    "/api/v1/notifications/{id}": {
        "get": operation(
            "One of your notifications",
            {"200": ok(ref("Notification")), **errors(401, 403, 404)},
            scopes=["read:notifications"],
            parameters=[path("id")],
            tags=_TAGS,
        )
    },
    "/api/v1/notifications/{id}/dismiss": {
        "post": operation(
            "Dismiss one notification",
            {"200": ok({"type": "object"}), **errors(401, 403, 404)},
            scopes=["write:notifications"],
            parameters=[path("id")],
            tags=_TAGS,
        )
    },
    "/api/v1/notifications/clear": {
        "post": operation(
            "Dismiss all your notifications",
            {"200": ok({"type": "object"}), **errors(401, 403)},
            scopes=["write:notifications"],
            tags=_TAGS,
        )
    },
}
