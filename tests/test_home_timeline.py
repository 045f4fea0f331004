"""The home timeline: fan-out on write into Valkey, the high-follower merge, rebuild from PostgreSQL, cursors,
follows, deletes, the reply rule, repost fall-off, expiry, and the post cache behind every read."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from conftest import ClientFactory, UserFactory
from social import Client, User, expect, follow, link_cursor, post_status

from core.pagination import Page
from domain import cached_posts, timelines
from domain.cached_posts import cached_post_entities
from domain.post_entities import post_entities
from domain.posts import PostDraft, create_post
from storage import home_page, post_cache, timeline_cache
from storage.resources import Resources
from workers.queues import all_queues
from workers.runner import JobRunner

# Each test runs on one Valkey and on a Valkey Cluster (tests/conftest.py).
pytestmark = pytest.mark.valkey_modes

Drain = Callable[[], Awaitable[None]]


async def drain(res: Resources) -> None:
    """Run the timeline and post-cache jobs recorded so far, as the worker would."""
    runner = JobRunner(res, all_queues())
    for _ in range(5):
        if not await runner.drain("timeline") + await runner.drain("post_cache"):
            return


def with_settings(res: Resources, **changes: Any) -> Resources:
    return dataclasses.replace(res, settings=dataclasses.replace(res.settings, **changes))


async def home(client: Client, user: User, **params: Any) -> Any:
    response = await client.get("/api/v1/timelines/home", params=params, headers=user.headers)
    return response, await expect(response, 200)


async def home_ids(client: Client, user: User, **params: Any) -> list[str]:
    _, body = await home(client, user, **params)
    return [status["id"] for status in body]


async def cached_ids(res: Resources, user: User) -> list[str] | None:
    entries = await timelines.cached_entries(res, user.account_id)
    return None if entries is None else [str(e.post_id) for e in entries]


async def unfollow(client: Client, user: User, target: User) -> None:
    await expect(await client.post(f"/api/v1/accounts/{target.id}/unfollow", headers=user.headers), 200)


async def write(res: Resources, author: User, count: int, text: str = "post") -> list[str]:
    """Posts made straight through the domain, back to back (ids often a few apart, sharing a score)."""
    return [str(await create_post(res, author.account_id, PostDraft(text=f"{text} {i}"))) for i in range(count)]


# reading and rebuilding --------------------------------------------------------------------------------


async def test_home_shows_followed_and_own_posts_newest_first(
    client: Client, make_user: UserFactory, res: Resources
) -> None:
    alice, bob, carol = await make_user("alice"), await make_user("bob"), await make_user("carol")
    await follow(client, alice, bob)
    first = await post_status(client, bob, "one")
    mine = await post_status(client, alice, "mine")
    second = await post_status(client, bob, "two")
    await post_status(client, carol, "not followed")
    await drain(res)
    assert await home_ids(client, alice) == [second["id"], mine["id"], first["id"]]


async def test_a_missing_timeline_is_rebuilt_during_the_read(
    client: Client, make_user: UserFactory, res: Resources
) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    await follow(client, alice, bob)
    posts = await write(res, bob, 5)
    # No worker has run and nothing is cached: the read itself builds the timeline from PostgreSQL.
    assert await cached_ids(res, alice) is None
    assert await home_ids(client, alice) == posts[::-1]
    assert await cached_ids(res, alice) == posts[::-1]


async def test_the_timeline_is_rebuilt_after_flushall(client: Client, make_user: UserFactory, res: Resources) -> None:
    alice, bob, carol = await make_user("alice"), await make_user("bob"), await make_user("carol")
    await follow(client, alice, bob)
    await follow(client, alice, carol)
    await write(res, bob, 3)
    await write(res, carol, 3)
    await drain(res)
    before = await home_ids(client, alice)
    assert len(before) == 6
    await res.redis.flushall()
    assert await home_ids(client, alice) == before
    await drain(res)
    # The post cache is refilled too: the next read comes from Valkey and says the same.
    assert await home_ids(client, alice) == before


async def test_fan_out_writes_only_cached_timelines(client: Client, make_user: UserFactory, res: Resources) -> None:
    alice, bob, carol = await make_user("alice"), await make_user("bob"), await make_user("carol")
    await follow(client, alice, bob)
    await follow(client, carol, bob)
    await home_ids(client, alice)  # alice's timeline is cached (empty); carol's is not
    posted = await post_status(client, bob, "news")
    await drain(res)
    assert await cached_ids(res, alice) == [posted["id"]]
    assert await cached_ids(res, carol) is None
    assert await home_ids(client, carol) == [posted["id"]]


async def test_cursors_page_through_posts_that_share_a_score(
    client: Client, make_user: UserFactory, res: Resources
) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    await follow(client, alice, bob)
    await home_ids(client, alice)
    posts = await write(res, bob, 45)
    await drain(res)
    newest_first = posts[::-1]
    # Walk back with the Link header's next cursor.
    seen: list[str] = []
    params: dict[str, Any] = {"limit": 7}
    while True:
        response, body = await home(client, alice, **params)
        if not body:
            break
        seen += [s["id"] for s in body]
        params = {"limit": 7, "max_id": link_cursor(response, "next", "max_id")}
    assert seen == newest_first
    # min_id: the page just newer than a cursor, newest first; since_id: the newest page above it.
    pivot = newest_first[20]
    assert await home_ids(client, alice, min_id=pivot, limit=5) == newest_first[15:20]
    assert await home_ids(client, alice, since_id=pivot, limit=5) == newest_first[:5]
    assert await home_ids(client, alice, max_id=pivot, limit=3) == newest_first[21:24]
    assert await home_ids(client, alice, max_id=newest_first[10], since_id=newest_first[14]) == newest_first[11:14]
    response, body = await home(client, alice, min_id=pivot, limit=5)
    assert link_cursor(response, "prev", "min_id") == newest_first[15]


async def test_a_bad_cursor_or_token_is_a_clear_error(client: Client, make_user: UserFactory) -> None:
    alice = await make_user("alice")
    response = await client.get("/api/v1/timelines/home", params={"max_id": "abc"}, headers=alice.headers)
    assert (await expect(response, 422))["error"]
    assert (await client.get("/api/v1/timelines/home")).status == 401
    reader = await make_user("reader", scopes=("write",))
    assert (await client.get("/api/v1/timelines/home", headers=reader.headers)).status == 403


async def test_reading_refreshes_the_expiry_and_fan_out_does_not(
    client: Client, make_user: UserFactory, res: Resources
) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    await follow(client, alice, bob)
    await home_ids(client, alice)
    key = timeline_cache.home_key(alice.account_id)
    thirty_days = res.settings.timeline_ttl_days * 86_400
    assert thirty_days - 60 < await res.redis.ttl(key) <= thirty_days
    await res.redis.expire(key, 100)
    await post_status(client, bob, "while alice is away")
    await drain(res)
    assert 0 < await res.redis.ttl(key) <= 100  # delivery does not keep an inactive user's timeline alive
    await home_ids(client, alice)
    assert await res.redis.ttl(key) > thirty_days - 60


async def test_the_timeline_keeps_its_newest_entries_only(
    make_client: ClientFactory, make_user: UserFactory, res: Resources
) -> None:
    client = await make_client(timeline_size=20)
    small = with_settings(res, timeline_size=20)
    alice, bob = await make_user("alice"), await make_user("bob")
    await follow(client, alice, bob)
    await home_ids(client, alice)
    newest_first: list[str] = []
    sizes = set()
    for _ in range(12):  # over the cap, the timeline is trimmed back to 19 (the cap less 4%, at least one)
        newest_first[:0] = (await write(res, bob, 3))[::-1]
        await drain(small)
        cached = await cached_ids(res, alice)
        assert cached is not None and cached == newest_first[: len(cached)]
        assert await res.redis.zcard(timeline_cache.home_key(alice.account_id)) == len(cached) + 2  # 2 meta members
        assert len(cached) == len(newest_first) or 19 <= len(cached) <= 20  # all, until the trims begin
        sizes.add(len(cached))
    assert {19, 20} <= sizes  # both seen: trimmed back, then grown to the cap again


# follows and deletes -------------------------------------------------------------------------------


async def test_follow_backfills_and_unfollow_removes(client: Client, make_user: UserFactory, res: Resources) -> None:
    alice, bob, dave = await make_user("alice"), await make_user("bob"), await make_user("dave")
    await follow(client, alice, bob)
    bobs = await write(res, bob, 2)
    await drain(res)
    await home_ids(client, alice)
    daves = await write(res, dave, 3)
    await drain(res)
    assert await cached_ids(res, alice) == bobs[::-1]
    await follow(client, alice, dave)
    await drain(res)
    assert await home_ids(client, alice) == sorted(bobs + daves, key=int, reverse=True)
    await unfollow(client, alice, dave)
    await drain(res)
    assert await cached_ids(res, alice) == bobs[::-1]
    assert await home_ids(client, alice) == bobs[::-1]


async def test_a_deleted_post_leaves_every_timeline(client: Client, make_user: UserFactory, res: Resources) -> None:
    alice, bob, carol = await make_user("alice"), await make_user("bob"), await make_user("carol")
    await follow(client, alice, bob)
    await follow(client, carol, bob)
    await home_ids(client, alice)
    await home_ids(client, carol)
    kept = await post_status(client, bob, "kept")
    gone = await post_status(client, bob, "gone")
    await drain(res)
    assert await home_ids(client, alice) == [gone["id"], kept["id"]]
    await expect(await client.delete(f"/api/v1/statuses/{gone['id']}", headers=bob.headers), 200)
    await drain(res)
    for user in (alice, carol, bob):
        assert await cached_ids(res, user) in (None, [kept["id"]])
        assert await home_ids(client, user) == [kept["id"]]
    assert await post_cache.cached_posts(res.redis, [int(gone["id"])]) == []


@pytest.mark.parametrize("read_before", [False, True], ids=["unread", "read-before"])
async def test_a_deleted_post_still_in_a_timeline_is_filtered_and_dropped_on_read(
    client: Client, make_user: UserFactory, res: Resources, read_before: bool
) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    await follow(client, alice, bob)
    await home_ids(client, alice)
    kept = await post_status(client, bob, "kept")
    gone = await post_status(client, bob, "gone")
    await drain(res)
    if read_before:  # rendered once: now in the post cache, which the delete itself empties
        assert await home_ids(client, alice) == [gone["id"], kept["id"]]
    await expect(await client.delete(f"/api/v1/statuses/{gone['id']}", headers=bob.headers), 200)
    # Before any worker runs, the entry is still there: the read filters it and removes it.
    assert gone["id"] in (await cached_ids(res, alice) or [])
    assert await home_ids(client, alice) == [kept["id"]]
    assert await cached_ids(res, alice) == [kept["id"]]


# the reply rule and reposts ------------------------------------------------------------------------


async def test_a_reply_reaches_only_those_who_follow_both(
    client: Client, make_user: UserFactory, res: Resources
) -> None:
    bob, carol = await make_user("bob"), await make_user("carol")
    only_bob, both, cached_both = await make_user("onlybob"), await make_user("both"), await make_user("cachedboth")
    for user in (only_bob, both, cached_both, carol):
        await follow(client, user, bob)
    for user in (both, cached_both):
        await follow(client, user, carol)
    for user in (only_bob, cached_both, carol):
        await home_ids(client, user)  # cached: the fan-out decides; `both` is rebuilt from PostgreSQL
    root = await post_status(client, carol, "question")
    reply = await post_status(client, bob, "answer", in_reply_to_id=root["id"])
    thread = await post_status(client, bob, "and more", in_reply_to_id=reply["id"])
    await drain(res)
    assert await home_ids(client, only_bob) == [thread["id"]]  # a reply in bob's own thread is fine
    for user in (both, cached_both):
        assert await home_ids(client, user) == [thread["id"], reply["id"], root["id"]]
    assert reply["id"] in await home_ids(client, carol)  # the account replied to sees it


async def test_a_repost_of_a_recent_post_is_not_inserted_again(
    client: Client, make_user: UserFactory, res: Resources
) -> None:
    alice, bob, carol = await make_user("alice"), await make_user("bob"), await make_user("carol")
    await follow(client, alice, bob)
    await follow(client, alice, carol)
    await home_ids(client, alice)
    original = await post_status(client, bob, "fresh")
    await drain(res)
    repost = await expect(await client.post(f"/api/v1/statuses/{original['id']}/reblog", headers=carol.headers), 200)
    await drain(res)
    assert await cached_ids(res, alice) == [original["id"]]
    # Once the original has fallen below the newest 40 entries, a repost brings it back.
    old = await post_status(client, bob, "old news")
    filler = await write(res, bob, 40, "filler")
    await drain(res)
    again = await expect(await client.post(f"/api/v1/statuses/{old['id']}/reblog", headers=carol.headers), 200)
    await drain(res)
    ids = await home_ids(client, alice, limit=1)
    assert ids == [again["id"]]
    assert filler[-1] in await home_ids(client, alice, limit=2)
    assert repost["id"] not in (await cached_ids(res, alice) or [])


async def test_reposts_are_hidden_for_follows_that_hide_them(
    client: Client, make_user: UserFactory, res: Resources
) -> None:
    alice, bob, carol = await make_user("alice"), await make_user("bob"), await make_user("carol")
    response = await client.post(f"/api/v1/accounts/{bob.id}/follow", json={"reblogs": False}, headers=alice.headers)
    await expect(response, 200)
    await home_ids(client, alice)
    original = await post_status(client, carol, "carol's")
    await expect(await client.post(f"/api/v1/statuses/{original['id']}/reblog", headers=bob.headers), 200)
    own = await post_status(client, bob, "bob's own")
    await drain(res)
    assert await home_ids(client, alice) == [own["id"]]


# the high-follower merge ---------------------------------------------------------------------------


async def test_high_follower_posts_are_merged_at_read_time(
    make_client: ClientFactory, make_user: UserFactory, res: Resources
) -> None:
    client = await make_client(fanout_max_followers=2)
    small = with_settings(res, fanout_max_followers=2)
    star, bob = await make_user("star"), await make_user("bob")
    alice, fan2, fan3 = await make_user("alice"), await make_user("fan2"), await make_user("fan3")
    for user in (alice, fan2, fan3):
        await follow(client, user, star)
    await follow(client, alice, bob)
    await home_ids(client, alice)
    posted: list[str] = []
    for i in range(4):
        posted += await write(small, star, 1, f"star {i}")
        posted += await write(small, bob, 1, f"bob {i}")
    await drain(small)
    # The star's posts are not in alice's timeline, yet the read shows them in place.
    cached = await cached_ids(res, alice)
    assert cached is not None and set(cached) == set(posted[1::2])
    newest_first = posted[::-1]
    assert await home_ids(client, alice) == newest_first
    # Cursors work across the merge: walk one at a time in both directions.
    seen: list[str] = []
    params: dict[str, Any] = {"limit": 1}
    while True:
        response, body = await home(client, alice, **params)
        if not body:
            break
        seen.append(body[0]["id"])
        params = {"limit": 1, "max_id": link_cursor(response, "next", "max_id")}
    assert seen == newest_first
    assert await home_ids(client, alice, min_id=newest_first[5], limit=2) == newest_first[3:5]
    # The author timeline was built on the first read and receives new posts from then on.
    later = await write(small, star, 1, "later")
    await drain(small)
    assert (await home_ids(client, alice, limit=1)) == later


async def test_followers_learn_to_merge_an_account_that_crosses_the_threshold(
    make_client: ClientFactory, make_user: UserFactory, res: Resources
) -> None:
    client = await make_client(fanout_max_followers=2)
    small = with_settings(res, fanout_max_followers=2)
    star, alice, fan2, fan3 = [await make_user(n) for n in ("star", "alice", "fan2", "fan3")]
    await follow(client, alice, star)
    await follow(client, fan2, star)
    await home_ids(client, alice)  # built while star had 2 followers: fanned out to, not merged
    before = await write(small, star, 1, "small")
    await drain(small)
    assert await cached_ids(res, alice) == before
    await follow(client, fan3, star)  # now 3 followers: above the threshold
    after = await write(small, star, 1, "famous")
    await drain(small)
    assert await cached_ids(res, alice) == before
    assert await home_ids(client, alice) == after + before
    # A new follower of a high-follower account merges it too.
    dan = await make_user("dan")
    await home_ids(client, dan)
    await follow(client, dan, star)
    await drain(small)
    assert await home_ids(client, dan) == after + before
    await unfollow(client, dan, star)
    await drain(small)
    assert await home_ids(client, dan) == []


async def test_high_follower_replies_reach_followers_of_both(
    make_client: ClientFactory, make_user: UserFactory, res: Resources
) -> None:
    client = await make_client(fanout_max_followers=2)
    small = with_settings(res, fanout_max_followers=2)
    star, carol = await make_user("star"), await make_user("carol")
    alice, fan2, fan3 = await make_user("alice"), await make_user("fan2"), await make_user("fan3")
    for user in (alice, fan2, fan3):
        await follow(client, user, star)
    await follow(client, alice, carol)
    await home_ids(client, alice)
    await home_ids(client, fan2)
    question = await post_status(client, carol, "star?")
    answer = await create_post(small, star.account_id, PostDraft(text="yes", in_reply_to_id=int(question["id"])))
    await drain(small)
    assert await home_ids(client, alice) == [str(answer), question["id"]]
    assert await home_ids(client, fan2) == []


# the post cache ------------------------------------------------------------------------------------


async def test_viewer_fields_are_right_for_each_viewer(client: Client, make_user: UserFactory, res: Resources) -> None:
    alice, bob, carol = await make_user("alice"), await make_user("bob"), await make_user("carol")
    await follow(client, alice, bob)
    await follow(client, carol, bob)
    posted = await post_status(client, bob, "like me")
    await drain(res)
    await home_ids(client, alice)
    await home_ids(client, carol)  # both reads now come from the post cache
    await expect(await client.post(f"/api/v1/statuses/{posted['id']}/favourite", headers=alice.headers), 200)
    await expect(await client.put(f"/api/v1/statuses/{posted['id']}/reactions/love", headers=carol.headers), 200)
    await drain(res)
    _, for_alice = await home(client, alice)
    _, for_carol = await home(client, carol)
    assert for_alice[0]["favourited"] is True and for_carol[0]["favourited"] is False
    assert for_alice[0]["favourites_count"] == 1 == for_carol[0]["favourites_count"]
    assert {r["name"]: r["me"] for r in for_alice[0]["reactions"]} == {"like": True, "love": False}
    assert {r["name"]: r["me"] for r in for_carol[0]["reactions"]} == {"like": False, "love": True}


async def test_cached_entities_match_post_entities_for_every_kind_of_post(
    client: Client, make_user: UserFactory, res: Resources, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice, bob, carol = await make_user("alice"), await make_user("bob"), await make_user("carol")
    await follow(client, alice, bob)
    await follow(client, carol, bob)
    plain = await post_status(client, bob, "plain #tag with @carol")
    private = await post_status(client, bob, "followers only", visibility="private")
    quote = await post_status(client, carol, "look", quoted_status_id=plain["id"])
    quote_of_quote = await post_status(client, bob, "deeper", quoted_status_id=quote["id"])
    private_quote = await post_status(client, bob, "mine", quoted_status_id=private["id"])
    repost = await expect(await client.post(f"/api/v1/statuses/{quote['id']}/reblog", headers=bob.headers), 200)
    await expect(await client.post(f"/api/v1/statuses/{plain['id']}/favourite", headers=alice.headers), 200)
    await expect(await client.put(f"/api/v1/statuses/{quote['id']}/reactions/love", headers=alice.headers), 200)
    reply = await post_status(client, alice, "reply", in_reply_to_id=plain["id"])
    ids = [int(s["id"]) for s in (plain, private, quote, quote_of_quote, private_quote, repost, reply)]
    await drain(res)
    stranger = await make_user("stranger")  # follows nobody: bob's private posts are not for them
    viewers = (alice.account_id, carol.account_id, bob.account_id, stranger.account_id, None)
    expected = {viewer: await post_entities(res, ids, viewer) for viewer in viewers}
    assert private["id"] not in {e["id"] for e in expected[stranger.account_id]}
    for viewer in viewers:
        assert await cached_post_entities(res, ids, viewer) == expected[viewer]  # filling the cache
    assert await post_cache.cached_posts(res.redis, ids) == ids

    async def not_from_postgresql(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a warm cache needs no post_entities fallback")

    monkeypatch.setattr(cached_posts, "post_entities", not_from_postgresql)
    for viewer in viewers:
        assert await cached_post_entities(res, ids, viewer) == expected[viewer]  # from the cache


async def test_a_warm_home_page_carries_every_mark_of_the_viewer_as_post_entities_does(
    client: Client, make_user: UserFactory, res: Resources
) -> None:
    """The assembly joins cached JSON text with the viewer's marks: each entity of a warm home page is what
    post_entities gives, whatever the viewer did to the post (liked, reacted, bookmarked, pinned, muted,
    reposted)."""
    alice, bob, carol = await make_user("alice"), await make_user("bob"), await make_user("carol")
    await follow(client, alice, bob)
    plain = await post_status(client, bob, "plain")
    marked = await post_status(client, bob, "marked every way")
    own = await post_status(client, alice, "pinned by its author")
    elsewhere = await post_status(client, carol, "reposted into alice's home")
    repost = await expect(await client.post(f"/api/v1/statuses/{elsewhere['id']}/reblog", headers=alice.headers), 200)
    for action in ("favourite", "bookmark"):
        await expect(await client.post(f"/api/v1/statuses/{marked['id']}/{action}", headers=alice.headers), 200)
    await expect(await client.put(f"/api/v1/statuses/{marked['id']}/reactions/love", headers=alice.headers), 200)
    await expect(await client.post(f"/api/v1/statuses/{own['id']}/pin", headers=alice.headers), 200)
    await expect(await client.post(f"/api/v1/statuses/{marked['id']}/mute", headers=alice.headers), 200)
    await drain(res)
    await home(client, alice)  # fills the post cache
    _, page = await home(client, alice)
    ids = [int(s["id"]) for s in page]
    assert ids == [int(s["id"]) for s in (repost, own, marked, plain)]
    expected = await post_entities(res, ids, alice.account_id, context="home")
    assert page == expected
    assert page[2]["favourited"] and page[2]["bookmarked"] and page[2]["muted"] and page[1]["pinned"]
    assert page[0]["reblog"]["reblogged"] is True and page[0]["reblogged"] is True


async def test_counters_in_the_cache_follow_likes_and_reposts(
    client: Client, make_user: UserFactory, res: Resources
) -> None:
    alice, bob, carol = await make_user("alice"), await make_user("bob"), await make_user("carol")
    await follow(client, alice, bob)
    posted = await post_status(client, bob, "count me")
    await drain(res)
    await home_ids(client, alice)
    assert await post_cache.cached_posts(res.redis, [int(posted["id"])])
    for user in (alice, carol):
        await expect(await client.post(f"/api/v1/statuses/{posted['id']}/favourite", headers=user.headers), 200)
    await expect(await client.post(f"/api/v1/statuses/{posted['id']}/reblog", headers=carol.headers), 200)
    await post_status(client, carol, "reply", in_reply_to_id=posted["id"])
    await drain(res)
    assert await post_cache.cached_posts(res.redis, [int(posted["id"])]), "the cached post is rewritten, not dropped"
    _, body = await home(client, alice)
    entity = next(s for s in body if s["id"] == posted["id"])
    assert (entity["favourites_count"], entity["reblogs_count"], entity["replies_count"]) == (2, 1, 1)
    assert entity["favourited"] is True and entity["reblogged"] is False


async def test_missed_home_posts_for_stream_resume(client: Client, make_user: UserFactory, res: Resources) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    await follow(client, alice, bob)
    posts = await write(res, bob, 6)
    await drain(res)
    missed, more = await timelines.missed_home_posts(res, alice.account_id, int(posts[1]), limit=10)
    assert [e["id"] for e in missed] == posts[2:] and more is False
    missed, more = await timelines.missed_home_posts(res, alice.account_id, int(posts[1]), limit=3)
    assert [e["id"] for e in missed] == posts[2:5] and more is True
    assert (await timelines.home_timeline(res, alice.account_id, Page(limit=2)))[1] == [int(p) for p in posts[:3:-1]]


async def test_one_script_call_reads_a_page_across_the_whole_id_range(res: Resources) -> None:
    """The home page script compares ids as 8 bytes and names keys by decimal ids it computes itself: ids at
    the edges of 32 and 53 bits and near 2^63 must sort, bound and hydrate exactly."""
    ids = [5, 2**32 - 1, 2**32, 2**32 + 1, 2**53 + 1, 2**53 + 2, 2**63 - 2, 2**63 - 1]
    reader, author = 2**63 - 7, 2**62 + 3
    home_entries = [timeline_cache.Entry(i, 11, None) for i in ids[::2]]
    author_entries = [timeline_cache.Entry(i, author, None) for i in ids[1::2]]
    followed = [timeline_cache.Followed(author, True)]
    await res.redis.delete(timeline_cache.home_key(reader), timeline_cache.author_key(author))
    for key, entries, records in (
        (timeline_cache.home_key(reader), home_entries, followed),
        (timeline_cache.author_key(author), author_entries, []),
    ):
        assert not await timeline_cache.begin_build(res.redis, key)
        await timeline_cache.finish_build(res.redis, key, entries, records, cap=800, ttl=60)
    await post_cache.put(res.redis, {i: b";\n{}\n{}" for i in ids}, {})

    def bounds(lower: int | None, upper: int | None, limit: int, newest_first: bool = True) -> home_page.Bounds:
        return home_page.Bounds(lower, upper, limit, limit + 16, newest_first)

    page = await home_page.read_home_page(res.redis, reader, bounds(None, None, 20), ttl=60, hydrate=True)
    assert isinstance(page, home_page.HomePage) and page.hydrated is not None
    assert [e.post_id for e in page.entries] == ids[::-1]
    assert sorted(page.hydrated.pieces) == ids
    page = await home_page.read_home_page(res.redis, reader, bounds(2**32 - 1, 2**63 - 2, 3), ttl=60, hydrate=False)
    assert isinstance(page, home_page.HomePage)
    assert [e.post_id for e in page.entries] == [2**53 + 2, 2**53 + 1, 2**32 + 1]
    page = await home_page.read_home_page(
        res.redis, reader, bounds(5, None, 2, newest_first=False), ttl=60, hydrate=False
    )
    assert isinstance(page, home_page.HomePage)
    assert [e.post_id for e in page.entries] == [2**32 - 1, 2**32]
    await res.redis.delete(timeline_cache.author_key(author))
    missing = await home_page.read_home_page(res.redis, reader, bounds(None, None, 20), ttl=60, hydrate=False)
    assert missing == home_page.MissingAuthors([author])
