"""The web client names whom a reply answers, writes content warnings, and follows back from a notification."""

from __future__ import annotations

from typing import Any

import aiohttp
from playwright.async_api import expect

from e2e.live_stack import LiveServer
from e2e.people import SLOW_MS, Person
from e2e.seed import Api


async def test_a_reply_that_mentions_nobody_still_says_whom_it_answers(live_server: LiveServer, browser: Any) -> None:
    async with aiohttp.ClientSession() as session:
        api = Api(session, live_server.url)
        alice = await api.sign_up("alice", "Alice", "")
        bob = await api.sign_up("bob", "Bob", "")
        root = await api.post(alice, "Anyone up for a walk?")
        await api.post(bob, "Count me in", in_reply_to_id=root)  # no @alice in it
    reader = await Person.open(browser, live_server.url, "reader")
    await reader.goto(f"/statuses/{root}")  # signed out: the lookup needs no token
    reply = reader.page.locator("article.status", has_text="Count me in")
    line = reply.locator(".reply-to")
    await expect(line).to_have_text("Replying to @alice")
    await expect(line.get_by_role("link", name="@alice")).to_have_attribute("href", "/@alice")
    assert not reader.problems, reader.problems


async def test_a_post_with_a_content_warning_hides_its_text_until_opened(live_server: LiveServer, browser: Any) -> None:
    alice = await Person.open(browser, live_server.url, "alice")
    await alice.register()
    page = alice.page
    compose = page.locator("form.composer").first
    await compose.get_by_role("button", name="Content warning").click()
    await expect(compose.get_by_role("button", name="Content warning")).to_have_attribute("aria-pressed", "true")
    await compose.get_by_label("Content warning").fill("Film spoilers")
    await compose.get_by_label("Post text").fill("The butler did it")
    counter = compose.locator(".char-count")
    await expect(counter).to_have_text(str(500 - len("Film spoilers") - len("The butler did it")))
    await compose.get_by_role("button", name="Post", exact=True).click()
    card = alice.post("Film spoilers")
    await expect(card.locator("details.spoiler summary")).to_have_text("Film spoilers", timeout=SLOW_MS)
    await expect(card.get_by_text("The butler did it")).to_be_hidden()
    await card.locator("details.spoiler summary").click()
    await expect(card.get_by_text("The butler did it")).to_be_visible()
    # The composer is ready for the next post, without the warning.
    await expect(compose.get_by_label("Content warning")).to_be_hidden()
    async with aiohttp.ClientSession() as session:
        token = await page.evaluate("localStorage.getItem('chirp.token')")
        me = await (await session.get(f"{live_server.url}/api/v1/accounts/verify_credentials",
                                      headers={"Authorization": f"Bearer {token}"})).json()  # fmt: skip
        posts = await (await session.get(f"{live_server.url}/api/v1/accounts/{me['id']}/statuses")).json()
    assert posts[0]["spoiler_text"] == "Film spoilers" and posts[0]["sensitive"] is True
    assert not alice.problems, alice.problems


async def test_a_follow_notification_has_a_follow_back_button(live_server: LiveServer, browser: Any) -> None:
    async with aiohttp.ClientSession() as session:
        api = Api(session, live_server.url)
        alice = await api.sign_up("alice", "Alice", "")
        bob = await api.sign_up("bob", "Bob", "")
        carol = await api.sign_up("carol", "Carol", "")
        await api.call("POST", f"/api/v1/accounts/{carol.id}/follow", alice)  # alice follows carol already
        await api.call("POST", f"/api/v1/accounts/{alice.id}/follow", bob)

        person = await Person.signed_in(browser, live_server.url, "alice", alice.token)
        page = person.page
        await person.goto("/notifications")
        from_bob = page.locator("article.notification-follow", has_text="Bob")
        await expect(from_bob.get_by_role("button", name="Follow back")).to_be_enabled(timeout=SLOW_MS)
        await from_bob.get_by_role("button", name="Follow back").click()
        await expect(from_bob.get_by_role("button", name="Following")).to_be_disabled()
        [relationship] = await api.call("GET", "/api/v1/accounts/relationships", alice, params={"id[]": bob.id})
        assert relationship["following"] is True

        # Carol's follow joins Bob's in one group (Mastodon 4.3's grouping), shown with its newest follower,
        # whom alice follows already: nothing to follow back.
        await api.call("POST", f"/api/v1/accounts/{alice.id}/follow", carol)
        await person.goto("/notifications")
        group = page.locator("article.notification-follow", has_text="Carol")
        await expect(group).to_contain_text("and 1 other followed you", timeout=SLOW_MS)
        await expect(group.get_by_role("button", name="Following")).to_be_disabled()
    assert not person.problems, person.problems
