"""Composing (limits, the character count, upload progress and cancelling), long threads, profile tabs."""

from __future__ import annotations

import re
from typing import Any

import aiohttp
from playwright.async_api import expect

from e2e.live_stack import LiveServer
from e2e.people import SLOW_MS, Person, picture
from e2e.seed import Api

THROTTLED_UPLOAD = 256 * 1024  # bytes per second: a 2 MB file takes long enough to watch and cancel


async def test_the_composer_counts_limits_shows_progress_and_cancels(live_server: LiveServer, browser: Any) -> None:
    alice = await Person.open(browser, live_server.url, "alice")
    await alice.register()
    compose = alice.page.locator("form.composer").first
    text = compose.get_by_label("Post text")
    count = compose.locator(".char-count")
    post = compose.get_by_role("button", name="Post")

    # Links count 23 characters whatever their length; over the limit, posting is off.
    await text.fill("see https://example.com/" + "a" * 200)
    await expect(count).to_have_text(str(500 - len("see ") - 23))
    await text.fill("x" * 501)
    await expect(count).to_have_text("-1")
    await expect(post).to_be_disabled()
    await text.fill("")
    await expect(post).to_be_disabled()

    # Up to four images, or one video: a fifth is refused with a message.
    files = [{"name": f"p{i}.jpg", "mimeType": "image/jpeg", "buffer": picture(320, 200, hue=i * 40)} for i in range(5)]
    await compose.locator("input[type=file]").set_input_files(files)
    await expect(compose.locator(".attachment")).to_have_count(4)
    await expect(compose.get_by_role("alert")).to_contain_text("up to 4 images, or one video")
    await expect(compose.locator(".attachment.ready")).to_have_count(4, timeout=SLOW_MS)
    for i in range(4):
        await compose.get_by_role("button", name=f"Cancel and remove p{i}.jpg").click()
    await expect(compose.locator(".attachment")).to_have_count(0)

    # A slow upload shows its progress and can be cancelled half-way.
    cdp = await alice.page.context.new_cdp_session(alice.page)
    await cdp.send("Network.enable")
    await cdp.send(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": THROTTLED_UPLOAD},
    )
    big = bytes(2 * 1024 * 1024)  # the server refuses it later as no image, but it is cancelled before that
    await compose.locator("input[type=file]").set_input_files(
        {"name": "big.jpg", "mimeType": "image/jpeg", "buffer": big}
    )
    progress = compose.locator(".attachment progress")
    await expect(compose.locator(".upload-state")).to_have_text(re.compile(r"Uploading ([1-9]\d?)%"), timeout=SLOW_MS)
    value = float(await progress.get_attribute("value") or "0")
    assert 0 < value < 100
    await expect(post).to_be_disabled()
    await compose.get_by_role("button", name="Cancel and remove big.jpg").click()
    await expect(compose.locator(".attachment")).to_have_count(0)
    await cdp.send(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1},
    )
    await text.fill("Still works after a cancelled upload")
    await post.click()
    await expect(alice.post("Still works after a cancelled upload")).to_be_visible()
    assert not alice.problems, alice.problems


