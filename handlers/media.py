"""Mastodon's media API (POST /api/v2/media, POST /api/v1/media, GET/PUT /api/v1/media/:id) and the direct
upload to S3 with pre-signed URLs (POST /api/v1/media/uploads, POST /api/v1/media/:id/complete)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from api.auth import require_user
from api.http import Params, json_response, read_params
from api.keys import RESOURCES
from api.openapi import body, errors, nullable, obj, ok, operation, path, ref
from api.upload_body import PayloadFields, UploadBody, read_upload_body
from api.viewer_marks import leaves_marks
from core.errors import ApiError
from core.ids import parse_id
from domain import media as media_domain
from domain.media import DESCRIPTION_MAX, FormUpload

routes = web.RouteTableDef()

SCOPE = "write:media"
FORM_FIELDS = PayloadFields(raw=("file",), ignored=("thumbnail",))
MULTIPART_OVERHEAD = 1024 * 1024  # room for the form's other fields and boundaries


def media_path_id(request: web.Request) -> int:
    value = parse_id(request.match_info.get("id"))
    if value is None:
        raise ApiError(404, "Record not found")
    return value


def _details(params: Params) -> tuple[str | None, tuple[float, float] | None]:
    description = params.text("description", max_length=DESCRIPTION_MAX)
    return description, media_domain.parse_focus(params.text("focus"))


def form_upload(upload: UploadBody) -> FormUpload:
    """The file of a form or multipart upload body, as the domain takes it (Mastodon's and Twitter's
    one-shot uploads alike)."""
    if upload.payload is None or upload.payload_path is None:
        raise ApiError(422, "Validation failed: file can't be blank")
    return FormUpload(
        path=upload.payload_path,
        file=upload.payload,
        size=upload.payload_size,
        content_type=upload.content_type,
        file_name=upload.filename,
    )


async def _form_upload(request: web.Request, *, wait: bool) -> tuple[int, dict[str, Any]]:
    user = await require_user(request, SCOPE)
    res = request.app[RESOURCES]
    largest = media_domain.largest_limit(res.settings)
    upload = await read_upload_body(
        request, FORM_FIELDS, body_limit=largest + MULTIPART_OVERHEAD, payload_limit=largest
    )
    with upload:
        description, focus = _details(upload.params)
        row = await media_domain.create_form_upload(
            res,
            user.account_id,
            form_upload(upload),
            description=description,
            focus=focus,
            wait=wait,
        )
    status = 200 if row.state == "succeeded" else 202
    return status, await media_domain.media_entity(res, row)


@routes.post("/api/v2/media")
@leaves_marks
async def upload_media_v2(request: web.Request) -> web.Response:
    """200 with the processed attachment for small images; 202 with `url: null` for the rest."""
    status, entity = await _form_upload(request, wait=False)
    return json_response(entity, status=status)


@routes.post("/api/v1/media")
@leaves_marks
async def upload_media_v1(request: web.Request) -> web.Response:
    """The older synchronous form: every file is processed before the answer."""
    _, entity = await _form_upload(request, wait=True)
    return json_response(entity)


@routes.get(r"/api/v1/media/{id:\d+}")
async def show_media(request: web.Request) -> web.Response:
    user = await require_user(request, SCOPE)
    res = request.app[RESOURCES]
    row = await media_domain.own_media(res, user.account_id, media_path_id(request))
    if row.state == "failed":
        raise ApiError(422, f"Error processing uploaded media: {row.error_message}")
    status = 200 if row.state == "succeeded" else 206
    return json_response(await media_domain.media_entity(res, row), status=status)


@routes.put(r"/api/v1/media/{id:\d+}")
@leaves_marks
async def update_media(request: web.Request) -> web.Response:
    user = await require_user(request, SCOPE)
    res = request.app[RESOURCES]
    description, focus = _details(await read_params(request))
    row = await media_domain.update_media(
        res, user.account_id, media_path_id(request), description=description, focus=focus
    )
    status = 200 if row.state == "succeeded" else 206
    return json_response(await media_domain.media_entity(res, row), status=status)


# The files, at addresses that never expire -----------------------------------------------------------


@routes.get(r"/media/{id:\d+}/{attempt:[0-9a-f]{1,64}}/{name:(?:original|small)\.[a-z0-9]{2,5}}")
async def media_file(request: web.Request) -> web.Response:
    """A redirect to a fresh signed URL of the file, cacheable for half the signature's lifetime."""
    res = request.app[RESOURCES]
    media_id = media_path_id(request)
    key = f"media/{media_id}/{request.match_info['attempt']}/{request.match_info['name']}"
    location = await media_domain.signed_file_url(res, media_id, key)
    seconds = res.settings.media_url_seconds // 2
    return web.Response(status=302, headers={"Location": location, "Cache-Control": f"public, max-age={seconds}"})


