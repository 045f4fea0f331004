"""One client's streaming connection (websocket or server-sent events): its streams, its resume cursor,
and a bounded send buffer.

Frames are built as bytes and written straight to the socket's transport: one event going to a thousand
sockets is rendered and escaped once (`Payload`), and each socket costs one small concatenation and one
write, never a task switch. The transport's write buffer is the connection's send queue; it is bounded
(`stream_send_buffer_bytes`): a client that stays above it for `stream_full_seconds`, or goes far past it,
is closed (websocket code 1013) and can resume from its last event id. Nothing waits on a slow client.
"""

from __future__ import annotations

import asyncio
import logging
import struct
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from realtime.streams import DIRECT, USER, USER_NOTIFICATION, Stream
from storage.stream_leases import Lease

log = logging.getLogger("chirp.streaming")

# Close codes. 4xxx are ours (the websocket spec leaves them to applications), mirroring HTTP statuses.
CLOSE_GOING_AWAY = 1001
CLOSE_TRY_AGAIN_LATER = 1013
CLOSE_BAD_REQUEST = 4400
CLOSE_UNAUTHORIZED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_TOO_MANY = 4429  # over CHIRP_STREAM_MAX_PER_USER / _PER_TOKEN

CLOSE_PROTOCOL_ERROR = 1002
CLOSE_INVALID_DATA = 1007
CLOSE_TOO_BIG = 1009

MESSAGE_MAX_BYTES = 4096  # the largest message a client may send (a subscribe command is far smaller)
PENDING_MAX = 8  # commands waiting on one connection before it stops reading from the client
CLOSE_HANDSHAKE_SECONDS = 5.0  # how long a closed websocket waits for the client's close frame
RECENT_KEYS = 64  # ids remembered per connection to drop an event delivered twice (at-least-once publishing)
HARD_LIMIT_FACTOR = 4  # past this many times the buffer bound a client is closed at once
_HOME_STREAM = (USER, None)  # the key of a connection's `user` stream, which home events go to


