"""The web client in a real browser, against the whole running stack: two people in two browser contexts."""

from __future__ import annotations

import asyncio
from typing import Any

from playwright.async_api import expect

from domain.posts import PostDraft, create_post
from e2e.live_stack import LiveServer
from e2e.people import SLOW_MS, Person, picture
from storage.accounts import find_by_username
from storage.resources import Resources

POST_TEXT = "Hello from the browser #chirpdemo"
ALT_TEXT = "Green hills under a yellow sun"
REPLY_TEXT = "Lovely picture, Alice!"
QUOTE_TEXT = "Everyone should see this view"


async def search_until_found(person: Person, query: str, text: str) -> None:
    """Search (from the page's own form) until the post is indexed; indexing runs in the worker."""
    page = person.page
    await page.get_by_role("link", name="Search").click()
    for _ in range(40):
        await page.get_by_role("searchbox").fill(query)
        await page.get_by_role("searchbox").press("Enter")
        await page.locator(".results .result-section").first.wait_for()
        if await page.locator(".results article.status", has_text=text).count():
            return
        await asyncio.sleep(0.5)
    raise AssertionError(f"search for {query!r} never found {text!r}")


async def test_two_people_post_follow_like_reply_search_and_get_notified(live_server: LiveServer, browser: Any) -> None:
    alice = await Person.open(browser, live_server.url, "alice")
    bob = await Person.open(browser, live_server.url, "bob")
    await alice.register()
    await bob.register()

    # Bob signs out, then back in through the server's OAuth page (authorization code + PKCE).
    await bob.sign_out()
    assert await bob.page.evaluate("localStorage.getItem('chirp.token')") is None
    await bob.sign_in()

    # Bob follows Alice from her profile.
    await bob.goto("/@alice")
    await bob.page.get_by_role("button", name="Follow").click()
    await expect(bob.page.get_by_role("button", name="Unfollow")).to_be_visible()
    await expect(bob.page.locator(".counts")).to_contain_text("1 follower")

    # Bob reads his home timeline; nothing reloads it from here on.
    await bob.page.get_by_role("link", name="Home").click()
    await bob.wait_live()
    await bob.mark_page()

    # Alice posts with an image through the chunked upload, with alt text.
    await alice.wait_live()
    compose = alice.page.locator("form.composer").first
    await compose.get_by_label("Post text").fill(POST_TEXT)
    await expect(compose.locator(".char-count")).to_have_text(str(500 - len(POST_TEXT)))
    await compose.locator("input[type=file]").set_input_files(
        {"name": "hills.jpg", "mimeType": "image/jpeg", "buffer": picture()}
    )
    await expect(compose.locator(".attachment img")).to_be_visible()  # the preview, before posting
    await expect(compose.locator(".upload-state")).to_have_text("Ready", timeout=SLOW_MS)
    await compose.get_by_label("Alt text for hills.jpg").fill(ALT_TEXT)
    await compose.get_by_role("button", name="Post").click()
    await expect(alice.post(POST_TEXT)).to_be_visible()

    # It appears on Bob's page live, image and alt text included, without a reload.
    await expect(bob.post(POST_TEXT)).to_be_visible(timeout=SLOW_MS)
    post_id = await bob.post(POST_TEXT).get_attribute("data-status-id")
    card = bob.page.locator(f'article.status[data-id="{post_id}"]')  # the post itself, not a quote of it
    image = card.get_by_role("img", name=ALT_TEXT)
    await expect(image).to_be_visible()
    # decode() waits for the file (a redirect from its permanent address to S3, then the bytes); it fails on a
    # broken image.
    loaded = "img => img.decode().then(() => img.naturalWidth > 0, () => false)"
    assert await image.evaluate(loaded), "the image did not load"
    assert await bob.still_same_page()

    # Bob likes it and reacts; both see the counts change (Alice's page live).
    await card.locator('[data-action="like"]').click()
    await expect(card.locator('[data-action="like"]')).to_have_attribute("aria-pressed", "true")
    await expect(card.locator('[data-action="like"] .count')).to_have_text("1")
    await card.get_by_role("button", name="React").click()
    await bob.page.get_by_role("menuitemcheckbox", name="Laugh").click()
    await expect(card.get_by_role("button", name="Laugh, 1")).to_be_visible()
    mine = alice.page.locator(f'article.status[data-id="{post_id}"]')
    await expect(mine.locator('[data-action="like"] .count')).to_have_text("1", timeout=SLOW_MS)
    await expect(mine.get_by_role("button", name="Laugh, 1")).to_be_visible(timeout=SLOW_MS)

    # Bob replies from the card; Alice's reply count rises live.
    await card.locator('[data-action="reply"]').click()
    dialog = bob.page.get_by_role("dialog")
    await expect(dialog.get_by_label("Reply text")).to_have_value("@alice ")
    await dialog.get_by_label("Reply text").press_sequentially(REPLY_TEXT)
    await dialog.get_by_role("button", name="Reply").click()
    await expect(dialog).to_be_hidden()
    await expect(mine.locator('[data-action="reply"] .count')).to_have_text("1", timeout=SLOW_MS)
    await expect(card.locator('[data-action="reply"] .count')).to_have_text("1", timeout=SLOW_MS)
    assert await bob.still_same_page()

    # Bob reposts it, then quotes it; Alice's counts follow.
    await card.locator('[data-action="repost"]').click()
    await expect(card.locator('[data-action="repost"]')).to_have_attribute("aria-pressed", "true")
    await expect(mine.locator('[data-action="repost"] .count')).to_have_text("1", timeout=SLOW_MS)
    await card.locator('[data-action="quote"]').click()
    await dialog.get_by_label("Post text").fill(QUOTE_TEXT)
    await expect(dialog.locator(".compose-context")).to_contain_text("Quoting alice")
    await dialog.get_by_role("button", name="Post").click()
    await expect(dialog).to_be_hidden()
    quote = bob.post(QUOTE_TEXT)
    await expect(quote.locator(".quote")).to_contain_text(POST_TEXT)
    await expect(mine.locator('[data-action="quote"] .count')).to_have_text("1", timeout=SLOW_MS)
    assert await bob.still_same_page()

    # Bob opens the thread: the post, then his reply nested under it.
    await card.locator("a.time").click()
    await expect(bob.page).to_have_url(f"{live_server.url}/statuses/{post_id}")
    focused = bob.page.locator("article.status-focused")
    await expect(focused).to_contain_text(POST_TEXT)
    await expect(bob.page.locator(".descendants .replies article.status")).to_contain_text(REPLY_TEXT)

    # Search finds the post (by word, and with an operator), and the hashtag page lists it.
    await search_until_found(bob, "browser", POST_TEXT)
    await search_until_found(bob, "from:alice has:media", POST_TEXT)
    await bob.page.locator(".results").get_by_role("link", name="#chirpdemo").first.click()
    await expect(bob.page.get_by_role("heading", name="#chirpdemo")).to_be_visible()
    await expect(bob.post(POST_TEXT)).to_be_visible()

    # Alice's notification badge rose (follow, like, reaction, reply, repost, quote) while she did nothing.
    badge = alice.page.locator(".nav-link .badge")
    await expect(badge).to_have_text("6", timeout=SLOW_MS)
    assert await alice.page.get_by_role("link", name="Notifications, 6 unread").count() == 1
    await alice.page.get_by_role("link", name="Notifications, 6 unread").click()
    notes = alice.page.locator("article.notification")
    await expect(notes).to_have_count(6)
    for text in (
        "followed you",
        "liked your post",
        "reacted",
        "replied to you",
        "reposted your post",
        "quoted your post",
    ):
        await expect(alice.page.locator("article.notification", has_text=text)).to_have_count(1)
    await expect(badge).to_be_hidden()

    assert not alice.problems, alice.problems
    assert not bob.problems, bob.problems


