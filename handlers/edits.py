"""Editing posts (issue 23): PUT /api/v1/statuses/:id, and the history and source of a post."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from api.auth import optional_viewer, require_user
from api.http import Params, json_response, read_params
from api.keys import RESOURCES
from api.openapi import array, body, errors, nullable, obj, ok, operation, path, ref
from api.params import path_id
from core.errors import validation_error
from core.ids import parse_id
from domain import edits
from domain.media import DESCRIPTION_MAX
from handlers.statuses import MAX_MEDIA, one_status, poll_params

routes = web.RouteTableDef()

MAX_ATTRIBUTES = 20


def _descriptions(params: Params) -> dict[int, str]:
    """`media_attributes` as JSON (a list of `{id, description}`) or a form (`media_attributes[][id]`, ...)."""
    items: list[Any] = params.values("media_attributes")
    ids, texts = params.values("media_attributes[][id]"), params.values("media_attributes[][description]")
    if ids:
        if len(ids) != len(texts):
            raise validation_error("media_attributes", "each item needs an id and a description")
        items = [{"id": i, "description": d} for i, d in zip(ids, texts, strict=True)]
    if len(items) > MAX_ATTRIBUTES:
        raise validation_error("media_attributes", f"has too many items (maximum is {MAX_ATTRIBUTES})")
    out: dict[int, str] = {}
    for item in items:
        if not isinstance(item, dict):
            raise validation_error("media_attributes", "must be a list of objects")
        media_id = parse_id(str(item.get("id", "")))
        if media_id is None:
            raise validation_error("media_attributes", "contains an invalid id")
        item_params = Params.from_pairs((key, value) for key, value in item.items() if key == "description")
        description = item_params.text("description", max_length=DESCRIPTION_MAX)
        if description is not None:
            out[media_id] = description
    return out


def _draft(params: Params) -> edits.EditDraft:
    descriptions = _descriptions(params)
    media_ids = params.idents("media_ids", max_items=MAX_MEDIA)
    return edits.EditDraft(
        text=params.text("status") or "",
        spoiler_text=params.text("spoiler_text") or "",
        sensitive=params.boolean("sensitive") if params.raw("sensitive") is not None else None,
        language=params.text("language", max_length=16),
        media_ids=media_ids or list(descriptions),
        descriptions=descriptions,
        poll=poll_params(params),
    )


@routes.put(r"/api/v1/statuses/{id:\d+}")
async def edit_status(request: web.Request) -> web.Response:
    user = await require_user(request, "write:statuses")
    post_id = path_id(request)
    await edits.edit_post(request.app[RESOURCES], user.account_id, post_id, _draft(await read_params(request)))
    return await one_status(request, post_id, user.account_id)


@routes.get(r"/api/v1/statuses/{id:\d+}/history")
async def status_history(request: web.Request) -> web.Response:
    viewer = await optional_viewer(request, "read:statuses")
    history = await edits.post_history(request.app[RESOURCES], path_id(request), viewer.account_id if viewer else None)
    return json_response(history)


@routes.get(r"/api/v1/statuses/{id:\d+}/source")
async def status_source(request: web.Request) -> web.Response:
    user = await require_user(request, "read:statuses")
    return json_response(await edits.post_source(request.app[RESOURCES], path_id(request), user.account_id))


# OpenAPI ---------------------------------------------------------------------------------------------

_STRING = {"type": "string"}
_ID = {"type": "string", "pattern": "^[0-9]+$"}
_TAGS = ("statuses",)
_ID_PATH = [path("id")]

OPENAPI_COMPONENTS: dict[str, Any] = {
    "StatusEdit": obj(
        {
            "content": {"type": "string", "description": "HTML"},
            "spoiler_text": _STRING,
            "sensitive": {"type": "boolean"},
            "created_at": {"type": "string", "format": "date-time"},
            "account": ref("Account"),
            "poll": nullable(obj({"options": array(obj({"title": _STRING}))})),
            "media_attachments": array({"type": "object"}),
            "emojis": array({"type": "object"}),
        },
        description="One version of a post, as Mastodon's StatusEdit.",
    ),
    "StatusSource": obj({"id": _ID, "text": _STRING, "spoiler_text": _STRING}),
}

_EDIT_BODY = obj(
    {
        "status": {"type": "string", "description": "the new text; the same limits as a new post"},
        "spoiler_text": {"type": "string", "description": "omitted: no content warning"},
        "sensitive": {"type": "boolean", "description": "omitted: unchanged"},
        "language": {"type": "string", "description": "ISO 639-1; omitted: unchanged"},
        "media_ids[]": array(_ID),
        "media_attributes[]": array(
            obj({"id": _ID, "description": {"type": "string", "maxLength": DESCRIPTION_MAX}}, required=["id"])
        ),
        "poll": obj(
            {
                "options[]": array(_STRING),
                "expires_in": {"type": "integer", "description": "seconds, from the edit"},
                "multiple": {"type": "boolean"},
                "hide_totals": {"type": "boolean"},
            },
            required=["options[]", "expires_in"],
            description="The post's poll after the edit (omitted: none); limits as a new post's",
        ),
    },
    required=[],
    description=(
        "As Mastodon: omitted media_ids mean no media, an omitted poll no poll; a poll whose options or "
        "`multiple` change loses its votes. `status` is required unless media are attached."
    ),
)

OPENAPI_PATHS: dict[str, dict[str, Any]] = {
    "/api/v1/statuses/{id}": {
        "put": operation(
            "Edit one of your posts",
            {"200": ok(ref("Status"), "The post, as edited"), **errors(400, 401, 403, 404, 415, 422)},
            scopes=["write:statuses"],
            request_body=body(_EDIT_BODY),
            parameters=_ID_PATH,
            tags=_TAGS,
        ),
    },
    "/api/v1/statuses/{id}/history": {
        "get": operation(
            "Every version of a post, oldest first",
            {"200": ok(array(ref("StatusEdit"))), **errors(401, 403, 404)},
            parameters=_ID_PATH,
            tags=_TAGS,
        )
    },
    "/api/v1/statuses/{id}/source": {
        "get": operation(
            "A post's plain source text, for editing",
            {"200": ok(ref("StatusSource")), **errors(401, 403, 404)},
            scopes=["read:statuses"],
            parameters=_ID_PATH,
            tags=_TAGS,
        )
    },
}
