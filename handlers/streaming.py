"""Mastodon's streaming API: one websocket multiplexing streams, and server-sent events per stream.

GET /api/v1/streaming (websocket): auth by `Authorization: Bearer`, `access_token` or
`Sec-WebSocket-Protocol`; `?stream=...&tag=...` on connect, then `{"type": "subscribe"|"unsubscribe",
"stream": ..., "tag": ...}`. A failed authentication closes the socket with 4401 (no valid token) or 4403
(not allowed: scope, or an application token on a user stream); a bad stream on connect with 4400.
GET /api/v1/streaming/<stream> (SSE): the same streams over HTTP, `:thump` every heartbeat.
`last_event_id` (or `since_id`, or SSE's `Last-Event-ID`) resumes a user stream without gaps.
"""

from __future__ import annotations

import functools
import logging
from datetime import UTC, datetime
from typing import Any, cast

import orjson
from aiohttp import web
from aiohttp.http import HttpVersion11
from redis.exceptions import RedisError

from api.auth import Viewer, authenticate, bearer_token
from api.keys import HUB, SETTINGS
from api.openapi import errors, operation, path, query
from api.takeover import TakenOver, take_over, websocket_accept
from core.errors import ApiError
from core.ids import id_at
from domain import lists
from domain.streaming import warm_home
from realtime.connection import (
    CLOSE_BAD_REQUEST,
    CLOSE_FORBIDDEN,
    CLOSE_TOO_MANY,
    CLOSE_UNAUTHORIZED,
    Connection,
    Cursor,
    Limits,
    SSEConnection,
    WebSocketConnection,
)
from realtime.hub import Hub, TooManyStreams
from realtime.streams import LIST, USER, Stream, StreamError, parse_stream
from storage.stream_leases import Lease

log = logging.getLogger("chirp.streaming")
routes = web.RouteTableDef()

CLOSE_CODES = {400: CLOSE_BAD_REQUEST, 401: CLOSE_UNAUTHORIZED, 403: CLOSE_FORBIDDEN}
SSE_HEADERS = {
    "Content-Type": "text/event-stream",
    "Cache-Control": "no-store",
    "X-Accel-Buffering": "no",  # proxies must pass events on at once
}

# SSE path (after /api/v1/streaming) → stream name; `only_media=true` turns public ones into :media.
SSE_STREAMS = {
    "user": "user",
    "user/notification": "user:notification",
    "direct": "direct",
    "public": "public",
    "public/local": "public:local",
    "public/remote": "public:remote",
    "hashtag": "hashtag",
    "hashtag/local": "hashtag:local",
    "list": "list",
}


# who may have which stream ---------------------------------------------------------------------------


async def check_list(hub: Hub, viewer: Viewer | None, stream: Stream) -> None:
    """A `list` stream is its owner's alone (404 for anyone else's, as the list's routes answer)."""
    if stream.name != LIST or viewer is None or viewer.account_id is None:
        return
    try:
        await lists.owned_list(hub.res, viewer.account_id, int(stream.tag or 0))
    except ApiError:
        raise StreamError(404, "Record not found") from None


def check_access(viewer: Viewer | None, stream: Stream) -> None:
    if stream.is_user or stream.name == LIST:
        if viewer is None:
            raise StreamError(401, "Missing access token")
        if viewer.account_id is None:
            raise StreamError(403, "This stream requires an authenticated user")
    if viewer is not None and not viewer.has_scope(stream.scope):
        raise StreamError(403, "This action is outside the authorized scopes")


def resume_cursor(request: web.Request) -> Cursor | None:
    """The position a reconnecting client gives: Last-Event-ID, last_event_id or since_id (None: live only)."""
    raw = request.headers.get("Last-Event-ID") or request.query.get("last_event_id") or request.query.get("since_id")
    if raw is None or raw == "":
        return None
    cursor = Cursor.parse(raw)
    if cursor is None:
        raise StreamError(400, "last_event_id is not an event id of this server")
    return cursor


def now_cursor() -> Cursor:
    now = id_at(datetime.now(UTC))
    return Cursor(now, now)


def limits(request: web.Request) -> Limits:
    settings = request.app[SETTINGS]
    return Limits(settings.stream_send_buffer_bytes, settings.stream_full_seconds)


async def attach(hub: Hub, conn: Connection, stream: Stream, *, resume: bool) -> None:
    """Subscribe the connection to a stream it opens with, before the client is told the stream is open:
    what is published once the client has its answer reaches it. A resumed user stream holds live events
    back until `settle` has replayed what was missed."""
    if resume and stream.is_user:
        conn.hold()
    await hub.subscribe(conn, stream)


