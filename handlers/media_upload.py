"""Twitter's v1.1 upload, at /api/v1/media/upload and at /1.1/media/upload.json, so Twitter-style uploaders
work unchanged: the chunked commands (INIT, APPEND, FINALIZE, STATUS), and the one-shot "simple upload" (a
POST with `media` or `media_data` and no `command`, as tweepy's `simple_upload` sends it).

Bodies are form-encoded or multipart, as Twitter took them; a segment (`media` as bytes, or `media_data` as
base64) is streamed to a temporary file and on to S3, never held whole in memory.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from api.auth import require_user
from api.http import Params, json_response
from api.keys import RESOURCES
from api.openapi import errors, obj, ok, operation, query
from api.upload_body import PayloadFields, PayloadStream, UploadBody, read_upload_body
from api.viewer_marks import leaves_marks
from core.errors import ApiError
from domain import media as media_domain
from domain.media import SegmentStream
from handlers.media import form_upload

routes = web.RouteTableDef()

PATHS = ("/api/v1/media/upload", "/1.1/media/upload.json")
SCOPE = "write:media"
COMMANDS = ("INIT", "APPEND", "FINALIZE", "STATUS")
SEGMENT_FIELDS = PayloadFields(raw=("media",), base64=("media_data",))
# A form-encoded base64 segment is about 4/3 of its bytes, plus percent-escapes: its body may be bigger.
BASE64_ALLOWANCE = 3 / 2


def _body_limit(request: web.Request) -> int:
    limit = request.app[RESOURCES].settings.upload_max_body_bytes
    if request.content_type == "application/x-www-form-urlencoded":
        return int(limit * BASE64_ALLOWANCE)
    return limit


def _media_id(params: Params) -> int:
    media_id = params.ident("media_id", required=True)
    assert media_id is not None
    return media_id


async def _upload_command(request: web.Request) -> web.Response:
    user = await require_user(request, SCOPE)
    res = request.app[RESOURCES]

    async def forward_segment(params: Params, size: int) -> PayloadStream | None:
        """An APPEND whose segment is the body's last part goes on to S3 while it is still arriving."""
        if params.text("command") != "APPEND":
            return None
        return await media_domain.open_segment_stream(res, user.account_id, _media_id(params), _index(params), size)

    upload = await read_upload_body(
        request,
        SEGMENT_FIELDS,
        body_limit=_body_limit(request),
        payload_limit=media_domain.SEGMENT_MAX_BYTES,
        stream_to=forward_segment,
    )
    with upload:
        params = upload.params
        command = params.choice("command", COMMANDS)
        if command is None and request.method == "POST" and upload.payload is not None:
            return await _simple_upload(request, user.account_id, upload)
        if command is None:
            raise ApiError(400, "command is required: INIT, APPEND, FINALIZE or STATUS (or send the file as media)")
        if command == "INIT":
            return await _init(request, user.account_id, params)
        if command == "APPEND":
            return await _append(request, user.account_id, upload)
        if command == "FINALIZE":
            row = await media_domain.finalize_chunked_upload(res, user.account_id, _media_id(params))
            return json_response(media_domain.twitter_media(row), status=201)
        return await _status(request, user.account_id, params)


async def _init(request: web.Request, account_id: int, params: Params) -> web.Response:
    res = request.app[RESOURCES]
    media_type = params.required_text("media_type", max_length=100).strip().lower()
    largest = media_domain.largest_limit(res.settings)
    total_bytes = params.integer("total_bytes", default=0, low=1, high=max(largest, 1))
    if total_bytes == 0:
        raise ApiError(400, "total_bytes is required")
    row = await media_domain.init_chunked_upload(
        res, account_id, media_type=media_type, total_bytes=total_bytes, category=_category(params)
    )
    return json_response(media_domain.twitter_media(row), status=202)


def _category(params: Params) -> str | None:
    category = params.text("media_category", max_length=40)
    if category is not None and category.lower() not in media_domain.TWITTER_CATEGORIES:
        raise ApiError(400, f"Unsupported media_category {category!r}")
    return category.lower() if category else None


async def _simple_upload(request: web.Request, account_id: int, upload: UploadBody) -> web.Response:
    """The whole file in one request: handled as Mastodon's form upload is, answered as Twitter does
    (200 with the processed image; 202 with `processing_info` for what the worker still has to process)."""
    _category(upload.params)
    row = await media_domain.create_form_upload(
        request.app[RESOURCES],
        account_id,
        form_upload(upload),
        description=None,
        focus=None,
        wait=False,
    )
    return json_response(media_domain.twitter_media(row), status=200 if row["state"] == "succeeded" else 202)


