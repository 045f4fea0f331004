"""GET /openapi.json: the OpenAPI 3.1 document gathered from every handlers module's own declarations."""

from __future__ import annotations

import functools
from typing import Any

import orjson
from aiohttp import web

from app.openapi import Spec, build_document, ok, operation
from domain.instance import chirp_version
from domain.oauth import ALL_SCOPES

routes = web.RouteTableDef()


@functools.cache
def openapi_document() -> Spec:
    # Imported here: handlers.routes lists this module too, so a top-level import would be circular.
    from handlers.routes import ROUTE_MODULES

    return build_document(ROUTE_MODULES, version=chirp_version(), scopes=ALL_SCOPES)


@functools.cache
def _document_bytes() -> bytes:
    return orjson.dumps(openapi_document())


@routes.get("/openapi.json")
async def openapi(request: web.Request) -> web.Response:
    return web.Response(body=_document_bytes(), content_type="application/json")


OPENAPI_PATHS: dict[str, dict[str, Any]] = {
    "/openapi.json": {
        "get": operation(
            "This document",
            {"200": ok({"type": "object", "description": "an OpenAPI 3.1 document"})},
            tags=["meta"],
        )
    }
}
