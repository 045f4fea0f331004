"""Follows: following people, groups and bots; relationships; follower lists; exact counts under races."""

from __future__ import annotations

import asyncio

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
    post_status,
    recorded,
    subscribed,
)

from storage.resources import Resources


async def unfollow(client: Client, user: User, target: User) -> dict[str, object]:
    body: dict[str, object] = await expect(
        await client.post(f"/api/v1/accounts/{target.id}/unfollow", headers=user.headers), 200
    )
    return body


async def test_following_returns_the_relationship_and_counts_once(
    client: Client, make_user: UserFactory, res: Resources
) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    relationship = await follow(client, alice, bob)
    assert relationship["id"] == bob.id
    assert relationship["following"] is True and relationship["followed_by"] is False
    assert relationship["showing_reblogs"] is True and relationship["notifying"] is False
    assert relationship["requested"] is False and relationship["blocking"] is False
    again = await follow(client, alice, bob)
    assert again["following"] is True
    assert (await account_counts(res, alice))["following_count"] == 1
    assert (await account_counts(res, bob))["followers_count"] == 1
    account = await expect(await client.get(f"/api/v1/accounts/{bob.id}"), 200)
    assert account["followers_count"] == 1


async def test_unfollowing_is_idempotent(client: Client, make_user: UserFactory, res: Resources) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    await follow(client, alice, bob)
    gone = await unfollow(client, alice, bob)
    assert gone["following"] is False
    again = await unfollow(client, alice, bob)
    assert again["following"] is False
    assert (await account_counts(res, alice))["following_count"] == 0
    assert (await account_counts(res, bob))["followers_count"] == 0


async def test_follow_options_can_be_set_and_changed(client: Client, make_user: UserFactory) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    url = f"/api/v1/accounts/{bob.id}/follow"
    quiet = await expect(await client.post(url, json={"reblogs": False, "notify": True}, headers=alice.headers), 200)
    assert quiet["showing_reblogs"] is False and quiet["notifying"] is True
    louder = await expect(await client.post(url, data={"reblogs": "true"}, headers=alice.headers), 200)
    assert louder["showing_reblogs"] is True and louder["notifying"] is True
    await expect(await client.post(url, json={"reblogs": "maybe"}, headers=alice.headers), 422)


async def test_following_yourself_unknown_accounts_or_without_scope_is_refused(
    client: Client, make_user: UserFactory
) -> None:
    alice = await make_user("alice")
    reader = await make_user("reader", scopes=("read",))
    await expect(await client.post(f"/api/v1/accounts/{alice.id}/follow", headers=alice.headers), 403)
    await expect(await client.post("/api/v1/accounts/4242/follow", headers=alice.headers), 404)
    await expect(await client.post("/api/v1/accounts/4242/unfollow", headers=alice.headers), 404)
    await expect(await client.post(f"/api/v1/accounts/{alice.id}/follow"), 401)
    await expect(await client.post(f"/api/v1/accounts/{alice.id}/follow", headers=reader.headers), 403)


async def test_groups_and_bots_are_followed_the_same_way(
    client: Client, make_user: UserFactory, res: Resources
) -> None:
    alice, group, bot = await make_user("alice"), await make_user("book_club"), await make_user("weather")
    await res.db.execute("UPDATE accounts SET is_group = true WHERE id = $1", group.account_id)
    await res.db.execute("UPDATE accounts SET bot = true WHERE id = $1", bot.account_id)
    for target in (group, bot):
        assert (await follow(client, alice, target))["following"] is True
    following = await expect(await client.get(f"/api/v1/accounts/{alice.id}/following"), 200)
    assert [(a["username"], a["group"], a["bot"]) for a in following] == [
        ("weather", False, True),
        ("book_club", True, False),
    ]


async def test_relationships_answer_for_many_accounts(client: Client, make_user: UserFactory) -> None:
    alice, bob, carol = await make_user("alice"), await make_user("bob"), await make_user("carol")
    await follow(client, alice, bob)
    await follow(client, carol, alice)
    params = [("id[]", bob.id), ("id[]", carol.id), ("id[]", "999"), ("id[]", alice.id)]
    response = await client.get("/api/v1/accounts/relationships", params=params, headers=alice.headers)
    relationships = await expect(response, 200)
    assert [(r["id"], r["following"], r["followed_by"]) for r in relationships] == [
        (bob.id, True, False),
        (carol.id, False, True),
        (alice.id, False, False),
    ]
    await expect(await client.get("/api/v1/accounts/relationships", params=params), 401)
    bad = [("id[]", "abc")]
    await expect(await client.get("/api/v1/accounts/relationships", params=bad, headers=alice.headers), 422)


