"""Trends: the pass (driven directly, at chosen times) ranks hashtags, links and posts by recent use and
interactions with a time decay, leaves out silenced, suspended, sensitive and non-public content, keeps a
7-day history per tag, and the routes page through what it stored."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from conftest import UserFactory
from social import Client, User, assert_documented, expect, post_status

from domain.trends import HALF_LIFE, SCORE_WINDOW, compute_trends
from storage.resources import Resources
from workers.queues import all_periodic


async def silence(res: Resources, *users: User) -> None:
    for user in users:
        await res.db.execute("UPDATE accounts SET silenced_at = now() WHERE id = $1", user.account_id)


async def trends(client: Client, kind: str, user: User | None = None, **params: Any) -> Any:
    response = await client.get(f"/api/v1/trends/{kind}", params=params, headers=user.headers if user else {})
    return await assert_documented("get", f"/api/v1/trends/{kind}", response)


async def test_tags_trend_by_accounts_using_them_leaving_out_what_may_not_trend(
    client: Client, res: Resources, make_user: UserFactory
) -> None:
    alice, bob, carol, dave, eve, frank = [
        await make_user(n) for n in ("alice", "bob", "carol", "dave", "eve", "frank")
    ]
    await post_status(client, alice, "#Rising one")
    await post_status(client, alice, "#rising two")
    await post_status(client, bob, "#rising")
    await post_status(client, carol, "#rising #steady")
    await post_status(client, dave, "#steady and #lonely")  # lonely: one account is not a trend
    await silence(res, eve, frank)
    await post_status(client, eve, "#shady")
    await post_status(client, frank, "#shady")
    await post_status(client, alice, "#spicy", sensitive=True)
    await post_status(client, bob, "#spicy", spoiler_text="cw", sensitive=True)
    await post_status(client, alice, "#quiet", visibility="unlisted")
    await post_status(client, bob, "#quiet", visibility="private")
    assert await trends(client, "tags") == []  # nothing until a pass has run
    await compute_trends(res)
    found = await trends(client, "tags")
    assert [t["name"] for t in found] == ["rising", "steady"]
    assert found[0]["history"][0] == {**found[0]["history"][0], "uses": "4", "accounts": "3"}
    assert len(found[0]["history"]) == 7 and all(d["uses"] == "0" for d in found[0]["history"][1:])
    assert "following" not in found[0] and "score" not in found[0]
    await expect(await client.post("/api/v1/tags/steady/follow", headers=dave.headers), 200)
    mine = await trends(client, "tags", dave)
    assert [(t["name"], t["following"]) for t in mine] == [("rising", False), ("steady", True)]
    # Paging by offset, with Link headers; /api/v1/trends is the older name.
    first = await client.get("/api/v1/trends/tags", params={"limit": "1"})
    assert [t["name"] for t in await expect(first, 200)] == ["rising"]
    assert 'rel="next"' in first.headers["Link"] and "offset=1" in first.headers["Link"]
    assert [t["name"] for t in await trends(client, "tags", offset="1")] == ["steady"]
    assert [t["name"] for t in await expect(await client.get("/api/v1/trends"), 200)] == ["rising", "steady"]


async def test_tag_scores_decay_with_time_and_leave_the_window(
    client: Client, res: Resources, make_user: UserFactory
) -> None:
    users = [await make_user(n) for n in ("alice", "bob")]
    for user in users:
        await post_status(client, user, "#fading")
    now = datetime.now(UTC)
    soon = (await compute_trends(res, now=now + timedelta(minutes=1))).tags
    later = (await compute_trends(res, now=now + HALF_LIFE + timedelta(minutes=1))).tags
    assert [t["name"] for t in soon] == [t["name"] for t in later] == ["fading"]
    assert 1.95 < soon[0]["score"] / later[0]["score"] < 2.05  # one half-life: half the weight
    gone = await compute_trends(res, now=now + SCORE_WINDOW + timedelta(minutes=1))
    assert gone.tags == []
    assert await trends(client, "tags") == []
    # A pass at a time before the posts does not see them.
    assert (await compute_trends(res, now=now - timedelta(hours=1))).tags == []


async def test_links_trend_from_posts_urls_with_the_url_as_title(
    client: Client, res: Resources, make_user: UserFactory
) -> None:
    alice, bob, eve = [await make_user(n) for n in ("alice", "bob", "eve")]
    await silence(res, eve)
    url = "https://example.com/articles/1?x=2"
    await post_status(client, alice, f"read {url} now")
    await post_status(client, bob, f"{url}")
    await post_status(client, alice, "see https://example.org/only-once")
    await post_status(client, eve, "spam https://spam.example/")
    await post_status(client, bob, "spam https://spam.example/")
    await compute_trends(res)
    found = await trends(client, "links")
    assert [(link["url"], link["title"], link["provider_name"]) for link in found] == [(url, url, "example.com")]
    assert found[0]["history"][0]["accounts"] == "2"


async def test_posts_trend_by_decayed_likes_and_reposts_from_others(
    client: Client, res: Resources, make_user: UserFactory
) -> None:
    alice, bob, carol, dave, eve = [await make_user(n) for n in ("alice", "bob", "carol", "dave", "eve")]
    popular = await post_status(client, alice, "popular")
    liked_once = await post_status(client, bob, "liked once")
    spicy = await post_status(client, carol, "spicy", sensitive=True)
    private = await post_status(client, carol, "private", visibility="private")
    shady = await post_status(client, eve, "by a silenced account")
    own = await post_status(client, dave, "liked by myself")
    await expect(await client.post(f"/api/v1/accounts/{carol.id}/follow", headers=bob.headers), 200)
    for liker in (bob, carol, dave):
        await expect(await client.post(f"/api/v1/statuses/{popular['id']}/favourite", headers=liker.headers), 200)
    await expect(await client.post(f"/api/v1/statuses/{popular['id']}/reblog", headers=bob.headers), 200)
    await expect(await client.post(f"/api/v1/statuses/{liked_once['id']}/favourite", headers=dave.headers), 200)
    for post in (spicy, shady):
        for liker in (alice, bob):
            await expect(await client.post(f"/api/v1/statuses/{post['id']}/favourite", headers=liker.headers), 200)
    await expect(await client.post(f"/api/v1/statuses/{private['id']}/favourite", headers=bob.headers), 200)
    await expect(await client.post(f"/api/v1/statuses/{own['id']}/favourite", headers=dave.headers), 200)
    await silence(res, eve)
    # A silenced account's likes no longer count: eve liking liked_once adds nothing.
    await expect(await client.post(f"/api/v1/statuses/{liked_once['id']}/favourite", headers=eve.headers), 200)
    result = await compute_trends(res)
    assert [s["id"] for s in result.statuses] == [popular["id"], liked_once["id"]]
    assert 3.9 < result.statuses[0]["score"] <= 4.0 and 0.9 < result.statuses[1]["score"] <= 1.0
    shown = await trends(client, "statuses", alice)
    assert [s["id"] for s in shown] == [popular["id"], liked_once["id"]]
    assert shown[0]["favourited"] is False and shown[1]["account"]["username"] == "bob"
    as_bob = await trends(client, "statuses", bob)  # each viewer's own flags
    assert (as_bob[0]["favourited"], as_bob[0]["reblogged"], as_bob[1]["favourited"]) == (True, True, False)
    assert [s["id"] for s in await trends(client, "statuses", limit="1", offset="1")] == [liked_once["id"]]
    # A viewer who blocks an author does not see their trending post.
    await expect(await client.post(f"/api/v1/accounts/{alice.id}/block", headers=dave.headers), 200)
    assert [s["id"] for s in await trends(client, "statuses", dave)] == [liked_once["id"]]
    # A half-life later the same interactions weigh half; out of the window they are gone.
    now = datetime.now(UTC)
    later = await compute_trends(res, now=now + HALF_LIFE)
    assert later.statuses[0]["score"] < result.statuses[0]["score"] / 1.9
    assert (await compute_trends(res, now=now + SCORE_WINDOW + timedelta(minutes=1))).statuses == []


async def test_bad_paging_is_a_422_and_the_worker_runs_the_pass(client: Client) -> None:
    for kind in ("tags", "statuses", "links"):
        await expect(await client.get(f"/api/v1/trends/{kind}", params={"offset": "-1"}), 422)
        await expect(await client.get(f"/api/v1/trends/{kind}", params={"limit": "many"}), 422)
    assert "trends" in [p.name for p in all_periodic()]