async def test_long_threads_fold_and_profiles_have_tabs(live_server: LiveServer, browser: Any) -> None:
    async with aiohttp.ClientSession() as session:
        api = Api(session, live_server.url)
        bob = await api.sign_up("bob", "Bob", "")
        carol = await api.sign_up("carol", "Carol", "")
        root = await api.post(bob, "What is your favourite mountain?")
        replies = [await api.post(carol, f"Answer number {i}", in_reply_to_id=root) for i in range(7)]
        nested = await api.post(bob, "A reply to the first answer", in_reply_to_id=replies[0])
        await api.post(carol, "Deeper still", in_reply_to_id=nested)
        media = await api.upload(bob, picture(400, 250), "A peak")
        await api.post(bob, "Only this one has a picture", media_ids=[media])

    reader = await Person.open(browser, live_server.url, "reader")
    await reader.goto(f"/statuses/{root}")  # signed out: threads and profiles are public
    page = reader.page
    await expect(page.locator("article.status-focused")).to_contain_text("What is your favourite mountain?")
    top = page.locator(".descendants > .replies > .reply")
    await expect(top).to_have_count(7)
    await expect(top.filter(visible=True)).to_have_count(5)
    await page.get_by_role("button", name="Show 2 more replies").click()
    for i in range(7):
        await expect(page.locator("article.status", has_text=f"Answer number {i}")).to_be_visible()
    nested_reply = page.locator("article.status", has_text="A reply to the first answer")
    await expect(nested_reply).to_be_visible()
    toggle = page.get_by_role("button", name="Hide replies").first
    await expect(toggle).to_have_attribute("aria-expanded", "true")
    await toggle.click()
    await expect(nested_reply).to_be_hidden()
    await expect(page.get_by_role("button", name="Show 2 replies")).to_have_attribute("aria-expanded", "false")
    await page.get_by_role("button", name="Show 2 replies").click()
    await expect(nested_reply).to_be_visible()

    # The reply's own page shows its ancestors above it.
    await nested_reply.locator("a.time").click()
    await expect(page.locator(".ancestors article.status")).to_have_count(2)
    await expect(page.locator("article.status-focused")).to_contain_text("A reply to the first answer")

    await reader.goto("/@bob")
    await expect(page.get_by_role("heading", name="Bob")).to_be_visible()
    await expect(page.locator(".profile article.status")).to_have_count(2)  # replies are on their own tab
    await page.get_by_role("link", name="Posts and replies").click()
    await expect(page.locator(".profile article.status")).to_have_count(3)
    await page.get_by_role("link", name="Media").click()
    await expect(page.locator(".profile article.status")).to_have_count(1)
    await expect(page.locator(".profile article.status")).to_contain_text("Only this one has a picture")
    assert not reader.problems, reader.problems


async def test_older_posts_load_on_scroll_and_new_ones_wait_behind_a_pill(
    live_server: LiveServer, browser: Any
) -> None:
    async with aiohttp.ClientSession() as session:
        api = Api(session, live_server.url)
        bob = await api.sign_up("bob", "Bob", "")
        reader = await api.sign_up("reader", "Reader", "")
        await api.call("POST", f"/api/v1/accounts/{bob.id}/follow", reader)
        for i in range(45):
            await api.post(bob, f"Numbered post {i:02d}")

        alice = await Person.signed_in(browser, live_server.url, "reader", reader.token)
        page = alice.page
        await alice.goto("/")
        cards = page.locator(".feed article.status")
        await expect(cards).to_have_count(20, timeout=SLOW_MS)
        await alice.wait_live()
        await alice.mark_page()

        # Scrolling down brings the older pages, until the end.
        for expected in (40, 45):
            await cards.last.scroll_into_view_if_needed()
            await expect(cards).to_have_count(expected)
        await expect(page.locator(".feed-status")).to_have_text("You have reached the end.")

        # Reading further down, new posts do not move the page: they wait behind a button.
        reading = cards.nth(10)
        await reading.scroll_into_view_if_needed()
        before = await page.evaluate("window.scrollY")
        where = await reading.bounding_box()
        first = await cards.first.inner_text()
        for i in range(3):
            await api.post(bob, f"Fresh post {i}")
        pill = page.get_by_role("button", name="3 new posts")
        await expect(pill).to_be_visible(timeout=SLOW_MS)
        assert await page.evaluate("window.scrollY") == before
        assert await reading.bounding_box() == where
        assert await cards.first.inner_text() == first
        await pill.click()
        await expect(cards.first).to_contain_text("Fresh post 2")
        await expect(cards.nth(2)).to_contain_text("Fresh post 0")
        assert await page.evaluate("window.scrollY") == 0
        await expect(pill).to_be_hidden()
        assert await alice.still_same_page()
        assert not alice.problems, alice.problems
