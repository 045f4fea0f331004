"""The streaming benchmarks' client: one process holding many websockets, noting when each frame arrives.

    python -m bench.stream_client SPEC.json OUT.json

SPEC: {"url": "ws://127.0.0.1:PORT/api/v1/streaming?stream=user", "tokens": [...], "ready": PATH,
       "connect_concurrency": 200}. Writes PATH (the number of open sockets) once every socket is open,
then records (arrival time, post id) of every text frame until SIGTERM, and writes OUT.

Each socket is a bare asyncio protocol (handshake by hand, frames parsed by hand, pings answered): the
client's own receive loop is part of every measured latency, so it does as little as possible per frame.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import resource
import signal
import struct
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import uvloop

# The post id: the first `"id"` of the frame's payload (a Status starts with its id), escaped or not.
_ID = re.compile(rb'\\?"id\\?":\\?"(\d+)')


class Recorder:
    def __init__(self) -> None:
        self.times: list[float] = []
        self.ids: list[int] = []
        self.other = 0
        self.closed: dict[int, int] = {}


class StreamSocket(asyncio.Protocol):
    """One websocket: waits for the 101, then parses frames from the server."""

    def __init__(self, recorder: Recorder, request: bytes, opened: asyncio.Future[None]) -> None:
        self.recorder = recorder
        self.request = request
        self.opened = opened
        self.buffer = bytearray()
        self.upgraded = False
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's transports are not asyncio's classes
        transport.write(self.request)  # type: ignore[attr-defined]

    def data_received(self, data: bytes) -> None:
        now = time.time()
        self.buffer += data
        if not self.upgraded:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            if not self.buffer.startswith(b"HTTP/1.1 101"):
                if not self.opened.done():
                    self.opened.set_exception(RuntimeError(bytes(self.buffer[:200]).decode(errors="replace")))
                return
            del self.buffer[: end + 4]
            self.upgraded = True
            if not self.opened.done():
                self.opened.set_result(None)
        self._frames(now)

    def _frames(self, now: float) -> None:
        buf = self.buffer
        while len(buf) >= 2:
            opcode, length, start = buf[0] & 0x0F, buf[1] & 0x7F, 2
            if length == 126:
                if len(buf) < 4:
                    return
                length, start = struct.unpack_from("!H", buf, 2)[0], 4
            elif length == 127:
                if len(buf) < 10:
                    return
                length, start = struct.unpack_from("!Q", buf, 2)[0], 10
            if len(buf) < start + length:
                return
            if opcode == 0x1:
                found = _ID.search(buf, start, min(start + 200, start + length))
                if found is not None:
                    self.recorder.times.append(now)
                    self.recorder.ids.append(int(found.group(1)))
                else:
                    self.recorder.other += 1
            elif opcode == 0x9:  # ping: answer with a masked pong carrying the same data
                self._send(0xA, bytes(buf[start : start + length]))
            elif opcode == 0x8:
                code = int.from_bytes(buf[start : start + 2], "big") if length >= 2 else 1005
                self.recorder.closed[code] = self.recorder.closed.get(code, 0) + 1
            del buf[: start + length]

    def _send(self, opcode: int, payload: bytes) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        self.transport.write(client_frame(opcode, payload))

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.opened.done():
            self.opened.set_exception(ConnectionError("closed before the handshake"))


def client_frame(opcode: int, payload: bytes = b"") -> bytes:
    """A small (< 126 bytes) masked frame, as a client sends it (RFC 6455 §5.3)."""
    mask = os.urandom(4)
    masked = bytes(byte ^ mask[i % 4] for i, byte in enumerate(payload))
    return bytes((0x80 | opcode, 0x80 | len(payload))) + mask + masked


def _request(url: str, token: str) -> bytes:
    parts = urlsplit(url)
    key = base64.b64encode(os.urandom(16)).decode()
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    return (
        f"GET {target} HTTP/1.1\r\nHost: {parts.netloc}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nAuthorization: Bearer {token}\r\n\r\n"
    ).encode()


async def run(spec: dict[str, Any]) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    recorder = Recorder()
    parts = urlsplit(spec["url"])
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    limit = asyncio.Semaphore(int(spec.get("connect_concurrency", 200)))
    transports: list[asyncio.BaseTransport] = []
    failures = 0

    async def open_one(token: str) -> None:
        nonlocal failures
        async with limit:
            opened: asyncio.Future[None] = loop.create_future()
            try:
                transport, _ = await loop.create_connection(
                    lambda: StreamSocket(recorder, _request(spec["url"], token), opened), host, port
                )
                transports.append(transport)
                await asyncio.wait_for(opened, 60)
            except (OSError, RuntimeError, TimeoutError) as exc:
                failures += 1
                if failures <= 3:
                    print(f"stream_client: a socket failed: {exc}", file=sys.stderr, flush=True)

    started = time.time()
    await asyncio.gather(*(open_one(token) for token in spec["tokens"]))
    connect_seconds = time.time() - started
    await asyncio.to_thread(Path(spec["ready"]).write_text, str(len(transports) - failures))
    await stop.wait()
    for transport in transports:
        transport.close()
    return {
        "times": recorder.times,
        "ids": recorder.ids,
        "other_frames": recorder.other,
        "closed": recorder.closed,
        "open": len(transports) - failures,
        "failures": failures,
        "connect_seconds": connect_seconds,
    }


def main(spec_path: str, out_path: str) -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    with open(spec_path) as spec_file:
        spec = json.load(spec_file)
    uvloop.install()
    result = asyncio.run(run(spec))
    with open(out_path, "w") as out:
        json.dump(result, out)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
