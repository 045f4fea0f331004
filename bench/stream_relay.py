"""The streaming benchmarks' ceiling: a bare aiohttp websocket relay on uvloop, no Chirp code.

    python -m bench.stream_relay --port PORT --redis-url URL --mode send_str|raw

Every websocket on /api/v1/streaming is kept in a list; the process subscribes to one Valkey channel
(`bench:relay`) and writes each message it receives to every socket: with `send_str` (aiohttp's API,
one awaited send per socket) or `raw` (the frame built once and written to each socket's transport, the
technique Chirp's hub uses). Either is what one process can do at best for one event to many sockets.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import struct
from collections.abc import AsyncIterator

import uvloop
from aiohttp import web
from redis.asyncio import Redis

from config.settings import LISTEN_BACKLOG  # a ceiling under the API's accept queue

CHANNEL = "bench:relay"


def _frame(data: bytes) -> bytes:
    length = len(data)
    if length < 126:
        return bytes((0x81, length)) + data
    if length < 65536:
        return struct.pack("!BBH", 0x81, 126, length) + data
    return struct.pack("!BBQ", 0x81, 127, length) + data


def build_app(redis_url: str, mode: str) -> web.Application:
    sockets: list[web.WebSocketResponse] = []

    async def stream(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(heartbeat=15.0, compress=False)
        await ws.prepare(request)
        sockets.append(ws)
        try:
            async for _ in ws:
                pass
        finally:
            sockets.remove(ws)
        return ws

    async def relay(app: web.Application) -> AsyncIterator[None]:
        redis = Redis.from_url(redis_url)
        pubsub = redis.pubsub()
        await pubsub.subscribe(CHANNEL)

        async def forward() -> None:
            while True:
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=None)
                if message is None:
                    continue
                data: bytes = message["data"]
                if mode == "raw":
                    frame = _frame(data)
                    for ws in list(sockets):
                        transport = ws._req.transport if ws._req is not None else None
                        if transport is not None and not transport.is_closing():
                            transport.write(frame)
                else:
                    text = data.decode()
                    for ws in list(sockets):
                        with contextlib.suppress(ConnectionError):
                            await ws.send_str(text)

        task = asyncio.ensure_future(forward())
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await pubsub.aclose()  # type: ignore[no-untyped-call,unused-ignore]  # typed from redis 8.2
        await redis.aclose()

    async def health(request: web.Request) -> web.Response:
        return web.Response(text="OK")

    app = web.Application()
    app.router.add_get("/api/v1/streaming", stream)
    app.router.add_get("/healthz", health)
    app.cleanup_ctx.append(relay)
    return app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--redis-url", required=True)
    parser.add_argument("--mode", choices=("send_str", "raw"), default="raw")
    args = parser.parse_args()
    uvloop.install()
    app = build_app(args.redis_url, args.mode)
    web.run_app(app, host="127.0.0.1", port=args.port, access_log=None, print=None, backlog=LISTEN_BACKLOG)


if __name__ == "__main__":
    main()
