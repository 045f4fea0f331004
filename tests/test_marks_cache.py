"""Each API process caches its readers' marks on the pages they read (storage/marks_cache.py): a page read
again makes no PostgreSQL query, and every change (the reader's own writes, a block by someone else,
moderation) reaches every process's cache."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from conftest import ClientFactory, UserFactory
from live import serve_app, signed_in
from mastodon import Mastodon
from social import Client, User, expect, follow, post_status
from streams import eventually, run_queues

from api.keys import RESOURCES
from app.main import create_app
from config import Settings
from storage.marks_cache import MARKS_CHANNEL, MarksCache
from storage.pubsub import parse_ids
from storage.resources import Resources
from storage.timelines import ViewerMarks

# Each test runs on one Valkey and on a Valkey Cluster (tests/conftest.py).
pytestmark = pytest.mark.valkey_modes


# The cache on its own (an injected clock) -------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def live_cache(ttl: float = 10.0, size: int = 100, clock: Callable[[], float] | None = None) -> MarksCache:
    cache = MarksCache(ttl, size, clock or Clock())
    cache.resume()
    return cache


def marks(*liked: int) -> ViewerMarks:
    return ViewerMarks(set(liked), set(), {})


def store(cache: MarksCache, viewer: int, posts: set[int], authors: set[int], answer: ViewerMarks) -> None:
    cache.put(viewer, posts, authors, answer, cache.stamp(viewer))


def test_an_entry_answers_pages_asking_about_no_more_than_it_was_asked() -> None:
    cache = live_cache()
    store(cache, 1, {10, 11, 12}, {100, 101}, marks(11))
    assert cache.get(1, {10, 11, 12}, {100, 101}) == marks(11)
    assert cache.get(1, {11}, {101}) == marks(11)
    assert cache.get(1, {11, 13}, {101}) is None  # a post it was not asked about
    assert cache.get(1, {11}, {102}) is None  # an author it was not asked about
    assert cache.get(2, {11}, {101}) is None  # another viewer
    assert (cache.hits, cache.misses) == (2, 3)


def test_an_entry_lives_until_its_ttl_runs_out_and_the_oldest_go_at_the_bound() -> None:
    clock = Clock()
    cache = live_cache(ttl=10.0, size=2, clock=clock)
    store(cache, 1, {10}, set(), marks())
    clock.now += 9.9
    assert cache.get(1, {10}, set()) is not None
    clock.now += 0.1
    assert cache.get(1, {10}, set()) is None
    for viewer in (1, 2, 3):
        store(cache, viewer, {10}, set(), marks())
    assert not cache.holds(1) and cache.holds(2) and cache.holds(3) and len(cache) == 2


def test_a_lookup_that_raced_a_drop_of_its_viewer_does_not_store_its_result() -> None:
    cache = live_cache()
    started, other = cache.stamp(1), cache.stamp(2)
    cache.drop([1])  # the like lands while viewer 1's lookup is at PostgreSQL
    cache.put(1, {10}, set(), marks(), started)
    assert not cache.holds(1)
    cache.put(2, {10}, set(), marks(), other)  # another viewer's lookup is not held back
    assert cache.holds(2)
    started = cache.stamp(2)
    cache.forget_everyone()
    cache.put(2, {10}, set(), marks(), started)
    assert len(cache) == 0


def test_the_drop_counts_are_bounded_without_letting_a_raced_lookup_through() -> None:
    cache = live_cache(size=2)
    started = cache.stamp(1)
    cache.drop([1])
    cache.drop(range(100, 108))  # eight viewers dropped: the counts are forgotten, with a new generation
    cache.drop([200])
    assert len(cache._drops) <= 9
    cache.put(1, {10}, set(), marks(), started)
    assert not cache.holds(1)


def test_nothing_is_cached_while_drops_cannot_arrive_nor_when_turned_off() -> None:
    cache = MarksCache(10.0, 100, Clock())
    store(cache, 1, {10}, set(), marks())
    assert not cache.live and len(cache) == 0
    cache.resume()
    store(cache, 1, {10}, set(), marks())
    assert cache.holds(1)
    cache.suspend()
    assert len(cache) == 0 and cache.get(1, {10}, set()) is None
    for off in (live_cache(ttl=0.0), live_cache(size=0)):
        assert not off.enabled
        store(off, 1, {10}, set(), marks())
        assert len(off) == 0


def test_messages_name_the_viewers_or_everyone() -> None:
    assert parse_ids(b"[1,2]") == [1, 2]
    for everyone in (b'"everyone"', b"", b"1", b'["1"]', b"[true]", b"not json"):
        assert parse_ids(everyone) is None, everyone
    cache = live_cache()
    for viewer in (1, 2, 3):
        store(cache, viewer, {10}, set(), marks())
    cache.apply(b"[1]")
    assert not cache.holds(1) and cache.holds(2)
    cache.apply(b'"everyone"')
    assert len(cache) == 0 and cache.live


# Through the API ---------------------------------------------------------------------------------------


def cache_of(client: Client) -> MarksCache:
    return client.app[RESOURCES].marks


async def home(client: Client, user: User) -> dict[str, dict[str, Any]]:
    body = await expect(await client.get("/api/v1/timelines/home", headers=user.headers), 200)
    return {status["id"]: status for status in body}


async def followed_post(res: Resources, client: Client, reader: User, author: User, **params: Any) -> dict[str, Any]:
    """`reader` follows `author`, who posts; delivered as the workers would, and read once, which fills the
    post cache (the page's next read is assembled from it, with the marks)."""
    await follow(client, reader, author)
    post = await post_status(client, author, "a post to mark", **params)
    await run_queues(res, "timeline", "post_cache")
    await home(client, reader)
    return post


async def test_a_page_read_again_is_marked_from_the_cache_without_asking_postgresql(
    make_client: ClientFactory, make_user: UserFactory, res: Resources
) -> None:
    client, uncached = await make_client(), await make_client(marks_cache_seconds=0.0)
    alice, bob = await make_user("alice"), await make_user("bob")
    post = await followed_post(res, client, alice, bob)
    assert (await home(client, alice))[post["id"]]["favourited"] is False
    assert cache_of(client).holds(alice.account_id)
    # Liked behind Chirp's back (no write request, no announcement): only the cache still says no.
    await res.db.execute(
        "INSERT INTO likes (id, account_id, post_id) VALUES ($1, $2, $3)",
        res.ids.next_id(),
        alice.account_id,
        int(post["id"]),
    )
    hits = cache_of(client).hits
    assert (await home(client, alice))[post["id"]]["favourited"] is False
    assert cache_of(client).hits == hits + 1
    assert (await home(uncached, alice))[post["id"]]["favourited"] is True
    assert len(cache_of(uncached)) == 0


async def test_the_readers_own_marks_show_at_once_in_the_process_that_took_them(
    client: Client, make_user: UserFactory, res: Resources
) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    post = await followed_post(res, client, alice, bob)
    shown = (await home(client, alice))[post["id"]]
    assert not (shown["favourited"] or shown["bookmarked"] or shown["reblogged"] or shown["muted"])
    for action, mark in (
        ("favourite", "favourited"),
        ("bookmark", "bookmarked"),
        ("reblog", "reblogged"),
        ("mute", "muted"),
    ):
        await expect(await client.post(f"/api/v1/statuses/{post['id']}/{action}", headers=alice.headers), 200)
        assert not cache_of(client).holds(alice.account_id)
        assert (await home(client, alice))[post["id"]][mark] is True, action
    await expect(await client.post(f"/api/v1/statuses/{post['id']}/unfavourite", headers=alice.headers), 200)
    assert (await home(client, alice))[post["id"]]["favourited"] is False


async def test_a_mark_taken_through_one_process_reaches_another_that_had_the_page_cached(
    make_client: ClientFactory, make_user: UserFactory, res: Resources
) -> None:
    first, second = await make_client(), await make_client()
    alice, bob = await make_user("alice"), await make_user("bob")
    post = await followed_post(res, first, alice, bob)
    for client in (first, second):
        assert (await home(client, alice))[post["id"]]["favourited"] is False
        assert cache_of(client).holds(alice.account_id)
    await expect(await first.post(f"/api/v1/statuses/{post['id']}/favourite", headers=alice.headers), 200)
    await eventually(lambda: not cache_of(second).holds(alice.account_id), "the second process dropped alice")
    assert (await home(second, alice))[post["id"]]["favourited"] is True


async def _react(client: Client, user: User, post: dict[str, Any]) -> Any:
    return await client.put(f"/api/v1/statuses/{post['id']}/reactions/love", headers=user.headers)


def _on(mark: str) -> Callable[[dict[str, dict[str, Any]], dict[str, Any]], bool]:
    return lambda page, post: page[post["id"]][mark] is True


# Each of the reader's own writes that changes what its page shows, and how the page shows it.
OWN_WRITES: dict[str, tuple[Callable[..., Any], Callable[[dict[str, dict[str, Any]], dict[str, Any]], bool]]] = {
    "favourite": (
        lambda c, u, b, p: c.post(f"/api/v1/statuses/{p['id']}/favourite", headers=u.headers),
        _on("favourited"),
    ),
    "reaction": (
        lambda c, u, b, p: _react(c, u, p),
        lambda page, p: any(r["name"] == "love" and r["me"] for r in page[p["id"]]["reactions"]),
    ),
    "bookmark": (
        lambda c, u, b, p: c.post(f"/api/v1/statuses/{p['id']}/bookmark", headers=u.headers),
        _on("bookmarked"),
    ),
    "reblog": (lambda c, u, b, p: c.post(f"/api/v1/statuses/{p['id']}/reblog", headers=u.headers), _on("reblogged")),
    "conversation mute": (
        lambda c, u, b, p: c.post(f"/api/v1/statuses/{p['id']}/mute", headers=u.headers),
        _on("muted"),
    ),
    "account mute": (
        lambda c, u, b, p: c.post(f"/api/v1/accounts/{b.id}/mute", headers=u.headers),
        lambda page, p: p["id"] not in page,
    ),
    "hide filter": (
        lambda c, u, b, p: c.post(
            "/api/v2/filters",
            json={
                "title": "no",
                "context": ["home"],
                "filter_action": "hide",
                "keywords_attributes": [{"keyword": "mark"}],
            },
            headers=u.headers,
        ),
        lambda page, p: p["id"] not in page,
    ),
}


@pytest.mark.parametrize("write", list(OWN_WRITES))
async def test_each_own_write_through_one_process_shows_in_another_that_had_the_page_cached(
    make_client: ClientFactory, make_user: UserFactory, res: Resources, write: str
) -> None:
    first, second = await make_client(), await make_client()
    alice, bob = await make_user("alice"), await make_user("bob")
    post = await followed_post(res, first, alice, bob)
    request, shows = OWN_WRITES[write]
    assert not shows(await home(first, alice), post)
    assert cache_of(first).holds(alice.account_id)
    response = await request(second, alice, bob, post)
    assert response.status == 200, await response.text()
    await eventually(lambda: not cache_of(first).holds(alice.account_id), "the first process dropped alice")
    await run_queues(res, "post_cache")  # the counters in the cached post (a reaction's name shows with its count)
    assert shows(await home(first, alice), post)


async def test_a_new_post_or_a_read_marker_leaves_the_writers_marks_cached(
    make_client: ClientFactory, make_user: UserFactory, res: Resources
) -> None:
    first, second = await make_client(), await make_client()
    alice, bob, carol = await make_user("alice"), await make_user("bob"), await make_user("carol")
    post = await followed_post(res, first, alice, bob)
    await followed_post(res, first, carol, bob)
    await home(first, alice)
    assert cache_of(first).holds(alice.account_id) and cache_of(first).holds(carol.account_id)
    await post_status(second, alice, "news")
    marker = {"home": {"last_read_id": post["id"]}}
    await expect(await second.post("/api/v1/markers", json=marker, headers=alice.headers), 200)
    # Then carol writes: the channel keeps its order, so once her drop lands, alice's would have too.
    await expect(await second.post(f"/api/v1/statuses/{post['id']}/favourite", headers=carol.headers), 200)
    await eventually(lambda: not cache_of(first).holds(carol.account_id), "the first process dropped carol")
    assert cache_of(first).holds(alice.account_id)


async def test_being_blocked_through_another_process_hides_the_blockers_posts_at_once(
    make_client: ClientFactory, make_user: UserFactory, res: Resources
) -> None:
    first, second = await make_client(), await make_client()
    alice, bob, carol = await make_user("alice"), await make_user("bob"), await make_user("carol")
    blocked = await followed_post(res, first, alice, bob)
    kept = await followed_post(res, first, alice, carol)
    assert set(await home(first, alice)) == {blocked["id"], kept["id"]}
    assert cache_of(first).holds(alice.account_id)
    # bob blocks alice: alice wrote nothing, yet her rules' stamp moved (a block hides both ways).
    await expect(await second.post(f"/api/v1/accounts/{alice.id}/block", headers=bob.headers), 200)
    await eventually(lambda: not cache_of(first).holds(alice.account_id), "the first process dropped alice")
    assert set(await home(first, alice)) == {kept["id"]}


async def test_a_suspension_drops_every_readers_marks_in_every_process(
    make_client: ClientFactory, make_user: UserFactory, res: Resources
) -> None:
    first, second = await make_client(), await make_client()
    admin = await make_user("boss", scopes=("read", "write", "follow", "admin:read", "admin:write"))
    alice, bob, carol = await make_user("alice"), await make_user("bob"), await make_user("carol")
    post = await followed_post(res, first, alice, bob)
    await followed_post(res, first, carol, bob)
    for reader in (alice, carol):
        assert post["id"] in await home(first, reader)
        assert cache_of(first).holds(reader.account_id)
    await expect(
        await second.post(f"/api/v1/admin/accounts/{bob.id}/action", json={"type": "suspend"}, headers=admin.headers),
        200,
    )
    await eventually(lambda: len(cache_of(first)) == 0, "the first process dropped every reader")
    for reader in (alice, carol):
        assert post["id"] not in await home(first, reader)


async def test_a_page_with_a_followers_only_post_always_asks_postgresql(
    client: Client, make_user: UserFactory, res: Resources
) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    private = await followed_post(res, client, alice, bob, visibility="private")
    assert private["id"] in await home(client, alice)
    assert not cache_of(client).holds(alice.account_id)
    # Who follows whom decides it, and that changes by others' writes: an unfollow hides it at once.
    await expect(await client.post(f"/api/v1/accounts/{alice.id}/remove_from_followers", headers=bob.headers), 200)
    assert private["id"] not in await home(client, alice)


async def test_marks_published_by_others_are_obeyed(client: Client, make_user: UserFactory, res: Resources) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    await followed_post(res, client, alice, bob)
    await home(client, alice)
    assert cache_of(client).holds(alice.account_id)
    await res.redis.publish(MARKS_CHANNEL, f"[{alice.account_id}]")
    await eventually(lambda: not cache_of(client).holds(alice.account_id), "the process dropped alice")


# Mastodon.py, served by two processes --------------------------------------------------------------------


@pytest.fixture
async def two_servers(settings: Settings) -> AsyncIterator[tuple[str, str, Resources]]:
    first_app, second_app = create_app(settings), create_app(settings)
    async with serve_app(first_app) as first, serve_app(second_app) as second:
        yield first, second, first_app[RESOURCES]


async def test_mastodon_py_sees_its_marks_on_the_home_timeline_whichever_process_serves_it(
    two_servers: tuple[str, str, Resources], res: Resources
) -> None:
    first_url, second_url, first_res = two_servers
    alice, bob = (
        await asyncio.to_thread(signed_in, first_url, "alice"),
        await asyncio.to_thread(signed_in, first_url, "bob"),
    )
    alice_there = Mastodon(access_token=alice.access_token, api_base_url=second_url)
    await asyncio.to_thread(alice.account_follow, (await asyncio.to_thread(bob.me)).id)
    post = await asyncio.to_thread(bob.status_post, "mark me")
    await run_queues(res, "timeline", "post_cache")
    await asyncio.to_thread(alice.timeline_home)  # fills the post cache
    alice_id = int((await asyncio.to_thread(alice.me)).id)

    def marks_on_first() -> tuple[bool, bool]:
        shown = next(s for s in alice.timeline_home() if s.id == post.id)
        return bool(shown.favourited), bool(shown.bookmarked)

    assert await asyncio.to_thread(marks_on_first) == (False, False)
    assert first_res.marks.holds(alice_id)
    await asyncio.to_thread(alice_there.status_favourite, post.id)
    await asyncio.to_thread(alice_there.status_bookmark, post.id)
    await eventually(lambda: not first_res.marks.holds(alice_id), "the first process dropped alice")
    assert await asyncio.to_thread(marks_on_first) == (True, True)
    await asyncio.to_thread(alice_there.status_unfavourite, post.id)
    await eventually(lambda: not first_res.marks.holds(alice_id), "the first process dropped alice again")
    assert await asyncio.to_thread(marks_on_first) == (False, True)
