"""The web client: `web/` served as a single-page app, built only on the public API (web/README.md).

Assets are served under `/assets/{version}/...`, where `version` is a hash of every file in `web/`:
relative ES module imports keep working, and a URL's content never changes, so browsers cache it for a
year. `index.html` (served for each client route) is never cached, and carries a strict Content-Security-
Policy: scripts and styles only from this origin, nothing inline, media also from the S3 origin.
"""

from __future__ import annotations

import functools
import hashlib
import mimetypes
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from api.http import public_origin
from api.keys import SETTINGS
from api.openapi import errors, operation, path
from config import Settings
from core.errors import ApiError

routes = web.RouteTableDef()

WEB_ROOT = Path(__file__).resolve().parent.parent / "web"
ASSETS_MARK = "/assets/"  # index.html names assets as /assets/x; served with the version inserted
NOT_SERVED = frozenset({"index.html", "README.md"})
IMMUTABLE = "public, max-age=31536000, immutable"
TYPES = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml", ".png": "image/png"}


@dataclass(frozen=True)
class Asset:
    body: bytes
    content_type: str


@dataclass(frozen=True)
class Bundle:
    version: str
    assets: dict[str, Asset]
    index: bytes


def _content_type(name: str) -> str:
    suffix = Path(name).suffix
    return TYPES.get(suffix) or mimetypes.guess_type(name)[0] or "application/octet-stream"


def load_bundle(root: Path) -> Bundle:
    """Every file under `root`, and the version: a hash over all their names and contents."""
    digest = hashlib.sha256()
    assets: dict[str, Asset] = {}
    for file in sorted(p for p in root.rglob("*") if p.is_file()):
        name = file.relative_to(root).as_posix()
        body = file.read_bytes()
        digest.update(name.encode() + b"\0" + hashlib.sha256(body).digest())
        if name not in NOT_SERVED and not any(part.startswith(".") for part in file.relative_to(root).parts):
            assets[name] = Asset(body, _content_type(name))
    version = digest.hexdigest()[:16]
    index = (root / "index.html").read_text("utf-8").replace(f'"{ASSETS_MARK}', f'"{ASSETS_MARK}{version}/')
    return Bundle(version, assets, index.encode())


@functools.cache
def bundle() -> Bundle:
    # Read once per process; the files do not change while it runs (restart to pick up edits).
    return load_bundle(WEB_ROOT)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""


def content_security_policy(settings: Settings, websocket_origin: str) -> str:
    """Nothing inline, nothing from elsewhere, except media files from the S3 (or public media) origin."""
    media = " ".join(dict.fromkeys(o for o in (_origin(settings.s3_endpoint), _origin(settings.media_public_url)) if o))
    return "; ".join(
        (
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            f"img-src 'self' blob: data: {media}",
            f"media-src 'self' blob: {media}",
            f"connect-src 'self' {websocket_origin}",
            "font-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
            "require-trusted-types-for 'script'",
            "trusted-types chirp-inert",
        )
    )


def _websocket_origin(request: web.Request) -> str:
    secure = request.secure or public_origin(request).startswith("https:")
    return f"{'wss' if secure else 'ws'}://{request.host}"


async def index_page(request: web.Request) -> web.Response:
    headers = {
        "Content-Security-Policy": content_security_policy(request.app[SETTINGS], _websocket_origin(request)),
        "Cache-Control": "no-cache",
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        # The callback URL carries the authorization code: it must not leak to media hosts as a Referer.
        "Referrer-Policy": "no-referrer",
    }
    return web.Response(body=bundle().index, content_type="text/html", charset="utf-8", headers=headers)


# The client's own routes (web/app.js); each serves the page, and the client shows the screen.
CLIENT_ROUTES = (
    "/",
    "/callback",
    "/search",
    "/explore",  # issue 24 (discovery)
    "/notifications",
    "/follow_requests",
    "/conversations",
    # issue 24 (organizing)
    "/lists",
    "/lists/{id:\\d+}",
    "/bookmarks",
    "/followed_tags",
    "/settings",  # issue 22: blocks, mutes and filters
    "/moderation",
    "/statuses/{id:\\d+}",
    "/tags/{tag}",
    "/@{username:[A-Za-z0-9_]+}",
    "/@{username:[A-Za-z0-9_]+}/{id:\\d+}",
)
for _route in CLIENT_ROUTES:
    routes.get(_route)(index_page)


@routes.get("/assets/{version}/{path:.+}")
async def asset(request: web.Request) -> web.Response:
    served = bundle()
    found = served.assets.get(request.match_info["path"])
    if request.match_info["version"] != served.version or found is None:
        raise ApiError(404, "Record not found")  # an old version's file is gone: never serve new bytes under it
    headers = {"Cache-Control": IMMUTABLE, "X-Content-Type-Options": "nosniff"}
    response = web.Response(body=found.body, content_type=found.content_type, headers=headers)
    if found.content_type.startswith("text/"):
        response.enable_compression()  # gzip or deflate, as the browser accepts
    return response


# OpenAPI ---------------------------------------------------------------------------------------------

_HTML = {"200": {"description": "The web client's page", "content": {"text/html": {"schema": {"type": "string"}}}}}
_TAGS = ("web client",)


def _page(summary: str, *parameters: dict[str, Any]) -> dict[str, Any]:
    return {"get": operation(summary, _HTML, parameters=parameters, tags=_TAGS)}


OPENAPI_PATHS: dict[str, dict[str, Any]] = {
    "/": _page("The web client: home timeline"),
    "/callback": _page("The web client: where the OAuth authorization-code flow returns"),
    "/search": _page("The web client: search"),
    "/explore": _page("The web client: trends, who to follow and people search"),  # issue 24 (discovery)
    "/notifications": _page("The web client: notifications"),
    "/follow_requests": _page("The web client: the follow requests waiting for your answer"),
    "/conversations": _page("The web client: your direct-message conversations"),
    "/lists": _page("The web client: your lists"),
    "/lists/{id}": _page("The web client: one of your lists, its timeline and members", path()),
    "/bookmarks": _page("The web client: your bookmarks"),
    "/followed_tags": _page("The web client: the hashtags you follow"),
    "/settings": _page("The web client: the accounts you block and mute, and your filters"),
    "/moderation": _page("The web client: reports and limited accounts, for admins and moderators"),
    "/statuses/{id}": _page("The web client: a post's thread", path()),
    "/tags/{tag}": _page("The web client: a hashtag", path("tag", "A hashtag, without #")),
    "/@{username}": _page("The web client: a profile", path("username", "A username")),
    "/@{username}/{id}": _page("The web client: a post's thread", path("username", "A username"), path()),
    "/assets/{version}/{path}": {
        "get": operation(
            "A file of the web client (immutable: the version is a hash of the client's files)",
            {"200": {"description": "The file"}, **errors(404)},
            parameters=[path("version", "The client's version hash"), path("path", "The file's path")],
            tags=_TAGS,
        )
    },
}
