"""Safety in the web client, in a real browser (issue 22): from a post's "More" menu, mute (for an hour,
notifications kept), block, report (category, comment, the post attached) and filter this post, which then
shows as "Filtered: <title>" with "Show anyway"; from a profile's menu, mute, unmute, block and report; the
settings page lists blocks and mutes (with when the mute ends), unblocks and unmutes, and creates, edits and
deletes a keyword filter, whose blur action blurs only a post's media. Each action is checked in storage."""

from __future__ import annotations

from typing import Any

import aiohttp
from playwright.async_api import expect

from e2e.live_stack import LiveServer
from e2e.people import SLOW_MS, Person, picture
from e2e.seed import Api, Member
from storage.resources import Resources


async def account_id(res: Resources, username: str) -> int:
    found: int = await res.db.fetchval("SELECT id FROM accounts WHERE username = $1", username)
    return found


async def signed_up(browser: Any, live_server: LiveServer, api: Api, username: str) -> tuple[Person, Member]:
    member = await api.sign_up(username, username.title(), "")
    return await Person.signed_in(browser, live_server.url, username, member.token), member


async def more(person: Person, card: Any, item: str) -> None:
    await card.get_by_role("button", name="More").click()
    await person.page.get_by_role("menuitem", name=item).click()


async def test_a_posts_menu_mutes_blocks_reports_and_filters(
    live_server: LiveServer, browser: Any, stack_res: Resources
) -> None:
    async with aiohttp.ClientSession() as session:
        api = Api(session, live_server.url)
        alice, me = await signed_up(browser, live_server, api, "alice")
        others = {name: await api.sign_up(name, name.title(), "") for name in ("bob", "carol", "dave")}
        for other in others.values():
            await api.call("POST", f"/api/v1/accounts/{other.id}/follow", me)
        await api.post(others["bob"], "bob says hello")
        await api.post(others["carol"], "carol says hello")
        await api.post(others["dave"], "dave reports the weather")
        await api.post(others["dave"], "dave on gardening")
    page = alice.page
    alice_id = await account_id(stack_res, "alice")
    await alice.goto("/")
    await expect(alice.post("dave on gardening")).to_be_visible(timeout=SLOW_MS)

    # Mute bob for an hour, keeping his notifications.
    await more(alice, alice.post("bob says hello"), "Mute @bob")
    box = page.get_by_role("dialog", name="Mute @bob")
    await box.get_by_label("Duration").select_option(label="1 hour")
    await box.get_by_label("Hide notifications from them").uncheck()
    await box.get_by_role("button", name="Mute").click()
    await expect(page.locator("article.status", has_text="bob says hello")).to_have_count(0)
    mute = await stack_res.db.fetchrow(
        "SELECT notifications, expires_at - now() AS left FROM mutes WHERE account_id = $1", alice_id
    )
    assert mute is not None and mute["notifications"] is False and 3500 < mute["left"].total_seconds() <= 3600

    # Block carol.
    await more(alice, alice.post("carol says hello"), "Block @carol")
    await page.get_by_role("dialog", name="Block @carol").get_by_role("button", name="Block").click()
    await expect(page.locator("article.status", has_text="carol says hello")).to_have_count(0)
    assert (
        await stack_res.db.fetchval(
            "SELECT count(*) FROM blocks WHERE account_id = $1 AND target_account_id = $2",
            alice_id,
            int(others["carol"].id),
        )
        == 1
    )

    # Report dave's post, attached, as spam with a comment.
    await more(alice, alice.post("dave reports the weather"), "Report @dave")
    box = page.get_by_role("dialog", name="Report @dave")
    await box.get_by_label("Why?").select_option("spam")
    await box.get_by_label("Comment").fill("the same forecast every hour")
    await expect(box.get_by_label("Attach this post")).to_be_checked()
    await box.get_by_role("button", name="Send report").click()
    await expect(page.get_by_text("Report sent. Thank you.")).to_be_visible()
    report = await stack_res.db.fetchrow("SELECT category, comment, status_ids, target_account_id FROM reports")
    assert report is not None and report["category"] == "spam" and report["comment"] == "the same forecast every hour"
    assert report["target_account_id"] == int(others["dave"].id) and len(report["status_ids"]) == 1

    # Filter dave's other post into a new filter: after a reload it waits behind "Filtered: <title>".
    await more(alice, alice.post("dave on gardening"), "Filter this post")
    box = page.get_by_role("dialog", name="Filter this post")
    await box.get_by_label("New filter's title").fill("No gardening")
    await box.get_by_role("button", name="Filter").click()
    await expect(page.get_by_text("Post filtered.")).to_be_visible()
    assert await stack_res.db.fetchval("SELECT count(*) FROM filter_statuses") == 1
    await alice.goto("/")
    notice = page.locator(".filtered-notice")
    await expect(notice).to_have_text("Filtered: No gardeningShow anyway", timeout=SLOW_MS)
    await expect(page.get_by_text("dave on gardening")).to_have_count(0)
    await notice.get_by_role("button", name="Show anyway").click()
    await expect(alice.post("dave on gardening")).to_be_visible()
    assert alice.problems == []