# Direct upload to S3 ---------------------------------------------------------------------------------


@routes.post("/api/v1/media/uploads")
@leaves_marks
async def create_direct_upload(request: web.Request) -> web.Response:
    user = await require_user(request, SCOPE)
    res = request.app[RESOURCES]
    params = await read_params(request)
    media_type = params.required_text("media_type", max_length=100).strip().lower()
    largest = media_domain.largest_limit(res.settings)
    total_bytes = params.integer("total_bytes", default=0, low=1, high=max(largest, 1))
    if total_bytes == 0:
        raise ApiError(422, "Validation failed: total_bytes can't be blank")
    upload = await media_domain.create_direct_upload(
        res,
        user.account_id,
        media_type=media_type,
        total_bytes=total_bytes,
        file_name=params.text("file_name", max_length=255),
    )
    media_url = f"{res.settings.base_url}/api/v1/media/{upload.media.id}"
    return json_response(media_domain.direct_upload_entity(upload, media_url))


@routes.post(r"/api/v1/media/{id:\d+}/complete")
@leaves_marks
async def complete_direct_upload(request: web.Request) -> web.Response:
    user = await require_user(request, SCOPE)
    res = request.app[RESOURCES]
    params = await read_params(request)
    etags = params.strings("etags", max_items=media_domain.MAX_PARTS)
    row = await media_domain.complete_direct_upload(res, user.account_id, media_path_id(request), etags)
    status = 200 if row.state == "succeeded" else 202
    return json_response(await media_domain.media_entity(res, row), status=status)


# OpenAPI ---------------------------------------------------------------------------------------------

_TAGS = ("media",)
_ID_PATH = [path("id")]
_DIMENSIONS = obj(
    {
        "width": {"type": "integer"},
        "height": {"type": "integer"},
        "size": {"type": "string"},
        "aspect": {"type": "number"},
    },
    required=["width", "height"],
)
_MULTIPART_FILE = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": obj(
                {
                    "file": {"type": "string", "format": "binary"},
                    "description": {"type": "string", "maxLength": DESCRIPTION_MAX},
                    "focus": {"type": "string", "description": "x,y from -1.0 to 1.0"},
                    "thumbnail": {"type": "string", "format": "binary", "description": "Accepted and ignored"},
                },
                required=["file"],
            )
        }
    },
}
_DETAILS_BODY = body(
    obj({"description": {"type": "string", "maxLength": DESCRIPTION_MAX}, "focus": {"type": "string"}}, required=[]),
)

OPENAPI_COMPONENTS: dict[str, Any] = {
    "MediaAttachment": obj(
        {
            "id": {"type": "string"},
            "type": {"type": "string", "enum": ["image", "gifv", "video", "unknown"]},
            "url": nullable({"type": "string"}),
            "preview_url": nullable({"type": "string"}),
            "remote_url": {"type": "null"},
            "preview_remote_url": {"type": "null"},
            "text_url": {"type": "null"},
            "meta": obj(
                {
                    "original": _DIMENSIONS,
                    "small": _DIMENSIONS,
                    "focus": obj({"x": {"type": "number"}, "y": {"type": "number"}}),
                },
                required=[],
            ),
            "description": nullable({"type": "string"}),
            "blurhash": nullable({"type": "string"}),
        },
        description="Mastodon's MediaAttachment; `url` and `preview_url` are null until processing succeeds.",
    ),
    "DirectUpload": obj(
        {
            "media_id": {"type": "string"},
            "upload_url": nullable({"type": "string"}),
            "method": {"type": "string", "enum": ["PUT"]},
            "headers": {"type": "object", "additionalProperties": {"type": "string"}},
            "parts": {
                "type": "array",
                "items": obj(
                    {"part_number": {"type": "integer"}, "size": {"type": "integer"}, "upload_url": {"type": "string"}}
                ),
            },
            "part_size": nullable({"type": "integer"}),
            "media_url": {"type": "string"},
            "expires_at": {"type": "string", "format": "date-time"},
        },
        description="Where to PUT the file: `upload_url`, or for large files one URL per part of `part_size` bytes.",
    ),
}

