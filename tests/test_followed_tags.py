"""Followed hashtags: the Tag entity (following, 7-day history), follow/unfollow/followed_tags, bad names, and
how a followed tag's public posts reach the follower's home timeline and stream: from anyone, once."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import UserFactory
from social import Client, User, expect, follow, post_status
from streams import connect, frames_until, hub_settled, online, run_queues

from storage.resources import Resources

pytestmark = pytest.mark.valkey_modes


async def deliver(res: Resources) -> None:
    await run_queues(res, "timeline", "streaming", "notifications", "post_cache")


async def home_ids(client: Client, user: User) -> list[str]:
    return [s["id"] for s in await expect(await client.get("/api/v1/timelines/home", headers=user.headers), 200)]


async def follow_tag(client: Client, user: User, name: str, action: str = "follow", status: int = 200) -> Any:
    return await expect(await client.post(f"/api/v1/tags/{name}/{action}", headers=user.headers), status)


async def test_a_tag_shows_whether_you_follow_it_and_its_week(client: Client, make_user: UserFactory) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    await post_status(client, bob, "#Chirp one")
    await post_status(client, bob, "#chirp two")
    await post_status(client, alice, "#chirp three")
    tag = await expect(await client.get("/api/v1/tags/Chirp", headers=alice.headers), 200)
    assert tag["name"] == "chirp" and tag["following"] is False
    assert len(tag["history"]) == 7
    assert tag["history"][0]["uses"] == "3" and tag["history"][0]["accounts"] == "2"
    assert all(day["uses"] == "0" for day in tag["history"][1:])
    followed = await follow_tag(client, alice, "chirp")
    assert followed["following"] is True
    assert (await follow_tag(client, alice, "CHIRP"))["following"] is True  # idempotent, normalised
    listed = await expect(await client.get("/api/v1/followed_tags", headers=alice.headers), 200)
    assert [t["name"] for t in listed] == ["chirp"]
    assert (await follow_tag(client, alice, "chirp", "unfollow"))["following"] is False
    assert await expect(await client.get("/api/v1/followed_tags", headers=alice.headers), 200) == []


async def test_a_name_that_is_not_a_hashtag_is_a_422(client: Client, make_user: UserFactory) -> None:
    alice = await make_user("alice")
    for bad in ("123", "no-dash", "a" * 101, "%20"):
        answer = await follow_tag(client, alice, bad, status=422)
        assert "is not a hashtag" in answer["error"]
    assert "is not a hashtag" in (await expect(await client.get("/api/v1/tags/12"), 422))["error"]


async def test_a_followed_tags_post_reaches_home_once_from_anyone_and_after_flushall(
    client: Client, make_user: UserFactory, res: Resources
) -> None:
    alice, bob, carol = await make_user("alice"), await make_user("bob"), await make_user("carol")
    await follow(client, alice, bob)
    old = await post_status(client, carol, "earlier #cats")
    await home_ids(client, alice)  # cached
    await follow_tag(client, alice, "cats")  # backfills the cached timeline
    assert await home_ids(client, alice) == [old["id"]]
    from_stranger = await post_status(client, carol, "#cats are great")
    from_followed = await post_status(client, bob, "#cats and me")
    untagged = await post_status(client, carol, "no tag")
    unlisted = await post_status(client, carol, "quiet #cats", visibility="unlisted")
    await deliver(res)
    expected = [from_followed["id"], from_stranger["id"], old["id"]]
    assert await home_ids(client, alice) == expected
    assert untagged["id"] not in expected and unlisted["id"] not in expected
    await res.redis.flushall()
    assert await home_ids(client, alice) == expected


async def test_a_followed_tags_post_is_streamed_once_even_from_a_followed_author(
    client: Client, make_user: UserFactory, res: Resources
) -> None:
    alice, bob, carol = await make_user("alice"), await make_user("bob"), await make_user("carol")
    await follow(client, alice, bob)
    await follow_tag(client, alice, "dogs")
    ws = await connect(client, alice.token, stream="user")
    await online(res, alice.account_id)
    await hub_settled(client)
    both = await post_status(client, bob, "#dogs by bob")
    stranger = await post_status(client, carol, "#dogs by carol")
    await deliver(res)
    wanted = {both["id"], stranger["id"]}
    seen: list[str] = []

    def got(f: dict[str, Any], wanted: set[str]) -> bool:
        if f["event"] == "update":
            seen.append(f["payload"]["id"])
        return wanted <= set(seen)

    await frames_until(ws, lambda f: got(f, wanted))
    # A later post, once it arrives, shows that no second copy of either was on its way.
    marker = await post_status(client, alice, "the end")
    await deliver(res)
    await frames_until(ws, lambda f: got(f, {marker["id"]}))
    assert sorted(seen) == sorted([*wanted, marker["id"]])
    await ws.close()
