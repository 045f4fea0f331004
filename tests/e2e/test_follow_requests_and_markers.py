"""The web client with a locked account, in a real browser: a follow becomes a request, the owner sees it in
the unread badge and the notifications, accepts it on the follow requests page, and the badge, which comes
from the server's notifications marker, reads the same on another device."""

from __future__ import annotations

from typing import Any

import aiohttp
from playwright.async_api import expect

from e2e.live_stack import LiveServer
from e2e.people import SLOW_MS, Person
from storage.resources import Resources


def notifications_link(person: Person) -> Any:
    return person.page.locator('nav a.nav-link[data-nav="notifications"]')


async def test_a_follow_request_is_reviewed_and_the_badge_follows_the_marker(
    live_server: LiveServer, browser: Any, stack_res: Resources
) -> None:
    alice = await Person.open(browser, live_server.url, "alice")
    bob = await Person.open(browser, live_server.url, "bob")
    await alice.register()
    await bob.register()
    await stack_res.db.execute("UPDATE accounts SET locked = true WHERE username = 'alice'")

    # Bob's follow of a locked account is a request.
    await bob.goto("/@alice")
    await bob.page.get_by_role("button", name="Follow").click()
    await expect(bob.page.get_by_role("button", name="Requested (withdraw)")).to_be_visible()
    await expect(bob.page.locator(".counts")).to_contain_text("0 followers")
    # And he mentions her: a notification that stays after the request is answered.
    bob_token = await bob.page.evaluate("localStorage.getItem('chirp.token')")
    async with aiohttp.ClientSession() as http:
        sent = await http.post(
            f"{live_server.url}/api/v1/statuses",
            json={"status": "@alice may I follow you?"},
            headers={"Authorization": f"Bearer {bob_token}"},
        )
        assert sent.status == 200, await sent.text()

    # Alice, on another page, sees it arrive in the badge.
    await alice.goto("/")
    await alice.wait_live()
    await expect(notifications_link(alice)).to_have_attribute("aria-label", "Notifications, 2 unread", timeout=SLOW_MS)

    # On another device (a second browser context with her token), the same count: it comes from the server.
    token = await alice.page.evaluate("localStorage.getItem('chirp.token')")
    phone = await Person.signed_in(browser, live_server.url, "alice", token)
    await phone.goto("/")
    await expect(notifications_link(phone)).to_have_attribute("aria-label", "Notifications, 2 unread", timeout=SLOW_MS)

    # Alice reads her notifications and reviews the request.
    await notifications_link(alice).click()
    await expect(alice.page.locator(".notification-follow_request")).to_contain_text("asked to follow you")
    await expect(alice.page.locator(".notification-mention")).to_contain_text("may I follow you?")
    newest = await stack_res.db.fetchval(
        "SELECT max(n.id) FROM notifications n JOIN accounts a ON a.id = n.account_id WHERE a.username = 'alice'"
    )
    await expect(notifications_link(alice)).to_have_attribute("aria-label", "Notifications")
    await alice.page.get_by_role("link", name="Review follow requests").click()
    await expect(alice.page.get_by_role("heading", name="Follow requests")).to_be_visible()
    row = alice.page.locator("article.follow-request", has_text="@bob")
    await row.get_by_role("button", name="Accept @bob").click()
    await expect(row.get_by_role("status")).to_have_text("Accepted: now follows you")

    # Reading moved the marker on the server (the request's notification went with the answer); the other
    # device sees nothing unread once it looks again.
    marker = await stack_res.db.fetchval(
        "SELECT m.last_read_id FROM markers m JOIN accounts a ON a.id = m.account_id "
        "WHERE a.username = 'alice' AND m.timeline = 'notifications'"
    )
    assert marker is not None and newest is not None and marker >= newest
    assert await stack_res.db.fetchval("SELECT count(*) FROM notifications WHERE type = 'mention'") == 1
    await phone.goto("/")
    await phone.page.locator("nav").wait_for()
    await expect(notifications_link(phone)).to_have_attribute("aria-label", "Notifications", timeout=SLOW_MS)
    assert await phone.page.locator("nav .badge").is_hidden()

    # Bob now follows her.
    await bob.goto("/@alice")
    await expect(bob.page.get_by_role("button", name="Unfollow")).to_be_visible()
    await expect(bob.page.locator(".counts")).to_contain_text("1 follower")
    assert alice.problems == [] and bob.problems == [] and phone.problems == []
