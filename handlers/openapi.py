"""GET /openapi.json: the OpenAPI 3.1 document that `handlers.routes` gathers from every handlers module."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from api.openapi import ok, operation

routes = web.RouteTableDef()


# The document's bytes, gathered by `handlers.routes.setup_routes` from every module it mounts.
OPENAPI_DOCUMENT = web.AppKey("openapi_document", bytes)


@routes.get("/openapi.json")
async def openapi(request: web.Request) -> web.Response:
    return web.Response(body=request.app[OPENAPI_DOCUMENT], content_type="application/json")


OPENAPI_PATHS: dict[str, dict[str, Any]] = {
    "/openapi.json": {
        "get": operation(
            "This document",
            {"200": ok({"type": "object", "description": "an OpenAPI 3.1 document"})},
            tags=["meta"],
        )
    }
}
