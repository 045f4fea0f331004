"""The main screens at phone and desktop size, in light and dark: they lay out, read well and work from the
keyboard; each is photographed (into docs/screenshots with CHIRP_SCREENSHOTS=1, for the README)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from playwright.async_api import expect

from e2e.live_stack import LiveServer
from e2e.people import SLOW_MS, Person, picture
from e2e.seed import World, seed

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}

# WCAG contrast of an element's text against the first opaque background behind it.
CONTRAST = """el => {
  const rgb = (c) => c.match(/[\\d.]+/g).map(Number);
  const channel = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
  const lum = ([r, g, b]) => 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b);
  let bg = el;
  while (bg && rgb(getComputedStyle(bg).backgroundColor)[3] === 0) bg = bg.parentElement;
  const back = rgb(getComputedStyle(bg || document.body).backgroundColor);
  const [a, b] = [lum(rgb(getComputedStyle(el).color)), lum(back)].sort((x, y) => y - x);
  return (a + 0.05) / (b + 0.05);
}"""
READABLE = (".status .content", ".status .acct", ".status a.time", ".nav-link", ".compose-button", ".screen-title")


async def images_loaded(person: Person) -> None:
    # A function, not an expression: Playwright polls a bare expression with eval, which the page's CSP forbids.
    await person.page.wait_for_function("() => [...document.images].every((img) => img.complete)")


async def shoot(person: Person, folder: Path, name: str) -> None:
    await images_loaded(person)
    await person.page.screenshot(path=str(folder / f"{name}.png"))


async def signed_in(browser: Any, server: LiveServer, world: World, **context: Any) -> Person:
    return await Person.signed_in(browser, server.url, "alice", world.alice.token, **context)


async def wait_for_search(person: Person, query: str) -> None:
    for _ in range(40):
        await person.goto(f"/search?q={query}")
        await person.page.locator(".results .result-section").first.wait_for()
        if await person.page.locator(".results article.status").count():
            return
        await asyncio.sleep(0.5)
    raise AssertionError(f"nothing indexed for {query!r}")


async def walk_the_screens(alice: Person, world: World, folder: Path, size: str) -> None:
    page = alice.page
    await alice.goto("/")
    await expect(alice.post("Morning walk along the ridge")).to_be_visible(timeout=SLOW_MS)
    await alice.wait_live()
    for selector in READABLE:
        target = page.locator(selector).first
        if await target.is_visible():
            ratio = await target.evaluate(CONTRAST)
            assert ratio >= 4.5, f"{selector}: contrast {ratio:.2f} at {size}"
    await shoot(alice, folder, f"home-{size}")

    await page.locator(".compose-button").click()
    dialog = page.get_by_role("dialog")
    await dialog.locator("input[type=file]").set_input_files(
        {"name": "bridge.jpg", "mimeType": "image/jpeg", "buffer": picture(hue=200)}
    )
    await expect(dialog.locator(".upload-state")).to_have_text("Ready", timeout=SLOW_MS)
    await dialog.get_by_label("Alt text for bridge.jpg").fill("A bridge against an orange sky")
    await dialog.get_by_label("Post text").press_sequentially("Sunset from the bridge tonight with @car")
    await expect(dialog.get_by_role("option", name="Carol Nguyen @carol")).to_be_visible()
    await shoot(alice, folder, f"compose-{size}")
    await dialog.get_by_label("Post text").press("Enter")
    await expect(dialog.get_by_label("Post text")).to_have_value("Sunset from the bridge tonight with @carol ")
    await page.keyboard.press("Escape")
    await expect(dialog).to_be_hidden()

    await page.locator("article.status", has_text="Anyone up for a coffee").first.locator("a.time").click()
    await expect(page.locator("article.status-focused")).to_contain_text("Anyone up for a coffee")
    await expect(page.locator(".descendants .replies .replies article.status")).to_have_count(2)
    await shoot(alice, folder, f"thread-{size}")

    await alice.goto("/@carol")
    await expect(page.get_by_role("heading", name="Carol Nguyen")).to_be_visible()
    await expect(page.get_by_role("button", name="Unfollow")).to_be_visible()
    await expect(page.locator(".profile .status").first).to_be_visible()
    await shoot(alice, folder, f"profile-{size}")

    await wait_for_search(alice, "opensource")
    await expect(page.locator(".hashtag-row", has_text="#opensource")).to_be_visible()
    await shoot(alice, folder, f"search-{size}")

    await alice.goto("/notifications")
    await expect(page.locator("article.notification").first).to_be_visible()
    # Bob's and Carol's follows are one group (Mastodon 4.3's grouped notifications).
    await expect(page.locator("article.notification", has_text="followed you")).to_have_count(1)
    await expect(page.locator("article.notification", has_text="and 1 other followed you")).to_have_count(1)
    await shoot(alice, folder, f"notifications-{size}")


async def test_the_main_screens_at_phone_and_desktop_size(
    live_server: LiveServer, browser: Any, screenshot_dir: Path
) -> None:
    world = await seed(live_server.url)
    for size, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
        alice = await signed_in(browser, live_server, world, viewport=viewport)
        await walk_the_screens(alice, world, screenshot_dir, size)
        nav = await alice.page.locator("#nav").bounding_box()
        assert nav is not None
        if size == "phone":
            assert nav["y"] + nav["height"] >= PHONE["height"] - 1, "the phone layout keeps navigation at the bottom"
            assert nav["width"] == PHONE["width"]
        else:
            assert nav["x"] < 300 and nav["height"] >= DESKTOP["height"] - 1, "the desktop layout has a side column"
        assert not alice.problems, alice.problems
        await alice.page.context.close()


async def test_dark_mode_and_the_keyboard(live_server: LiveServer, browser: Any, screenshot_dir: Path) -> None:
    world = await seed(live_server.url)
    for size, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
        alice = await signed_in(browser, live_server, world, viewport=viewport, color_scheme="dark")
        page = alice.page
        await alice.goto("/")
        await expect(alice.post("Morning walk along the ridge")).to_be_visible(timeout=SLOW_MS)
        background = await page.evaluate("getComputedStyle(document.body).backgroundColor")
        assert background == "rgb(16, 22, 29)", "prefers-color-scheme: dark gives the dark palette"
        for selector in READABLE:
            target = page.locator(selector).first
            if await target.is_visible():
                ratio = await target.evaluate(CONTRAST)
                assert ratio >= 4.5, f"{selector}: contrast {ratio:.2f} in dark mode at {size}"
        await shoot(alice, screenshot_dir, f"home-dark-{size}")

        # j/k move between posts, Enter opens one, n opens the composer, Escape closes it.
        await page.locator("body").press("j")
        await expect(page.locator("article.status").first).to_be_focused()
        await page.keyboard.press("j")
        await expect(page.locator("article.status").nth(1)).to_be_focused()
        await page.keyboard.press("k")
        await expect(page.locator("article.status").first).to_be_focused()
        await page.keyboard.press("Enter")
        await expect(page.locator("article.status-focused")).to_be_visible()
        await page.keyboard.press("n")
        await expect(page.get_by_role("dialog")).to_be_visible()
        await expect(page.get_by_role("dialog").get_by_label("Post text")).to_be_focused()
        await page.keyboard.press("Escape")
        await expect(page.get_by_role("dialog")).to_be_hidden()
        await page.go_back()
        await expect(page.get_by_role("heading", name="Home")).to_be_visible()
        assert not alice.problems, alice.problems
        await page.context.close()
