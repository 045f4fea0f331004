"""A Mastodon web client served from another origin (as Phanpy and Elk are) signs in with PKCE, reads home,
posts and opens notifications, every request cross-origin through CORS, in headless Chromium.

The client is `tests/e2e/elsewhere/` (plain HTML and one module), served by a tiny static server on another
loopback port: a different origin from the Chirp server's, so the browser enforces CORS on every call."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest
from aiohttp import web
from playwright.async_api import expect

from e2e.live_stack import LiveServer
from e2e.people import PASSWORD, SLOW_MS, Person
from e2e.seed import Api

ELSEWHERE = Path(__file__).parent / "elsewhere"


@pytest.fixture
async def elsewhere(live_server: LiveServer) -> AsyncIterator[str]:
    """The other origin: `/` and `/callback` serve the page, `/client.js` its module (told the server's URL)."""
    page = (
        (ELSEWHERE / "index.html")
        .read_text()
        .replace('src="/client.js"', f'src="/client.js?server={quote(live_server.url, safe="")}"')
    )

    async def index(request: web.Request) -> web.Response:
        return web.Response(text=page, content_type="text/html")

    async def module(request: web.Request) -> web.StreamResponse:
        return web.FileResponse(ELSEWHERE / "client.js", headers={"Content-Type": "text/javascript"})

    app = web.Application()
    app.router.add_get("/", index)
    app.router.add_get("/callback", index)
    app.router.add_get("/client.js", module)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


async def until(person: Person, script: str, check: Any) -> Any:
    """Run `script` in the page until `check(result)` holds: the workers (fan-out, notifications) run beside."""
    for _ in range(100):
        result = await person.page.evaluate(script)
        if check(result):
            return result
        await asyncio.sleep(0.2)
    raise AssertionError(f"{script} never gave what was expected; last: {result!r}")


async def test_a_client_on_another_origin_signs_in_with_pkce_reads_posts_and_opens_notifications(
    live_server: LiveServer, elsewhere: str, browser: Any, screenshot_dir: Path
) -> None:
    async with aiohttp.ClientSession() as session:
        api = Api(session, live_server.url)
        alice = await api.sign_up("alice", "Alice", "")
        bob = await api.sign_up("bob", "Bob", "")
        await api.call("POST", f"/api/v1/accounts/{bob.id}/follow", alice)
        await api.post(bob, "Hello from Bob")
        await api.post(bob, "Bob again")
        await api.call("POST", f"/api/v1/accounts/{alice.id}/follow", bob)
    assert elsewhere != live_server.url

    person = await Person.open(browser, elsewhere, "alice")
    page = person.page
    await person.goto("/")
    await page.get_by_role("button", name="Sign in with your server").click()
    # The server's own sign-in page (navigated to, not fetched), naming the app.
    await expect(page.get_by_role("heading", name="Sign in to Chirp")).to_be_visible(timeout=SLOW_MS)
    assert page.url.startswith(f"{live_server.url}/oauth/authorize?")
    await expect(page.locator(".app-name")).to_have_text("Elsewhere")
    await page.screenshot(path=str(screenshot_dir / "sign-in-desktop.png"))
    await page.get_by_label("Username or e-mail address").fill("alice")
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in and allow").click()
    await expect(page.locator("body")).to_have_attribute("data-signed-in", "alice", timeout=SLOW_MS)
    assert page.url.startswith(f"{elsewhere}/callback?code=")

    home = await until(person, "client.home()", lambda r: len(r["body"]) == 2)
    assert [p["content"] for p in home["body"]] == ["<p>Bob again</p>", "<p>Hello from Bob</p>"]
    assert home["link"] and 'rel="next"' in home["link"]  # exposed to the page by CORS

    posted = await page.evaluate("client.post('Posted from another origin')")
    assert posted["account"]["acct"] == "alice"
    await until(person, "client.home()", lambda r: r["body"] and r["body"][0]["id"] == posted["id"])

    notifications = await until(person, "client.notifications()", lambda r: len(r["body"]) >= 1)
    assert [(n["type"], n["account"]["acct"]) for n in notifications["body"]] == [("follow", "bob")]
    assert "data-error" not in (await page.locator("body").evaluate("b => b.outerHTML"))
    assert not person.problems, person.problems
