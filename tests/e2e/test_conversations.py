"""The web client's part of issue 23: a poll made and voted in, a post edited (with its "edited" mark and
history), its media edited (descriptions changed, attachments removed and added), a direct message in the
Messages view, and a post scheduled for later."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
from playwright.async_api import expect

from e2e.live_stack import LiveServer
from e2e.people import SLOW_MS, Person, picture
from e2e.seed import Api


async def test_polls_edits_messages_and_scheduling_in_the_web_client(live_server: LiveServer, browser: Any) -> None:
    alice = await Person.open(browser, live_server.url, "alice")
    await alice.register()
    page = alice.page
    compose = page.locator("form.composer").first

    # A poll: two options; the author sees the results at once.
    await compose.get_by_label("Post text").fill("Which tea today?")
    await compose.get_by_role("button", name="Poll", exact=True).click()
    await compose.get_by_label("Option 1").fill("Green")
    await compose.get_by_label("Option 2").fill("Black")
    await compose.get_by_role("button", name="Post", exact=True).click()
    card = alice.post("Which tea today?")
    await expect(card.locator(".poll-result")).to_have_count(2)
    await expect(card.locator(".poll-title").first).to_have_text("Green")

    # Edit it: the new text, an "edited" mark, and both versions in the history.
    await card.get_by_role("button", name="Edit").click()
    editor = page.get_by_role("dialog", name="Edit post")
    await editor.get_by_label("Edited text").fill("Which tea today, really?")
    await editor.get_by_role("button", name="Save").click()
    edited = alice.post("Which tea today, really?")
    await expect(edited.get_by_role("button", name="edited")).to_be_visible()
    await expect(edited.locator(".poll-result")).to_have_count(2)  # the edit sent the poll back: it stays
    await edited.get_by_role("button", name="edited").click()
    history = page.get_by_role("dialog", name="Edit history")
    await expect(history.locator(".edit-version")).to_have_count(2)
    await expect(history.locator(".edit-version").first).to_contain_text("Which tea today?")
    await history.get_by_role("button", name="Close").click()

    # Someone else's poll: vote in it, then the results show the vote.
    async with aiohttp.ClientSession() as session:
        api = Api(session, live_server.url)
        bob = await api.sign_up("bob", "Bob", "")
        poll = {"options": ["Yes", "No"], "expires_in": 3600}
        await api.post(bob, "Coffee later?", poll=poll)
        await api.post(bob, "@alice this stays between us", visibility="direct")
    await alice.goto("/@bob")
    theirs = alice.post("Coffee later?")
    await theirs.get_by_label("Yes").check()
    await theirs.get_by_role("button", name="Vote").click()
    await expect(theirs.locator(".poll-result.own")).to_have_text("100%Yes")

    # The direct message is in Messages, unread until marked.
    await alice.goto("/conversations")
    message = page.locator("li.conversation", has_text="this stays between us")
    await expect(message).to_be_visible(timeout=SLOW_MS)
    await expect(message.locator(".conversation-with")).to_have_text("New · with Bob")
    await message.get_by_role("button", name="Mark as read").click()
    await expect(page.locator("li.conversation .conversation-with")).to_have_text("With Bob")

    # Scheduling: the post is kept for later, not shown now.
    await alice.goto("/")
    compose = page.locator("form.composer").first
    await compose.get_by_label("Post text").fill("Good morning, later")
    later = (datetime.now(UTC) + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")
    await compose.get_by_label("Publish at (optional)").fill(later)
    await compose.get_by_role("button", name="Post", exact=True).click()
    await expect(page.get_by_text("Scheduled for")).to_be_visible()
    token = await page.evaluate("localStorage.getItem('chirp.token')")
    async with aiohttp.ClientSession() as session:
        headers = {"Authorization": f"Bearer {token}"}
        async with session.get(f"{live_server.url}/api/v1/scheduled_statuses", headers=headers) as response:
            scheduled = await response.json()
    assert [s["params"]["text"] for s in scheduled] == ["Good morning, later"]
    assert await alice.post("Good morning, later").count() == 0
    assert not alice.problems, alice.problems


async def test_editing_a_posts_media_in_the_web_client(live_server: LiveServer, browser: Any) -> None:
    alice = await Person.open(browser, live_server.url, "alice")
    await alice.register()
    page = alice.page
    compose = page.locator("form.composer").first
    await compose.get_by_label("Post text").fill("The farm in two pictures")
    files = [
        {"name": f"{name}.jpg", "mimeType": "image/jpeg", "buffer": picture(320, 200, hue=hue)}
        for name, hue in (("barn", 0), ("field", 120))
    ]
    await compose.locator("input[type=file]").set_input_files(files)
    await expect(compose.locator(".attachment.ready")).to_have_count(2, timeout=SLOW_MS)
    await compose.get_by_label("Alt text for barn.jpg").fill("A barn")
    await compose.get_by_label("Alt text for field.jpg").fill("A field")
    await compose.get_by_role("button", name="Post", exact=True).click()
    card = alice.post("The farm in two pictures")
    await expect(card.locator(".media img")).to_have_count(2)

    # The editor shows both with their descriptions: one described anew, one removed, one image added.
    await card.get_by_role("button", name="Edit").click()
    editor = page.get_by_role("dialog", name="Edit post")
    await expect(editor.locator(".attachment")).to_have_count(2)
    await expect(editor.get_by_label("Description of attachment 2")).to_have_value("A field")
    await editor.get_by_label("Description of attachment 1").fill("A red barn at dawn")
    await editor.get_by_role("button", name="Remove attachment 2").click()
    await expect(editor.locator(".attachment")).to_have_count(1)
    await editor.get_by_label("Add images").set_input_files(
        {"name": "pond.jpg", "mimeType": "image/jpeg", "buffer": picture(320, 200, hue=220)}
    )
    await expect(editor.locator(".attachment.ready")).to_have_count(2, timeout=SLOW_MS)
    await editor.get_by_label("Description of attachment 2").fill("A pond")
    await editor.get_by_label("Edited text").fill("The farm, and its pond")
    await editor.get_by_role("button", name="Save").click()
    await expect(editor).to_have_count(0)

    edited = alice.post("The farm, and its pond")
    await expect(edited.locator(".media img")).to_have_count(2)
    await expect(edited.locator(".media img").first).to_have_attribute("alt", "A red barn at dawn")
    await expect(edited.locator(".media img").nth(1)).to_have_attribute("alt", "A pond")
    # The history shows each version's media by description.
    await edited.get_by_role("button", name="edited").click()
    history = page.get_by_role("dialog", name="Edit history")
    versions = history.locator(".edit-version")
    await expect(versions).to_have_count(2)
    await expect(versions.first.locator(".version-media li")).to_have_text(["A barn", "A field"])
    await expect(versions.nth(1).locator(".version-media li")).to_have_text(["A red barn at dawn", "A pond"])
    await history.get_by_role("button", name="Close").click()

    # What the server holds: the kept attachment is the first one posted, the removed one is gone.
    token = await page.evaluate("localStorage.getItem('chirp.token')")
    status_id = await edited.get_attribute("data-id")
    async with aiohttp.ClientSession() as session:
        headers = {"Authorization": f"Bearer {token}"}
        async with session.get(f"{live_server.url}/api/v1/statuses/{status_id}/history", headers=headers) as response:
            shown = await response.json()
    first, last = shown[0]["media_attachments"], shown[-1]["media_attachments"]
    assert last[0]["id"] == first[0]["id"] and last[1]["id"] not in {m["id"] for m in first}
    assert not alice.problems, alice.problems
