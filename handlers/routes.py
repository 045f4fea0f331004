"""Every HTTP route of the API, gathered from the handler modules."""

from __future__ import annotations

from aiohttp import web

from handlers import (
    accounts,
    apps,
    follows,
    health,
    instance,
    likes,
    media,
    media_upload,
    notifications,
    oauth,
    openapi,
    reposts,
    search,
    statuses,
    streaming,
    timelines,
    web_client,
)

# Each module exports `routes` and documents them in OPENAPI_PATHS (see app/openapi.py); add new ones here.
ROUTE_MODULES = (
    health,
    openapi,
    instance,
    apps,
    oauth,
    accounts,
    statuses,
    likes,
    reposts,
    follows,
    media,
    media_upload,
    search,
    notifications,
    streaming,
    timelines,
    web_client,
)


def setup_routes(app: web.Application) -> None:
    for module in ROUTE_MODULES:
        app.router.add_routes(module.routes)
