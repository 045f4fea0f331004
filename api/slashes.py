"""Routes as tolerant as Rails: `/oauth/authorize/?...` (toot's browser sign-in) or `/api/v1/instance/`
(Mastodon.py) reach the same route as without the trailing slash.

A request whose path ends in `/` and matches no route is handled as the same request without the slash: its
route is resolved again and the middlewares after this one run for it as for any request (rate limiting,
metrics and errors see the route it reached). No redirect, so a POST keeps its body. `/` itself and every path
that does match are left alone.
"""

from __future__ import annotations

import functools

from aiohttp import web
from aiohttp.typedefs import Handler
from yarl import URL


def _inner_chain(app: web.Application, handler: Handler) -> Handler:
    """`handler` wrapped in the app's middlewares that come after this one, as aiohttp wraps a route."""
    middlewares = list(app.middlewares)
    after = middlewares[middlewares.index(trailing_slash_middleware) + 1 :]
    for middleware in reversed(after):
        handler = functools.update_wrapper(functools.partial(middleware, handler=handler), handler)
    return handler


@web.middleware
async def trailing_slash_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    path = request.rel_url.raw_path
    if len(path) < 2 or not path.endswith("/") or request.match_info.http_exception is None:
        return await handler(request)
    stripped = path.rstrip("/") or "/"
    target = request.clone(
        rel_url=URL.build(path=stripped, query_string=request.rel_url.raw_query_string, encoded=True)
    )
    # When nothing is there either, the match's handler raises its 404 (or 405) for the error middleware.
    match = await request.app.router.resolve(target)
    match.add_app(request.app)
    match.freeze()
    target._match_info = match  # what aiohttp's own dispatch sets before calling the route
    return await _inner_chain(request.app, match.handler)(target)
