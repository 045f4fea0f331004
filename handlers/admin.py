"""The Mastodon admin API subset moderation apps use (issue 22): reports (list, show, assign, resolve,
reopen) and accounts (list, show, act on, and undo each action). HTTP only: domain/moderation.py holds the
rules and the effects. Every route needs an `admin:read` or `admin:write` scope (or the sub-scope of its
resource) and a staff account (admin or moderator); a user without the role gets 403."""

from __future__ import annotations

import ipaddress
from typing import Any

from aiohttp import web

from api.auth import User, require_user
from api.http import json_response, read_params
from api.keys import RESOURCES
from api.openapi import array, body, errors, obj, ok, operation, path, query, ref
from api.pagination import link_header, page_params
from api.params import LINK_HEADER, PAGINATION_PARAMETERS, limit_parameter, path_id
from core.errors import validation_error
from domain import moderation
from storage.moderation import AccountQuery, ReportQuery

routes = web.RouteTableDef()

DEFAULT_LIMIT, MAX_LIMIT = 100, 200  # Mastodon's for the admin lists


async def _staff(request: web.Request, scope: tuple[str, ...]) -> tuple[User, str]:
    """The signed-in staff member and their role: 401 without a token, 403 without the scope or the role."""
    user = await require_user(request, scope)
    return user, await moderation.require_staff(request.app[RESOURCES], user.account_id)


_READ_REPORTS = ("admin:read:reports",)
_WRITE_REPORTS = ("admin:write:reports",)
_READ_ACCOUNTS = ("admin:read:accounts",)
_WRITE_ACCOUNTS = ("admin:write:accounts",)


# reports -------------------------------------------------------------------------------------------------


@routes.get("/api/v1/admin/reports")
async def reports(request: web.Request) -> web.Response:
    await _staff(request, _READ_REPORTS)
    params = await read_params(request)
    page = page_params(params, default_limit=DEFAULT_LIMIT, max_limit=MAX_LIMIT)
    resolved, unresolved = params.boolean("resolved"), params.boolean("unresolved")
    report_query = ReportQuery(
        resolved=None if resolved and unresolved else resolved,
        account_id=params.ident("account_id"),
        target_account_id=params.ident("target_account_id"),
    )
    entities, cursors = await moderation.report_page(request.app[RESOURCES], report_query, page)
    return json_response(entities, headers=link_header(request, cursors, page))


@routes.get(r"/api/v1/admin/reports/{id:\d+}")
async def report(request: web.Request) -> web.Response:
    await _staff(request, _READ_REPORTS)
    return json_response(await moderation.get_report(request.app[RESOURCES], path_id(request)))


@routes.post(r"/api/v1/admin/reports/{id:\d+}/assign_to_self")
async def assign_to_self(request: web.Request) -> web.Response:
    user, _ = await _staff(request, _WRITE_REPORTS)
    return json_response(await moderation.assign_report(request.app[RESOURCES], path_id(request), user.account_id))


@routes.post(r"/api/v1/admin/reports/{id:\d+}/unassign")
async def unassign(request: web.Request) -> web.Response:
    await _staff(request, _WRITE_REPORTS)
    return json_response(await moderation.assign_report(request.app[RESOURCES], path_id(request), None))


@routes.post(r"/api/v1/admin/reports/{id:\d+}/resolve")
async def resolve(request: web.Request) -> web.Response:
    user, _ = await _staff(request, _WRITE_REPORTS)
    return json_response(await moderation.resolve_report(request.app[RESOURCES], path_id(request), user.account_id))


@routes.post(r"/api/v1/admin/reports/{id:\d+}/reopen")
async def reopen(request: web.Request) -> web.Response:
    await _staff(request, _WRITE_REPORTS)
    return json_response(await moderation.reopen_report(request.app[RESOURCES], path_id(request)))


# accounts ------------------------------------------------------------------------------------------------


def _ip(value: str | None) -> str | None:
    """An address or a network (CIDR), as PostgreSQL's inet reads it; 422 for anything else."""
    if not value:
        return None
    try:
        return str(ipaddress.ip_network(value, strict=False))
    except ValueError:
        raise validation_error("ip", "is not an IP address") from None