async def test_a_profiles_menu_mutes_unmutes_blocks_and_reports(
    live_server: LiveServer, browser: Any, stack_res: Resources
) -> None:
    async with aiohttp.ClientSession() as session:
        api = Api(session, live_server.url)
        alice, _ = await signed_up(browser, live_server, api, "alice")
        await api.sign_up("bob", "Bob", "")
    page = alice.page
    alice_id = await account_id(stack_res, "alice")
    await alice.goto("/@bob")
    menu = page.get_by_role("button", name="More for this account")

    await menu.click()
    await page.get_by_role("menuitem", name="Mute @bob").click()
    await page.get_by_role("dialog", name="Mute @bob").get_by_role("button", name="Mute").click()
    await expect(page.locator(".profile-header .tag", has_text="Muted")).to_be_visible()
    row = await stack_res.db.fetchrow("SELECT notifications, expires_at FROM mutes WHERE account_id = $1", alice_id)
    assert row is not None and row["notifications"] is True and row["expires_at"] is None

    await menu.click()
    await page.get_by_role("menuitem", name="Unmute @bob").click()
    await expect(page.locator(".profile-header .tag", has_text="Muted")).to_have_count(0)
    assert await stack_res.db.fetchval("SELECT count(*) FROM mutes") == 0

    await menu.click()
    await page.get_by_role("menuitem", name="Block @bob").click()
    await page.get_by_role("dialog", name="Block @bob").get_by_role("button", name="Block").click()
    await expect(page.locator(".profile-header .tag", has_text="Blocked")).to_be_visible()
    assert await stack_res.db.fetchval("SELECT count(*) FROM blocks WHERE account_id = $1", alice_id) == 1

    await menu.click()
    await page.get_by_role("menuitem", name="Report @bob").click()
    box = page.get_by_role("dialog", name="Report @bob")
    await box.get_by_label("Why?").select_option("other")
    await box.get_by_role("button", name="Send report").click()
    await expect(page.get_by_text("Report sent. Thank you.")).to_be_visible()
    report = await stack_res.db.fetchrow("SELECT category, status_ids FROM reports")
    assert report is not None and report["category"] == "other" and report["status_ids"] == []
    assert alice.problems == []


