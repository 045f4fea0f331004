"""Keeping list timelines and followed-tag posts right as things change: a deleted post leaves the list
timelines and the home timelines of its hashtags' followers, and its `delete` reaches their streams (as
Mastodon sends `delete` on every stream that showed it); lifting a mute or a block brings back what the list
reads dropped meanwhile, as for home; a block takes the blocked account out of the blocker's lists; a deleted
list's cached timeline goes with it."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import UserFactory
from social import Client, User, expect, follow, post_status
from streams import connect, frames_until, hub_settled, online, run_queues

from storage import timeline_cache
from storage.lists import list_key
from storage.resources import Resources
from storage.timeline_cache import Range, home_key

pytestmark = pytest.mark.valkey_modes


async def deliver(res: Resources) -> None:
    await run_queues(res, "timeline", "streaming", "notifications", "post_cache")


async def make_list(client: Client, user: User, *members: User, **fields: Any) -> str:
    made = await expect(await client.post("/api/v1/lists", json={"title": "l", **fields}, headers=user.headers), 200)
    if members:
        response = await client.post(
            f"/api/v1/lists/{made['id']}/accounts", json={"account_ids": [m.id for m in members]}, headers=user.headers
        )
        await expect(response, 200)
    return str(made["id"])


async def list_ids(client: Client, user: User, list_id: str) -> list[str]:
    response = await client.get(f"/api/v1/timelines/list/{list_id}", headers=user.headers)
    return [s["id"] for s in await expect(response, 200)]


async def cached_ids(res: Resources, key: str) -> list[str] | None:
    """The post ids a cached timeline holds (no read through the API, which would filter them itself)."""
    found = await timeline_cache.read(res.redis, key, Range("(0", "+inf", 1000, True), ttl=3600)
    return None if found is None else [str(e.post_id) for e in found.entries]


async def test_a_deleted_post_leaves_the_list_timeline_and_its_stream_gets_delete(
    client: Client, make_user: UserFactory, res: Resources
) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    await follow(client, alice, bob)
    list_id = await make_list(client, alice, bob)
    kept = await post_status(client, bob, "kept")
    ws = await connect(client, alice.token, stream="list", list=list_id)
    await hub_settled(client)
    doomed = await post_status(client, bob, "soon gone")
    await deliver(res)
    await frames_until(ws, lambda f: f["event"] == "update" and f["payload"]["id"] == doomed["id"])
    key = list_key(alice.account_id, int(list_id))
    assert await cached_ids(res, key) == [doomed["id"], kept["id"]]
    await expect(await client.delete(f"/api/v1/statuses/{doomed['id']}", headers=bob.headers), 200)
    await deliver(res)
    frames = await frames_until(ws, lambda f: f["event"] == "delete")
    assert frames[-1]["payload"] == doomed["id"] and frames[-1]["stream"] == ["list", list_id]
    assert await cached_ids(res, key) == [kept["id"]]
    await ws.close()


async def test_a_deleted_followed_tag_post_leaves_a_strangers_home_and_stream(
    client: Client, make_user: UserFactory, res: Resources
) -> None:
    alice, carol = await make_user("alice"), await make_user("carol")
    await expect(await client.post("/api/v1/tags/birds/follow", headers=alice.headers), 200)
    await expect(await client.get("/api/v1/timelines/home", headers=alice.headers), 200)  # cached
    ws = await connect(client, alice.token, stream="user")
    await online(res, alice.account_id)
    await hub_settled(client)
    posted = await post_status(client, carol, "a #birds post")  # carol is not followed: the tag brings it
    await deliver(res)
    await frames_until(ws, lambda f: f["event"] == "update" and f["payload"]["id"] == posted["id"])
    assert await cached_ids(res, home_key(alice.account_id)) == [posted["id"]]
    await expect(await client.delete(f"/api/v1/statuses/{posted['id']}", headers=carol.headers), 200)
    await deliver(res)
    frames = await frames_until(ws, lambda f: f["event"] == "delete")
    assert frames[-1]["payload"] == posted["id"]
    assert await cached_ids(res, home_key(alice.account_id)) == []
    await ws.close()


async def test_unmuting_a_member_brings_their_posts_back_to_the_list(
    client: Client, make_user: UserFactory, res: Resources
) -> None:
    alice, bob, carol = await make_user("alice"), await make_user("bob"), await make_user("carol")
    await follow(client, alice, bob)
    await follow(client, alice, carol)
    list_id = await make_list(client, alice, bob, carol)
    by_bob = await post_status(client, bob, "bob's")
    by_carol = await post_status(client, carol, "carol's")
    await deliver(res)
    assert await list_ids(client, alice, list_id) == [by_carol["id"], by_bob["id"]]
    await expect(await client.post(f"/api/v1/accounts/{bob.id}/mute", headers=alice.headers), 200)
    assert await list_ids(client, alice, list_id) == [by_carol["id"]]  # and dropped from the cached list
    assert await cached_ids(res, list_key(alice.account_id, int(list_id))) == [by_carol["id"]]
    await expect(await client.post(f"/api/v1/accounts/{bob.id}/unmute", headers=alice.headers), 200)
    assert await list_ids(client, alice, list_id) == [by_carol["id"], by_bob["id"]]


async def test_a_timed_mute_keeps_the_members_posts_in_the_cached_list(
    client: Client, make_user: UserFactory, res: Resources
) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    await follow(client, alice, bob)
    list_id = await make_list(client, alice, bob)
    posted = await post_status(client, bob, "bob's")
    await deliver(res)
    response = await client.post(f"/api/v1/accounts/{bob.id}/mute", json={"duration": 3600}, headers=alice.headers)
    await expect(response, 200)
    assert await list_ids(client, alice, list_id) == []
    # Hidden while the mute lasts, not forgotten: it shows again when the mute ends by itself.
    assert await cached_ids(res, list_key(alice.account_id, int(list_id))) == [posted["id"]]


async def test_unblocking_brings_back_a_members_repost_of_the_blocked_account(
    client: Client, make_user: UserFactory, res: Resources
) -> None:
    alice, bob, dave = await make_user("alice"), await make_user("bob"), await make_user("dave")
    await follow(client, alice, bob)
    list_id = await make_list(client, alice, bob)
    original = await post_status(client, dave, "dave's")
    repost = await expect(await client.post(f"/api/v1/statuses/{original['id']}/reblog", headers=bob.headers), 200)
    await deliver(res)
    assert await list_ids(client, alice, list_id) == [repost["id"]]
    await expect(await client.post(f"/api/v1/accounts/{dave.id}/block", headers=alice.headers), 200)
    assert await list_ids(client, alice, list_id) == []
    await expect(await client.post(f"/api/v1/accounts/{dave.id}/unblock", headers=alice.headers), 200)
    assert await list_ids(client, alice, list_id) == [repost["id"]]


async def test_blocking_a_member_takes_them_out_of_the_list_on_both_sides(
    client: Client, make_user: UserFactory, res: Resources
) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    await follow(client, alice, bob)
    await follow(client, bob, alice)
    alices = await make_list(client, alice, bob)
    bobs = await make_list(client, bob, alice)
    await post_status(client, bob, "bob's")
    await post_status(client, alice, "alice's")
    await deliver(res)
    assert len(await list_ids(client, alice, alices)) == 1 and len(await list_ids(client, bob, bobs)) == 1
    await expect(await client.post(f"/api/v1/accounts/{bob.id}/block", headers=alice.headers), 200)
    await deliver(res)
    for owner, list_id in ((alice, alices), (bob, bobs)):
        members = await client.get(f"/api/v1/lists/{list_id}/accounts", headers=owner.headers)
        assert await expect(members, 200) == []
        assert await list_ids(client, owner, list_id) == []
    # Following again after the block is lifted does not put anyone back in a list.
    await expect(await client.post(f"/api/v1/accounts/{bob.id}/unblock", headers=alice.headers), 200)
    await follow(client, alice, bob)
    assert await expect(await client.get(f"/api/v1/lists/{alices}/accounts", headers=alice.headers), 200) == []


async def test_a_deleted_lists_cached_timeline_goes_with_it(
    client: Client, make_user: UserFactory, res: Resources
) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    await follow(client, alice, bob)
    list_id = await make_list(client, alice, bob)
    posted = await post_status(client, bob, "bob's")
    await deliver(res)
    assert await list_ids(client, alice, list_id) == [posted["id"]]  # cached: read without looking the list up
    await expect(await client.get(f"/api/v1/timelines/list/{list_id}", headers=bob.headers), 404)
    await expect(await client.delete(f"/api/v1/lists/{list_id}", headers=alice.headers), 200)
    assert not await res.redis.exists(list_key(alice.account_id, int(list_id)))
    await expect(await client.get(f"/api/v1/timelines/list/{list_id}", headers=alice.headers), 404)