async def settle(hub: Hub, conn: Connection, stream: Stream, *, resume: bool) -> None:
    """After the answer: replay what a resumed user stream missed, or warm the timeline a stream shows."""
    if resume and stream.is_user:
        if hub.catch_up is None:
            conn.release(set())
            return
        async with hub.setup_limit:
            await hub.catch_up(conn)  # reads the home timeline, building it if it was not cached
    elif stream.name == USER and conn.account_id is not None:
        try:
            async with hub.setup_limit:
                await warm_home(hub.res, conn.account_id)
        except (RedisError, OSError) as exc:
            log.warning("home timeline not warmed for a new stream: %s", exc)
    elif stream.name == LIST and conn.account_id is not None:
        try:  # the fan-out writes (and so streams) only cached list timelines
            async with hub.setup_limit:
                await lists.warm_list(hub.res, conn.account_id, int(stream.tag or 0))
        except (RedisError, OSError, ApiError) as exc:
            log.warning("list timeline not warmed for a new stream: %s", exc)


# websocket -----------------------------------------------------------------------------------------


def _ws_token(request: web.Request) -> tuple[str | None, str | None]:
    """The token, and the Sec-WebSocket-Protocol value to echo when the token came that way (browsers)."""
    token = bearer_token(request)
    if token:
        return token, None
    offered = request.headers.get("Sec-WebSocket-Protocol", "")
    protocol = offered.split(",")[0].strip()
    return (protocol, protocol) if protocol else (None, None)


@routes.get("/api/v1/streaming")
async def streaming(request: web.Request) -> web.StreamResponse:
    """The websocket endpoint; over plain HTTP, `?stream=` serves that stream as server-sent events."""
    if request.headers.get("Upgrade", "").lower() != "websocket":
        return await serve_sse(request, request.query.get("stream"))
    return await serve_websocket(request)


async def serve_websocket(request: web.Request) -> web.StreamResponse:
    hub = request.app[HUB]
    token, protocol = _ws_token(request)
    failure: tuple[int, str] | None = None
    viewer: Viewer | None = None
    initial: Stream | None = None
    cursor: Cursor | None = None
    lease: Lease | None = None
    try:
        viewer = await authenticate(request, token)
        if request.query.get("stream"):
            initial = parse_stream(request.query.get("stream"), request.query.get("tag"), request.query.get("list"))
            check_access(viewer, initial)
            await check_list(hub, viewer, initial)
        cursor = resume_cursor(request)
        lease = await hub.admit(*_who(viewer))
    except TooManyStreams as exc:
        failure = (CLOSE_TOO_MANY, str(exc))
    except ApiError as exc:
        failure = (CLOSE_CODES.get(exc.status, CLOSE_UNAUTHORIZED), exc.message)
    except StreamError as exc:
        failure = (CLOSE_CODES.get(exc.status, CLOSE_BAD_REQUEST), exc.message)
    try:
        accept = websocket_accept(request, protocol)  # a 400 for a handshake that is not one
    except BaseException:
        hub.release(lease)
        raise
    # From the handshake on, the socket is held by the connection alone (api/takeover.py): no request,
    # handler task or WebSocketResponse stays behind it.
    conn = WebSocketConnection(
        None,
        viewer.account_id if viewer else None,
        viewer.scopes if viewer else frozenset(),
        cursor or now_cursor(),
        limits(request),
    )
    conn.keeper = hub
    if failure is not None:  # refused before a lease was taken (admitting is the last check)
        taken = take_over(request, conn)
        if taken is not None:
            conn.accept(taken[0], accept)
            conn.close(*failure)
        return TakenOver(status=101)
    conn.on_text = _on_text
    await open_stream(hub, conn, viewer, lease, initial, resume=cursor is not None)
    taken = take_over(request, conn)
    if taken is None:
        hub.remove(conn)
        return TakenOver(status=101)
    transport, tail = taken
    conn.accept(transport, accept)
    if initial is not None:
        conn.run(functools.partial(settle, hub, conn, initial, resume=cursor is not None))
    if tail:
        conn.data_received(tail)
    return TakenOver(status=101)


async def open_stream(
    hub: Hub, conn: Connection, viewer: Viewer | None, lease: Lease | None, stream: Stream | None, *, resume: bool
) -> None:
    """Give the hub a connection whose socket it does not hold yet, subscribed to the stream it opens with
    (what it is sent meanwhile waits for `Connection.accept`)."""
    conn.viewer = viewer
    conn.token_id = viewer.token_id if viewer else None
    conn.lease = lease
    conn.defer()
    hub.add(conn)
    if stream is None:
        return
    try:
        await attach(hub, conn, stream, resume=resume)
    except BaseException:
        hub.remove(conn)
        raise


async def _on_text(conn: Connection, text: str) -> None:
    await _command(cast(Hub, conn.keeper), conn, conn.viewer, text)


async def _command(hub: Hub, conn: Connection, viewer: Viewer | None, text: str) -> None:
    """`{"type": "subscribe"|"unsubscribe", "stream": ..., "tag": ...}`; errors come back as error frames."""
    try:
        command = orjson.loads(text)
    except orjson.JSONDecodeError:
        conn.send_error("Could not parse the message as JSON", 400)
        return
    if not isinstance(command, dict):
        conn.send_error("A message must be a JSON object", 400)
        return
    kind = command.get("type")
    try:
        tag = command.get("tag")
        stream = parse_stream(_str(command.get("stream")), _str(tag), _str(command.get("list")))
        if kind == "subscribe":
            check_access(viewer, stream)
            await check_list(hub, viewer, stream)
            limit = hub.settings.stream_max_subscriptions
            if stream.key not in conn.streams and len(conn.streams) >= limit:
                conn.send_error(f"Too many subscriptions on this connection (the limit is {limit})", 429)
                return
            await hub.subscribe(conn, stream)
        elif kind == "unsubscribe":
            hub.unsubscribe(conn, stream)
        else:
            conn.send_error(f"Unknown message type: {kind}", 400)
    except StreamError as exc:
        conn.send_error(exc.message, exc.status)