async def test_the_settings_page_lists_blocks_mutes_and_filters_and_edits_filters(
    live_server: LiveServer, browser: Any, stack_res: Resources
) -> None:
    async with aiohttp.ClientSession() as session:
        api = Api(session, live_server.url)
        alice, me = await signed_up(browser, live_server, api, "alice")
        bob, carol = await api.sign_up("bob", "Bob", ""), await api.sign_up("carol", "Carol", "")
        await api.call("POST", f"/api/v1/accounts/{bob.id}/block", me)
        await api.call("POST", f"/api/v1/accounts/{carol.id}/mute", me, json={"duration": 86400})
        await api.call("POST", f"/api/v1/accounts/{carol.id}/follow", me)
        media_id = await api.upload(carol, picture(), "a spider on the wall")
        await api.post(carol, "look, a spider", media_ids=[media_id])
    page = alice.page
    await alice.goto("/settings")
    blocks = page.locator("section", has=page.get_by_role("heading", name="Blocked accounts"))
    mutes = page.locator("section", has=page.get_by_role("heading", name="Muted accounts"))
    await expect(blocks.locator(".settings-row")).to_contain_text("@bob")
    await expect(mutes.locator(".settings-row")).to_contain_text("@carol")
    await expect(mutes.locator(".mute-expiry")).to_contain_text("until")
    await blocks.get_by_role("button", name="Unblock @bob").click()
    await expect(blocks.locator(".settings-row")).to_have_count(0)
    await mutes.get_by_role("button", name="Unmute @carol").click()
    await expect(mutes.locator(".settings-row")).to_have_count(0)
    assert await stack_res.db.fetchval("SELECT count(*) FROM blocks") == 0
    assert await stack_res.db.fetchval("SELECT count(*) FROM mutes") == 0

    # A new keyword filter: not a whole word, home only, blur, ending in a day.
    await page.get_by_role("button", name="New filter").click()
    box = page.get_by_role("dialog", name="New filter")
    await box.get_by_label("Title").fill("Spiders")
    await box.get_by_label("Keyword or phrase").fill("spider")
    await box.get_by_label("Whole word").uncheck()
    for context in ("Notifications", "Public timelines", "Conversations"):
        await box.get_by_label(context).uncheck()
    await box.get_by_label("Blur the media").check()
    await box.get_by_label("Ends").select_option(label="1 day")
    await box.get_by_role("button", name="Create filter").click()
    filters = page.locator("section", has=page.get_by_role("heading", name="Filters"))
    await expect(filters.locator(".filter-row")).to_contain_text("Spiders")
    await expect(filters.locator(".filter-summary")).to_contain_text("spider* · blur · home · ends")
    row = await stack_res.db.fetchrow(
        "SELECT f.title, f.context, f.action, f.expires_at - now() AS left, k.keyword, k.whole_word "
        "FROM filters f JOIN filter_keywords k ON k.filter_id = f.id"
    )
    assert row is not None and (row["title"], row["context"], row["action"]) == ("Spiders", ["home"], "blur")
    assert (row["keyword"], row["whole_word"]) == ("spider", False) and 86000 < row["left"].total_seconds() <= 86400

    # Under blur the post shows and only its media is blurred, with the filter's title.
    await alice.goto("/")
    card = alice.post("look, a spider")
    await expect(card.locator(".media-veil")).to_contain_text("Filtered: Spiders", timeout=SLOW_MS)
    await expect(card.locator(".media.media-filtered")).to_have_count(1)
    await card.locator(".media-veil").get_by_role("button", name="Show anyway").click()
    await expect(card.locator(".media-filtered")).to_have_count(0)

    # Edit it: a new title, warn, a second keyword; then the post waits behind the notice.
    await alice.goto("/settings")
    await page.get_by_role("button", name="Edit filter Spiders").click()
    box = page.get_by_role("dialog", name="Edit filter: Spiders")
    await box.get_by_label("Title").fill("Creepy crawlies")
    await box.get_by_label("Hide behind a warning").check()
    await box.get_by_role("button", name="Add keyword").click()
    await box.get_by_label("Keyword or phrase").last.fill("beetle")
    await box.get_by_role("button", name="Save filter").click()
    await expect(filters.locator(".filter-row")).to_contain_text("Creepy crawlies")
    assert await stack_res.db.fetchval("SELECT action FROM filters") == "warn"
    assert sorted(await stack_res.db.fetchval("SELECT array_agg(keyword) FROM filter_keywords")) == ["beetle", "spider"]
    await alice.goto("/")
    await expect(page.locator(".filtered-notice")).to_have_text("Filtered: Creepy crawliesShow anyway", timeout=SLOW_MS)

    # And delete it.
    await alice.goto("/settings")
    page.once("dialog", lambda d: d.accept())
    await page.get_by_role("button", name="Delete filter Creepy crawlies").click()
    await expect(filters.get_by_text("No filters yet.")).to_be_visible()
    assert await stack_res.db.fetchval("SELECT count(*) FROM filters") == 0
    assert alice.problems == []