async def test_followers_and_following_page_newest_first(client: Client, make_user: UserFactory) -> None:
    star = await make_user("star")
    fans = [await make_user(f"fan{i}") for i in range(5)]
    for fan in fans:
        await follow(client, fan, star)
    url = f"/api/v1/accounts/{star.id}/followers"
    first = await client.get(url, params={"limit": "2"})
    assert [a["username"] for a in await expect(first, 200)] == ["fan4", "fan3"]
    second = await client.get(url, params={"limit": "2", "max_id": link_cursor(first, "next", "max_id")})
    assert [a["username"] for a in await expect(second, 200)] == ["fan2", "fan1"]
    newer = await expect(await client.get(url, params={"min_id": link_cursor(second, "prev", "min_id")}), 200)
    assert [a["username"] for a in newer] == ["fan4", "fan3"]
    following = await expect(await client.get(f"/api/v1/accounts/{fans[0].id}/following"), 200)
    assert [a["username"] for a in following] == ["star"]
    await expect(await client.get("/api/v1/accounts/4242/followers"), 404)
    await expect(await client.get("/api/v1/accounts/4242/following"), 404)


async def test_concurrent_follows_of_one_pair_count_once(
    make_client: ClientFactory, make_user: UserFactory, res: Resources
) -> None:
    client = await make_client(database_pool_size=20)
    alice, bob = await make_user("alice"), await make_user("bob")
    url = f"/api/v1/accounts/{bob.id}"
    calls = [client.post(f"{url}/follow", headers=alice.headers) for _ in range(20)]
    assert {r.status for r in await asyncio.gather(*calls)} == {200}
    assert (await account_counts(res, alice))["following_count"] == 1
    assert (await account_counts(res, bob))["followers_count"] == 1
    assert await res.db.fetchval("SELECT count(*) FROM follows") == 1


async def test_accounts_following_each_other_at_once_neither_deadlock_nor_miscount(
    make_client: ClientFactory, make_user: UserFactory, res: Resources
) -> None:
    client = await make_client(database_pool_size=20)
    users = [await make_user(f"u{i}") for i in range(6)]
    calls = [
        client.post(f"/api/v1/accounts/{b.id}/follow", headers=a.headers) for a in users for b in users if a is not b
    ]
    assert {r.status for r in await asyncio.gather(*calls)} == {200}
    for user in users:
        assert await account_counts(res, user) == {"followers_count": 5, "following_count": 5, "posts_count": 0}
    calls = [client.post(f"/api/v1/accounts/{users[0].id}/unfollow", headers=u.headers) for u in users[1:] * 2]
    assert {r.status for r in await asyncio.gather(*calls)} == {200}
    assert (await account_counts(res, users[0]))["followers_count"] == 0


async def test_following_reveals_private_posts_and_unfollowing_hides_them(
    client: Client, make_user: UserFactory
) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    private = await post_status(client, alice, "followers only", visibility="private")
    await expect(await get_status(client, private["id"], bob), 404)
    await follow(client, bob, alice)
    await expect(await get_status(client, private["id"], bob), 200)
    await unfollow(client, bob, alice)
    await expect(await get_status(client, private["id"], bob), 404)


async def test_follows_record_events(
    client: Client, make_user: UserFactory, res: Resources, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    with subscribed(monkeypatch, "test", "follow.created", "follow.deleted"):
        await follow(client, alice, bob)
        await follow(client, alice, bob)
        await unfollow(client, alice, bob)
        await unfollow(client, alice, bob)
    events = await recorded(res, "test")
    assert [(e["kind"], e["account_id"], e["target_account_id"]) for e in events] == [
        ("follow.created", alice.account_id, bob.account_id),
        ("follow.deleted", alice.account_id, bob.account_id),
    ]
    assert events[0]["id"] == events[1]["id"]
