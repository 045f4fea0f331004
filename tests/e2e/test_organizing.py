"""The web client's part of issue 24 (organizing): bookmarking a post and finding it under Bookmarks,
pinning one's own post (and no pin on another's), following a hashtag from its page (its posts then reach
home live, from a stranger) and unfollowing it from Followed hashtags; and a list: made, its members added
from the people one follows, its rules saved, its timeline receiving a member's post live (and not a
non-member's), a deleted post leaving it, and the list deleted."""

from __future__ import annotations

from typing import Any

import aiohttp
from playwright.async_api import expect

from e2e.live_stack import LiveServer
from e2e.people import SLOW_MS, Person
from e2e.seed import Api


async def test_bookmarks_pins_and_followed_hashtags_in_the_web_client(live_server: LiveServer, browser: Any) -> None:
    async with aiohttp.ClientSession() as session:
        api = Api(session, live_server.url)
        alice = await api.sign_up("alice", "Alice", "")
        bob = await api.sign_up("bob", "Bob", "")
        carol = await api.sign_up("carol", "Carol", "")
        await api.call("POST", f"/api/v1/accounts/{bob.id}/follow", alice)
        await api.post(bob, "Worth keeping for later")
        mine = await api.post(alice, "My best post so far")

        person = await Person.signed_in(browser, live_server.url, "alice", alice.token)
        page = person.page
        await person.goto("/")
        await person.wait_live()

        # Bookmark bob's post from home; it is under Bookmarks. Another's post has no pin.
        theirs = person.post("Worth keeping for later")
        await expect(theirs).to_be_visible(timeout=SLOW_MS)
        await expect(theirs.get_by_role("button", name="Pin to profile")).to_have_count(0)
        await theirs.get_by_role("button", name="Bookmark").click()
        await expect(theirs.get_by_role("button", name="Remove bookmark")).to_have_attribute("aria-pressed", "true")
        await page.get_by_role("link", name="Bookmarks").click()
        await expect(page.get_by_role("heading", name="Bookmarks")).to_be_visible()
        saved = page.get_by_role("feed", name="Bookmarks").locator("article.status")
        await expect(saved).to_have_count(1)
        await expect(saved.first).to_contain_text("Worth keeping for later")

        # Pin her own post; the profile's pinned posts (the API) hold it.
        await person.goto("/")
        own = person.post("My best post so far")
        await own.get_by_role("button", name="Pin to profile").click()
        await expect(own.get_by_role("button", name="Unpin from profile")).to_have_attribute("aria-pressed", "true")
        pinned = await api.call("GET", f"/api/v1/accounts/{alice.id}/statuses", alice, params={"pinned": "true"})
        assert [s["id"] for s in pinned] == [mine]

        # Follow #birds from its page: a stranger's #birds post reaches home, live.
        await person.goto("/tags/birds")
        await page.get_by_role("button", name="Follow #birds").click()
        await expect(page.get_by_role("button", name="Unfollow #birds")).to_be_visible()
        await page.get_by_role("link", name="Home").first.click()
        await person.wait_live()
        await api.post(carol, "Saw a heron #birds")
        await expect(person.post("Saw a heron")).to_be_visible(timeout=SLOW_MS)

        # Followed hashtags lists it; unfollowing there takes effect.
        await person.goto("/followed_tags")
        row = page.locator("article.followed-tag", has_text="#birds")
        await expect(row).to_be_visible()
        await row.get_by_role("button", name="Unfollow #birds").click()
        await expect(row).to_contain_text("Unfollowed")
        assert await api.call("GET", "/api/v1/followed_tags", alice) == []
        assert not person.problems, person.problems


async def test_a_list_made_filled_and_read_live_in_the_web_client(live_server: LiveServer, browser: Any) -> None:
    async with aiohttp.ClientSession() as session:
        api = Api(session, live_server.url)
        alice = await api.sign_up("alice", "Alice", "")
        bob = await api.sign_up("bob", "Bob", "")
        carol = await api.sign_up("carol", "Carol", "")
        for friend in (bob, carol):
            await api.call("POST", f"/api/v1/accounts/{friend.id}/follow", alice)

        person = await Person.signed_in(browser, live_server.url, "alice", alice.token)
        page = person.page
        await person.goto("/")
        await person.wait_live()

        # Make the list on the Lists page and open it.
        await page.get_by_role("link", name="Lists").click()
        await page.get_by_label("New list title").fill("Close friends")
        await page.get_by_role("button", name="Create list").click()
        await page.get_by_role("link", name="Close friends").click()
        await expect(page.get_by_role("heading", name="Close friends")).to_be_visible()

        # Members come from the people she follows: add bob only.
        await page.get_by_text("Members", exact=True).click()
        await page.get_by_role("button", name="Add @bob to the list").click()
        await expect(page.get_by_role("button", name="Remove @bob from the list")).to_be_visible()
        await expect(page.get_by_role("button", name="Add @carol to the list")).to_be_visible()

        # Rules: renamed, no replies to others, exclusive; the API has them.
        await page.get_by_label("List title").fill("Besties")
        await page.get_by_label("Replies shown").select_option("none")
        await page.get_by_label("Exclusive: members’ posts leave the home timeline").check()
        await page.get_by_role("button", name="Save").click()
        await expect(page.get_by_role("heading", name="Besties")).to_be_visible()
        (made,) = await api.call("GET", "/api/v1/lists", alice)
        assert made["title"] == "Besties" and made["replies_policy"] == "none" and made["exclusive"] is True
        members = await api.call("GET", f"/api/v1/lists/{made['id']}/accounts", alice)
        assert [a["id"] for a in members] == [bob.id]

        # Live: bob's post arrives in the list timeline; carol's does not.
        feed = page.get_by_role("feed", name="List timeline")
        await expect(feed).to_have_attribute("aria-busy", "false")
        await api.post(carol, "Not for this list")
        posted = await api.post(bob, "Hello, besties")
        await expect(feed.locator("article.status", has_text="Hello, besties")).to_be_visible(timeout=SLOW_MS)
        assert await feed.locator("article.status", has_text="Not for this list").count() == 0

        # Deleted: the list stream's `delete` takes it off.
        await api.call("DELETE", f"/api/v1/statuses/{posted}", bob)
        await expect(feed.locator("article.status", has_text="Hello, besties")).to_have_count(0, timeout=SLOW_MS)

        # Remove bob, then delete the list.
        await page.get_by_role("button", name="Remove @bob from the list").click()
        await expect(page.get_by_role("button", name="Add @bob to the list")).to_be_visible()
        page.once("dialog", lambda dialog: dialog.accept())
        await page.get_by_role("button", name="Delete list").click()
        await expect(page.get_by_role("heading", name="Lists")).to_be_visible()
        assert await api.call("GET", "/api/v1/lists", alice) == []
        assert not person.problems, person.problems
