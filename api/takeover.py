"""Taking a connection over from aiohttp once its HTTP part is done: the websocket handshake, or an SSE
stream's headers.

Why: a stream lives for hours and does almost nothing. Held by aiohttp, each keeps its request, the
request's parser, the handler's task and coroutine frames, a WebSocketResponse with its reader and
queue: about 80 tracked objects and 15 KiB of a process's memory per socket, even in a bare aiohttp relay.
Taken over, a socket is held by one object of ours (realtime/connection.py), which is its asyncio
protocol: it parses what the client sends and writes pre-built frames to the transport.

How: the transport's protocol is swapped (asyncio's `set_protocol`), aiohttp's `RequestHandler` is told
its connection is gone without the socket being closed (so it leaves its server's list, cancels its
timers and ends its task), and the handler returns `TakenOver`, a response that writes nothing.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib

from aiohttp import web

from core.errors import ApiError

_WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 §1.3
_WS_VERSIONS = ("13", "8", "7")


class TakenOver(web.StreamResponse):
    """What a handler returns once its connection was taken over: aiohttp writes nothing more on it."""

    async def prepare(self, request: web.BaseRequest) -> None:
        return None

    async def write_eof(self, data: bytes = b"") -> None:
        return None


def websocket_accept(request: web.Request, protocol: str | None) -> bytes:
    """The 101 response to a valid websocket handshake (RFC 6455 §4.2); a 400 for one that is not."""
    headers = request.headers
    if headers.get("Upgrade", "").lower() != "websocket":
        raise ApiError(400, "Upgrade: websocket expected")
    if "upgrade" not in headers.get("Connection", "").lower():
        raise ApiError(400, "Connection: upgrade expected")
    if headers.get("Sec-WebSocket-Version", "") not in _WS_VERSIONS:
        raise ApiError(400, "Unsupported Sec-WebSocket-Version (13 expected)")
    key = headers.get("Sec-WebSocket-Key", "")
    try:
        valid = len(base64.b64decode(key, validate=True)) == 16
    except (binascii.Error, ValueError):
        valid = False
    if not valid:
        raise ApiError(400, "Invalid Sec-WebSocket-Key")
    accept = base64.b64encode(hashlib.sha1(key.encode() + _WS_GUID).digest())
    lines = [b"HTTP/1.1 101 Switching Protocols", b"Upgrade: websocket", b"Connection: upgrade"]
    lines.append(b"Sec-WebSocket-Accept: " + accept)
    if protocol:
        lines.append(b"Sec-WebSocket-Protocol: " + protocol.encode("latin-1", "replace"))
    return b"\r\n".join(lines) + b"\r\n\r\n"


def take_over(request: web.Request, protocol: asyncio.Protocol) -> tuple[asyncio.Transport, bytes] | None:
    """Give the request's socket to `protocol`: (the transport, the bytes that arrived after the request,
    for `protocol` to read first), or None when the client has gone already."""
    handler = request.protocol
    transport = request.transport
    if transport is None or transport.is_closing():
        return None
    # Bytes behind an upgrade request wait in aiohttp's `_message_tail` (3.9 to 3.14).
    tail = bytes(getattr(handler, "_message_tail", b"") or b"")
    transport.set_protocol(protocol)
    # aiohttp forgets the connection (its server's list, its keep-alive timer, its parser); with its
    # transport unset first, nothing of this closes the socket.
    handler.transport = None
    handler.connection_lost(None)
    if not transport.is_reading():
        transport.resume_reading()
    return transport, tail
