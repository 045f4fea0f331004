"""The ceiling for HTTP scenarios: a bare aiohttp process on uvloop that answers every GET with one
static body. Whatever Chirp does per request comes on top of this."""

from __future__ import annotations

import argparse
from pathlib import Path

import uvloop
from aiohttp import web


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--body-file", required=True)
    parser.add_argument("--content-type", default="application/json")
    args = parser.parse_args()
    body = Path(args.body_file).read_bytes()

    async def static(request: web.Request) -> web.Response:
        return web.Response(body=body, content_type=args.content_type)

    app = web.Application()
    app.router.add_get("/{tail:.*}", static)
    uvloop.install()
    web.run_app(app, host="127.0.0.1", port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
