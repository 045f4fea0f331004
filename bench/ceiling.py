"""The ceiling for HTTP scenarios: a bare aiohttp process on uvloop that answers every GET with one
static body. Whatever Chirp does per request comes on top of this.

With `--valkey-url` the handler first reads the body from Valkey (one GET with redis-py), and with
`--database-url` it also runs one trivial asyncpg query: the least a handler pays that serves its page
from Valkey and personalises it from PostgreSQL, which is the shape of Chirp's home timeline read."""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import uvloop
from aiohttp import web
from redis.asyncio import Redis

from config.settings import LISTEN_BACKLOG  # a ceiling under the API's accept queue

BODY_KEY = "bench:ceiling-body"
REDIS = web.AppKey("redis", Redis)
POOL = web.AppKey("pool", asyncpg.Pool)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--body-file", required=True)
    parser.add_argument("--content-type", default="application/json")
    parser.add_argument("--valkey-url", help="read the body from Valkey on every request")
    parser.add_argument("--database-url", help="also run one query on PostgreSQL on every request")
    args = parser.parse_args()
    body = Path(args.body_file).read_bytes()

    async def static(request: web.Request) -> web.Response:
        return web.Response(body=body, content_type=args.content_type)

    async def from_stores(request: web.Request) -> web.Response:
        stored = await request.app[REDIS].get(BODY_KEY)
        if POOL in request.app:
            await request.app[POOL].fetchval("SELECT 1")
        return web.Response(body=stored, content_type=args.content_type)

    async def stores(app: web.Application) -> AsyncIterator[None]:
        app[REDIS] = Redis.from_url(args.valkey_url)
        await app[REDIS].set(BODY_KEY, body)
        if args.database_url:
            app[POOL] = await asyncpg.create_pool(args.database_url, min_size=4, max_size=4)
        yield
        if POOL in app:
            await app[POOL].close()
        await app[REDIS].aclose()

    app = web.Application()
    if args.valkey_url:
        app.cleanup_ctx.append(stores)
        app.router.add_get("/{tail:.*}", from_stores)
    else:
        app.router.add_get("/{tail:.*}", static)
    uvloop.install()
    web.run_app(app, host="127.0.0.1", port=args.port, access_log=None, print=None, backlog=LISTEN_BACKLOG)


if __name__ == "__main__":
    main()
