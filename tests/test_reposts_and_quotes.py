"""Reposts (reblogs) and quotes: one repost per account, exact counts under concurrency, Mastodon 4.5 quotes."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from conftest import ClientFactory, UserFactory
from social import (
    Client,
    User,
    account_counts,
    expect,
    follow,
    get_status,
    link_cursor,
    post_counts,
    post_status,
    recorded,
    subscribed,
)

from storage.resources import Resources


async def reblog(client: Client, user: User, status_id: str, status: int = 200, **params: Any) -> Any:
    response = await client.post(f"/api/v1/statuses/{status_id}/reblog", json=params, headers=user.headers)
    return await expect(response, status)


async def unreblog(client: Client, user: User, status_id: str) -> Any:
    return await expect(await client.post(f"/api/v1/statuses/{status_id}/unreblog", headers=user.headers), 200)


async def repost_rows(res: Resources, status_id: str) -> int:
    count: int = await res.db.fetchval("SELECT count(*) FROM posts WHERE reblog_of_id = $1", int(status_id))
    return count


# Reposts ---------------------------------------------------------------------------------------------


async def test_a_repost_wraps_the_original(client: Client, make_user: UserFactory, res: Resources) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    original = await post_status(client, alice, "worth sharing #Good")
    repost = await reblog(client, bob, original["id"])
    assert repost["id"] != original["id"]
    assert repost["account"]["id"] == bob.id
    assert repost["reblogged"] is True and repost["content"] == ""
    assert repost["reblog"]["id"] == original["id"]
    assert repost["reblog"]["reblogged"] is True and repost["reblog"]["reblogs_count"] == 1
    assert repost["reblog"]["tags"] == [{"name": "good", "url": original["tags"][0]["url"]}]
    assert repost["uri"].endswith(f"/statuses/{repost['id']}/activity")
    assert (await account_counts(res, bob))["posts_count"] == 1
    assert (await expect(await get_status(client, repost["id"]), 200))["reblog"]["id"] == original["id"]


async def test_reposting_twice_keeps_one_repost(client: Client, make_user: UserFactory, res: Resources) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    original = await post_status(client, alice)
    first = await reblog(client, bob, original["id"])
    second = await reblog(client, bob, original["id"])
    assert second["id"] == first["id"]
    of_repost = await reblog(client, bob, first["id"])  # reposting a repost reposts the original
    assert of_repost["id"] == first["id"]
    assert await repost_rows(res, original["id"]) == 1
    assert (await post_counts(res, original["id"]))["reposts_count"] == 1
    assert (await account_counts(res, bob))["posts_count"] == 1  # counted once, on the reposter


async def test_undoing_a_repost_is_idempotent(client: Client, make_user: UserFactory, res: Resources) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    original = await post_status(client, alice)
    repost = await reblog(client, bob, original["id"])
    undone = await unreblog(client, bob, original["id"])
    assert undone["id"] == original["id"] and undone["reblogged"] is False and undone["reblogs_count"] == 0
    again = await unreblog(client, bob, original["id"])
    assert again["reblogs_count"] == 0
    await expect(await get_status(client, repost["id"]), 404)
    assert (await account_counts(res, bob))["posts_count"] == 0


async def test_concurrent_reposts_by_one_account_make_one(
    make_client: ClientFactory, make_user: UserFactory, res: Resources
) -> None:
    client = await make_client(database_pool_size=20)
    alice, bob = await make_user("alice"), await make_user("bob")
    original = await post_status(client, alice)
    responses = await asyncio.gather(
        *(client.post(f"/api/v1/statuses/{original['id']}/reblog", headers=bob.headers) for _ in range(20))
    )
    bodies = [await expect(r, 200) for r in responses]
    assert len({b["id"] for b in bodies}) == 1
    assert await repost_rows(res, original["id"]) == 1
    assert (await post_counts(res, original["id"]))["reposts_count"] == 1
    assert (await account_counts(res, bob))["posts_count"] == 1


async def test_concurrent_reposts_and_undos_by_many_accounts_count_exactly(
    make_client: ClientFactory, make_user: UserFactory, res: Resources
) -> None:
    client = await make_client(database_pool_size=20)
    alice = await make_user("alice")
    original = await post_status(client, alice)
    users = [await make_user(f"u{i}") for i in range(20)]
    url = f"/api/v1/statuses/{original['id']}"
    responses = await asyncio.gather(*(client.post(f"{url}/reblog", headers=u.headers) for u in users * 2))
    assert {r.status for r in responses} == {200}
    responses = await asyncio.gather(*(client.post(f"{url}/unreblog", headers=u.headers) for u in users[:8] * 2))
    assert {r.status for r in responses} == {200}
    assert (await post_counts(res, original["id"]))["reposts_count"] == 12
    assert await repost_rows(res, original["id"]) == 12
    assert [(await account_counts(res, u))["posts_count"] for u in users] == [0] * 8 + [1] * 12


async def test_reblogged_by_lists_reposters_newest_first(client: Client, make_user: UserFactory) -> None:
    alice = await make_user("alice")
    original = await post_status(client, alice)
    fans = [await make_user(f"fan{i}") for i in range(3)]
    for fan in fans:
        await reblog(client, fan, original["id"])
    url = f"/api/v1/statuses/{original['id']}/reblogged_by"
    first = await client.get(url, params={"limit": "2"})
    assert [a["username"] for a in await expect(first, 200)] == ["fan2", "fan1"]
    rest = await expect(await client.get(url, params={"max_id": link_cursor(first, "next", "max_id")}), 200)
    assert [a["username"] for a in rest] == ["fan0"]


async def test_private_posts_cannot_be_reposted_except_by_their_author(client: Client, make_user: UserFactory) -> None:
    alice, fan = await make_user("alice"), await make_user("fan")
    await follow(client, fan, alice)
    private = await post_status(client, alice, "followers only", visibility="private")
    body = await reblog(client, fan, private["id"], status=403)
    assert "private" in body["error"]
    own = await reblog(client, alice, private["id"])
    assert own["visibility"] == "private"
    stranger = await make_user("stranger")
    await reblog(client, stranger, private["id"], status=404)


async def test_repost_visibility_can_be_chosen(client: Client, make_user: UserFactory) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    original = await post_status(client, alice)
    repost = await reblog(client, bob, original["id"], visibility="unlisted")
    assert repost["visibility"] == "unlisted"
    await unreblog(client, bob, original["id"])
    await reblog(client, bob, original["id"], status=422, visibility="direct")


async def test_reposting_needs_a_token_and_a_known_post(client: Client, make_user: UserFactory) -> None:
    bob = await make_user("bob")
    await expect(await client.post("/api/v1/statuses/1/reblog"), 401)
    await reblog(client, bob, "987654321", status=404)


async def test_deleting_the_original_deletes_its_reposts(
    client: Client, make_user: UserFactory, res: Resources
) -> None:
    alice, bob, carol = await make_user("alice"), await make_user("bob"), await make_user("carol")
    original = await post_status(client, alice)
    reposts = [await reblog(client, user, original["id"]) for user in (bob, carol)]
    await expect(await client.delete(f"/api/v1/statuses/{original['id']}", headers=alice.headers), 200)
    for repost in reposts:
        await expect(await get_status(client, repost["id"]), 404)
    assert (await account_counts(res, bob))["posts_count"] == 0
    assert (await account_counts(res, carol))["posts_count"] == 0
    assert await res.db.fetchval("SELECT count(*) FROM posts") == 0


async def test_deleting_a_repost_lowers_the_originals_count(
    client: Client, make_user: UserFactory, res: Resources
) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    original = await post_status(client, alice)
    repost = await reblog(client, bob, original["id"])
    deleted = await expect(await client.delete(f"/api/v1/statuses/{repost['id']}", headers=bob.headers), 200)
    assert deleted["reblog"]["id"] == original["id"]
    assert (await post_counts(res, original["id"]))["reposts_count"] == 0


async def test_reposts_record_events(
    client: Client, make_user: UserFactory, res: Resources, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    original = await post_status(client, alice)
    with subscribed(monkeypatch, "test", "post.created", "repost.created", "repost.deleted", "post.deleted"):
        repost = await reblog(client, bob, original["id"])
        await reblog(client, bob, original["id"])
        await unreblog(client, bob, original["id"])
    events = await recorded(res, "test")
    assert [e["kind"] for e in events] == ["post.created", "repost.created", "post.deleted", "repost.deleted"]
    assert events[0]["reblog_of_id"] == int(original["id"]) and events[0]["id"] == int(repost["id"])
    assert events[1]["post_account_id"] == alice.account_id


# Quotes ----------------------------------------------------------------------------------------------


async def test_a_quote_carries_the_quoted_post(client: Client, make_user: UserFactory, res: Resources) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    original = await post_status(client, alice, "quotable")
    quote = await post_status(client, bob, "so true", quoted_status_id=original["id"])
    assert quote["quote"]["state"] == "accepted"
    assert quote["quote"]["quoted_status"]["id"] == original["id"]
    assert quote["quote"]["quoted_status"]["quote"] is None
    assert (await post_counts(res, original["id"]))["quotes_count"] == 1
    assert (await expect(await get_status(client, original["id"]), 200))["quotes_count"] == 1


async def test_akkomas_quote_id_works_too(client: Client, make_user: UserFactory) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    original = await post_status(client, alice, "quotable")
    quote = await post_status(client, bob, "akkoma style", quote_id=original["id"])
    assert quote["quote"]["quoted_status"]["id"] == original["id"]


async def test_a_quote_of_a_quote_shows_the_inner_one_shallowly(client: Client, make_user: UserFactory) -> None:
    alice, bob, carol = await make_user("alice"), await make_user("bob"), await make_user("carol")
    first = await post_status(client, alice, "first")
    second = await post_status(client, bob, "second", quoted_status_id=first["id"])
    third = await post_status(client, carol, "third", quoted_status_id=second["id"])
    inner = third["quote"]["quoted_status"]
    assert inner["id"] == second["id"]
    assert inner["quote"] == {"state": "accepted", "quoted_status_id": first["id"]}


async def test_a_deleted_quoted_post_shows_as_deleted(client: Client, make_user: UserFactory, res: Resources) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    original = await post_status(client, alice, "soon gone")
    quote = await post_status(client, bob, "quoting", quoted_status_id=original["id"])
    await expect(await client.delete(f"/api/v1/statuses/{original['id']}", headers=alice.headers), 200)
    seen = await expect(await get_status(client, quote["id"]), 200)
    assert seen["quote"] == {"state": "deleted", "quoted_status": None}


async def test_a_quoted_post_the_viewer_cannot_see_is_unauthorized(client: Client, make_user: UserFactory) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    secret = await post_status(client, alice, "followers only", visibility="private")
    quote = await post_status(client, alice, "quoting myself, cc @bob", quoted_status_id=secret["id"])
    assert quote["visibility"] == "private"  # a quote of a private post stays private
    seen = await expect(await get_status(client, quote["id"], bob), 200)  # bob is mentioned, not a follower
    assert seen["quote"] == {"state": "unauthorized", "quoted_status": None}
    await follow(client, bob, alice)
    seen = await expect(await get_status(client, quote["id"], bob), 200)
    assert seen["quote"]["state"] == "accepted"


async def test_quoting_is_refused_for_unknown_and_others_private_posts(client: Client, make_user: UserFactory) -> None:
    alice, fan = await make_user("alice"), await make_user("fan")
    await follow(client, fan, alice)
    private = await post_status(client, alice, "followers only", visibility="private")
    url = "/api/v1/statuses"
    await expect(
        await client.post(url, json={"status": "q", "quoted_status_id": private["id"]}, headers=fan.headers), 403
    )
    await expect(await client.post(url, json={"status": "q", "quoted_status_id": "31337"}, headers=fan.headers), 404)


async def test_quotes_lists_the_posts_quoting_a_post(client: Client, make_user: UserFactory) -> None:
    alice, bob, carol = await make_user("alice"), await make_user("bob"), await make_user("carol")
    original = await post_status(client, alice, "quotable")
    quotes = [await post_status(client, u, "q", quoted_status_id=original["id"]) for u in (bob, carol, bob)]
    hidden = await post_status(client, carol, "q", quoted_status_id=original["id"], visibility="private")
    url = f"/api/v1/statuses/{original['id']}/quotes"
    first = await client.get(url, params={"limit": "2"}, headers=alice.headers)
    assert [s["id"] for s in await expect(first, 200)] == [quotes[2]["id"], quotes[1]["id"]]
    rest = await expect(
        await client.get(url, params={"max_id": link_cursor(first, "next", "max_id")}, headers=alice.headers), 200
    )
    assert [s["id"] for s in rest] == [quotes[0]["id"]]
    by_carol = await expect(await client.get(url, headers=carol.headers), 200)
    assert hidden["id"] in [s["id"] for s in by_carol]
    await expect(await client.get(url), 401)
    await expect(await client.get("/api/v1/statuses/5555/quotes", headers=alice.headers), 404)


async def test_deleting_a_quote_lowers_the_quote_count(client: Client, make_user: UserFactory, res: Resources) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    original = await post_status(client, alice, "quotable")
    quote = await post_status(client, bob, "q", quoted_status_id=original["id"])
    await expect(await client.delete(f"/api/v1/statuses/{quote['id']}", headers=bob.headers), 200)
    assert (await post_counts(res, original["id"]))["quotes_count"] == 0
