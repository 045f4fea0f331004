"""Every HTTP route of the API, gathered from the handler modules."""

from __future__ import annotations

from aiohttp import web

from handlers import health


def setup_routes(app: web.Application) -> None:
    for module in (health,):
        app.router.add_routes(module.routes)
