"""Likes (favourites) and reactions: idempotent, counted exactly under concurrency, visible only where the post is."""

from __future__ import annotations

import asyncio

import pytest
from conftest import ClientFactory, UserFactory
from social import (
    Client,
    User,
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


async def like(client: Client, user: User, status_id: str, action: str = "favourite") -> dict[str, object]:
    body: dict[str, object] = await expect(
        await client.post(f"/api/v1/statuses/{status_id}/{action}", headers=user.headers), 200
    )
    return body


async def like_rows(res: Resources, status_id: str) -> int:
    count: int = await res.db.fetchval("SELECT count(*) FROM likes WHERE post_id = $1", int(status_id))
    return count


# Likes -----------------------------------------------------------------------------------------------


async def test_liking_is_idempotent_and_counted_once(client: Client, make_user: UserFactory, res: Resources) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    status = await post_status(client, alice)
    liked = await like(client, bob, status["id"])
    assert liked["favourited"] is True and liked["favourites_count"] == 1
    again = await like(client, bob, status["id"])
    assert again["favourites_count"] == 1
    assert await like_rows(res, status["id"]) == 1
    seen_by_alice = await expect(await get_status(client, status["id"], alice), 200)
    assert seen_by_alice["favourited"] is False and seen_by_alice["favourites_count"] == 1
    unliked = await like(client, bob, status["id"], "unfavourite")
    assert unliked["favourited"] is False and unliked["favourites_count"] == 0
    still = await like(client, bob, status["id"], "unfavourite")
    assert still["favourites_count"] == 0
    assert (await post_counts(res, status["id"]))["likes_count"] == 0


async def test_fifty_concurrent_likes_and_unlikes_leave_the_exact_count(
    make_client: ClientFactory, make_user: UserFactory, res: Resources
) -> None:
    client = await make_client(database_pool_size=20)
    author = await make_user("author")
    status = await post_status(client, author)
    users = [await make_user(f"user{i}") for i in range(35)]
    # Round one: 25 users each like twice, all at once (50 calls): 25 likes.
    first = users[:25]
    responses = await asyncio.gather(
        *(client.post(f"/api/v1/statuses/{status['id']}/favourite", headers=u.headers) for u in first + first)
    )
    assert [r.status for r in responses] == [200] * 50
    assert (await post_counts(res, status["id"]))["likes_count"] == 25
    # Round two: 15 of them unlike twice and 10 newcomers like twice, all at once (50 calls): 25 - 15 + 10.
    leaving, joining = users[:15], users[25:35]
    calls = [client.post(f"/api/v1/statuses/{status['id']}/unfavourite", headers=u.headers) for u in leaving * 2]
    calls += [client.post(f"/api/v1/statuses/{status['id']}/favourite", headers=u.headers) for u in joining * 2]
    responses = await asyncio.gather(*calls)
    assert [r.status for r in responses] == [200] * 50
    assert (await post_counts(res, status["id"]))["likes_count"] == 20
    assert await like_rows(res, status["id"]) == 20
    for user, expected in ((users[0], False), (users[20], True), (users[30], True)):
        assert (await expect(await get_status(client, status["id"], user), 200))["favourited"] is expected


async def test_racing_like_and_unlike_of_one_user_keeps_count_equal_to_rows(
    client: Client, make_user: UserFactory, res: Resources
) -> None:
    author, fan = await make_user("author"), await make_user("fan")
    status = await post_status(client, author)
    actions = ["favourite", "unfavourite"] * 10
    await asyncio.gather(
        *(client.post(f"/api/v1/statuses/{status['id']}/{action}", headers=fan.headers) for action in actions)
    )
    counted = (await post_counts(res, status["id"]))["likes_count"]
    assert counted == await like_rows(res, status["id"])
    assert counted in (0, 1)


async def test_liking_a_repost_likes_the_original(client: Client, make_user: UserFactory, res: Resources) -> None:
    alice, bob, carol = await make_user("alice"), await make_user("bob"), await make_user("carol")
    original = await post_status(client, alice, "original")
    repost = await expect(await client.post(f"/api/v1/statuses/{original['id']}/reblog", headers=bob.headers), 200)
    liked = await like(client, carol, repost["id"])
    assert liked["id"] == original["id"] and liked["favourited"] is True
    assert (await post_counts(res, original["id"]))["likes_count"] == 1


async def test_a_post_you_cannot_see_cannot_be_liked(client: Client, make_user: UserFactory) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    private = await post_status(client, alice, "private", visibility="private")
    await expect(await client.post(f"/api/v1/statuses/{private['id']}/favourite", headers=bob.headers), 404)
    await expect(await client.post("/api/v1/statuses/777/favourite", headers=bob.headers), 404)
    await expect(await client.get(f"/api/v1/statuses/{private['id']}/favourited_by", headers=bob.headers), 404)


async def test_liking_needs_the_favourites_scope(client: Client, make_user: UserFactory) -> None:
    alice = await make_user("alice")
    reader = await make_user("reader", scopes=("read",))
    status = await post_status(client, alice)
    await expect(await client.post(f"/api/v1/statuses/{status['id']}/favourite"), 401)
    await expect(await client.post(f"/api/v1/statuses/{status['id']}/favourite", headers=reader.headers), 403)
    await expect(await client.get("/api/v1/favourites"), 401)


async def test_favourited_by_lists_likers_newest_first_with_pages(client: Client, make_user: UserFactory) -> None:
    alice = await make_user("alice")
    status = await post_status(client, alice)
    fans = [await make_user(f"fan{i}") for i in range(5)]
    for fan in fans:
        await like(client, fan, status["id"])
    url = f"/api/v1/statuses/{status['id']}/favourited_by"
    first = await client.get(url, params={"limit": "3"})
    assert [a["username"] for a in await expect(first, 200)] == ["fan4", "fan3", "fan2"]
    rest = await expect(
        await client.get(url, params={"limit": "3", "max_id": link_cursor(first, "next", "max_id")}), 200
    )
    assert [a["username"] for a in rest] == ["fan1", "fan0"]
    newer = await expect(await client.get(url, params={"min_id": link_cursor(first, "prev", "min_id")}), 200)
    assert newer == []


async def test_favourites_lists_the_viewers_liked_posts_by_like_order(client: Client, make_user: UserFactory) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    posts = [await post_status(client, alice, f"p{i}") for i in range(3)]
    for status in (posts[1], posts[0], posts[2]):
        await like(client, bob, status["id"])
    response = await client.get("/api/v1/favourites", params={"limit": "2"}, headers=bob.headers)
    assert [s["id"] for s in await expect(response, 200)] == [posts[2]["id"], posts[0]["id"]]
    older = await expect(
        await client.get(
            "/api/v1/favourites", params={"max_id": link_cursor(response, "next", "max_id")}, headers=bob.headers
        ),
        200,
    )
    assert [s["id"] for s in older] == [posts[1]["id"]]
    assert all(s["favourited"] for s in older)
    assert await expect(await client.get("/api/v1/favourites", headers=alice.headers), 200) == []


async def test_likes_record_events(
    client: Client, make_user: UserFactory, res: Resources, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    status = await post_status(client, alice)
    with subscribed(monkeypatch, "test", "like.created", "like.deleted"):
        await like(client, bob, status["id"])
        await like(client, bob, status["id"])
        await like(client, bob, status["id"], "unfavourite")
    events = await recorded(res, "test")
    expected = {"post_id": int(status["id"]), "post_account_id": alice.account_id, "account_id": bob.account_id}
    assert events == [{"kind": "like.created", **expected}, {"kind": "like.deleted", **expected}]


# Reactions -------------------------------------------------------------------------------------------


async def test_reactions_are_counted_per_name_with_me_for_the_viewer(
    client: Client, make_user: UserFactory, res: Resources
) -> None:
    alice, bob, carol = await make_user("alice"), await make_user("bob"), await make_user("carol")
    status = await post_status(client, alice)
    url = f"/api/v1/statuses/{status['id']}/reactions"
    loved = await expect(await client.put(f"{url}/love", headers=bob.headers), 200)
    assert loved["reactions"] == [{"name": "love", "count": 1, "me": True}]
    await expect(await client.put(f"{url}/love", headers=bob.headers), 200)  # idempotent
    await expect(await client.put(f"{url}/DISLIKE", headers=carol.headers), 200)
    await expect(await client.put(f"{url}/love", headers=carol.headers), 200)
    seen = await expect(await get_status(client, status["id"], carol), 200)
    assert seen["reactions"] == [
        {"name": "love", "count": 2, "me": True},
        {"name": "dislike", "count": 1, "me": True},
    ]
    signed_out = await expect(await get_status(client, status["id"]), 200)
    assert [r["me"] for r in signed_out["reactions"]] == [False, False]
    removed = await expect(await client.delete(f"{url}/love", headers=bob.headers), 200)
    assert removed["reactions"] == [
        {"name": "love", "count": 1, "me": False},
        {"name": "dislike", "count": 1, "me": False},
    ]
    await expect(await client.delete(f"{url}/love", headers=bob.headers), 200)  # idempotent
    assert await res.db.fetchval("SELECT count FROM post_reaction_counts WHERE name = 'love'") == 1


async def test_the_like_reaction_is_the_like(client: Client, make_user: UserFactory, res: Resources) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    status = await post_status(client, alice)
    body = await expect(await client.put(f"/api/v1/statuses/{status['id']}/reactions/like", headers=bob.headers), 200)
    assert body["favourited"] is True and body["favourites_count"] == 1
    assert body["reactions"] == [{"name": "like", "count": 1, "me": True}]
    unliked = await like(client, bob, status["id"], "unfavourite")
    assert unliked["reactions"] == []
    assert await like_rows(res, status["id"]) == 0


async def test_unknown_reactions_are_a_422(client: Client, make_user: UserFactory) -> None:
    alice = await make_user("alice")
    status = await post_status(client, alice)
    body = await expect(await client.put(f"/api/v1/statuses/{status['id']}/reactions/wow", headers=alice.headers), 422)
    assert body["error"].startswith("Validation failed: name")
    await expect(await client.delete(f"/api/v1/statuses/{status['id']}/reactions/wow", headers=alice.headers), 422)


async def test_reactions_follow_the_setting(make_client: ClientFactory, make_user: UserFactory) -> None:
    client = await make_client(reactions=("like", "wow"))
    alice = await make_user("alice")
    status = await post_status(client, alice)
    await expect(await client.put(f"/api/v1/statuses/{status['id']}/reactions/wow", headers=alice.headers), 200)
    await expect(await client.put(f"/api/v1/statuses/{status['id']}/reactions/love", headers=alice.headers), 422)


async def test_concurrent_reactions_are_counted_exactly(
    make_client: ClientFactory, make_user: UserFactory, res: Resources
) -> None:
    client = await make_client(database_pool_size=20)
    alice = await make_user("alice")
    status = await post_status(client, alice)
    users = [await make_user(f"u{i}") for i in range(20)]
    url = f"/api/v1/statuses/{status['id']}/reactions/laugh"
    responses = await asyncio.gather(*(client.put(url, headers=u.headers) for u in users * 2))
    assert {r.status for r in responses} == {200}
    responses = await asyncio.gather(*(client.delete(url, headers=u.headers) for u in users[:5] * 2))
    assert {r.status for r in responses} == {200}
    assert await res.db.fetchval("SELECT count FROM post_reaction_counts WHERE name = 'laugh'") == 15
    assert await res.db.fetchval("SELECT count(*) FROM reactions WHERE name = 'laugh'") == 15


async def test_reaction_list_names_who_reacted(client: Client, make_user: UserFactory) -> None:
    alice, bob, carol = await make_user("alice"), await make_user("bob"), await make_user("carol")
    status = await post_status(client, alice)
    url = f"/api/v1/statuses/{status['id']}/reactions"
    await expect(await client.put(f"{url}/love", headers=bob.headers), 200)
    await expect(await client.put(f"{url}/love", headers=carol.headers), 200)
    await like(client, carol, status["id"])
    listed = await expect(await client.get(url, headers=carol.headers), 200)
    assert [(r["name"], r["count"], r["me"]) for r in listed] == [("like", 1, True), ("love", 2, True)]
    assert [a["username"] for a in listed[1]["accounts"]] == ["carol", "bob"]
    assert [a["username"] for a in listed[0]["accounts"]] == ["carol"]


async def test_reactions_on_invisible_posts_are_404_and_need_a_token(client: Client, make_user: UserFactory) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    private = await post_status(client, alice, "private", visibility="private")
    url = f"/api/v1/statuses/{private['id']}/reactions"
    await expect(await client.put(f"{url}/love", headers=bob.headers), 404)
    await expect(await client.get(url, headers=bob.headers), 404)
    await expect(await client.put(f"{url}/love"), 401)
    await follow(client, bob, alice)
    await expect(await client.put(f"{url}/love", headers=bob.headers), 200)


async def test_reactions_record_events(
    client: Client, make_user: UserFactory, res: Resources, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    status = await post_status(client, alice)
    url = f"/api/v1/statuses/{status['id']}/reactions/love"
    with subscribed(monkeypatch, "test", "reaction.created", "reaction.deleted"):
        await expect(await client.put(url, headers=bob.headers), 200)
        await expect(await client.put(url, headers=bob.headers), 200)
        await expect(await client.delete(url, headers=bob.headers), 200)
    events = await recorded(res, "test")
    assert [(e["kind"], e["name"], e["count"], e["account_id"]) for e in events] == [
        ("reaction.created", "love", 1, bob.account_id),
        ("reaction.deleted", "love", 0, bob.account_id),
    ]
