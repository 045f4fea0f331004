"""Three safety details rendered per viewer: a Status's `muted` (true where the viewer muted its conversation,
on every path a status takes: single, thread, timelines from PostgreSQL and from the post cache,
notifications, the websocket); a `blur` filter's FilterResult (the post shown with `filter_action: blur`, as
Mastodon 4.4); and the notifications unread count, which counts only what the list would show. Checked with
Mastodon.py where it has the call."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from conftest import UserFactory
from live import serve_app
from mastodon import Mastodon
from social import Client, User, expect, follow, post_status
from streams import connect, frames_until, hub_settled, online, run_queues

from app.main import create_app
from config import Settings
from storage.resources import Resources


async def deliver(res: Resources) -> None:
    await run_queues(res, "timeline", "streaming", "notifications", "post_cache")


@pytest.fixture
async def base_url(settings: Settings) -> AsyncIterator[str]:
    async with serve_app(create_app(settings)) as url:
        yield url


async def get(client: Client, path: str, user: User, **params: Any) -> Any:
    return await expect(await client.get(path, params=params, headers=user.headers), 200)


async def muted_by_id(client: Client, path: str, user: User) -> dict[str, bool]:
    return {status["id"]: status["muted"] for status in await get(client, path, user)}


# muted ------------------------------------------------------------------------------------------------


async def test_muted_is_true_for_the_viewer_who_muted_the_conversation_wherever_its_posts_show(
    client: Client, res: Resources, make_user: UserFactory
) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    await follow(client, alice, bob)
    await follow(client, bob, alice)
    root = await post_status(client, alice, "a thread")
    reply = await post_status(client, bob, "@alice a reply", in_reply_to_id=root["id"])
    elsewhere = await post_status(client, bob, "another thread")
    await deliver(res)
    await expect(await client.post(f"/api/v1/statuses/{reply['id']}/mute", headers=alice.headers), 200)

    for _ in ("filled from PostgreSQL", "read from the post cache"):
        home = await muted_by_id(client, "/api/v1/timelines/home", alice)
        assert home == {root["id"]: True, reply["id"]: True, elsewhere["id"]: False}
        assert (await muted_by_id(client, "/api/v1/timelines/home", bob))[root["id"]] is False  # bob did not
        assert (await get(client, f"/api/v1/statuses/{root['id']}", alice))["muted"] is True
        assert (await get(client, f"/api/v1/statuses/{elsewhere['id']}", alice))["muted"] is False
        context = await get(client, f"/api/v1/statuses/{root['id']}/context", alice)
        assert [s["muted"] for s in context["descendants"]] == [True]
        batch = await get(client, "/api/v1/statuses", alice, **{"id[]": [root["id"], elsewhere["id"]]})
        assert [s["muted"] for s in batch] == [True, False]
    # Notifications about the thread from before the mute show their status as muted too.
    listed = await get(client, "/api/v1/notifications", alice)
    assert [n["status"]["muted"] for n in listed if n.get("status")] == [True]

    await expect(await client.post(f"/api/v1/statuses/{root['id']}/unmute", headers=alice.headers), 200)
    assert (await muted_by_id(client, "/api/v1/timelines/home", alice))[reply["id"]] is False


def _update_of(status: dict[str, Any]) -> Any:
    return lambda f: f["event"] == "update" and f["payload"]["id"] == status["id"]


async def test_a_streamed_reply_in_a_muted_conversation_says_muted_to_that_viewer_only(
    client: Client, res: Resources, make_user: UserFactory
) -> None:
    alice, bob, carol = [await make_user(n) for n in ("alice", "bob", "carol")]
    for viewer in (alice, carol):
        await follow(client, viewer, bob)
    root = await post_status(client, bob, "a thread")
    await deliver(res)
    await expect(await client.post(f"/api/v1/statuses/{root['id']}/mute", headers=alice.headers), 200)
    sockets = {
        name: await connect(client, user.token, stream="user") for name, user in (("alice", alice), ("carol", carol))
    }
    await online(res, alice.account_id)
    await online(res, carol.account_id)
    await hub_settled(client)
    reply = await post_status(client, bob, "more of it", in_reply_to_id=root["id"])
    await deliver(res)
    got = {name: (await frames_until(ws, _update_of(reply)))[-1]["payload"] for name, ws in sockets.items()}
    assert got["alice"]["muted"] is True
    assert got["carol"]["muted"] is False
    for ws in sockets.values():
        await ws.close()


async def test_mastodon_py_sees_muted_after_status_mute(base_url: str, make_user: UserFactory) -> None:
    alice = await make_user("alice")
    api = Mastodon(access_token=alice.token, api_base_url=base_url, version_check_mode="none")
    posted = await asyncio.to_thread(api.status_post, "mine")
    assert posted["muted"] is False
    assert (await asyncio.to_thread(api.status_mute, posted["id"]))["muted"] is True
    assert (await asyncio.to_thread(api.status, posted["id"]))["muted"] is True
    timeline = await asyncio.to_thread(api.timeline_home)
    assert [s["muted"] for s in timeline] == [True]
    await asyncio.to_thread(api.status_unmute, posted["id"])
    assert (await asyncio.to_thread(api.status, posted["id"]))["muted"] is False


# blur -------------------------------------------------------------------------------------------------


async def test_a_blur_filter_shows_the_post_with_a_blur_filter_result_in_rest_and_streaming(
    client: Client, res: Resources, make_user: UserFactory
) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    await follow(client, alice, bob)
    body = {"title": "spiders", "context": ["home"], "filter_action": "blur",
            "keywords_attributes": [{"keyword": "spider"}]}  # fmt: skip
    created = await expect(await client.post("/api/v2/filters", json=body, headers=alice.headers), 200)
    assert created["filter_action"] == "blur"
    ws = await connect(client, alice.token, stream="user")
    await online(res, alice.account_id)
    await hub_settled(client)
    post = await post_status(client, bob, "a spider in the bath")
    await deliver(res)
    streamed = (await frames_until(ws, _update_of(post)))[-1]["payload"]
    await ws.close()
    for _ in ("filled from PostgreSQL", "read from the post cache"):
        home = {s["id"]: s for s in await get(client, "/api/v1/timelines/home", alice)}
        assert home[post["id"]]["filtered"] == [
            {"filter": created, "keyword_matches": ["spider"], "status_matches": None}
        ]
        assert home[post["id"]]["filtered"][0]["filter"]["filter_action"] == "blur"
    assert streamed["filtered"][0]["filter"]["filter_action"] == "blur"


async def test_mastodon_py_creates_a_blur_filter_and_reads_it_back(base_url: str, make_user: UserFactory) -> None:
    alice = await make_user("alice")
    api = Mastodon(access_token=alice.token, api_base_url=base_url, version_check_mode="none")
    created = await asyncio.to_thread(
        api.create_filter_v2,
        "spiders",
        ["home", "public"],
        filter_action="blur",
        keywords_attributes=[{"keyword": "spider"}],
    )
    assert created["filter_action"] == "blur"
    assert (await asyncio.to_thread(api.filter_v2, created["id"]))["filter_action"] == "blur"


async def test_one_keyword_is_read_and_changed_and_one_filtered_post_read_by_id(
    client: Client, res: Resources, make_user: UserFactory
) -> None:
    alice, bob, carol = await make_user("alice"), await make_user("bob"), await make_user("carol")
    await follow(client, alice, bob)
    body = {"title": "pets", "context": ["home"], "filter_action": "warn", "keywords_attributes": [{"keyword": "cat"}]}
    created = await expect(await client.post("/api/v2/filters", json=body, headers=alice.headers), 200)
    word = created["keywords"][0]
    path = f"/api/v2/filters/keywords/{word['id']}"
    assert await get(client, path, alice) == word
    changed = await expect(await client.put(path, json={"keyword": "dog"}, headers=alice.headers), 200)
    assert changed == {"id": word["id"], "keyword": "dog", "whole_word": True}  # what is not given stays
    form = await expect(await client.put(path, data={"whole_word": "false"}, headers=alice.headers), 200)
    assert form == {"id": word["id"], "keyword": "dog", "whole_word": False}
    assert (await get(client, f"/api/v2/filters/{created['id']}", alice))["keywords"] == [form]
    # the changed keyword is the one that filters now
    dog, cat = await post_status(client, bob, "my dog"), await post_status(client, bob, "my cat")
    await deliver(res)
    home = {s["id"]: s for s in await get(client, "/api/v1/timelines/home", alice)}
    assert home[dog["id"]]["filtered"] and not home[cat["id"]].get("filtered")
    await expect(await client.put(path, json={"keyword": "  "}, headers=alice.headers), 422)
    # another user's keyword, and none at all, are the same 404
    for user, keyword_path in ((carol, path), (alice, "/api/v2/filters/keywords/999999")):
        await expect(await client.get(keyword_path, headers=user.headers), 404)
        await expect(await client.put(keyword_path, json={"keyword": "x"}, headers=user.headers), 404)
    assert (await get(client, path, alice))["keyword"] == "dog"

    added = await expect(
        await client.post(
            f"/api/v2/filters/{created['id']}/statuses", json={"status_id": cat["id"]}, headers=alice.headers
        ),
        200,
    )
    assert await get(client, f"/api/v2/filters/statuses/{added['id']}", alice) == added
    assert added["status_id"] == cat["id"]
    await expect(await client.get(f"/api/v2/filters/statuses/{added['id']}", headers=carol.headers), 404)


async def test_mastodon_py_reads_one_filtered_post(base_url: str, make_user: UserFactory) -> None:
    alice = await make_user("alice")
    api = Mastodon(access_token=alice.token, api_base_url=base_url, version_check_mode="none")
    status = await asyncio.to_thread(api.status_post, "a post to hide")
    created = await asyncio.to_thread(api.create_filter_v2, "posts", ["home"], filter_action="hide")
    added = await asyncio.to_thread(api.add_filter_status_v2, created["id"], status["id"])
    again = await asyncio.to_thread(api.filter_status_v2, added["id"])
    assert (again["id"], again["status_id"]) == (added["id"], status["id"])


# unread count -----------------------------------------------------------------------------------------


async def unread(client: Client, user: User, version: str = "v1") -> int:
    count: int = (await get(client, f"/api/{version}/notifications/unread_count", user))["count"]
    return count


async def listed(client: Client, user: User) -> int:
    return len(await get(client, "/api/v1/notifications", user))


async def test_the_unread_count_counts_only_what_the_list_shows(
    client: Client, res: Resources, make_user: UserFactory
) -> None:
    alice, bob, carol, dave, erin = [await make_user(n) for n in ("alice", "bob", "carol", "dave", "erin")]
    await post_status(client, bob, "hi @alice")
    await post_status(client, carol, "hi @alice")
    await post_status(client, dave, "hi @alice")
    await post_status(client, erin, "@alice about the secret")
    await deliver(res)
    assert await unread(client, alice) == 4 == await listed(client, alice)
    await expect(await client.post(f"/api/v1/accounts/{bob.id}/block", headers=alice.headers), 200)
    await expect(await client.post(f"/api/v1/accounts/{carol.id}/mute", headers=alice.headers), 200)
    await expect(
        await client.post(f"/api/v1/accounts/{dave.id}/mute", json={"notifications": False}, headers=alice.headers),
        200,
    )  # a mute that keeps notifications: dave's still shows
    body = {"title": "secrets", "context": ["notifications"], "filter_action": "hide",
            "keywords_attributes": [{"keyword": "secret"}]}  # fmt: skip
    await expect(await client.post("/api/v2/filters", json=body, headers=alice.headers), 200)
    assert await listed(client, alice) == 1
    assert await unread(client, alice) == 1
    assert await unread(client, alice, "v2") == 1


async def test_the_unread_count_stops_at_its_limit_and_reads_past_hidden_ones(
    client: Client, res: Resources, make_user: UserFactory
) -> None:
    alice, bob, carol = [await make_user(n) for n in ("alice", "bob", "carol")]
    await post_status(client, carol, "first @alice")
    for i in range(45):  # more hidden ones than one batch of the count (40), all newer than carol's
        await post_status(client, bob, f"@alice number {i}")
    await deliver(res)
    await expect(await client.post(f"/api/v1/accounts/{bob.id}/mute", headers=alice.headers), 200)
    assert await unread(client, alice) == 1
    assert (await get(client, "/api/v1/notifications/unread_count", alice, limit=1))["count"] == 1
    await expect(await client.post(f"/api/v1/accounts/{bob.id}/unmute", headers=alice.headers), 200)
    assert (await get(client, "/api/v1/notifications/unread_count", alice, limit=10))["count"] == 10
    assert await unread(client, alice) == 46


async def test_mastodon_py_unread_counts_leave_out_a_blocked_account(
    base_url: str, res: Resources, make_user: UserFactory
) -> None:
    alice, bob, carol = [await make_user(n) for n in ("alice", "bob", "carol")]
    apis = {u.username: Mastodon(access_token=u.token, api_base_url=base_url, version_check_mode="none")
            for u in (alice, bob, carol)}  # fmt: skip
    await asyncio.to_thread(apis["bob"].status_post, "hi @alice")
    await asyncio.to_thread(apis["carol"].status_post, "hi @alice")
    await deliver(res)
    api = apis["alice"]
    assert (await asyncio.to_thread(api.notifications_unread_count))["count"] == 2
    await asyncio.to_thread(api.account_block, bob.id)
    assert (await asyncio.to_thread(api.notifications_unread_count))["count"] == 1
    assert await asyncio.to_thread(api.unread_grouped_notifications_count) == 1
