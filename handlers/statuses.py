"""Statuses (posts): posting, viewing one or many, deleting, thread context, quotes, and profile posts."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from api.auth import optional_viewer, require_user
from api.http import Params, json_response, read_params
from api.keys import RESOURCES
from api.openapi import array, body, errors, nullable, obj, ok, operation, path, query, ref
from api.pagination import link_header, page_params
from api.params import LINK_HEADER, PAGINATION_PARAMETERS, limit_parameter, path_id
from api.viewer_marks import leaves_marks
from core.errors import ApiError
from domain import posts as post_domain
from domain.polls import PollDraft
from domain.post_entities import NOTHING_WRITTEN, Written, post_entities
from domain.posts import VISIBILITIES, PostDraft
from domain.scheduled import schedule_post
from handlers.scheduled import scheduled_at

routes = web.RouteTableDef()

MAX_BATCH = 40  # ids per GET /api/v1/statuses
MAX_MEDIA = 20  # media_ids per post accepted as input; the media capability sets the real limit


def poll_params(params: Params) -> PollDraft | None:
    """`poll[...]` of a new or edited post; None when the request names no poll."""
    if not any(name.startswith("poll[") for name in params.names()):
        return None
    expires_in = None
    if "poll[expires_in]" in params:
        expires_in = params.integer("poll[expires_in]", default=0, low=0, high=2**31 - 1)
    return PollDraft(
        options=params.strings("poll[options]", max_items=100),
        expires_in=expires_in,
        multiple=params.boolean("poll[multiple]"),
        hide_totals=params.boolean("poll[hide_totals]"),
    )


def _draft(params: Params) -> PostDraft:
    quote_param = "quoted_status_id" if params.raw("quoted_status_id") not in (None, "") else "quote_id"
    return PostDraft(
        text=params.text("status") or "",
        media_ids=params.idents("media_ids", max_items=MAX_MEDIA),
        in_reply_to_id=params.ident("in_reply_to_id"),
        quote_of_id=params.ident(quote_param),
        sensitive=params.boolean("sensitive"),
        spoiler_text=params.text("spoiler_text") or "",
        visibility=params.choice("visibility", VISIBILITIES),
        language=params.text("language", max_length=16),
        lat=params.number("lat", low=-90, high=90),
        lon=params.number("long", low=-180, high=180),
        poll=poll_params(params),
    )


async def one_status(request: web.Request, post_id: int, viewer_id: int | None) -> web.Response:
    """The Status entity of a post the viewer may see, or 404."""
    entities = await post_entities(request.app[RESOURCES], [post_id], viewer_id)
    if not entities:
        raise ApiError(404, "Record not found")
    return json_response(entities[0])


@routes.post("/api/v1/statuses")
@leaves_marks
async def create_status(request: web.Request) -> web.Response:
    user = await require_user(request, "write:statuses")
    params = await read_params(request)
    when = scheduled_at(params)
    if when is not None:  # issue 23: a ScheduledStatus, published by the scheduled queue at its time
        entity = await schedule_post(
            request.app[RESOURCES], user.account_id, _draft(params), when, application_id=user.app_id
        )
        return json_response(entity)
    draft, key = _draft(params), request.headers.get("Idempotency-Key")
    post_id = await post_domain.create_post(
        request.app[RESOURCES], user.account_id, draft, application_id=user.app_id, idempotency_key=key
    )
    # Without a key the post is new; with one it may be the earlier post made with it, marked since.
    written = NOTHING_WRITTEN if key else Written(frozenset({post_id}), frozenset({post_id} if draft.poll else ()))
    entities = await post_entities(request.app[RESOURCES], [post_id], user.account_id, written=written)
    if not entities:  # an Idempotency-Key whose post has since been deleted
        raise ApiError(409, "The post made with this Idempotency-Key has been deleted")
    return json_response(entities[0])


@routes.get("/api/v1/statuses")
async def get_statuses(request: web.Request) -> web.Response:
    viewer = await optional_viewer(request, "read:statuses")
    params = await read_params(request)
    ids = params.idents("id", max_items=MAX_BATCH)
    entities = await post_entities(request.app[RESOURCES], ids, viewer.account_id if viewer else None)
    return json_response(entities)


@routes.get(r"/api/v1/statuses/{id:\d+}")
async def get_status(request: web.Request) -> web.Response:
    viewer = await optional_viewer(request, "read:statuses")
    return await one_status(request, path_id(request), viewer.account_id if viewer else None)


@routes.delete(r"/api/v1/statuses/{id:\d+}")
async def delete_status(request: web.Request) -> web.Response:
    user = await require_user(request, "write:statuses")
    entity = await post_domain.delete_post(request.app[RESOURCES], user.account_id, path_id(request))
    return json_response(entity)


@routes.get(r"/api/v1/statuses/{id:\d+}/context")
async def status_context(request: web.Request) -> web.Response:
    viewer = await optional_viewer(request, "read:statuses")
    context = await post_domain.thread_context(
        request.app[RESOURCES], path_id(request), viewer.account_id if viewer else None
    )
    return json_response(context)


@routes.get(r"/api/v1/statuses/{id:\d+}/quotes")
async def status_quotes(request: web.Request) -> web.Response:
    user = await require_user(request, "read:statuses")
    page = page_params(await read_params(request), default_limit=20, max_limit=40)
    entities, cursors = await post_domain.post_quotes(request.app[RESOURCES], path_id(request), user.account_id, page)
    return json_response(entities, headers=link_header(request, cursors, page))


@routes.get(r"/api/v1/accounts/{id:\d+}/statuses")
async def account_statuses(request: web.Request) -> web.Response:
    viewer = await optional_viewer(request, "read:statuses")
    params = await read_params(request)
    page = page_params(params, default_limit=20, max_limit=40)
    filters = post_domain.profile_filters(
        exclude_replies=params.boolean("exclude_replies"),
        exclude_reposts=params.boolean("exclude_reblogs"),
        only_media=params.boolean("only_media"),
        tagged=params.text("tagged", max_length=200),
    )
    entities, cursors = await post_domain.profile_posts(
        request.app[RESOURCES],
        path_id(request),
        viewer.account_id if viewer else None,
        page,
        filters,
        pinned=params.boolean("pinned"),
    )
    return json_response(entities, headers=link_header(request, cursors, page))


# OpenAPI ---------------------------------------------------------------------------------------------

_STRING = {"type": "string"}
_BOOL = {"type": "boolean"}
_INT = {"type": "integer", "minimum": 0}
_ID = {"type": "string", "pattern": "^[0-9]+$"}
_URL = {"type": "string", "format": "uri"}
_TIME = {"type": "string", "format": "date-time"}
_VISIBILITY = {"type": "string", "enum": ["public", "unlisted", "private", "direct"]}
_TAGS = ("statuses",)

_STATUS_PROPERTIES: dict[str, Any] = {
    "id": _ID,
    "created_at": _TIME,
    "in_reply_to_id": nullable(_ID),
    "in_reply_to_account_id": nullable(_ID),
    "sensitive": _BOOL,
    "spoiler_text": _STRING,
    "visibility": _VISIBILITY,
    "language": nullable(_STRING),
    "uri": _URL,
    "url": nullable(_URL),
    "replies_count": _INT,
    "reblogs_count": _INT,
    "favourites_count": _INT,
    "quotes_count": _INT,
    "edited_at": nullable(_TIME),
    "favourited": _BOOL,
    "reblogged": _BOOL,
    "muted": _BOOL,
    "bookmarked": _BOOL,
    "pinned": _BOOL,
    "content": {"type": "string", "description": "HTML"},
    "text": {"type": "string", "description": "the plain source; only in the answer to a delete"},
    "reblog": nullable(ref("Status")),
    "quote": nullable({"anyOf": [ref("Quote"), ref("ShallowQuote")]}),
    "quote_approval": ref("QuoteApproval"),
    "application": nullable(obj({"name": _STRING, "website": nullable(_STRING)})),
    "account": ref("Account"),
    "media_attachments": array({"type": "object"}),
    "mentions": array(ref("StatusMention")),
    "tags": array(ref("StatusTag")),
    "emojis": array({"type": "object"}),
    "card": {"type": "null"},
    "poll": nullable(ref("Poll")),
    "reactions": array(ref("Reaction")),
    "geo": nullable(
        obj(
            {
                "lat": {"type": "number", "minimum": -90, "maximum": 90},
                "long": {"type": "number", "minimum": -180, "maximum": 180},
            },
            description="Chirp extension: where the post was written",
        )
    ),
}

_QUOTE_STATES = ["accepted", "deleted", "unauthorized"]

OPENAPI_COMPONENTS: dict[str, Any] = {
    "Status": obj(
        _STATUS_PROPERTIES,
        required=[name for name in _STATUS_PROPERTIES if name != "text"],
        description="Mastodon's Status entity, with Pleroma-style `reactions` and Chirp's `geo`.",
    ),
    "Quote": obj(
        {"state": {"type": "string", "enum": _QUOTE_STATES}, "quoted_status": nullable(ref("Status"))},
        description="Mastodon 4.5's Quote: quoted_status is set when state is accepted.",
    ),
    "ShallowQuote": obj(
        {"state": {"type": "string", "enum": _QUOTE_STATES}, "quoted_status_id": nullable(_ID)},
        description="A quote inside a quoted post, by id only.",
    ),
    "QuoteApproval": obj(
        {
            "automatic": array(_STRING),
            "manual": array(_STRING),
            "current_user": {"type": "string", "enum": ["automatic", "manual", "denied", "unknown"]},
        }
    ),
    "StatusMention": obj({"id": _ID, "username": _STRING, "url": _URL, "acct": _STRING}),
    "StatusTag": obj({"name": _STRING, "url": _URL}),
    "Reaction": obj(
        {"name": _STRING, "count": {"type": "integer", "minimum": 1}, "me": _BOOL},
        description="A reaction and how many made it; `me` when the viewer did.",
    ),
    "Context": obj({"ancestors": array(ref("Status")), "descendants": array(ref("Status"))}),
}

_CREATE_BODY = obj(
    {
        "status": {"type": "string", "description": "the text; counted in code points, each URL as 23"},
        "media_ids[]": array(_ID),
        "in_reply_to_id": _ID,
        "quoted_status_id": _ID,
        "quote_id": {"type": "string", "description": "Akkoma's name for quoted_status_id"},
        "sensitive": _BOOL,
        "spoiler_text": _STRING,
        "visibility": {"type": "string", "enum": ["public", "unlisted", "private", "direct"]},
        "language": {"type": "string", "description": "ISO 639-1"},
        "lat": {"type": "number", "minimum": -90, "maximum": 90},
        "long": {"type": "number", "minimum": -180, "maximum": 180},
        "scheduled_at": {"type": "string", "format": "date-time", "description": "at least 5 minutes ahead"},
        "poll": obj(
            {
                "options[]": array(_STRING),
                "expires_in": {"type": "integer", "description": "seconds"},
                "multiple": _BOOL,
                "hide_totals": _BOOL,
            },
            required=["options[]", "expires_in"],
            description="Limits in the instance's configuration.polls; not together with media",
        ),
    },
    required=[],
    description="`status` is required unless media are attached.",
)

_ID_PATH = [path("id")]

OPENAPI_PATHS: dict[str, dict[str, Any]] = {
    "/api/v1/statuses": {
        "post": operation(
            "Publish a post",
            {
                "200": ok(
                    {"anyOf": [ref("Status"), ref("ScheduledStatus")]}, "The post (a ScheduledStatus with scheduled_at)"
                ),
                **errors(400, 401, 403, 404, 409, 415, 422, 429),
            },
            scopes=["write:statuses"],
            request_body=body(_CREATE_BODY),
            parameters=[
                {
                    "name": "Idempotency-Key",
                    "in": "header",
                    "required": False,
                    "schema": {"type": "string", "maxLength": 255},
                    "description": "A retry with the same key within an hour returns the first post",
                }
            ],
            tags=_TAGS,
        ),
        "get": operation(
            "View several posts",
            {"200": ok(array(ref("Status")), "The posts that exist and are visible"), **errors(401, 403, 422)},
            parameters=[query("id[]", array(_ID), required=True)],
            tags=_TAGS,
        ),
    },
    "/api/v1/statuses/{id}": {
        "get": operation(
            "View a post", {"200": ok(ref("Status")), **errors(401, 403, 404)}, parameters=_ID_PATH, tags=_TAGS
        ),
        "delete": operation(
            "Delete one of your posts",
            {"200": ok(ref("Status"), "The deleted post, with its source `text`"), **errors(401, 403, 404)},
            scopes=["write:statuses"],
            parameters=_ID_PATH,
            tags=_TAGS,
        ),
    },
    "/api/v1/statuses/{id}/context": {
        "get": operation(
            "A post's thread: ancestors root first, descendants depth-first",
            {"200": ok(ref("Context")), **errors(401, 403, 404)},
            parameters=_ID_PATH,
            tags=_TAGS,
            description="Signed out: 40 ancestors, 60 descendants, 20 levels deep. Signed in: up to 4,096.",
        )
    },
    "/api/v1/statuses/{id}/quotes": {
        "get": operation(
            "Posts quoting a post",
            {"200": ok(array(ref("Status")), headers=LINK_HEADER), **errors(401, 403, 404, 422)},
            scopes=["read:statuses"],
            parameters=[*_ID_PATH, *PAGINATION_PARAMETERS, limit_parameter(20, 40)],
            tags=_TAGS,
        )
    },
    "/api/v1/accounts/{id}/statuses": {
        "get": operation(
            "An account's posts",
            {"200": ok(array(ref("Status")), headers=LINK_HEADER), **errors(401, 403, 404, 422)},
            parameters=[
                *_ID_PATH,
                *PAGINATION_PARAMETERS,
                limit_parameter(20, 40),
                query("exclude_replies", _BOOL, description="Leave out replies (except to oneself)"),
                query("exclude_reblogs", _BOOL),
                query("only_media", _BOOL),
                query("tagged", _STRING, description="Only posts with this hashtag"),
                query("pinned", _BOOL, description="Only the pinned posts (at most five, newest pin first)"),
            ],
            tags=_TAGS,
        )
    },
}
