"""CORS as Mastodon configures it (rack-cors in config/initializers/cors.rb), so browser clients served from
another origin (Phanpy, Elk, any PWA) can use the API.

- Scope: the API (`/api/*`), the token endpoints (`/oauth/token`, `/oauth/revoke`), discovery (`/.well-known/*`,
  `/nodeinfo/*`) and media files (`/media/*`). The sign-in page is navigated to, not fetched: it needs none.
- Any origin, no credentials (clients send a bearer token, never cookies), so `*` is the honest answer.
- A preflight (`OPTIONS` with `Access-Control-Request-Method`) is answered 204 here, before authentication and
  rate limiting: this middleware comes first in the app's list.
- Every other response in scope gets the headers in `on_response_prepare`, so errors, redirects and responses a
  handler prepared itself (the SSE stream) carry them too.
"""

from __future__ import annotations

import re

from aiohttp import hdrs, web
from aiohttp.typedefs import Handler

PREFIXES = ("/api/", "/.well-known/", "/nodeinfo/", "/media/")
PATHS = frozenset({"/oauth/token", "/oauth/revoke"})
METHODS = "GET, POST, PUT, PATCH, DELETE"
ALLOWED_HEADERS = ("Authorization", "Content-Type", "Idempotency-Key")
EXPOSED_HEADERS = "Link, X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset, X-Request-Id"
MAX_AGE = "7200"  # seconds a browser may reuse a preflight answer (Chromium caps it at 2 hours)
_HEADER_NAME = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$")


def in_scope(path: str) -> bool:
    return path in PATHS or path.rstrip("/") in PATHS or path.startswith(PREFIXES)


def _allowed_headers(requested: str) -> str:
    """The three headers Mastodon clients send, and whatever else a preflight asks for (rack-cors's
    `headers: :any`), as long as it is a well-formed header name."""
    names = dict.fromkeys(ALLOWED_HEADERS)
    for name in (part.strip() for part in requested.split(",")):
        if name and _HEADER_NAME.match(name) and name.lower() not in {n.lower() for n in names}:
            names[name] = None
    return ", ".join(names)


def _preflight(request: web.Request) -> web.Response:
    headers = {
        "Access-Control-Allow-Origin": "*",
        "Access-Control-Allow-Methods": METHODS,
        "Access-Control-Allow-Headers": _allowed_headers(request.headers.get(hdrs.ACCESS_CONTROL_REQUEST_HEADERS, "")),
        "Access-Control-Max-Age": MAX_AGE,
        "Vary": "Access-Control-Request-Headers",
    }
    return web.Response(status=204, headers=headers)


@web.middleware
async def cors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    is_preflight = (
        request.method == hdrs.METH_OPTIONS
        and hdrs.ORIGIN in request.headers
        and hdrs.ACCESS_CONTROL_REQUEST_METHOD in request.headers
    )
    if is_preflight and in_scope(request.path):
        return _preflight(request)
    return await handler(request)


async def add_cors_headers(request: web.Request, response: web.StreamResponse) -> None:
    """`on_response_prepare`: the headers an actual (not preflight) cross-origin response needs."""
    # Sent whether or not the request named an Origin, so a cached answer suits every later reader.
    if not in_scope(request.path):
        return
    response.headers.setdefault("Access-Control-Allow-Origin", "*")
    response.headers.setdefault("Access-Control-Expose-Headers", EXPOSED_HEADERS)


def setup_cors(app: web.Application) -> None:
    """The header half; the middleware (`cors_middleware`) is listed first in `create_app`."""
    app.on_response_prepare.append(add_cors_headers)