async def test_content_from_the_server_is_text_not_code(live_server: LiveServer, browser: Any) -> None:
    alice = await Person.open(browser, live_server.url, "alice")
    bob = await Person.open(browser, live_server.url, "bob")
    await alice.register()
    await bob.register()
    await bob.goto("/@alice")
    await bob.page.get_by_role("button", name="Follow").click()
    await expect(bob.page.get_by_role("button", name="Unfollow")).to_be_visible()
    await bob.page.get_by_role("link", name="Home").click()
    await bob.wait_live()

    hostile = "<img src=x onerror=\"window.__xss='img'\"> <script>window.__xss='script'</script> javascript:alert(1)"
    compose = alice.page.locator("form.composer").first
    await compose.get_by_label("Post text").fill(hostile)
    await compose.get_by_role("button", name="Post").click()

    card = bob.post("window.__xss='script'")
    await expect(card).to_be_visible(timeout=SLOW_MS)
    await expect(card.locator(".content")).to_contain_text("<img src=x onerror=")
    await expect(card.locator(".content")).to_contain_text("<script>")
    for person in (alice, bob):
        assert await person.page.evaluate("window.__xss === undefined")
        assert await person.page.locator(".content img, .content script").count() == 0

    # Alice deletes it (after confirming); it leaves Bob's page too, live.
    alice.page.once("dialog", lambda dialog: dialog.accept())
    await alice.post("window.__xss='script'").get_by_role("button", name="Delete").click()
    await expect(alice.post("window.__xss='script'")).to_have_count(0)
    await expect(bob.post("window.__xss='script'")).to_have_count(0, timeout=SLOW_MS)
    assert not alice.problems, alice.problems
    assert not bob.problems, bob.problems


