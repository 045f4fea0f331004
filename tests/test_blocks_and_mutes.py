"""Blocks and mutes on every path a post or a notification takes to a person: home, public and hashtag
timelines, threads, profiles, single posts, search, the post cache, notifications (v1 and grouped),
the websocket and SSE streams with resume; and the block's own effects (follows end both ways, no
following again), timed mutes ending by themselves, muted conversations, and the 4xx of bad input."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from conftest import UserFactory
from social import Client, User, expect, follow, post_status
from streams import WAIT, connect, frames_until, hub_settled, online, run_queues, subscribe, until
from test_search import index_pending, sclient, search, search_settings, sres  # noqa: F401 (fixtures)

from api.keys import HUB
from storage.resources import Resources

DELIVERY_QUEUES = ("timeline", "streaming", "notifications", "post_cache")


async def deliver(res: Resources) -> None:
    await run_queues(res, *DELIVERY_QUEUES)


async def block(client: Client, user: User, target: User, *, status: int = 200) -> Any:
    return await expect(await client.post(f"/api/v1/accounts/{target.id}/block", headers=user.headers), status)


async def mute(client: Client, user: User, target: User, status: int = 200, **params: Any) -> Any:
    return await expect(
        await client.post(f"/api/v1/accounts/{target.id}/mute", json=params, headers=user.headers), status
    )


async def ids(client: Client, path: str, user: User | None, **params: Any) -> list[str]:
    body = await expect(await client.get(path, params=params, headers=user.headers if user else {}), 200)
    return [status["id"] for status in body]


async def home(client: Client, user: User) -> list[str]:
    return await ids(client, "/api/v1/timelines/home", user)


async def public(client: Client, user: User | None) -> list[str]:
    return await ids(client, "/api/v1/timelines/public", user)


async def notification_types(client: Client, user: User) -> list[tuple[str, str]]:
    body = await expect(await client.get("/api/v1/notifications", headers=user.headers), 200)
    return [(n["type"], n["account"]["username"]) for n in body]


async def relationship(client: Client, user: User, target: User) -> dict[str, Any]:
    body = await expect(
        await client.get("/api/v1/accounts/relationships", params={"id[]": target.id}, headers=user.headers), 200
    )
    result: dict[str, Any] = body[0]
    return result


# blocks: the relation itself ------------------------------------------------------------------------


async def test_a_block_ends_follows_both_ways_and_the_blocked_cannot_follow_again(
    client: Client, res: Resources, make_user: UserFactory
) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    await follow(client, alice, bob)
    await follow(client, bob, alice)
    answer = await block(client, alice, bob)
    assert answer["blocking"] is True and answer["following"] is False and answer["followed_by"] is False
    seen_by_bob = await relationship(client, bob, alice)
    assert seen_by_bob["blocked_by"] is True and seen_by_bob["blocking"] is False
    counts = await res.db.fetch("SELECT followers_count, following_count FROM accounts ORDER BY id")
    assert [tuple(r) for r in counts] == [(0, 0), (0, 0)]
    assert await res.db.fetchval("SELECT count(*) FROM follows") == 0
    refused = await expect(await client.post(f"/api/v1/accounts/{alice.id}/follow", headers=bob.headers), 403)
    assert "block" in refused["error"]
    await expect(await client.post(f"/api/v1/accounts/{bob.id}/follow", headers=alice.headers), 403)
    listed = await expect(await client.get("/api/v1/blocks", headers=alice.headers), 200)
    assert [a["id"] for a in listed] == [bob.id]

    again = await block(client, alice, bob)  # idempotent
    assert again["blocking"] is True
    lifted = await expect(await client.post(f"/api/v1/accounts/{bob.id}/unblock", headers=alice.headers), 200)
    assert lifted["blocking"] is False
    assert await expect(await client.get("/api/v1/blocks", headers=alice.headers), 200) == []
    await follow(client, bob, alice)  # allowed again


async def test_bad_block_and_mute_requests_get_clear_4xx(client: Client, make_user: UserFactory) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    own = await block(client, alice, alice, status=422)
    assert "yourself" in own["error"]
    await mute(client, alice, alice, 422)
    await expect(await client.post("/api/v1/accounts/999999/block", headers=alice.headers), 404)
    await expect(await client.post("/api/v1/accounts/999999/mute", headers=alice.headers), 404)
    not_a_number = await mute(client, alice, bob, 422, duration="soon")
    assert "duration" in not_a_number["error"]
    await mute(client, alice, bob, 422, duration=-5)
    await expect(await client.post(f"/api/v1/accounts/{bob.id}/block"), 401)
    assert await expect(await client.get("/api/v1/domain_blocks", headers=alice.headers), 200) == []


# blocks: every reading path ---------------------------------------------------------------------------


async def test_neither_side_of_a_block_sees_the_other_on_any_timeline_thread_profile_or_post(
    client: Client, res: Resources, make_user: UserFactory
) -> None:
    alice, bob, carol = await make_user("alice"), await make_user("bob"), await make_user("carol")
    await follow(client, bob, carol)
    root = await post_status(client, carol, "carol starts")
    tops = {alice: await post_status(client, alice, "alice #topic"), bob: await post_status(client, bob, "bob #topic")}
    replies = {
        alice: await post_status(client, alice, "alice answers", in_reply_to_id=root["id"]),
        bob: await post_status(client, bob, "bob answers", in_reply_to_id=root["id"]),
    }
    repost = await expect(await client.post(f"/api/v1/statuses/{tops[alice]['id']}/reblog", headers=carol.headers), 200)
    await deliver(res)
    # Read once before the block: the post cache now holds every piece of these pages.
    assert tops[alice]["id"] in await public(client, bob)
    assert repost["id"] in await home(client, bob)

    await block(client, alice, bob)
    await deliver(res)

    for viewer, other in ((bob, alice), (alice, bob)):
        assert tops[other]["id"] not in await public(client, viewer)
        assert tops[viewer]["id"] in await public(client, viewer)
        assert tops[other]["id"] not in await ids(client, "/api/v1/timelines/tag/topic", viewer)
        thread = await expect(await client.get(f"/api/v1/statuses/{root['id']}/context", headers=viewer.headers), 200)
        assert [s["id"] for s in thread["descendants"]] == [replies[viewer]["id"]]
        for hidden in (tops[other], replies[other]):
            await expect(await client.get(f"/api/v1/statuses/{hidden['id']}", headers=viewer.headers), 404)
        assert await ids(client, f"/api/v1/accounts/{other.id}/statuses", viewer) == []
    bobs_home = await home(client, bob)
    assert repost["id"] not in bobs_home and tops[alice]["id"] not in bobs_home  # the repost of her post too
    assert root["id"] in bobs_home
    # Others still see both, and neither can act on the other's posts.
    assert {tops[alice]["id"], tops[bob]["id"]} <= set(await public(client, carol))
    await expect(await client.post(f"/api/v1/statuses/{tops[alice]['id']}/favourite", headers=bob.headers), 404)
    reply = {"status": "hi", "in_reply_to_id": tops[alice]["id"]}
    await expect(await client.post("/api/v1/statuses", json=reply, headers=bob.headers), 404)


async def test_a_quote_of_a_blocked_accounts_post_shows_as_unauthorized(client: Client, make_user: UserFactory) -> None:
    alice, bob, carol = await make_user("alice"), await make_user("bob"), await make_user("carol")
    quoted = await post_status(client, alice, "alice says")
    quote = await post_status(client, carol, "carol quotes", quoted_status_id=quoted["id"])
    await block(client, bob, alice)
    as_bob = await expect(await client.get(f"/api/v1/statuses/{quote['id']}", headers=bob.headers), 200)
    assert as_bob["quote"]["state"] == "unauthorized" and as_bob["quote"]["quoted_status"] is None
    as_carol = await expect(await client.get(f"/api/v1/statuses/{quote['id']}", headers=carol.headers), 200)
    assert as_carol["quote"]["state"] == "accepted"


async def test_the_blocked_account_creates_no_notifications_and_old_ones_are_hidden(
    client: Client, res: Resources, make_user: UserFactory
) -> None:
    alice, bob, carol = await make_user("alice"), await make_user("bob"), await make_user("carol")
    post = await post_status(client, alice, "alice's")
    await expect(await client.post(f"/api/v1/statuses/{post['id']}/favourite", headers=bob.headers), 200)
    await deliver(res)
    assert await notification_types(client, alice) == [("favourite", "bob")]

    await block(client, alice, bob)
    await post_status(client, bob, "hey @alice")  # a mention after the block
    await post_status(client, carol, "hey @alice")
    await deliver(res)
    assert await notification_types(client, alice) == [("mention", "carol")]
    assert await res.db.fetchval("SELECT count(*) FROM notifications WHERE from_account_id = $1", bob.account_id) == 1
    grouped = await expect(await client.get("/api/v2/notifications", headers=alice.headers), 200)
    assert {a["username"] for a in grouped["accounts"]} == {"carol"}


async def test_search_leaves_out_the_other_side_of_a_block(
    sclient: Client,  # noqa: F811
    sres: Resources,  # noqa: F811
    make_user: UserFactory,
) -> None:
    alice, bob, carol = await make_user("alice"), await make_user("bob"), await make_user("carol")
    await post_status(sclient, alice, "zebra crossing by alice")
    await post_status(sclient, carol, "zebra crossing by carol")
    await index_pending(sres)
    before = await search(sclient, "zebra", bob, type="statuses")
    assert len(before["statuses"]) == 2
    await block(sclient, alice, bob)
    after = await search(sclient, "zebra", bob, type="statuses")
    assert [s["account"]["username"] for s in after["statuses"]] == ["carol"]


# mutes --------------------------------------------------------------------------------------------------


async def test_a_muted_accounts_posts_and_reposts_of_them_leave_timelines_but_not_its_profile(
    client: Client, res: Resources, make_user: UserFactory
) -> None:
    alice, bob, carol, dave = [await make_user(n) for n in ("alice", "bob", "carol", "dave")]
    await follow(client, alice, bob)
    await follow(client, alice, carol)
    daves = await post_status(client, dave, "dave posts")
    repost = await expect(await client.post(f"/api/v1/statuses/{daves['id']}/reblog", headers=carol.headers), 200)
    bobs = await post_status(client, bob, "bob posts")
    carols = await post_status(client, carol, "carol posts")
    await deliver(res)
    assert await home(client, alice) == [carols["id"], bobs["id"], repost["id"]]  # cached now

    answer = await mute(client, alice, bob)
    assert answer["muting"] is True and answer["muting_notifications"] is True and answer["following"] is True
    await mute(client, alice, dave)
    assert await home(client, alice) == [carols["id"]]  # bob's post, and carol's repost of dave's, are gone
    assert not {bobs["id"], daves["id"]} & set(await public(client, alice))
    assert {bobs["id"], daves["id"]} <= set(await public(client, carol))
    assert bobs["id"] in await ids(client, f"/api/v1/accounts/{bob.id}/statuses", alice)  # the profile shows
    await expect(await client.get(f"/api/v1/statuses/{bobs['id']}", headers=alice.headers), 200)
    listed = await expect(await client.get("/api/v1/mutes", headers=alice.headers), 200)
    assert [(a["id"], a["mute_expires_at"]) for a in listed] == [(dave.id, None), (bob.id, None)]

    for muted in (bob, dave):
        await expect(await client.post(f"/api/v1/accounts/{muted.id}/unmute", headers=alice.headers), 200)
    assert await home(client, alice) == [carols["id"], bobs["id"], repost["id"]]


async def test_a_timed_mute_ends_by_itself(client: Client, res: Resources, make_user: UserFactory) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    await follow(client, alice, bob)
    bobs = await post_status(client, bob, "bob posts")
    await deliver(res)
    await mute(client, alice, bob, duration=3600)
    listed = await expect(await client.get("/api/v1/mutes", headers=alice.headers), 200)
    assert listed[0]["mute_expires_at"] is not None
    assert await home(client, alice) == []
    # The hour passes (moved in the database: no waiting in tests).
    await res.db.execute("UPDATE mutes SET expires_at = now() - interval '1 second'")
    assert await home(client, alice) == [bobs["id"]]
    assert (await relationship(client, alice, bob))["muting"] is False
    assert await expect(await client.get("/api/v1/mutes", headers=alice.headers), 200) == []


async def test_mute_notifications_flag_decides_whether_their_notifications_show(
    client: Client, res: Resources, make_user: UserFactory
) -> None:
    alice, bob, carol = await make_user("alice"), await make_user("bob"), await make_user("carol")
    await post_status(client, bob, "hi @alice")
    await post_status(client, carol, "hi @alice")
    await deliver(res)
    await mute(client, alice, bob, notifications=False)
    assert sorted(await notification_types(client, alice)) == [("mention", "bob"), ("mention", "carol")]
    await mute(client, alice, carol)  # notifications: true (the default)
    assert await notification_types(client, alice) == [("mention", "bob")]
    await post_status(client, carol, "again @alice")
    await deliver(res)
    assert await res.db.fetchval("SELECT count(*) FROM notifications WHERE from_account_id = $1", carol.account_id) == 1


async def test_a_muted_conversation_sends_no_notifications(
    client: Client, res: Resources, make_user: UserFactory
) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    muted = await post_status(client, alice, "a thread")
    other = await post_status(client, alice, "another")
    answer = await expect(await client.post(f"/api/v1/statuses/{muted['id']}/mute", headers=alice.headers), 200)
    assert answer["muted"] is True and answer["id"] == muted["id"]
    await post_status(client, bob, "@alice reply", in_reply_to_id=muted["id"])
    await expect(await client.post(f"/api/v1/statuses/{muted['id']}/favourite", headers=bob.headers), 200)
    await expect(await client.post(f"/api/v1/statuses/{other['id']}/favourite", headers=bob.headers), 200)
    await deliver(res)
    assert await notification_types(client, alice) == [("favourite", "bob")]
    body = await expect(await client.get("/api/v1/notifications", headers=alice.headers), 200)
    assert body[0]["status"]["id"] == other["id"]
    unmuted = await expect(await client.post(f"/api/v1/statuses/{muted['id']}/unmute", headers=alice.headers), 200)
    assert unmuted["muted"] is False
    await expect(await client.post(f"/api/v1/statuses/{muted['id']}/mute", headers=bob.headers), 200)
    await expect(await client.post("/api/v1/statuses/999999/mute", headers=alice.headers), 404)


# streaming ------------------------------------------------------------------------------------------


def _update_of(status: dict[str, Any]) -> Any:
    return lambda f: f["event"] == "update" and f["payload"]["id"] == status["id"]


@pytest.mark.valkey_modes  # streaming and timelines in Valkey
async def test_muted_and_blocked_posts_never_reach_the_home_or_public_websocket(
    client: Client, res: Resources, make_user: UserFactory
) -> None:
    alice, bob, carol, dave = [await make_user(n) for n in ("alice", "bob", "carol", "dave")]
    for followed in (bob, carol, dave):
        await follow(client, alice, followed)
    await mute(client, alice, bob)
    await block(client, dave, alice)
    await deliver(res)
    home_ws = await connect(client, alice.token, stream="user")
    public_ws = await connect(client, alice.token, stream="public")
    await online(res, alice.account_id)

    hidden = [await post_status(client, bob, "muted"), await post_status(client, dave, "blocked")]
    repost = await expect(await client.post(f"/api/v1/statuses/{hidden[0]['id']}/reblog", headers=carol.headers), 200)
    sentinel = await post_status(client, carol, "seen")
    await deliver(res)
    got_home = await frames_until(home_ws, _update_of(sentinel))
    got_public = await frames_until(public_ws, _update_of(sentinel))
    hidden_ids = {hidden[0]["id"], hidden[1]["id"], repost["id"]}
    assert not hidden_ids & {f["payload"]["id"] for f in got_home if f["event"] == "update"}
    assert not hidden_ids & {f["payload"]["id"] for f in got_public if f["event"] == "update"}
    # carol, with no such rules, got everything public on the same stream.
    carol_public = await connect(client, carol.token, stream="public")
    await hub_settled(client)
    seen_too = await post_status(client, bob, "bob again")
    await deliver(res)
    await frames_until(carol_public, _update_of(seen_too))
    for ws in (home_ws, public_ws, carol_public):
        await ws.close()


@pytest.mark.valkey_modes  # streaming and timelines in Valkey
async def test_server_sent_events_leave_out_a_muted_accounts_public_posts(
    client: Client, res: Resources, make_user: UserFactory
) -> None:
    alice, bob, carol = await make_user("alice"), await make_user("bob"), await make_user("carol")
    await mute(client, alice, bob)
    response = await client.get("/api/v1/streaming/public", headers=alice.headers)
    assert response.status == 200
    await until(lambda: bool(client.app[HUB].connections))
    await hub_settled(client)
    await post_status(client, bob, "muted")
    sentinel = await post_status(client, carol, "seen")
    await deliver(res)
    payloads: list[dict[str, Any]] = []
    while not payloads or payloads[-1]["id"] != sentinel["id"]:
        line = (await asyncio.wait_for(response.content.readline(), WAIT)).decode()
        if line.startswith("data: "):
            payloads.append(json.loads(line[6:]))
    assert [p["account"]["username"] for p in payloads] == ["carol"]
    response.close()


@pytest.mark.valkey_modes  # streaming and timelines in Valkey
async def test_a_resumed_stream_replays_nothing_from_a_muted_account(
    client: Client, res: Resources, make_user: UserFactory
) -> None:
    alice, bob, carol = await make_user("alice"), await make_user("bob"), await make_user("carol")
    await follow(client, alice, bob)
    await follow(client, alice, carol)
    first = await post_status(client, carol, "before")
    await deliver(res)
    await mute(client, alice, bob)
    await post_status(client, bob, "missed but muted")
    await post_status(client, bob, "@alice muted mention")
    missed = await post_status(client, carol, "missed")
    await deliver(res)
    ws = await connect(client, alice.token, stream="user", last_event_id=first["id"])
    await online(res, alice.account_id)
    live = await post_status(client, carol, "live")
    await deliver(res)
    got = await frames_until(ws, _update_of(live))
    assert [f["payload"]["id"] for f in got if f["event"] == "update"] == [missed["id"], live["id"]]
    assert [f for f in got if f["event"] == "notification"] == []
    await ws.close()


@pytest.mark.valkey_modes  # streaming and timelines in Valkey
async def test_a_websocket_subscribed_by_message_to_a_hashtag_skips_blocked_authors(
    client: Client, res: Resources, make_user: UserFactory
) -> None:
    alice, bob, carol = await make_user("alice"), await make_user("bob"), await make_user("carol")
    await block(client, bob, alice)
    ws = await connect(client, alice.token)
    await subscribe(client, ws, "hashtag", tag="news")
    await hub_settled(client)
    await post_status(client, bob, "#news from bob")
    sentinel = await post_status(client, carol, "#news from carol")
    await deliver(res)
    got = await frames_until(ws, _update_of(sentinel))
    assert [f["payload"]["account"]["username"] for f in got if f["event"] == "update"] == ["carol"]
    await ws.close()


@pytest.mark.parametrize("action", ["block", "mute"])
@pytest.mark.valkey_modes  # streaming and timelines in Valkey
async def test_reposts_by_the_hidden_account_leave_home_too(
    client: Client, res: Resources, make_user: UserFactory, action: str
) -> None:
    alice, bob, carol = await make_user("alice"), await make_user("bob"), await make_user("carol")
    await follow(client, alice, bob)
    carols = await post_status(client, carol, "carol's")
    repost = await expect(await client.post(f"/api/v1/statuses/{carols['id']}/reblog", headers=bob.headers), 200)
    await deliver(res)
    assert repost["id"] in await home(client, alice)
    await expect(await client.post(f"/api/v1/accounts/{bob.id}/{action}", headers=alice.headers), 200)
    assert repost["id"] not in await home(client, alice)


async def test_remove_from_followers_ends_their_follow_and_a_note_is_private(
    client: Client, res: Resources, make_user: UserFactory
) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    await follow(client, bob, alice)
    removed = await expect(
        await client.post(f"/api/v1/accounts/{bob.id}/remove_from_followers", headers=alice.headers), 200
    )
    assert removed["followed_by"] is False
    assert await res.db.fetchval("SELECT followers_count FROM accounts WHERE id = $1", alice.account_id) == 0
    noted = await expect(
        await client.post(f"/api/v1/accounts/{bob.id}/note", json={"comment": "from work"}, headers=alice.headers), 200
    )
    assert noted["note"] == "from work"
    assert (await relationship(client, bob, alice))["note"] == ""
    await expect(await client.post(f"/api/v1/accounts/{alice.id}/remove_from_followers", headers=alice.headers), 422)
