"""Read markers: GET and POST /api/v1/markers for the home timeline and notifications."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from api.auth import require_user
from api.http import json_response, read_params
from api.keys import RESOURCES
from api.openapi import array, body, errors, obj, ok, operation, query, ref
from api.viewer_marks import leaves_marks
from core.errors import validation_error
from core.ids import parse_id
from domain import markers as marker_domain

routes = web.RouteTableDef()


@routes.get("/api/v1/markers")
async def get_markers(request: web.Request) -> web.Response:
    user = await require_user(request, "read:statuses")
    params = await read_params(request)
    timelines = params.strings("timeline", max_items=len(marker_domain.TIMELINES) * 2)
    return json_response(await marker_domain.get_markers(request.app[RESOURCES], user.account_id, timelines))


@routes.post("/api/v1/markers")
@leaves_marks
async def set_markers(request: web.Request) -> web.Response:
    """`home[last_read_id]=...` and/or `notifications[last_read_id]=...`, as a form or nested JSON."""
    user = await require_user(request, "write:statuses")
    params = await read_params(request)
    positions: dict[str, int] = {}
    for timeline in marker_domain.TIMELINES:
        name = f"{timeline}[last_read_id]"
        if name not in params:
            continue
        last_read_id = parse_id(params.text(name) or "")
        if last_read_id is None:
            raise validation_error(name, "is not a valid id")
        positions[timeline] = last_read_id
    markers = await marker_domain.set_markers(request.app[RESOURCES], user.account_id, positions)
    return json_response(markers)


# OpenAPI ---------------------------------------------------------------------------------------------

_TAGS = ["timelines"]
_MARKERS = obj(
    {name: ref("Marker") for name in marker_domain.TIMELINES},
    required=[],
    description="The markers asked for that are set, keyed by timeline.",
)

OPENAPI_COMPONENTS: dict[str, Any] = {
    "Marker": obj(
        {
            "last_read_id": {"type": "string"},
            "version": {"type": "integer", "minimum": 0},
            "updated_at": {"type": "string", "format": "date-time"},
        },
        description="Mastodon's Marker: the last read position; `version` counts its updates.",
    ),
}

OPENAPI_PATHS: dict[str, dict[str, Any]] = {
    "/api/v1/markers": {
        "get": operation(
            "Your read markers",
            {"200": ok(_MARKERS), **errors(401, 403, 422)},
            scopes=["read:statuses"],
            parameters=[
                query(
                    "timeline[]",
                    array({"type": "string", "enum": list(marker_domain.TIMELINES)}),
                    description="home and/or notifications",
                )
            ],
            tags=_TAGS,
        ),
        "post": operation(
            "Set your read markers",
            {"200": ok(_MARKERS), **errors(401, 403, 422)},
            scopes=["write:statuses"],
            request_body=body(
                obj(
                    {f"{name}[last_read_id]": {"type": "string"} for name in marker_domain.TIMELINES},
                    required=[],
                    description='JSON may nest: {"home": {"last_read_id": "..."}}',
                )
            ),
            tags=_TAGS,
        ),
    },
}