def stream_noise(problem: str) -> bool:
    """Console errors the browser itself logs while the server is away (its reconnect attempts failing)."""
    return (
        "WebSocket connection" in problem
        or "ERR_INTERNET_DISCONNECTED" in problem
        or "ERR_CONNECTION_REFUSED" in problem
    )


async def test_the_feed_resumes_without_a_gap_after_a_server_restart_and_a_network_drop(
    live_server: LiveServer, browser: Any, stack_res: Resources
) -> None:
    alice = await Person.open(browser, live_server.url, "alice")
    bob = await Person.open(browser, live_server.url, "bob")
    await alice.register()
    await bob.register()
    await bob.goto("/@alice")
    await bob.page.get_by_role("button", name="Follow").click()
    await expect(bob.page.get_by_role("button", name="Unfollow")).to_be_visible()
    await bob.page.get_by_role("link", name="Home").click()
    await bob.wait_live()
    await bob.mark_page()
    author = await find_by_username(stack_res.db, "alice")
    assert author is not None

    async def alice_posts(text: str) -> None:
        # Written straight through the domain: the API server may be down, the workers are not.
        await create_post(stack_res, author["id"], PostDraft(text=text))

    await alice_posts("Before the restart")
    await expect(bob.post("Before the restart")).to_be_visible(timeout=SLOW_MS)

    # The server goes away; a post is written meanwhile; the server comes back on the same address.
    await live_server.stop()
    await expect(bob.page.locator(".live-state")).not_to_have_attribute("data-state", "live")
    await alice_posts("While the server was down")
    await live_server.start()
    await expect(bob.post("While the server was down")).to_be_visible(timeout=SLOW_MS)
    await bob.wait_live()

    # The network drops; a post is written meanwhile; the network returns.
    await bob.page.context.set_offline(True)
    await expect(bob.page.locator(".live-state")).not_to_have_attribute("data-state", "live")
    await alice_posts("While the network was down")
    await bob.page.context.set_offline(False)
    await expect(bob.post("While the network was down")).to_be_visible(timeout=SLOW_MS)
    await alice_posts("After both")
    await expect(bob.post("After both")).to_be_visible(timeout=SLOW_MS)

    # Newest first, each once, and the page never reloaded.
    texts = await bob.page.locator("article.status .content").all_inner_texts()
    assert texts == ["After both", "While the network was down", "While the server was down", "Before the restart"]
    assert await bob.still_same_page()
    assert not [p for p in bob.problems if not stream_noise(p)], bob.problems