OPENAPI_PATHS: dict[str, dict[str, Any]] = {
    "/media/{id}/{attempt}/{name}": {
        "get": operation(
            "A media file (an attachment's url or preview_url): a redirect to a fresh signed URL",
            {
                "302": {"description": "To the file in S3", "headers": {"Location": {"schema": {"type": "string"}}}},
                **errors(404),
            },
            parameters=[
                path(),
                path("attempt", "The processing attempt's nonce"),
                path("name", "original.<ext> or small.<ext>"),
            ],
            tags=_TAGS,
            description="Public (no token), like Mastodon's media URLs; the address never expires.",
        )
    },
    "/api/v2/media": {
        "post": operation(
            "Upload media (asynchronously processed when large)",
            {
                "200": ok(ref("MediaAttachment"), "Processed already (small images)"),
                "202": ok(ref("MediaAttachment"), "Accepted; poll GET /api/v1/media/{id} until it answers 200"),
                **errors(400, 401, 403, 413, 422, 429),
            },
            scopes=[SCOPE],
            request_body=_MULTIPART_FILE,
            tags=_TAGS,
        )
    },
    "/api/v1/media": {
        "post": operation(
            "Upload media and wait for it to be processed",
            {"200": ok(ref("MediaAttachment")), **errors(400, 401, 403, 413, 422, 429)},
            scopes=[SCOPE],
            request_body=_MULTIPART_FILE,
            tags=_TAGS,
        )
    },
    "/api/v1/media/{id}": {
        "get": operation(
            "View your media",
            {
                "200": ok(ref("MediaAttachment")),
                "206": ok(ref("MediaAttachment"), "Still processing: `url` is null"),
                **errors(401, 403, 404, 422),
            },
            scopes=[SCOPE],
            parameters=_ID_PATH,
            tags=_TAGS,
            description="422 when processing failed, with the reason.",
        ),
        "put": operation(
            "Change the description or focal point of media not yet attached to a post",
            {
                "200": ok(ref("MediaAttachment")),
                "206": ok(ref("MediaAttachment"), "Still processing"),
                **errors(401, 403, 404, 422),
            },
            scopes=[SCOPE],
            request_body=_DETAILS_BODY,
            parameters=_ID_PATH,
            tags=_TAGS,
        ),
    },
    "/api/v1/media/uploads": {
        "post": operation(
            "Start a direct upload to S3 with pre-signed URLs",
            {"200": ok(ref("DirectUpload")), **errors(400, 401, 403, 415, 422, 429)},
            scopes=[SCOPE],
            request_body=body(
                obj(
                    {
                        "media_type": {"type": "string"},
                        "total_bytes": {"type": "integer"},
                        "file_name": {"type": "string"},
                    },
                    required=["media_type", "total_bytes"],
                )
            ),
            tags=_TAGS,
            description="The URLs accept only the declared Content-Type and length; files over 16 MB go in parts.",
        )
    },
    "/api/v1/media/{id}/complete": {
        "post": operation(
            "Finish a direct upload: the file is checked and processed in the background",
            {"202": ok(ref("MediaAttachment"), "Accepted for processing"), **errors(400, 401, 403, 404, 409, 422)},
            scopes=[SCOPE],
            request_body=body(
                obj({"etags": {"type": "array", "items": {"type": "string"}}}, required=[]), required=False
            ),
            parameters=_ID_PATH,
            tags=_TAGS,
            description="For a multipart upload, `etags` lists each part's ETag in part order.",
        )
    },
}