class Payload:
    """An event's payload (the JSON text clients get), encoded lazily once however many sockets get it."""

    __slots__ = ("_escaped", "_prefixes", "_raw", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self._escaped: bytes | None = None
        self._raw: bytes | None = None
        self._prefixes: dict[tuple[bytes, bytes], bytes] | None = None

    def ws_prefix(self, label: bytes, event: bytes) -> bytes:
        """A websocket frame's text up to its `id` value, built once per stream label and event."""
        if self._prefixes is None:
            self._prefixes = {}
        prefix = self._prefixes.get((label, event))
        if prefix is None:
            prefix = b'{"stream":%b,"event":"%b","payload":%b,"id":"' % (label, event, self.escaped)
            self._prefixes[(label, event)] = prefix
        return prefix

    @property
    def escaped(self) -> bytes:
        """As a JSON string, for the websocket frame's `payload` field."""
        if self._escaped is None:
            self._escaped = orjson.dumps(self.text)
        return self._escaped

    @property
    def raw(self) -> bytes:
        """As it is, for an SSE `data:` line."""
        if self._raw is None:
            self._raw = self.text.encode()
        return self._raw


@dataclass(frozen=True)
class Cursor:
    """Where a user's stream stands: the newest home-timeline post and notification delivered."""

    home: int
    notifications: int

    def token(self) -> str:
        return f"{self.home}_{self.notifications}"

    @classmethod
    def parse(cls, raw: str) -> Cursor | None:
        """`HOME_NOTIFICATIONS` as sent in event ids, or one id (a since_id) standing for both."""
        home, sep, notifications = raw.strip().partition("_")
        parts = (home, notifications) if sep else (home, home)
        if not all(p.isascii() and p.isdigit() and 0 < len(p) <= 19 for p in parts):
            return None
        return cls(int(parts[0]), int(parts[1]))


@dataclass(frozen=True)
class Limits:
    """The send buffer's bound (bytes) and how long a client may stay above it (seconds)."""

    buffer_bytes: int
    full_seconds: float


# An event held back while a connection replays what it missed: (kind, event, id, payload).
Held = tuple[str, bytes, int, Payload]
# What a connection runs in order, one at a time: a client's command (text) or a step of its own set-up.
Work = str | Callable[[], Awaitable[Any]]


class Keeper(Protocol):
    """What holds the connections (the hub): told when one is gone, and given closing handshakes to track."""

    def remove(self, conn: Connection) -> None: ...

    def schedule_close(self, coro: Awaitable[Any]) -> None: ...


class Connection(asyncio.Protocol):
    """What the hub needs of a connection; the websocket and SSE kinds differ only in framing.

    A connection is its socket's asyncio protocol (api/takeover.py hands the socket over once the HTTP
    part is done): one object per socket, with no task of its own while nothing is asked of it."""

    __slots__ = (
        "_early",
        "_full_since",
        "_held",
        "_pending",
        "_recent",
        "_worker",
        "account_id",
        "closed",
        "cursor_home",
        "cursor_notifications",
        "keepalive_at",
        "keeper",
        "lease",
        "limits",
        "on_close",
        "on_text",
        "scopes",
        "streams",
        "token_id",
        "transport",
        "viewer",
    )

    kind = "connection"

    def __init__(
        self,
        transport: asyncio.Transport | None,
        account_id: int | None,
        scopes: frozenset[str],
        cursor: Cursor,
        limits: Limits,
    ) -> None:
        self.transport: asyncio.Transport | None = transport
        self.account_id = account_id
        self.token_id: int | None = None  # set by the handler, for the per-token limit
        self.lease: Lease | None = None  # its place in the limits across processes (set by the handler)
        self.scopes = scopes
        self.streams: dict[tuple[str, str | None], Stream] = {}
        self.cursor_home = cursor.home
        self.cursor_notifications = cursor.notifications
        self.closed = False
        self.limits = limits
        self.on_close: Callable[[Connection, int, str], None] | None = None
        # Set by the handler: who is asking (api.auth.Viewer), what reads the client's commands, and the hub.
        self.viewer: Any = None
        self.on_text: Callable[[Connection, str], Awaitable[None]] | None = None
        self.keeper: Keeper | None = None
        self._pending: deque[Work] | None = None
        self._worker: asyncio.Future[None] | None = None
        self._held: list[Held] | None = None
        # What was written before the socket was handed over (`defer` to `accept`): frames for the client
        # once its handshake is answered. None once the connection holds its socket.
        self._early: list[bytes] | None = None
        self._recent: deque[int] | None = None
        self._full_since: float | None = None
        # When the next keep-alive is due (time.monotonic()); the hub spreads connections over an interval.
        self.keepalive_at = 0.0

    # what it is subscribed to -----------------------------------------------------------------------

    @property
    def wants_home(self) -> bool:
        return _HOME_STREAM in self.streams

    @property
    def wants_user_channel(self) -> bool:
        return self.wants_home or (USER_NOTIFICATION, None) in self.streams or (DIRECT, None) in self.streams

    def cursor(self) -> Cursor:
        return Cursor(self.cursor_home, self.cursor_notifications)

    # holding events back while replaying ------------------------------------------------------------

    def hold(self) -> None:
        """From now on keep live user events aside (subscribe first, then replay, then `release`)."""
        if self._held is None:
            self._held = []

    @property
    def holding(self) -> bool:
        return self._held is not None

    def release(self, replayed: set[tuple[str, int]]) -> None:
        """Send what was held back, minus what the replay already sent, and go live."""
        held, self._held = self._held or [], None
        for kind, event, event_id, payload in held:
            if (kind, event_id) not in replayed:
                self._user_event(kind, event, event_id, payload)

    def defer(self) -> None:
        """Until `accept`, keep what is written: the connection is subscribed before the client hears
        that its stream is open, so that nothing published after the answer can miss it."""
        self._early = []

    @property
    def answering(self) -> bool:
        """Between `defer` and `accept`: being set up, with no socket of its own yet."""
        return self._early is not None

    def accept(self, transport: asyncio.Transport, answer: bytes) -> None:
        """Hold the socket: write the handshake's answer, then what came meanwhile (a connection closed
        meanwhile, by a shutdown, ends there)."""
        early, self._early = self._early or [], None
        transport.writelines((answer, *early))
        self.transport = transport
        if self.closed:
            transport.close()

    # events in ------------------------------------------------------------------------------------------

    def home_event(self, event: bytes, post_id: int, payload: Payload) -> None:
        """A home-timeline event (update, delete, status.update) for the `user` stream."""
        # Called once per connected follower of every post: kept to the fewest calls.
        stream = self.streams.get(_HOME_STREAM)
        if stream is None or self.closed:
            return
        if self._held is not None:
            self._held.append(("h", event, post_id, payload))
            return
        self._home_event(stream, event, post_id, payload)

    def _home_event(self, stream: Stream, event: bytes, post_id: int, payload: Payload) -> None:
        if event == b"update":
            if self._seen("h", post_id):
                return
            if post_id > self.cursor_home:
                self.cursor_home = post_id
        self.send(stream, event, payload)

    def user_event(self, event: bytes, event_id: int, payload: Payload, cursor_kind: str) -> None:
        """An event from the user's own channel (notifications) for the user streams."""
        if self.closed:
            return
        if self._held is not None:
            self._held.append((cursor_kind, event, event_id, payload))
            return
        self._user_event(cursor_kind, event, event_id, payload)

    def replayed_event(self, kind: str, event: bytes, event_id: int, payload: Payload) -> None:
        """An event from the replay of what a reconnecting client missed (bypasses the hold)."""
        if not self.closed:
            self._user_event(kind, event, event_id, payload)

    def _user_event(self, kind: str, event: bytes, event_id: int, payload: Payload) -> None:
        if kind == "h":
            stream = self.streams.get(_HOME_STREAM)
            if stream is not None:
                self._home_event(stream, event, event_id, payload)
            return
        if event == b"conversation":  # the direct stream's own; it moves no cursor
            stream = self.streams.get((DIRECT, None))
            if stream is not None:
                self.send(stream, event, payload)
            return
        if kind == "n" or event == b"update":
            if self._seen(kind, event_id):
                return
            if event_id > self.cursor_notifications:
                self.cursor_notifications = event_id
        for name in (USER, USER_NOTIFICATION):
            stream = self.streams.get((name, None))
            if stream is not None and (name == USER or event == b"notification"):
                self.send(stream, event, payload)

    def notice(self, event: bytes, payload: Payload) -> None:
        """An event about the stream itself (e.g. `reload`) to each user stream; moves no cursor."""
        for name in (USER, USER_NOTIFICATION):
            stream = self.streams.get((name, None))
            if stream is not None and not self.closed:
                self.send(stream, event, payload)

    def _seen(self, kind: str, event_id: int) -> bool:
        """Whether this event was sent already (a publish repeated by a retried job), remembering it."""
        # Plain ints, not (kind, id) tuples: ints are not tracked by the garbage collector, and 10,000
        # streams keeping 64 tuples each made every full collection walk 640,000 more objects.
        key = event_id << 1 | (kind == "n")
        recent = self._recent
        if recent is None:
            recent = self._recent = deque(maxlen=RECENT_KEYS)
        # Newer than everything delivered so far: new for certain (the common case, no scan).
        elif event_id <= (self.cursor_home if kind == "h" else self.cursor_notifications) and key in recent:
            return True
        recent.append(key)
        return False

    def token(self) -> bytes:
        """The resume cursor as sent in event ids: `HOME_NOTIFICATIONS`."""
        return b"%d_%d" % (self.cursor_home, self.cursor_notifications)

    def public_event(self, channel: str, event: bytes, payload: Payload, media: bool) -> None:
        """A public or hashtag event, to each of this connection's streams that the channel feeds."""
        if self.closed:
            return
        for stream in self.streams.values():
            if stream.channel == channel and (media or not stream.media_only):
                self.send(stream, event, payload)

    # events out -----------------------------------------------------------------------------------------

    def send(self, stream: Stream, event: bytes, payload: Payload) -> None:
        raise NotImplementedError

    def send_error(self, message: str, status: int) -> None:
        """Report a failed request on the connection (Mastodon's `{"error": ..., "status": ...}` frame)."""

    def keep_alive(self, now: float, interval: float) -> None:
        """Called by the hub about once a second: every `interval`, show the client the connection lives."""
        if self.closed:
            return  # closing: nothing may follow a websocket's close frame
        if now >= self.keepalive_at:
            self.keepalive_at = now + interval
            self._keep_alive(now)

    def _keep_alive(self, now: float) -> None:
        """What keeping alive writes: an SSE comment line, a websocket ping."""

    def write(self, data: bytes) -> None:
        transport = self.transport
        if transport is None or transport.is_closing():
            if transport is None and self._early is not None:
                self._early.append(data)
                return
            self.lost()
            return
        transport.write(data)
        self.check_buffer(transport)

    def write_parts(self, parts: tuple[bytes, ...]) -> None:
        """Write several buffers as one (a vectored write: the shared payload is not copied per socket)."""
        transport = self.transport
        if transport is None or transport.is_closing():
            if transport is None and self._early is not None:
                self._early.extend(parts)
                return
            self.lost()
            return
        transport.writelines(parts)
        if self._full_since is not None or transport.get_write_buffer_size() > self.limits.buffer_bytes:
            self.check_buffer(transport)

    def check_buffer(self, transport: asyncio.Transport | None = None) -> bool:
        """True while within bounds; closes the connection (1013) once it stays full too long."""
        transport = transport or self.transport
        if transport is None or self.closed:
            return True
        size = transport.get_write_buffer_size()
        limit = self.limits.buffer_bytes
        if size <= limit:
            if self._full_since is not None:
                self._full_since = None
            return True
        now = time.monotonic()
        if self._full_since is None:
            self._full_since = now
        if size > limit * HARD_LIMIT_FACTOR or now - self._full_since >= self.limits.full_seconds:
            log.info("closing a slow streaming client (%d bytes waiting)", size)
            self.close(CLOSE_TRY_AGAIN_LATER, "too slow: reconnect with last_event_id to resume")
            return False
        return True

    @property
    def full(self) -> bool:
        return self._full_since is not None

    def lost(self) -> None:
        """The peer went away."""
        if not self.closed:
            self.close(CLOSE_GOING_AWAY, "")

    def close(self, code: int, reason: str) -> None:
        """Stop sending and close with `code` (the socket goes, and the hub forgets it, once it is lost)."""
        if self.closed:
            return
        self.closed = True
        if self.on_close is not None:
            self.on_close(self, code, reason)

    # work in order ------------------------------------------------------------------------------------

    def run(self, work: Work) -> None:
        """Queue a client's command, or a set-up step, behind what this connection is doing already."""
        pending = self._pending
        if pending is None:
            pending = self._pending = deque()
        pending.append(work)
        if len(pending) >= PENDING_MAX and self.transport is not None:
            self.transport.pause_reading()  # a client flooding commands waits, like any TCP peer
        if self._worker is None:
            self._worker = asyncio.ensure_future(self._work())

    async def _work(self) -> None:
        pending = self._pending
        try:
            while pending and not self.closed:
                work = pending.popleft()
                try:
                    if isinstance(work, str):
                        if self.on_text is not None:
                            await self.on_text(self, work)
                    else:
                        await work()
                except Exception:
                    log.exception("a streaming command failed")
                transport = self.transport
                if len(pending) == PENDING_MAX // 2 and transport is not None and not transport.is_closing():
                    transport.resume_reading()
        finally:
            self._worker = None
            self._pending = None
            if self.transport is None and self.keeper is not None:
                self.keeper.remove(self)  # the socket went while a command ran

    # the socket (asyncio.Protocol) --------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        """An SSE client has nothing to say; a websocket reads its commands (WebSocketConnection)."""

    def eof_received(self) -> bool | None:
        return None  # the transport closes

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self.closed = True
        if self._worker is None and self.keeper is not None:
            self.keeper.remove(self)

    def abort(self) -> None:
        """Drop the socket at once (shutdown, once the closing handshakes had their time)."""
        self.closed = True
        if self.transport is not None:
            self.transport.abort()


def _ws_header(length: int) -> bytes:
    """The header of an unmasked, unfragmented text frame (RFC 6455 §5.2), as a server sends it."""
    if length < 126:
        return bytes((0x81, length))
    if length < 65536:
        return struct.pack("!BBH", 0x81, 126, length)
    return struct.pack("!BBQ", 0x81, 127, length)


_PING = bytes((0x89, 0))  # an unmasked ping frame with no payload


def _ws_frame(data: bytes) -> bytes:
    return _ws_header(len(data)) + data


def _close_frame(code: int, reason: str) -> bytes:
    data = struct.pack("!H", code) + reason.encode()[:120]
    return bytes((0x88, len(data))) + data


def _unmask(data: bytes, mask: bytes) -> bytes:
    """A client frame's payload, unmasked (RFC 6455 §5.3): one XOR of two big integers."""
    length = len(data)
    if not length:
        return data
    keys = (mask * (length // 4 + 1))[:length]
    return (int.from_bytes(data, "big") ^ int.from_bytes(keys, "big")).to_bytes(length, "big")


class WebSocketConnection(Connection):
    """A websocket speaking Mastodon's protocol: `{"stream": [...], "event": ..., "payload": "<JSON>"}`,
    plus `id` (the resume cursor after this event, for `last_event_id` on reconnect).

    It reads the client's frames itself (masked, as clients send them; text messages of up to
    MESSAGE_MAX_BYTES, possibly fragmented; pings, pongs and the close handshake)."""

    __slots__ = ("_inbox", "_lost", "_partial", "ping_sent")

    kind = "websocket"

    def __init__(
        self,
        transport: asyncio.Transport | None,
        account_id: int | None,
        scopes: frozenset[str],
        cursor: Cursor,
        limits: Limits,
    ) -> None:
        super().__init__(transport, account_id, scopes, cursor, limits)
        self.ping_sent: float | None = None  # when the ping still waiting for its pong went out
        self._inbox: bytes | None = None  # the start of a frame not fully received yet
        self._partial: bytes | None = None  # a fragmented message's first frames (opcode byte, then data)
        self._lost: asyncio.Future[None] | None = None  # closing: resolved when the socket is gone

    def keep_alive(self, now: float, interval: float) -> None:
        if self.ping_sent is not None and now - self.ping_sent > interval / 2:
            # No pong within half an interval: the peer is gone, and would never finish a close handshake.
            if self.transport is not None:
                self.transport.abort()
            self.lost()
            return
        super().keep_alive(now, interval)

    def _keep_alive(self, now: float) -> None:
        if self.ping_sent is None:
            self.ping_sent = now
        self.write(_PING)

    def pong(self) -> None:
        self.ping_sent = None

    def send(self, stream: Stream, event: bytes, payload: Payload) -> None:
        prefix = payload.ws_prefix(stream.label, event)
        token = self.token()
        self.write_parts((_ws_header(len(prefix) + len(token) + 2), prefix, token, b'"}'))

    def send_error(self, message: str, status: int) -> None:
        self.write(_ws_frame(orjson.dumps({"error": message, "status": status})))

    def close(self, code: int, reason: str) -> None:
        """Send the close frame, then wait (tracked by the hub) for the client's, or drop it after a while."""
        if self.closed:
            return
        super().close(code, reason)
        transport = self.transport
        if transport is None and self._early is not None:
            self._early.append(_close_frame(code, reason))  # sent, and the socket closed, on `accept`
            return
        if transport is None or transport.is_closing():
            return
        transport.write(_close_frame(code, reason))
        loop = asyncio.get_running_loop()
        self._lost = loop.create_future()
        timer = loop.call_later(CLOSE_HANDSHAKE_SECONDS, transport.abort)
        if self.keeper is not None:
            self.keeper.schedule_close(_until_lost(self._lost, timer))

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        self._inbox = self._partial = None
        if self._lost is not None and not self._lost.done():
            self._lost.set_result(None)

    # frames from the client -------------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        if self._inbox is not None:
            data, self._inbox = self._inbox + data, None
        end = len(data)
        pos = 0
        while end - pos >= 2 and self.transport is not None:
            first, second = data[pos], data[pos + 1]
            length = second & 0x7F
            head = pos + 2
            if length == 126:
                if end - head < 2:
                    break
                length = int.from_bytes(data[head : head + 2], "big")
                head += 2
            elif length == 127:
                if end - head < 8:
                    break
                length = int.from_bytes(data[head : head + 8], "big")
                head += 8
            if not second & 0x80 or first & 0x70:
                self._fail(CLOSE_PROTOCOL_ERROR, "client frames must be masked, with no extension bits")
                return
            if length > MESSAGE_MAX_BYTES:
                self._fail(CLOSE_TOO_BIG, f"messages are limited to {MESSAGE_MAX_BYTES} bytes")
                return
            if end - head < 4 + length:
                break
            pos = head + 4 + length
            self._frame(first, _unmask(data[head + 4 : pos], data[head : head + 4]))
        if pos < end and self.transport is not None:
            self._inbox = data[pos:]

    def _frame(self, first: int, payload: bytes) -> None:
        opcode = first & 0x0F
        final = bool(first & 0x80)
        if opcode >= 0x8:  # control frames: whole, short, and allowed between a message's fragments
            if not final or len(payload) > 125:
                self._fail(CLOSE_PROTOCOL_ERROR, "bad control frame")
            elif opcode == 0x8:
                self._closed_by_peer(payload)
            elif opcode == 0x9:
                self.write(bytes((0x8A, len(payload))) + payload)  # the pong carries the ping's data
            elif opcode == 0xA:
                self.pong()
            else:
                self._fail(CLOSE_PROTOCOL_ERROR, "unknown opcode")
            return
        if opcode == 0x0:
            if self._partial is None:
                self._fail(CLOSE_PROTOCOL_ERROR, "a continuation frame with no message")
                return
            payload, self._partial = self._partial + payload, None
            opcode = payload[0]
            payload = payload[1:]
            if len(payload) > MESSAGE_MAX_BYTES:
                self._fail(CLOSE_TOO_BIG, f"messages are limited to {MESSAGE_MAX_BYTES} bytes")
                return
        elif opcode in (0x1, 0x2):
            if self._partial is not None:
                self._fail(CLOSE_PROTOCOL_ERROR, "a new message inside a fragmented one")
                return
        else:
            self._fail(CLOSE_PROTOCOL_ERROR, "unknown opcode")
            return
        if not final:
            self._partial = bytes((opcode,)) + payload
            return
        if opcode == 0x1 and not self.closed:  # binary messages mean nothing in Mastodon's protocol
            try:
                text = payload.decode()
            except UnicodeDecodeError:
                self._fail(CLOSE_INVALID_DATA, "text frames must be UTF-8")
                return
            self.run(text)

    def _closed_by_peer(self, payload: bytes) -> None:
        transport = self.transport
        if transport is None:
            return
        if not self.closed:  # the client closes first: answer with its code (RFC 6455 §5.5.1)
            self.closed = True
            code = payload[:2] if len(payload) >= 2 else b""
            transport.write(bytes((0x88, len(code))) + code)
        transport.close()

    def _fail(self, code: int, reason: str) -> None:
        """A client breaking the protocol: close frame, then the socket, without waiting for an answer."""
        transport = self.transport
        self.closed = True
        self._inbox = self._partial = None
        if transport is not None and not transport.is_closing():
            transport.write(_close_frame(code, reason))
            transport.close()


async def _until_lost(lost: asyncio.Future[None], timer: asyncio.TimerHandle) -> None:
    try:
        await lost
    finally:
        timer.cancel()


class SSEConnection(Connection):
    """A server-sent events stream (one stream per connection), as Mastodon.py reads it:
    `id:`, `event:` and `data:` lines; `:thump` comment lines keep it alive."""

    __slots__ = ("chunked",)

    kind = "sse"

    def __init__(
        self,
        transport: asyncio.Transport | None,
        account_id: int | None,
        scopes: frozenset[str],
        cursor: Cursor,
        limits: Limits,
        *,
        chunked: bool,
    ) -> None:
        super().__init__(transport, account_id, scopes, cursor, limits)
        self.chunked = chunked

    def _write_event(self, text: bytes) -> None:
        # The response is HTTP/1.1 chunked: each write is one chunk.
        self.write(b"%x\r\n%b\r\n" % (len(text), text) if self.chunked else text)

    def send(self, stream: Stream, event: bytes, payload: Payload) -> None:
        self._write_event(b"".join((b"id: ", self.token(), b"\nevent: ", event, b"\ndata: ", payload.raw, b"\n\n")))

    def send_error(self, message: str, status: int) -> None:
        self._write_event(b"event: error\ndata: " + orjson.dumps({"error": message, "status": status}) + b"\n\n")

    def _keep_alive(self, now: float) -> None:
        self._write_event(b":thump\n\n")

    def close(self, code: int, reason: str) -> None:
        if self.closed:
            return
        super().close(code, reason)
        transport = self.transport
        if transport is None and self._early is not None and self.chunked:
            self._early.append(b"0\r\n\r\n")  # the response's end, written on `accept`
            return
        if transport is None or transport.is_closing():
            return
        if code == CLOSE_TRY_AGAIN_LATER:
            # HTTP has no close code: drop what the slow client has not read (it resumes with Last-Event-ID)
            # rather than wait for it to drain.
            transport.abort()
            return
        if self.chunked:
            transport.write(b"0\r\n\r\n")  # the response's end
        transport.close()
