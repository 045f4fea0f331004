"""How the web client is served: its page at each client route with a strict CSP, content-hashed assets
cached for good, and nothing of the API shadowed. (The client itself is tested in a browser: tests/e2e.)"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from aiohttp import web
from aiohttp.test_utils import TestClient
from conftest import ClientFactory

from api.keys import SETTINGS
from handlers.web_client import WEB_ROOT, bundle, load_bundle

Client = TestClient[web.Request, web.Application]

CLIENT_ROUTES = ("/", "/callback", "/search", "/notifications", "/statuses/123", "/tags/cats", "/@alice", "/@alice/123")
IMPORT = re.compile(r"""(?:import|export)\s[^'"]*?from\s+['"](\.{1,2}/[^'"]+)['"]""")


def directives(csp: str) -> dict[str, list[str]]:
    parsed: dict[str, list[str]] = {}
    for part in csp.split(";"):
        name, *values = part.split()
        parsed[name] = values
    return parsed


async def test_every_client_route_serves_the_page_uncached_with_a_strict_policy(client: Client) -> None:
    for route in CLIENT_ROUTES:
        response = await client.get(route)
        assert response.status == 200, route
        assert response.content_type == "text/html"
        assert response.headers["Cache-Control"] == "no-cache"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Referrer-Policy"] == "no-referrer"
        policy = directives(response.headers["Content-Security-Policy"])
        assert policy["script-src"] == ["'self'"]
        assert policy["style-src"] == ["'self'"]
        assert policy["object-src"] == ["'none'"]
        assert policy["base-uri"] == ["'none'"]
        assert policy["frame-ancestors"] == ["'none'"]
        assert policy["require-trusted-types-for"] == ["'script'"]
        assert not any("unsafe" in value for values in policy.values() for value in values)


async def test_media_may_come_from_the_s3_origin_and_the_stream_from_this_host(client: Client) -> None:
    response = await client.get("/")
    policy = directives(response.headers["Content-Security-Policy"])
    s3 = client.app[SETTINGS].s3_endpoint.rstrip("/")
    assert s3 in policy["img-src"]
    assert s3 in policy["media-src"]
    assert f"ws://{client.host}:{client.port}" in policy["connect-src"]


async def test_the_page_has_no_inline_script_or_style_and_names_hashed_assets(client: Client) -> None:
    html = await (await client.get("/")).text()
    version = bundle().version
    assert re.fullmatch(r"[0-9a-f]{16}", version)
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), "an inline script"
    assert "<style" not in html and " style=" not in html
    assert f'src="/assets/{version}/app.js"' in html
    assert f'href="/assets/{version}/style.css"' in html


async def test_assets_are_immutable_under_their_version_and_gone_under_any_other(client: Client) -> None:
    version = bundle().version
    response = await client.get(f"/assets/{version}/app.js")
    assert response.status == 200
    assert response.content_type == "text/javascript"
    assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert (await response.read()) == (WEB_ROOT / "app.js").read_bytes()
    css = await client.get(f"/assets/{version}/style.css")
    assert css.content_type == "text/css"
    for missing in (
        "/assets/0000000000000000/app.js",
        f"/assets/{version}/nope.js",
        f"/assets/{version}/index.html",
        f"/assets/{version}/README.md",
        f"/assets/{version}/../handlers/web_client.py",
        f"/assets/{version}/%2e%2e/handlers/web_client.py",
    ):
        answer = await client.get(missing)
        assert answer.status == 404, missing
        assert (await answer.json()) == {"error": "Record not found"}


async def test_the_api_and_sign_in_page_are_not_shadowed(client: Client) -> None:
    instance = await client.get("/api/v1/instance")
    assert instance.content_type == "application/json"
    sign_in = await client.get("/oauth/authorize", params={"client_id": "unknown"})
    assert sign_in.status == 400
    assert "Cannot authorize" in await sign_in.text()
    unknown = await client.get("/no/such/page")
    assert unknown.status == 404
    assert unknown.content_type == "application/json"


def test_every_relative_import_of_the_client_names_a_served_file() -> None:
    served = bundle().assets
    for name, asset in served.items():
        if not name.endswith(".js"):
            continue
        for target in IMPORT.findall(asset.body.decode()):
            resolved = (Path("/") / name).parent.joinpath(target).resolve().relative_to("/").as_posix()
            assert resolved in served, f"{name} imports {target}, which is not served"


def test_the_version_changes_with_any_file(tmp_path: Path) -> None:
    copy = tmp_path / "web"
    shutil.copytree(WEB_ROOT, copy)
    before = load_bundle(copy).version
    assert load_bundle(copy).version == before
    (copy / "components" / "status.js").write_text((copy / "components" / "status.js").read_text() + "\n// changed\n")
    after = load_bundle(copy)
    assert after.version != before
    assert f"/assets/{after.version}/app.js".encode() in after.index


async def test_assets_do_not_count_against_the_rate_limit(make_client: ClientFactory) -> None:
    client = await make_client(rate_limit_enabled=True, rate_limit_ip=(2, 300))
    version = bundle().version
    for _ in range(5):
        response = await client.get(f"/assets/{version}/app.js")
        assert response.status == 200
        assert "X-RateLimit-Limit" not in response.headers
    pages = [(await client.get("/")).status for _ in range(3)]
    assert pages == [200, 200, 429], "the page itself is counted like any request"