def _who(viewer: Viewer | None) -> tuple[int | None, int | None]:
    """The account and token a stream counts against (anonymous public streams count against neither)."""
    return (viewer.account_id, viewer.token_id) if viewer else (None, None)


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


# server-sent events --------------------------------------------------------------------------------


def _sse_stream_name(request: web.Request, path: str) -> str | None:
    name = SSE_STREAMS.get(path)
    only_media = request.query.get("only_media", "").lower() in ("1", "true")
    if name is not None and name.startswith("public") and only_media:
        name += ":media"
    return name


@routes.get("/api/v1/streaming/health")
async def health(request: web.Request) -> web.Response:
    return web.Response(text="OK", content_type="text/plain")


@routes.get(
    r"/api/v1/streaming/{path:(user|user/notification|direct|public|public/local|public/remote|hashtag|hashtag/local|list)}"
)
async def sse(request: web.Request) -> web.StreamResponse:
    return await serve_sse(request, _sse_stream_name(request, request.match_info["path"]))


async def serve_sse(request: web.Request, stream_name: str | None) -> web.StreamResponse:
    hub = request.app[HUB]
    viewer = await authenticate(request)
    try:
        stream = parse_stream(stream_name, request.query.get("tag"), request.query.get("list"))
        check_access(viewer, stream)
        await check_list(hub, viewer, stream)
        cursor = resume_cursor(request)
    except StreamError as exc:
        raise ApiError(exc.status, exc.message) from None
    try:
        lease = await hub.admit(*_who(viewer))
    except TooManyStreams as exc:
        raise ApiError(429, str(exc)) from None
    response = web.StreamResponse(headers=SSE_HEADERS)
    if request.version >= HttpVersion11:
        response.enable_chunked_encoding()
    conn = SSEConnection(
        None,
        viewer.account_id if viewer else None,
        viewer.scopes if viewer else frozenset(),
        cursor or now_cursor(),
        limits(request),
        chunked=response.chunked,
    )
    conn.keeper = hub
    await open_stream(hub, conn, viewer, lease, stream, resume=cursor is not None)
    try:
        await response.prepare(request)
        await response.write(b":)\n\n")  # sends the headers now: the client knows the stream is open
    except BaseException:
        hub.remove(conn)
        raise
    taken = take_over(request, conn)  # as a websocket's: the socket is held by the connection alone
    if taken is None:
        hub.remove(conn)
        return TakenOver(status=200)
    conn.accept(taken[0], b"")
    conn.run(functools.partial(settle, hub, conn, stream, resume=cursor is not None))
    return TakenOver(status=200)


# OpenAPI ---------------------------------------------------------------------------------------------

_TAGS = ["streaming"]
_STRING = {"type": "string"}
_EVENT_STREAM = {
    "description": "text/event-stream: `id`, `event` and `data` lines; `:thump` heartbeats",
    "content": {"text/event-stream": {"schema": _STRING}},
}
_RESUME = [
    query("last_event_id", _STRING, description="Resume a user stream after this event id (no gap, no duplicate)"),
    query("since_id", _STRING, description="Resume from a post/notification id (as last_event_id)"),
]

OPENAPI_PATHS: dict[str, dict[str, Any]] = {
    "/api/v1/streaming": {
        "get": operation(
            "Mastodon's streaming websocket (or, without Upgrade, the `stream` as server-sent events)",
            {
                "101": {"description": "Switching Protocols: frames `{stream, event, payload, id}`"},
                "200": _EVENT_STREAM,
                **errors(400, 401, 403),
            },
            parameters=[
                query("stream", _STRING, description="user, user:notification, public, public:local, hashtag, ..."),
                query("tag", _STRING),
                query("list", _STRING),
                query("access_token", _STRING),
                *_RESUME,
            ],
            tags=_TAGS,
        )
    },
    "/api/v1/streaming/health": {
        "get": operation(
            "Whether the streaming service is up",
            {"200": {"description": "OK", "content": {"text/plain": {"schema": _STRING}}}},
            tags=_TAGS,
        )
    },
    "/api/v1/streaming/{path}": {
        "get": operation(
            "A stream as server-sent events: user, user/notification, direct, public, public/local, public/remote, "
            "hashtag, hashtag/local, list",
            {"200": _EVENT_STREAM, **errors(400, 401, 403)},
            parameters=[
                path("path", "The stream, e.g. user or public/local"),
                query("tag", _STRING, description="For the hashtag streams"),
                query("list", _STRING, description="For the list stream: one of your lists' id"),
                query("only_media", {"type": "boolean"}),
                *_RESUME,
            ],
            tags=_TAGS,
        )
    },
}