def _index(params: Params) -> int:
    index = params.integer("segment_index", default=-1, low=0, high=media_domain.MAX_SEGMENTS - 1)
    if index < 0:
        raise ApiError(400, "segment_index is required (0-999)")
    return index


async def _append(request: web.Request, account_id: int, upload: UploadBody) -> web.Response:
    params = upload.params
    media_id, index = _media_id(params), _index(params)
    if upload.payload is None:
        raise ApiError(400, "APPEND needs the segment as `media` (bytes) or `media_data` (base64)")
    res = request.app[RESOURCES]
    if isinstance(upload.stream, SegmentStream):  # already in S3
        staged = upload.stream.key
        await media_domain.append_segment(res, account_id, media_id, index, upload.payload_size, staged_key=staged)
    else:
        await media_domain.append_segment(res, account_id, media_id, index, upload.payload_size, body=upload.payload)
    return web.Response(status=204)


async def _status(request: web.Request, account_id: int, params: Params) -> web.Response:
    row = await media_domain.own_media(request.app[RESOURCES], account_id, _media_id(params))
    if row.state == "uploading":
        raise ApiError(400, "FINALIZE has not been called for this media id")
    return json_response(media_domain.twitter_media(row))


for _path in PATHS:
    routes.post(_path)(leaves_marks(_upload_command))
    routes.get(_path)(_upload_command)


# OpenAPI ---------------------------------------------------------------------------------------------

_TAGS = ("media",)
_PROCESSING_INFO = obj(
    {
        "state": {"type": "string", "enum": ["pending", "in_progress", "succeeded", "failed"]},
        "check_after_secs": {"type": "integer"},
        "progress_percent": {"type": "integer"},
        "error": obj({"code": {"type": "integer"}, "name": {"type": "string"}, "message": {"type": "string"}}),
    },
    required=["state", "progress_percent"],
)
OPENAPI_COMPONENTS: dict[str, Any] = {
    "TwitterMedia": obj(
        {
            "media_id": {"type": "integer"},
            "media_id_string": {"type": "string"},
            "media_key": {"type": "string"},
            "size": {"type": "integer"},
            "expires_after_secs": {"type": "integer"},
            "processing_info": _PROCESSING_INFO,
            "image": obj({"image_type": {"type": "string"}, "w": {"type": "integer"}, "h": {"type": "integer"}}),
            "video": obj({"video_type": {"type": "string"}}),
        },
        required=["media_id", "media_id_string", "expires_after_secs"],
        description="Twitter v1.1's upload answer; `processing_info` from FINALIZE on.",
    )
}
_FORM = {"type": "string"}
_UPLOAD_BODY = {
    "required": False,
    "content": {
        kind: {
            "schema": obj(
                {
                    "command": {"type": "string", "enum": ["INIT", "APPEND", "FINALIZE", "STATUS"]},
                    "media_id": _FORM,
                    "media_type": _FORM,
                    "total_bytes": {"type": "integer"},
                    "media_category": _FORM,
                    "segment_index": {"type": "integer", "minimum": 0, "maximum": 999},
                    "media": {"type": "string", "format": "binary"},
                    "media_data": {"type": "string", "description": "base64"},
                },
            )
        }
        for kind in ("multipart/form-data", "application/x-www-form-urlencoded")
    },
}


def _operations() -> dict[str, Any]:
    return {
        "post": operation(
            "Chunked upload: INIT, APPEND (segments ≤ 5 MB, 0-999), FINALIZE; or a simple upload (no command)",
            {
                "200": ok({"$ref": "#/components/schemas/TwitterMedia"}, "Simple upload: the processed image"),
                "201": ok({"$ref": "#/components/schemas/TwitterMedia"}, "FINALIZE: processing_info pending"),
                "202": ok({"$ref": "#/components/schemas/TwitterMedia"}, "INIT, or a simple upload still processing"),
                "204": ok(None, "APPEND"),
                **errors(400, 401, 403, 404, 409, 413, 422, 429),
            },
            scopes=[SCOPE],
            request_body=_UPLOAD_BODY,
            tags=_TAGS,
            description=(
                "Parameters may also come in the query string. A re-sent segment replaces the earlier one. "
                "Without `command`, `media` (a file) or `media_data` (base64) is the whole file (Twitter's "
                "simple upload, up to 5 MB)."
            ),
        ),
        "get": operation(
            "Chunked upload STATUS",
            {"200": ok({"$ref": "#/components/schemas/TwitterMedia"}), **errors(400, 401, 403, 404, 422)},
            scopes=[SCOPE],
            parameters=[
                query("command", {"type": "string", "enum": ["STATUS"]}, required=True),
                query("media_id", {"type": "string"}, required=True),
            ],
            tags=_TAGS,
        ),
    }


OPENAPI_PATHS: dict[str, dict[str, Any]] = {route: _operations() for route in PATHS}
