"""What many routes share: an id from the URL path, and the OpenAPI description of the pagination parameters."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from api.openapi import query
from core.errors import ApiError
from core.ids import parse_id

_ID = {"type": "string", "pattern": "^[0-9]+$"}
_STRING = {"type": "string"}


def path_id(request: web.Request, name: str = "id") -> int:
    """A Snowflake id from the URL path; an id that cannot exist is a 404, like one that does not."""
    value = parse_id(request.match_info.get(name))
    if value is None:
        raise ApiError(404, "Record not found")
    return value


PAGINATION_PARAMETERS = [
    query("max_id", _ID, description="Results older than this cursor (from the Link header)"),
    query("since_id", _ID, description="Results newer than this cursor"),
    query("min_id", _ID, description="Results immediately newer than this cursor"),
]
LINK_HEADER = {"Link": {"description": "next/prev page links (RFC 8288)", "schema": _STRING}}


def limit_parameter(default: int, maximum: int) -> dict[str, Any]:
    return query("limit", {"type": "integer", "minimum": 1, "maximum": maximum, "default": default})
