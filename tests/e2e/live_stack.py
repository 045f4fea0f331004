"""The Chirp app served on a real port for the browser, stoppable and startable again on the same port."""

from __future__ import annotations

from aiohttp import web

from app.main import create_app
from config import Settings


class LiveServer:
    """The Chirp app on 127.0.0.1: `url`; `stop()` and `start()` again on the same port (a server restart)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.port = 0
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        runner = web.AppRunner(create_app(self.settings), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", self.port)  # port 0 the first time: a free one, no race
        await site.start()
        self.port = runner.addresses[0][1]
        self._runner = runner

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
