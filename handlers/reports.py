"""Reports (`POST /api/v1/reports`). HTTP only; domain/reports.py keeps the report and its snapshot."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from api.auth import require_user
from api.http import json_response, read_params
from api.keys import RESOURCES
from api.openapi import array, body, errors, obj, ok, operation
from domain import reports as report_domain

routes = web.RouteTableDef()


@routes.post("/api/v1/reports")
async def create_report(request: web.Request) -> web.Response:
    user = await require_user(request, "write:reports")
    params = await read_params(request)
    target = params.ident("account_id", required=True)
    assert target is not None
    report = await report_domain.create_report(
        request.app[RESOURCES],
        user.account_id,
        target,
        status_ids=params.idents("status_ids", max_items=100),
        comment=params.text("comment", default="", max_length=report_domain.MAX_COMMENT) or "",
        category=params.choice("category", report_domain.CATEGORIES),
        rule_ids=params.idents("rule_ids", max_items=100),
        forward=params.boolean("forward"),
    )
    return json_response(report)


_STRING = {"type": "string"}
OPENAPI_COMPONENTS: dict[str, Any] = {}
OPENAPI_PATHS: dict[str, dict[str, Any]] = {
    "/api/v1/reports": {
        "post": operation(
            "Report an account, optionally about some of its posts (kept as they were)",
            {
                "200": ok(obj({"id": _STRING, "category": _STRING, "status_ids": {"type": ["array", "null"]}})),
                **errors(401, 403, 404, 422),
            },
            scopes=["write:reports"],
            request_body=body(
                obj(
                    {
                        "account_id": _STRING,
                        "status_ids": array(_STRING),
                        "comment": _STRING,
                        "category": {"type": "string", "enum": list(report_domain.CATEGORIES)},
                        "rule_ids": array(_STRING),
                        "forward": {"type": "boolean"},
                    },
                    required=["account_id"],
                )
            ),
            tags=("reports",),
        )
    }
}
