"""The moderation page in a real browser (issue 22): the instance's first account is its admin and has the
Moderation link; others do not. The admin resolves one report without action, suspends the account another
report is about (with a warning), and lifts the suspension from the list of limited accounts."""

from __future__ import annotations

from typing import Any

import aiohttp
from playwright.async_api import expect

from e2e.live_stack import LiveServer
from e2e.people import SLOW_MS, Person
from storage.resources import Resources


async def _call(base_url: str, token: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    async with aiohttp.ClientSession() as http:
        response = await http.post(f"{base_url}{path}", json=body, headers={"Authorization": f"Bearer {token}"})
        assert response.status == 200, await response.text()
        answer: dict[str, Any] = await response.json()
        return answer


async def _token(person: Person) -> str:
    token: str = await person.page.evaluate("localStorage.getItem('chirp.token')")
    return token


def moderation_link(person: Person) -> Any:
    return person.page.locator('nav a.nav-link[data-nav="moderation"]')


async def test_an_admin_resolves_reports_suspends_and_unsuspends_on_the_moderation_page(
    live_server: LiveServer, browser: Any, stack_res: Resources
) -> None:
    boss = await Person.open(browser, live_server.url, "boss")
    bob = await Person.open(browser, live_server.url, "bob")
    carol = await Person.open(browser, live_server.url, "carol")
    for person in (boss, bob, carol):
        await person.register()
    bob_token, carol_token = await _token(bob), await _token(carol)
    ids = {row["username"]: str(row["id"]) for row in await stack_res.db.fetch("SELECT id, username FROM accounts")}
    rude = await _call(live_server.url, bob_token, "/api/v1/statuses", {"status": "buy my pills now"})
    await _call(
        live_server.url,
        carol_token,
        "/api/v1/reports",
        {"account_id": ids["bob"], "status_ids": [rude["id"]], "comment": "spam again", "category": "spam"},
    )
    await _call(live_server.url, bob_token, "/api/v1/reports", {"account_id": ids["carol"], "comment": "she is mean"})

    # Only staff see the link; anyone else going there is told the page is not for them.
    await carol.goto("/")
    await carol.page.locator("nav").wait_for()
    await expect(moderation_link(carol)).to_have_count(0)
    await carol.goto("/moderation")
    await expect(carol.page.get_by_text("Only the server’s admins and moderators can see this page.")).to_be_visible()

    await boss.goto("/")
    await moderation_link(boss).click()
    await expect(boss.page.get_by_role("heading", name="Moderation", exact=True)).to_be_visible()
    about_bob = boss.page.get_by_role("article", name="Report about @bob")
    about_carol = boss.page.get_by_role("article", name="Report about @carol")
    await expect(about_bob).to_contain_text("Reported by @carol")
    await expect(about_bob.locator(".reported-posts")).to_contain_text("buy my pills now")
    await expect(about_bob).to_contain_text("spam again")

    await about_carol.get_by_role("button", name="Resolve").click()
    await expect(about_carol.get_by_role("status")).to_have_text("Resolved, no action taken")

    await about_bob.get_by_label("Action on the account").select_option("suspend")
    await about_bob.get_by_label("Warning").fill("Spam is not allowed here.")
    await about_bob.get_by_role("button", name="Apply").click()
    await expect(about_bob.get_by_role("status")).to_have_text("Suspend: done, report resolved")
    bob_row = await stack_res.db.fetchrow("SELECT suspended_at FROM accounts WHERE username = 'bob'")
    assert bob_row is not None and bob_row["suspended_at"] is not None
    assert await stack_res.db.fetchval("SELECT count(*) FROM reports WHERE action_taken_at IS NULL") == 0
    warning = await stack_res.db.fetchval("SELECT text FROM account_warnings WHERE action = 'suspend'")
    assert warning == "Spam is not allowed here."

    # Bob's page finds its token refused and goes back to the welcome screen.
    await bob.goto("/")
    await bob.page.get_by_role("button", name="Create account").wait_for(timeout=SLOW_MS)

    await boss.page.reload()
    await expect(boss.page.get_by_text("No open reports. Well done.")).to_be_visible()
    limited = boss.page.locator("article.moderated-account", has_text="@bob")
    await expect(limited).to_contain_text("Suspended")
    await limited.get_by_role("button", name="Unsuspend @bob").click()
    await expect(limited.get_by_role("status")).to_have_text("Unsuspend: done")
    bob_row = await stack_res.db.fetchrow("SELECT suspended_at FROM accounts WHERE username = 'bob'")
    assert bob_row is not None and bob_row["suspended_at"] is None
    for person in (boss, carol):
        assert person.problems == [], person.problems