@routes.get("/api/v2/admin/accounts")
async def accounts(request: web.Request) -> web.Response:
    await _staff(request, _READ_ACCOUNTS)
    params = await read_params(request)
    page = page_params(params, default_limit=DEFAULT_LIMIT, max_limit=MAX_LIMIT)
    account_query = AccountQuery(
        status=params.choice("status", moderation.ACCOUNT_STATUSES),
        username=params.text("username", max_length=100),
        display_name=params.text("display_name", max_length=100),
        email=params.text("email", max_length=254),
        ip=_ip(params.text("ip", max_length=64)),
        staff=params.choice("permissions", ("staff",)) == "staff",
        remote=params.choice("origin", ("local", "remote")) == "remote" or bool(params.text("by_domain")),
    )
    entities, cursors = await moderation.account_page(request.app[RESOURCES], account_query, page)
    return json_response(entities, headers=link_header(request, cursors, page))


@routes.get(r"/api/v1/admin/accounts/{id:\d+}")
async def account(request: web.Request) -> web.Response:
    await _staff(request, _READ_ACCOUNTS)
    return json_response(await moderation.admin_account(request.app[RESOURCES], path_id(request)))


@routes.post(r"/api/v1/admin/accounts/{id:\d+}/action")
async def action(request: web.Request) -> web.Response:
    user, role = await _staff(request, _WRITE_ACCOUNTS)
    params = await read_params(request)
    kind = params.choice("type", moderation.ACTIONS, default="none")
    assert kind is not None
    await moderation.take_action(
        request.app[RESOURCES],
        user.account_id,
        role,
        path_id(request),
        action=kind,
        text=params.text("text", default="", max_length=moderation.MAX_WARNING) or "",
        report_id=params.ident("report_id"),
        notify=params.boolean("send_email_notification", default=True),
    )
    return json_response({})


def _lift_route(route: str) -> Any:
    async def handler(request: web.Request) -> web.Response:
        user, role = await _staff(request, _WRITE_ACCOUNTS)
        res = request.app[RESOURCES]
        return json_response(await moderation.lift(res, user.account_id, role, path_id(request), route))

    handler.__name__ = route
    return handler


for _route in moderation.LIFTS:
    routes.post(rf"/api/v1/admin/accounts/{{id:\d+}}/{_route}")(_lift_route(_route))


# OpenAPI ---------------------------------------------------------------------------------------------------

_STRING = {"type": "string"}
_TAGS = ("admin",)
_ID = [path()]
_ADMIN_ERRORS = (401, 403, 404, 422)

OPENAPI_COMPONENTS: dict[str, Any] = {
    "AdminAccount": obj(
        {
            "id": _STRING,
            "username": _STRING,
            "domain": {"type": "null"},
            "created_at": {"type": "string", "format": "date-time"},
            "email": _STRING,
            "ip": {"type": ["string", "null"]},
            "ips": array(obj({"ip": _STRING, "used_at": _STRING})),
            "locale": _STRING,
            "role": ref("Role"),
            "confirmed": {"type": "boolean"},
            "approved": {"type": "boolean"},
            "disabled": {"type": "boolean"},
            "silenced": {"type": "boolean"},
            "suspended": {"type": "boolean"},
            "sensitized": {"type": "boolean"},
            "account": ref("Account"),
        },
        description="Mastodon's Admin::Account",
    ),
    "AdminReport": obj(
        {
            "id": _STRING,
            "action_taken": {"type": "boolean"},
            "action_taken_at": {"type": ["string", "null"], "format": "date-time"},
            "category": {"type": "string", "enum": ["spam", "legal", "violation", "other"]},
            "comment": _STRING,
            "forwarded": {"type": "boolean"},
            "created_at": {"type": "string", "format": "date-time"},
            "updated_at": {"type": "string", "format": "date-time"},
            "account": ref("AdminAccount"),
            "target_account": ref("AdminAccount"),
            "assigned_account": {"oneOf": [ref("AdminAccount"), {"type": "null"}]},
            "action_taken_by_account": {"oneOf": [ref("AdminAccount"), {"type": "null"}]},
            "statuses": array(ref("Status")),
            "rules": array(obj({"id": _STRING, "text": _STRING})),
        },
        description="Mastodon's Admin::Report; `statuses` are the reported posts as they were when reported",
    ),
}


def _report_op(summary: str, scope: str) -> dict[str, Any]:
    return operation(
        summary,
        {"200": ok(ref("AdminReport")), **errors(*_ADMIN_ERRORS)},
        scopes=[scope],
        parameters=_ID,
        tags=_TAGS,
    )


