"""A Chirp app served over real HTTP on 127.0.0.1, for synchronous clients (Mastodon.py) run in a thread.

    async with serve_app(create_app(settings)) as base_url:
        api = await asyncio.to_thread(Mastodon, api_base_url=base_url)

The server runs on the test's event loop, so the client must run off it (`asyncio.to_thread`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiohttp import web


@asynccontextmanager
async def serve_app(app: web.Application) -> AsyncIterator[str]:
    """Serve `app` until the block ends; yields its base URL (`http://127.0.0.1:PORT`)."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)  # port 0: the OS picks a free one, no race
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()
