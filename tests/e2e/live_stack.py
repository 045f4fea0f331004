"""The Chirp app served on a real port for the browser, stoppable and startable again on the same port."""

from __future__ import annotations

import dataclasses
import socket

from aiohttp import web

from app.main import create_app
from config import Settings


class LiveServer:
    """The Chirp app on 127.0.0.1: `url`; `stop()` and `start()` again on the same port (a server restart).

    The port is bound before the app is made, so CHIRP_PUBLIC_URL can name it: the absolute links the app
    writes (media URLs, pagination) lead back to this server."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.port = 0
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a restart takes the same port again
        sock.bind(("127.0.0.1", self.port))  # port 0 the first time: a free one, no race
        self.port = sock.getsockname()[1]
        runner = web.AppRunner(create_app(dataclasses.replace(self.settings, public_url=self.url)), access_log=None)
        await runner.setup()
        await web.SockSite(runner, sock).start()
        self._runner = runner

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