def _account_op(summary: str, scope: str = "admin:write:accounts") -> dict[str, Any]:
    return operation(
        summary,
        {"200": ok(ref("AdminAccount")), **errors(*_ADMIN_ERRORS)},
        scopes=[scope],
        parameters=_ID,
        tags=_TAGS,
    )


_BOOLEAN = {"type": "boolean"}
_LIFTS = {
    "unsuspend": "Lift an account's suspension: it can sign in again and its posts come back",
    "unsilence": "Lift an account's silence: its posts return to public timelines",
    "enable": "Let a disabled account sign in again",
    "unsensitive": "Stop forcing an account's media to be marked sensitive",
}

OPENAPI_PATHS: dict[str, dict[str, Any]] = {
    "/api/v1/admin/reports": {
        "get": operation(
            "Reports, newest first (open ones unless `resolved`)",
            {"200": ok(array(ref("AdminReport")), headers=LINK_HEADER), **errors(401, 403, 422)},
            scopes=["admin:read:reports"],
            parameters=[
                query("resolved", _BOOLEAN, description="only resolved reports (with `unresolved` too: all)"),
                query("unresolved", _BOOLEAN),
                query("account_id", _STRING, description="filed by this account"),
                query("target_account_id", _STRING, description="about this account"),
                *PAGINATION_PARAMETERS,
                limit_parameter(DEFAULT_LIMIT, MAX_LIMIT),
            ],
            tags=_TAGS,
        )
    },
    "/api/v1/admin/reports/{id}": {"get": _report_op("A report", "admin:read:reports")},
    "/api/v1/admin/reports/{id}/assign_to_self": {
        "post": _report_op("Assign a report to yourself", "admin:write:reports")
    },
    "/api/v1/admin/reports/{id}/unassign": {"post": _report_op("Unassign a report", "admin:write:reports")},
    "/api/v1/admin/reports/{id}/resolve": {
        "post": _report_op("Mark a report resolved (no action on the account)", "admin:write:reports")
    },
    "/api/v1/admin/reports/{id}/reopen": {"post": _report_op("Reopen a resolved report", "admin:write:reports")},
    "/api/v2/admin/accounts": {
        "get": operation(
            "Accounts as moderators see them, newest first, filtered",
            {"200": ok(array(ref("AdminAccount")), headers=LINK_HEADER), **errors(401, 403, 422)},
            scopes=["admin:read:accounts"],
            parameters=[
                query("origin", {"type": "string", "enum": ["local", "remote"]}, description="remote: none here"),
                query("status", {"type": "string", "enum": list(moderation.ACCOUNT_STATUSES)}),
                query("permissions", {"type": "string", "const": "staff"}, description="admins and moderators"),
                query("username", _STRING, description="contains, ignoring case"),
                query("display_name", _STRING, description="contains, ignoring case"),
                query("email", _STRING, description="contains, ignoring case"),
                query("ip", _STRING, description="last signed in from this address (or network, CIDR)"),
                *PAGINATION_PARAMETERS,
                limit_parameter(DEFAULT_LIMIT, MAX_LIMIT),
            ],
            tags=_TAGS,
        )
    },
    "/api/v1/admin/accounts/{id}": {"get": _account_op("An account as moderators see it", "admin:read:accounts")},
    "/api/v1/admin/accounts/{id}/action": {
        "post": operation(
            "Act on an account (none, sensitive, disable, silence, suspend), warning its owner",
            {"200": ok(obj({})), **errors(*_ADMIN_ERRORS)},
            scopes=["admin:write:accounts"],
            parameters=_ID,
            request_body=body(
                obj(
                    {
                        "type": {"type": "string", "enum": list(moderation.ACTIONS)},
                        "text": {"type": "string", "description": "the warning the account's owner is shown"},
                        "report_id": {"type": "string", "description": "a report about the account: resolved"},
                        "send_email_notification": {
                            "type": "boolean",
                            "description": "false: no moderation_warning notification (no e-mail is sent)",
                        },
                        "warning_preset_id": _STRING,
                    },
                    required=[],
                ),
                required=False,
            ),
            tags=_TAGS,
        )
    },
    **{f"/api/v1/admin/accounts/{{id}}/{route}": {"post": _account_op(summary)} for route, summary in _LIFTS.items()},
}
