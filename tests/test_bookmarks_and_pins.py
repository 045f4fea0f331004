"""Bookmarks, pinned posts and endorsed accounts: each viewer's own flags in REST and streaming, pagination by
bookmark, the pin limit and its refusals, and Mastodon.py's calls for them."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from conftest import UserFactory
from social import Client, User, expect, follow, link_cursor, post_status
from streams import connect, frames_until, hub_settled, online, run_queues

from domain.cached_posts import cached_post_entities
from storage.resources import Resources

pytestmark = pytest.mark.valkey_modes  # flags in the post cache and in streams


async def act(client: Client, user: User, status_id: str, action: str, status: int = 200) -> Any:
    return await expect(await client.post(f"/api/v1/statuses/{status_id}/{action}", headers=user.headers), status)


async def deliver(res: Resources) -> None:
    await run_queues(res, "timeline", "streaming", "notifications", "post_cache")


# bookmarks ---------------------------------------------------------------------------------------------


async def test_a_bookmark_is_the_bookmarkers_alone_and_idempotent(client: Client, make_user: UserFactory) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    status = await post_status(client, alice, "save me")
    assert (await act(client, bob, status["id"], "bookmark"))["bookmarked"] is True
    assert (await act(client, bob, status["id"], "bookmark"))["bookmarked"] is True
    as_alice = await expect(await client.get(f"/api/v1/statuses/{status['id']}", headers=alice.headers), 200)
    assert as_alice["bookmarked"] is False
    as_bob = await expect(await client.get(f"/api/v1/statuses/{status['id']}", headers=bob.headers), 200)
    assert as_bob["bookmarked"] is True
    listed = await expect(await client.get("/api/v1/bookmarks", headers=bob.headers), 200)
    assert [s["id"] for s in listed] == [status["id"]] and listed[0]["bookmarked"] is True
    assert await expect(await client.get("/api/v1/bookmarks", headers=alice.headers), 200) == []
    assert (await act(client, bob, status["id"], "unbookmark"))["bookmarked"] is False
    assert await expect(await client.get("/api/v1/bookmarks", headers=bob.headers), 200) == []


async def test_bookmarks_page_by_bookmark_not_by_post(client: Client, make_user: UserFactory) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    posts = [await post_status(client, alice, f"post {i}") for i in range(5)]
    # Bookmarked oldest post last: it comes first, as the newest bookmark.
    order = [posts[1], posts[3], posts[0], posts[4], posts[2]]
    for status in order:
        await act(client, bob, status["id"], "bookmark")
    response = await client.get("/api/v1/bookmarks", params={"limit": 2}, headers=bob.headers)
    first = await expect(response, 200)
    assert [s["id"] for s in first] == [order[4]["id"], order[3]["id"]]
    max_id = link_cursor(response, "next", "max_id")
    second = await expect(
        await client.get("/api/v1/bookmarks", params={"limit": 2, "max_id": max_id}, headers=bob.headers), 200
    )
    assert [s["id"] for s in second] == [order[2]["id"], order[1]["id"]]
    newer = await expect(
        await client.get(
            "/api/v1/bookmarks", params={"min_id": link_cursor(response, "prev", "min_id")}, headers=bob.headers
        ),
        200,
    )
    assert newer == []


async def test_a_private_post_one_may_not_see_cannot_be_bookmarked(client: Client, make_user: UserFactory) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    secret = await post_status(client, alice, "followers only", visibility="private")
    await act(client, bob, secret["id"], "bookmark", 404)
    await act(client, bob, "12345", "bookmark", 404)
    response = await client.post(f"/api/v1/statuses/{secret['id']}/bookmark")
    assert response.status == 401 and "error" in await response.json()


async def test_the_cached_timeline_read_shows_each_viewers_bookmark(
    client: Client, make_user: UserFactory, res: Resources
) -> None:
    alice, bob, carol = await make_user("alice"), await make_user("bob"), await make_user("carol")
    await follow(client, bob, alice)
    await follow(client, carol, alice)
    status = await post_status(client, alice, "in home")
    await deliver(res)
    await act(client, bob, status["id"], "bookmark")
    for _ in range(2):  # the first read fills the post cache, the second is served from it
        bobs = await expect(await client.get("/api/v1/timelines/home", headers=bob.headers), 200)
        carols = await expect(await client.get("/api/v1/timelines/home", headers=carol.headers), 200)
        assert bobs[0]["bookmarked"] is True and carols[0]["bookmarked"] is False
    cached = await cached_post_entities(res, [int(status["id"])], bob.account_id)
    assert cached[0]["bookmarked"] is True


async def test_a_status_update_carries_each_followers_own_bookmark(
    client: Client, make_user: UserFactory, res: Resources
) -> None:
    alice, bob, carol = await make_user("alice"), await make_user("bob"), await make_user("carol")
    await follow(client, bob, alice)
    await follow(client, carol, alice)
    status = await post_status(client, alice, "to be bookmarked")
    await deliver(res)
    await act(client, bob, status["id"], "bookmark")
    bob_ws = await connect(client, bob.token, stream="user")
    carol_ws = await connect(client, carol.token, stream="user")
    await online(res, bob.account_id, carol.account_id)
    await hub_settled(client)
    await act(client, carol, status["id"], "favourite")
    await deliver(res)

    def is_change(f: dict[str, Any]) -> bool:
        return bool(f["event"] == "status.update" and f["payload"]["id"] == status["id"])

    for_bob = (await frames_until(bob_ws, is_change))[-1]
    for_carol = (await frames_until(carol_ws, is_change))[-1]
    assert for_bob["payload"]["bookmarked"] is True and for_bob["payload"]["favourited"] is False
    assert for_carol["payload"]["bookmarked"] is False and for_carol["payload"]["favourited"] is True
    for ws in (bob_ws, carol_ws):
        await ws.close()


# pins --------------------------------------------------------------------------------------------------


async def test_pins_show_on_the_profile_and_only_to_their_owner_as_pinned(
    client: Client, make_user: UserFactory
) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    first = await post_status(client, alice, "first")
    second = await post_status(client, alice, "second", visibility="unlisted")
    await post_status(client, alice, "not pinned")
    assert (await act(client, alice, first["id"], "pin"))["pinned"] is True
    await act(client, alice, second["id"], "pin")
    await act(client, alice, second["id"], "pin")  # idempotent
    url = f"/api/v1/accounts/{alice.id}/statuses"
    pinned = await expect(await client.get(url, params={"pinned": "true"}, headers=alice.headers), 200)
    assert [s["id"] for s in pinned] == [second["id"], first["id"]]
    assert all(s["pinned"] is True for s in pinned)
    as_bob = await expect(await client.get(url, params={"pinned": "true"}, headers=bob.headers), 200)
    assert [s["id"] for s in as_bob] == [second["id"], first["id"]]
    assert all(s["pinned"] is False for s in as_bob)
    past = await expect(await client.get(url, params={"pinned": "true", "max_id": first["id"]}), 200)
    assert past == []
    assert (await act(client, alice, first["id"], "unpin"))["pinned"] is False
    pinned = await expect(await client.get(url, params={"pinned": "true"}), 200)
    assert [s["id"] for s in pinned] == [second["id"]]


async def test_a_sixth_pin_anothers_post_a_repost_and_a_private_post_are_refused(
    client: Client, make_user: UserFactory, res: Resources
) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    posts = [await post_status(client, alice, f"pin {i}") for i in range(6)]
    for status in posts[:5]:
        await act(client, alice, status["id"], "pin")
    sixth = await act(client, alice, posts[5]["id"], "pin", 422)
    assert "limited to 5" in sixth["error"]
    others = await act(client, bob, posts[0]["id"], "pin", 422)
    assert "own" in others["error"]
    repost = await act(client, alice, (await post_status(client, bob, "bob's"))["id"], "reblog")
    assert "repost" in (await act(client, alice, repost["id"], "pin", 422))["error"]
    private = await post_status(client, alice, "followers only", visibility="private")
    assert "public and unlisted" in (await act(client, alice, private["id"], "pin", 422))["error"]
    assert await res.db.fetchval("SELECT count(*) FROM pins") == 5


async def test_concurrent_pins_never_pass_the_limit(client: Client, make_user: UserFactory, res: Resources) -> None:
    alice = await make_user("alice")
    posts = [await post_status(client, alice, f"pin {i}") for i in range(8)]
    responses = await asyncio.gather(
        *(client.post(f"/api/v1/statuses/{s['id']}/pin", headers=alice.headers) for s in posts)
    )
    statuses = sorted(r.status for r in responses)
    assert statuses == [200] * 5 + [422] * 3
    assert await res.db.fetchval("SELECT count(*) FROM pins") == 5


async def test_a_deleted_post_leaves_the_pins_and_the_bookmarks(client: Client, make_user: UserFactory) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    status = await post_status(client, alice, "short-lived")
    await act(client, alice, status["id"], "pin")
    await act(client, bob, status["id"], "bookmark")
    await expect(await client.delete(f"/api/v1/statuses/{status['id']}", headers=alice.headers), 200)
    pinned = await client.get(f"/api/v1/accounts/{alice.id}/statuses", params={"pinned": "true"})
    assert await expect(pinned, 200) == []
    assert await expect(await client.get("/api/v1/bookmarks", headers=bob.headers), 200) == []


# endorsements ------------------------------------------------------------------------------------------


async def test_endorsing_needs_a_follow_and_shows_in_the_relationship(client: Client, make_user: UserFactory) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    refused = await expect(await client.post(f"/api/v1/accounts/{bob.id}/endorse", headers=alice.headers), 422)
    assert "follow" in refused["error"]
    await follow(client, alice, bob)
    relationship = await expect(await client.post(f"/api/v1/accounts/{bob.id}/endorse", headers=alice.headers), 200)
    assert relationship["endorsed"] is True
    listed = await expect(await client.get("/api/v1/endorsements", headers=alice.headers), 200)
    assert [a["id"] for a in listed] == [bob.id]
    seen = await expect(
        await client.get("/api/v1/accounts/relationships", params={"id[]": bob.id}, headers=alice.headers), 200
    )
    assert seen[0]["endorsed"] is True
    # Unfollowing ends the endorsement.
    await expect(await client.post(f"/api/v1/accounts/{bob.id}/unfollow", headers=alice.headers), 200)
    assert await expect(await client.get("/api/v1/endorsements", headers=alice.headers), 200) == []
    await expect(await client.post("/api/v1/accounts/999/endorse", headers=alice.headers), 404)
