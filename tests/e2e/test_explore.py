"""The explore page and featured hashtags in a real browser: trending hashtags and posts from a trends pass,
who to follow (Follow and Dismiss, the dismissal kept by the server), people search, and a profile's
featured hashtags (shown to others; featured and removed by their owner)."""

from __future__ import annotations

from typing import Any

import aiohttp
from conftest import UserFactory
from playwright.async_api import expect
from social import record_event

from domain.trends import compute_trends
from e2e.live_stack import LiveServer
from e2e.people import SLOW_MS, Person
from storage.resources import Resources


async def call(http: aiohttp.ClientSession, method: str, url: str, token: str, **kwargs: Any) -> Any:
    async with http.request(method, url, headers={"Authorization": f"Bearer {token}"}, **kwargs) as response:
        assert response.status == 200, await response.text()
        return await response.json()


async def test_explore_shows_trends_suggestions_and_people_and_profiles_show_featured_tags(
    live_server: LiveServer, browser: Any, stack_res: Resources, make_user: UserFactory
) -> None:
    alice, bob, carol, dave = [await make_user(n) for n in ("alice", "bob", "carol_pilot", "dave")]
    base = live_server.url
    async with aiohttp.ClientSession() as http:
        await call(http, "POST", f"{base}/api/v1/accounts/{bob.id}/follow", alice.token)
        await call(http, "POST", f"{base}/api/v1/accounts/{carol.id}/follow", bob.token)
        for fan in (bob, carol):
            await call(http, "POST", f"{base}/api/v1/accounts/{dave.id}/follow", fan.token)
        await call(http, "POST", f"{base}/api/v1/statuses", bob.token, json={"status": "#Birding by the lake"})
        post = await call(
            http, "POST", f"{base}/api/v1/statuses", carol.token, json={"status": "#birding owls at dusk"}
        )
        await call(http, "POST", f"{base}/api/v1/statuses", dave.token, json={"status": "hello"})
        for liker in (bob, dave):
            await call(http, "POST", f"{base}/api/v1/statuses/{post['id']}/favourite", liker.token)
        await call(http, "POST", f"{base}/api/v1/featured_tags", bob.token, json={"name": "birding"})
    async with stack_res.db.acquire() as conn, conn.transaction():
        for user in (alice, bob, carol, dave):
            await record_event(conn, "account.updated", {"account_id": user.account_id})  # indexed by the worker
    await compute_trends(stack_res)

    me = await Person.signed_in(browser, base, "alice", alice.token)
    page = me.page
    await me.goto("/")
    await page.locator('nav a.nav-link[data-nav="explore"]').click()
    await expect(page.get_by_role("heading", name="Explore")).to_be_visible()
    tags = page.get_by_role("list", name="Trending hashtags")
    await expect(tags.locator("li.trend")).to_have_count(1)
    await expect(tags).to_contain_text("#birding")
    await expect(tags).to_contain_text("2 people talking")
    await expect(page.get_by_role("feed", name="Trending posts").locator("article.status")).to_contain_text(
        "owls at dusk"
    )

    who = page.get_by_role("list", name="Suggested accounts")
    await expect(who.locator(".account-row")).to_have_count(2)
    await who.get_by_role("button", name="Dismiss @dave").click()
    await expect(who.locator(".account-row")).to_have_count(1)
    await who.get_by_role("button", name="Follow @carol_pilot").click()
    await expect(who.locator(".account-row")).to_have_count(0)
    assert (
        await stack_res.db.fetchval(
            "SELECT count(*) FROM follows WHERE account_id = $1 AND target_account_id = $2",
            alice.account_id,
            carol.account_id,
        )
        == 1
    )
    await page.reload()
    await expect(page.get_by_role("list", name="Suggested accounts")).to_contain_text("No suggestions right now.")

    # People search, once the worker has indexed the accounts.
    found = page.get_by_role("list", name="People found")
    for _ in range(40):
        await page.get_by_label("Search people").fill("carol")
        await page.get_by_role("button", name="Search", exact=True).click()
        await found.locator("li").first.wait_for()
        if await found.locator(".account-row").count():
            break
        await page.wait_for_timeout(250)
    await expect(found.locator(".account-row")).to_contain_text("@carol_pilot", timeout=SLOW_MS)

    # Featured hashtags: bob's, seen by alice; alice features one of her own and removes it.
    await me.goto("/@bob")
    featured = page.get_by_role("region", name="Featured hashtags")
    await expect(featured).to_contain_text("#birding 1 post")
    await me.goto("/@alice")
    featured = page.get_by_role("region", name="Featured hashtags")
    await featured.get_by_label("Feature a hashtag").fill("#Gardening")
    await featured.get_by_role("button", name="Feature").click()
    await expect(featured).to_contain_text("#gardening 0 posts")
    await featured.get_by_role("button", name="Stop featuring #gardening").click()
    await expect(featured.locator(".featured-tag")).to_have_count(0)
    assert me.problems == []
