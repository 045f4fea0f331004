"""Grouped notifications (Mastodon 4.3): /api/v2/notifications and its groups, the unread counts (v1 and
v2, from the notifications marker), and the filtering policy and requests, which Chirp answers with their
defaults because it filters no notification."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from api.auth import require_user
from api.http import Params, json_response, read_params
from api.keys import RESOURCES
from api.openapi import array, body, errors, nullable, obj, ok, operation, path, query, ref
from api.pagination import link_header, page_params
from api.params import LINK_HEADER, PAGINATION_PARAMETERS, limit_parameter
from core.errors import ApiError, validation_error
from domain import notification_groups as group_domain
from domain import notifications as notification_domain
from storage.notifications import GROUPABLE_TYPES

routes = web.RouteTableDef()

# A group key as Chirp writes them (`favourite-<post>-<hour>`, `follow-<hour>`, `ungrouped-<id>`): never
# one of the fixed words routed beside it (policy, unread_count).
_GROUP_KEY = r"{group_key:[a-z_.]+(?:-\d{1,20}){1,2}}"
UNREAD_DEFAULT, UNREAD_MAX = 100, 1000


def _types(values: list[str]) -> list[str]:
    return [value for value in values if value in notification_domain.MASTODON_TYPES]


def _filters(params: Params, *, grouped: bool) -> group_domain.Filters:
    wanted = params.strings("types")
    grouped_types = [t for t in params.strings("grouped_types") if t in GROUPABLE_TYPES] if grouped else []
    return group_domain.Filters(
        grouped_types=grouped_types if "grouped_types" in params else GROUPABLE_TYPES,
        types=_types(wanted) if wanted else None,
        exclude_types=_types(params.strings("exclude_types")),
        from_account_id=params.ident("account_id"),
    )


async def _unread_count(request: web.Request, *, grouped: bool) -> web.Response:
    """v1 counts notifications, v2 counts groups; both stop counting at `limit`."""
    user = await require_user(request, "read:notifications")
    params = await read_params(request)
    limit = params.integer("limit", default=UNREAD_DEFAULT, low=1, high=UNREAD_MAX, clamp=True)
    filters = _filters(params, grouped=grouped)
    count = await group_domain.unread_count(request.app[RESOURCES], user.account_id, limit, filters, grouped=grouped)
    return json_response({"count": count})


@routes.get("/api/v1/notifications/unread_count")
async def unread_count_v1(request: web.Request) -> web.Response:
    return await _unread_count(request, grouped=False)


@routes.get("/api/v2/notifications")
async def list_groups(request: web.Request) -> web.Response:
    user = await require_user(request, "read:notifications")
    params = await read_params(request)
    page = page_params(params, default_limit=40, max_limit=80)
    expand = params.choice("expand_accounts", group_domain.EXPAND_ACCOUNTS, default="full") or "full"
    results, cursors = await group_domain.grouped_page(
        request.app[RESOURCES], user.account_id, page, _filters(params, grouped=True), expand_accounts=expand
    )
    return json_response(results, headers=link_header(request, cursors, page))


@routes.get("/api/v2/notifications/unread_count")
async def unread_count_v2(request: web.Request) -> web.Response:
    return await _unread_count(request, grouped=True)


@routes.get("/api/v2/notifications/policy")
async def get_policy(request: web.Request) -> web.Response:
    await require_user(request, "read:notifications")
    return json_response(group_domain.notification_policy())


@routes.patch("/api/v2/notifications/policy")
async def update_policy(request: web.Request) -> web.Response:
    """Only `accept` can be set: Chirp filters no notification, so it will not claim to."""
    await require_user(request, "write:notifications")
    params = await read_params(request)
    for field in group_domain.POLICY_FIELDS:
        choice = params.choice(field, group_domain.POLICY_CHOICES)
        if choice not in (None, "accept"):
            raise validation_error(field, "cannot be set: Chirp does not filter notifications, only accept is offered")
    return json_response(group_domain.notification_policy())


@routes.get(f"/api/v2/notifications/{_GROUP_KEY}")
async def get_group(request: web.Request) -> web.Response:
    user = await require_user(request, "read:notifications")
    group_key = request.match_info["group_key"]
    return json_response(await group_domain.get_group(request.app[RESOURCES], user.account_id, group_key))


@routes.post(f"/api/v2/notifications/{_GROUP_KEY}/dismiss")
async def dismiss_group(request: web.Request) -> web.Response:
    user = await require_user(request, "write:notifications")
    await group_domain.dismiss_group(request.app[RESOURCES], user.account_id, request.match_info["group_key"])
    return json_response({})


@routes.get(f"/api/v2/notifications/{_GROUP_KEY}/accounts")
async def group_accounts(request: web.Request) -> web.Response:
    user = await require_user(request, "read:notifications")
    group_key = request.match_info["group_key"]
    return json_response(await group_domain.group_accounts(request.app[RESOURCES], user.account_id, group_key))


# Notification requests: none is ever pending (nothing is filtered).


@routes.get("/api/v1/notifications/requests")
async def list_requests(request: web.Request) -> web.Response:
    await require_user(request, "read:notifications")
    page_params(await read_params(request), default_limit=40, max_limit=80)  # the parameters are still checked
    return json_response([])


@routes.get("/api/v1/notifications/requests/merged")
async def requests_merged(request: web.Request) -> web.Response:
    await require_user(request, "read:notifications")
    return json_response({"merged": True})


@routes.get(r"/api/v1/notifications/requests/{id:\d+}")
async def get_request(request: web.Request) -> web.Response:
    await require_user(request, "read:notifications")
    raise ApiError(404, "Record not found")


@routes.post(r"/api/v1/notifications/requests/{id:\d+}/accept")
@routes.post(r"/api/v1/notifications/requests/{id:\d+}/dismiss")
async def answer_request(request: web.Request) -> web.Response:
    await require_user(request, "write:notifications")
    raise ApiError(404, "Record not found")


@routes.post("/api/v1/notifications/requests/accept")
@routes.post("/api/v1/notifications/requests/dismiss")
async def answer_requests(request: web.Request) -> web.Response:
    """Accepting or dismissing many: none of the ids can name a pending request, so there is nothing to do."""
    await require_user(request, "write:notifications")
    (await read_params(request)).idents("id", max_items=100)
    return json_response({})


# OpenAPI ---------------------------------------------------------------------------------------------

_TAGS = ["notifications"]
_STRING = {"type": "string"}
_TYPE_LIST = array(_STRING)
_POLICY = {"type": "string", "enum": list(group_domain.POLICY_CHOICES)}
_FILTER_PARAMETERS = [
    query("types[]", _TYPE_LIST, description="Only these types"),
    query("exclude_types[]", _TYPE_LIST, description="All but these types"),
    query("account_id", _STRING, description="Only those from this account"),
]
_GROUPED_TYPES = query(
    "grouped_types[]",
    array({"type": "string", "enum": list(GROUPABLE_TYPES)}),
    description="The types to group (default: all groupable ones); others are listed one by one",
)
_KEY = [path("group_key", "A group_key, as a notification group gives it")]
_UNREAD = {"200": ok(obj({"count": {"type": "integer", "minimum": 0}})), **errors(401, 403, 422)}

OPENAPI_COMPONENTS: dict[str, Any] = {
    "NotificationGroup": obj(
        {
            "group_key": _STRING,
            "notifications_count": {"type": "integer", "minimum": 1},
            "type": _STRING,
            "most_recent_notification_id": _STRING,
            "page_min_id": _STRING,
            "page_max_id": _STRING,
            "latest_page_notification_at": {"type": "string", "format": "date-time"},
            "sample_account_ids": array(_STRING),
            "status_id": _STRING,
            "reaction": obj({"name": _STRING}),
        },
        required=["group_key", "notifications_count", "type", "most_recent_notification_id", "sample_account_ids"],
        description="Mastodon's NotificationGroup; the page fields appear in a listing only.",
    ),
    "PartialAccountWithAvatar": obj(
        {
            "id": _STRING,
            "acct": _STRING,
            "url": {"type": "string", "format": "uri"},
            "avatar": {"type": "string", "format": "uri"},
            "avatar_static": {"type": "string", "format": "uri"},
            "locked": {"type": "boolean"},
            "bot": {"type": "boolean"},
        }
    ),
    "GroupedNotificationsResults": obj(
        {
            "accounts": array(ref("Account")),
            "partial_accounts": array(ref("PartialAccountWithAvatar")),
            "statuses": array(ref("Status")),
            "notification_groups": array(ref("NotificationGroup")),
        },
        required=["accounts", "statuses", "notification_groups"],
        description="partial_accounts only with expand_accounts=partial_avatars.",
    ),
    "NotificationPolicy": obj(
        {
            **{field: _POLICY for field in group_domain.POLICY_FIELDS},
            "summary": obj(
                {
                    "pending_requests_count": {"type": "integer"},
                    "pending_notifications_count": {"type": "integer"},
                }
            ),
        },
        description="Always accept: Chirp filters no notification.",
    ),
    "NotificationRequest": obj(
        {
            "id": _STRING,
            "created_at": {"type": "string", "format": "date-time"},
            "updated_at": {"type": "string", "format": "date-time"},
            "account": ref("Account"),
            "notifications_count": _STRING,
            "last_status": nullable(ref("Status")),
        },
        description="Never returned by Chirp (nothing is filtered), documented for the list's type.",
    ),
}

OPENAPI_PATHS: dict[str, dict[str, Any]] = {
    "/api/v1/notifications/unread_count": {
        "get": operation(
            "How many notifications are newer than your notifications marker",
            _UNREAD,
            scopes=["read:notifications"],
            parameters=[limit_parameter(UNREAD_DEFAULT, UNREAD_MAX), *_FILTER_PARAMETERS],
            tags=_TAGS,
        )
    },
    "/api/v2/notifications": {
        "get": operation(
            "Your notifications in groups, newest first",
            {"200": ok(ref("GroupedNotificationsResults"), headers=LINK_HEADER), **errors(401, 403, 422)},
            scopes=["read:notifications"],
            parameters=[
                *PAGINATION_PARAMETERS,
                limit_parameter(40, 80),
                *_FILTER_PARAMETERS,
                _GROUPED_TYPES,
                query("expand_accounts", {"type": "string", "enum": list(group_domain.EXPAND_ACCOUNTS)}),
            ],
            tags=_TAGS,
            description="favourite and reblog group by post, follow by time; others are `ungrouped-<id>`.",
        )
    },
    "/api/v2/notifications/unread_count": {
        "get": operation(
            "How many notification groups are newer than your notifications marker",
            _UNREAD,
            scopes=["read:notifications"],
            parameters=[limit_parameter(UNREAD_DEFAULT, UNREAD_MAX), *_FILTER_PARAMETERS, _GROUPED_TYPES],
            tags=_TAGS,
        )
    },
    "/api/v2/notifications/policy": {
        "get": operation(
            "Your notification filtering policy",
            {"200": ok(ref("NotificationPolicy")), **errors(401, 403)},
            scopes=["read:notifications"],
            tags=_TAGS,
        ),
        "patch": operation(
            "Change your notification filtering policy (only accept is offered)",
            {"200": ok(ref("NotificationPolicy")), **errors(401, 403, 422)},
            scopes=["write:notifications"],
            request_body=body(
                obj({field: _POLICY for field in group_domain.POLICY_FIELDS}, required=[]), required=False
            ),
            tags=_TAGS,
        ),
    },
    "/api/v2/notifications/{group_key}": {
        "get": operation(
            "One notification group, whole",
            {"200": ok(ref("GroupedNotificationsResults")), **errors(401, 403, 404)},
            scopes=["read:notifications"],
            parameters=_KEY,
            tags=_TAGS,
        )
    },
    "/api/v2/notifications/{group_key}/dismiss": {
        "post": operation(
            "Dismiss every notification of a group",
            {"200": ok({"type": "object"}), **errors(401, 403, 404)},
            scopes=["write:notifications"],
            parameters=_KEY,
            tags=_TAGS,
        )
    },
    "/api/v2/notifications/{group_key}/accounts": {
        "get": operation(
            "The accounts behind a notification group, newest first",
            {"200": ok(array(ref("Account"))), **errors(401, 403, 404)},
            scopes=["read:notifications"],
            parameters=_KEY,
            tags=_TAGS,
        )
    },
    "/api/v1/notifications/requests": {
        "get": operation(
            "Filtered notification requests (always none)",
            {"200": ok(array(ref("NotificationRequest"))), **errors(401, 403, 422)},
            scopes=["read:notifications"],
            parameters=[*PAGINATION_PARAMETERS, limit_parameter(40, 80)],
            tags=_TAGS,
        )
    },
    "/api/v1/notifications/requests/merged": {
        "get": operation(
            "Whether accepted requests are merged (always true)",
            {"200": ok(obj({"merged": {"type": "boolean"}})), **errors(401, 403)},
            scopes=["read:notifications"],
            tags=_TAGS,
        )
    },
    "/api/v1/notifications/requests/{id}": {
        "get": operation(
            "One notification request (none exists)",
            {"200": ok(ref("NotificationRequest")), **errors(401, 403, 404)},
            scopes=["read:notifications"],
            parameters=[path("id")],
            tags=_TAGS,
        )
    },
    **{
        f"/api/v1/notifications/requests/{{id}}/{verb}": {
            "post": operation(
                f"{verb.capitalize()} a notification request (none exists)",
                {"200": ok({"type": "object"}), **errors(401, 403, 404)},
                scopes=["write:notifications"],
                parameters=[path("id")],
                tags=_TAGS,
            )
        }
        for verb in ("accept", "dismiss")
    },
    **{
        f"/api/v1/notifications/requests/{verb}": {
            "post": operation(
                f"{verb.capitalize()} many notification requests (none exists; nothing to do)",
                {"200": ok({"type": "object"}), **errors(401, 403, 422)},
                scopes=["write:notifications"],
                request_body=body(obj({"id[]": array(_STRING)}), required=False),
                tags=_TAGS,
            )
        }
        for verb in ("accept", "dismiss")
    },
}
