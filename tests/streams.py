"""Helpers for the streaming and notification tests: running queues in-process, reading stream events."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
from collections.abc import Callable
from typing import Any

from aiohttp import ClientWebSocketResponse, WSMsgType
from aiohttp.test_utils import TestClient

from api.keys import HUB
from storage import presence
from storage.resources import Resources
from workers.queues import all_queues
from workers.runner import JobRunner

# How long a test waits for an event before failing (a hang guard, not a timing assertion).
WAIT = 15.0


async def eventually(condition: Callable[[], bool], what: str, wait: float = 10.0) -> None:
    """Wait for something another task does (a pub/sub message landing, a reconnect); fail after `wait` s."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    while not condition():
        assert loop.time() < deadline, f"timed out waiting until {what}"
        await asyncio.sleep(0.02)


async def run_queues(res: Resources, *names: str) -> int:
    """Run every ready job of the named queues (all of them when none is named), until none is left."""
    runner = JobRunner(res, all_queues())
    wanted = names or tuple(q.name for q in all_queues() if q.name != "media")
    total = 0
    for _ in range(10):
        ran = 0
        for name in wanted:
            ran += await runner.drain(name)
        total += ran
        if ran == 0:
            break
    return total


def frame(message: Any) -> dict[str, Any]:
    """A Mastodon websocket frame, with its payload parsed."""
    assert message.type is WSMsgType.TEXT, f"expected a text frame, got {message.type} {message.data!r}"
    data: dict[str, Any] = json.loads(message.data)
    if "payload" in data and data.get("event") != "delete":
        data["payload"] = json.loads(data["payload"])
    return data


async def next_frame(ws: ClientWebSocketResponse, wait: float = WAIT) -> dict[str, Any]:
    return frame(await ws.receive(timeout=wait))


async def frames_until(ws: ClientWebSocketResponse, stop: Any, wait: float = WAIT) -> list[dict[str, Any]]:
    """Frames up to and including the first for which `stop(frame)` is true."""
    out: list[dict[str, Any]] = []
    while True:
        data = await next_frame(ws, wait)
        out.append(data)
        if stop(data):
            return out


async def connect(client: TestClient[Any, Any], token: str | None = None, **query: str) -> ClientWebSocketResponse:
    """A websocket to /api/v1/streaming, authenticated by the Authorization header when a token is given."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    ws = await client.ws_connect("/api/v1/streaming", headers=headers, params=query or None)
    return ws


async def subscribe(client: TestClient[Any, Any], ws: ClientWebSocketResponse, stream: str, **extra: str) -> None:
    """Subscribe and wait until the hub holds the subscription (confirmed by Valkey)."""
    hub = client.app[HUB]
    before = sum(len(conn.streams) for conn in hub.connections)
    await ws.send_json({"type": "subscribe", "stream": stream, **extra})
    await until(lambda: sum(len(conn.streams) for conn in hub.connections) > before)
    await hub_settled(client)


async def hub_settled(client: TestClient[Any, Any]) -> None:
    """Every channel the hub holds is confirmed by Valkey."""
    hub = client.app[HUB]
    await until(lambda: set(hub.refs) <= hub.subscribed_channels())


async def until(check: Any, wait: float = WAIT) -> None:
    """Wait for `check()` to hold (polling; a hang guard, not a timing assertion)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    while not check():
        if loop.time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)


async def online(res: Resources, *account_ids: int, wait: float = WAIT) -> None:
    """Wait until Valkey lists the accounts as connected (their stream is subscribed and present)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    while await presence.online_among(res.redis, list(account_ids)) != set(account_ids):
        if loop.time() > deadline:
            raise AssertionError("accounts not online in time")
        await asyncio.sleep(0.01)


async def raw_websocket(
    client: TestClient[Any, Any], token: str, stream: str, *, receive_buffer: int
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A websocket opened by hand on a socket with a small receive buffer: a client that reads slowly."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    sock.setblocking(False)
    port = client.port
    assert port is not None
    await asyncio.get_running_loop().sock_connect(sock, (str(client.host), port))
    reader, writer = await asyncio.open_connection(sock=sock, limit=receive_buffer)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        (
            f"GET /api/v1/streaming?stream={stream} HTTP/1.1\r\nHost: {client.host}:{client.port}\r\n"
            f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            f"Sec-WebSocket-Version: 13\r\nAuthorization: Bearer {token}\r\n\r\n"
        ).encode()
    )
    status = await reader.readuntil(b"\r\n\r\n")
    assert status.startswith(b"HTTP/1.1 101"), status
    return reader, writer


async def read_frame(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """One unmasked frame from the server: (opcode, payload)."""
    head = await asyncio.wait_for(reader.readexactly(2), WAIT)
    opcode, length = head[0] & 0x0F, head[1] & 0x7F
    if length == 126:
        length = int.from_bytes(await reader.readexactly(2), "big")
    elif length == 127:
        length = int.from_bytes(await reader.readexactly(8), "big")
    return opcode, await asyncio.wait_for(reader.readexactly(length), WAIT)
