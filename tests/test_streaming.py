"""The streaming API: Mastodon's websocket protocol and server-sent events, auth failures, subscriptions
(reference counted in Valkey), home/public/hashtag updates, deletes and status updates rendered per viewer,
resume without gaps, slow consumers, a Valkey restart mid-stream, shutdown, and Mastodon.py over SSE."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import threading
import time
from typing import Any

import pytest
from aiohttp import WSMsgType
from conftest import ClientFactory, TestUser, UserFactory
from oauth_flow import app_token, register_app
from redis.asyncio.cluster import RedisCluster
from social import Client, expect, follow, post_status
from streams import (
    WAIT,
    connect,
    frames_until,
    hub_settled,
    next_frame,
    online,
    raw_websocket,
    read_frame,
    run_queues,
    subscribe,
    until,
)

from api.keys import HUB
from app.main import create_app
from bench.stream_client import client_frame
from config import Settings
from core.metrics import OPEN_WEBSOCKETS
from domain.streaming import publish_home
from realtime.connection import Cursor, Limits, WebSocketConnection
from stack import RunningStack
from storage import presence
from storage.channels import UserMessage, publish, tag_channel, user_channel
from storage.keys import stream_leases_key
from storage.resources import Resources

# Each test runs on one Valkey and on a Valkey Cluster (tests/conftest.py).
pytestmark = pytest.mark.valkey_modes

DELIVERY_QUEUES = ("timeline", "streaming", "notifications", "post_cache")


async def deliver(res: Resources) -> None:
    """Run the queues that turn committed writes into live events."""
    await run_queues(res, *DELIVERY_QUEUES)


async def close_code(ws: Any) -> int:
    message = await ws.receive(timeout=WAIT)
    assert message.type is WSMsgType.CLOSE, message
    return int(message.data)


# The endpoints ---------------------------------------------------------------------------------------


async def test_health_answers_ok(client: Client) -> None:
    response = await client.get("/api/v1/streaming/health")
    assert response.status == 200
    assert await response.text() == "OK"


async def test_a_token_works_from_the_header_the_query_or_the_websocket_protocol(
    client: Client, res: Resources, make_user: UserFactory
) -> None:
    alice = await make_user("alice")
    by_header = await connect(client, alice.token, stream="user")
    by_query = await client.ws_connect("/api/v1/streaming", params={"access_token": alice.token, "stream": "user"})
    by_protocol = await client.ws_connect("/api/v1/streaming?stream=user", protocols=(alice.token,))
    assert by_protocol.protocol == alice.token  # echoed, as browsers require
    await online(res, alice.account_id)
    hub = client.app[HUB]
    await until(lambda: sum(1 for c in hub.connections if c.wants_home) == 3)
    for ws in (by_header, by_query, by_protocol):
        await ws.close()


async def test_each_auth_failure_closes_with_an_error_code(client: Client, make_user: UserFactory) -> None:
    alice = await make_user("alice")
    no_notifications = await make_user("bob", scopes=("read:statuses",))
    write_only = await make_user("carol", scopes=("write",))
    oauth_app = await register_app(client, scopes="read write")
    application_token = await app_token(client, oauth_app, "read")

    async def code_for(token: str | None = None, protocols: tuple[str, ...] = (), **query: str) -> int:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        ws = await client.ws_connect("/api/v1/streaming", headers=headers, params=query, protocols=protocols)
        return await close_code(ws)

    assert await code_for("not-a-token", stream="public") == 4401
    assert await code_for(None, access_token="not-a-token", stream="user") == 4401
    assert await code_for(None, protocols=("not-a-token",), stream="user") == 4401
    assert await code_for(None, stream="user") == 4401  # a user stream needs a user
    assert await code_for(application_token, stream="user") == 4403  # an app token is not a user
    assert await code_for(no_notifications.token, stream="user:notification") == 4403  # scope
    assert await code_for(write_only.token, stream="public") == 4403  # scope
    assert await code_for(alice.token, stream="nonsense") == 4400
    assert await code_for(alice.token, stream="hashtag") == 4400  # no tag
    assert await code_for(alice.token, stream="user", last_event_id="12abc") == 4400


async def test_server_sent_events_refuse_bad_requests_with_json_errors(client: Client, make_user: UserFactory) -> None:
    limited = await make_user("bob", scopes=("read:statuses",))
    await expect(await client.get("/api/v1/streaming/user", headers={"Authorization": "Bearer nope"}), 401)
    await expect(await client.get("/api/v1/streaming/user"), 401)
    await expect(await client.get("/api/v1/streaming/user/notification", headers=limited.headers), 403)
    await expect(await client.get("/api/v1/streaming/hashtag"), 400)
    await expect(await client.get("/api/v1/streaming?stream=nonsense"), 400)


async def test_subscription_errors_are_reported_on_the_socket(client: Client, make_user: UserFactory) -> None:
    alice = await make_user("alice")
    anonymous = await connect(client)
    await anonymous.send_json({"type": "subscribe", "stream": "user"})
    assert json.loads((await anonymous.receive(timeout=WAIT)).data) == {"error": "Missing access token", "status": 401}
    await anonymous.send_str("not json")
    assert json.loads((await anonymous.receive(timeout=WAIT)).data)["status"] == 400
    await anonymous.send_json({"type": "subscribe", "stream": "hashtag"})
    assert json.loads((await anonymous.receive(timeout=WAIT)).data)["status"] == 400
    await anonymous.send_json({"type": "dance", "stream": "public"})
    assert json.loads((await anonymous.receive(timeout=WAIT)).data)["status"] == 400
    await anonymous.close()
    ws = await connect(client, alice.token)
    await ws.send_json({"type": "subscribe", "stream": "list", "list": "1"})  # not a list of alice's
    assert json.loads((await ws.receive(timeout=WAIT)).data)["status"] == 404
    await ws.close()


# Subscriptions ---------------------------------------------------------------------------------------


async def test_subscribe_and_unsubscribe_by_message(client: Client, res: Resources, make_user: UserFactory) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    ws = await connect(client)  # signed out: public streams only
    await subscribe(client, ws, "hashtag", tag="Chirp")
    await subscribe(client, ws, "public")
    await post_status(client, alice, "first #chirp")
    sentinel = await post_status(client, alice, "sentinel")
    await deliver(res)

    def is_sentinel(f: dict[str, Any]) -> bool:
        return bool(f["payload"]["id"] == sentinel["id"])

    first = await frames_until(ws, is_sentinel)
    assert [(f["stream"], f["event"]) for f in first] == [
        (["public"], "update"),
        (["hashtag", "chirp"], "update"),
        (["public"], "update"),
    ]
    tagged = first[1]
    assert tagged["payload"]["content"].startswith("<p>first")
    assert tagged["payload"]["quote_approval"]["current_user"] == "unknown"  # rendered for nobody

    await ws.send_json({"type": "unsubscribe", "stream": "hashtag", "tag": "chirp"})
    hub = client.app[HUB]
    await until(lambda: "chirp:tag:chirp" not in hub.refs)
    await post_status(client, bob, "second #chirp")
    sentinel = await post_status(client, bob, "sentinel")
    await deliver(res)
    after = await frames_until(ws, is_sentinel)
    assert [f["stream"] for f in after] == [["public"], ["public"]]  # the hashtag stream got nothing
    assert after[0]["payload"]["content"].startswith("<p>second")
    await ws.close()


async def tag_channels(res: Resources) -> list[bytes | str]:
    """The hashtag channels anyone is subscribed to (on a cluster: on any node)."""
    if isinstance(res.redis, RedisCluster):
        found: list[bytes | str] = await res.redis.pubsub_channels("chirp:tag:*", target_nodes=RedisCluster.ALL_NODES)
        return found
    return list(await res.redis.pubsub_channels("chirp:tag:*"))


async def test_channels_are_reference_counted_in_valkey(client: Client, res: Resources, make_user: UserFactory) -> None:
    alice = await make_user("alice")
    hub = client.app[HUB]
    one, two = await connect(client), await connect(client, alice.token)
    await subscribe(client, one, "hashtag", tag="news")
    await subscribe(client, two, "hashtag", tag="news")
    await subscribe(client, two, "hashtag:local", tag="news")  # same channel, another stream
    assert hub.refs["chirp:tag:news"] == 3
    assert b"chirp:tag:news" in await tag_channels(res)
    await one.close()
    await until(lambda: hub.refs.get("chirp:tag:news") == 2)
    await two.send_json({"type": "unsubscribe", "stream": "hashtag", "tag": "news"})
    await until(lambda: hub.refs.get("chirp:tag:news") == 1)
    await two.close()
    await until(lambda: "chirp:tag:news" not in hub.refs)

    async def gone() -> bool:
        return b"chirp:tag:news" not in await tag_channels(res)

    for _ in range(500):
        if await gone():
            break
        await asyncio.sleep(0.01)
    assert await gone()


# Home, public, deletes and status updates -------------------------------------------------------------


# How bob marks carol's post, and what that shows in the post quoting it: (request, field, bob's value).
QUOTED_MARKS = {
    "like": ("POST favourite", "favourited", True),
    "repost": ("POST reblog", "reblogged", True),
    "reaction": ("PUT reactions/love", "reactions", [{"name": "love", "count": 1, "me": True}]),
}


async def mark_post(client: Client, user: TestUser, post_id: str, mark: str) -> tuple[str, Any]:
    """`user` marks the post as QUOTED_MARKS says; (the field it shows in, its value for `user`)."""
    request, field, value = QUOTED_MARKS[mark]
    method, path = request.split()
    await expect(await client.request(method, f"/api/v1/statuses/{post_id}/{path}", headers=user.headers), 200)
    return field, value


@pytest.mark.parametrize("mark", QUOTED_MARKS)
async def test_a_post_reaches_each_follower_rendered_for_them(
    client: Client, res: Resources, make_user: UserFactory, mark: str
) -> None:
    alice, bob, carol = await make_user("alice"), await make_user("bob"), await make_user("carol")
    await follow(client, bob, alice)
    await follow(client, carol, alice)
    quoted = await post_status(client, carol, "carol's post")
    field, bobs = await mark_post(client, bob, quoted["id"], mark)
    await deliver(res)
    bob_ws = await connect(client, bob.token, stream="user")
    carol_ws = await connect(client, carol.token, stream="user")
    alice_ws = await connect(client, alice.token, stream="user")
    await online(res, alice.account_id, bob.account_id, carol.account_id)

    status = await post_status(client, alice, "look", quoted_status_id=quoted["id"])
    await deliver(res)

    def is_update(f: dict[str, Any]) -> bool:
        return bool(f["event"] == "update" and f["payload"]["id"] == status["id"])

    for_bob = (await frames_until(bob_ws, is_update))[-1]
    for_carol = (await frames_until(carol_ws, is_update))[-1]
    for_alice = (await frames_until(alice_ws, is_update))[-1]  # the author's own home
    assert for_bob["stream"] == ["user"]
    assert for_bob["id"].startswith(f"{status['id']}_")
    # The quoted post: bob marked it, carol wrote it; each sees their own truth.
    assert for_bob["payload"]["quote"]["quoted_status"][field] == bobs
    assert for_carol["payload"]["quote"]["quoted_status"][field] != bobs
    assert for_alice["payload"]["quote"]["quoted_status"][field] != bobs
    as_bob = await expect(await client.get(f"/api/v1/statuses/{status['id']}", headers=bob.headers), 200)
    assert for_bob["payload"] == as_bob
    for ws in (alice_ws, bob_ws, carol_ws):
        await ws.close()


async def test_only_connected_users_are_published_to(client: Client, res: Resources, make_user: UserFactory) -> None:
    alice, bob, carol = await make_user("alice"), await make_user("bob"), await make_user("carol")
    await follow(client, bob, alice)
    await follow(client, carol, alice)
    status = await post_status(client, alice, "hi")
    ws = await connect(client, bob.token, stream="user")
    await online(res, bob.account_id)
    assert await publish_home(res, "update", int(status["id"]), [bob.account_id, carol.account_id]) == 1
    await ws.close()
    await until(lambda: not client.app[HUB].connections)
    for _ in range(500):
        if not await presence.online_among(res.redis, [bob.account_id]):
            break
        await asyncio.sleep(0.01)
    assert await publish_home(res, "update", int(status["id"]), [bob.account_id, carol.account_id]) == 0


async def test_a_high_follower_authors_post_reaches_its_connected_followers(
    make_client: ClientFactory, res: Resources, make_user: UserFactory
) -> None:
    # Above the fan-out threshold a post is not written into followers' timelines (they merge it when read):
    # its live update goes to whoever of the followers is connected.
    client = await make_client(fanout_max_followers=2)
    small = dataclasses.replace(res, settings=dataclasses.replace(res.settings, fanout_max_followers=2))
    star, alice, bob = await make_user("star"), await make_user("alice"), await make_user("bob")
    for fan in (alice, await make_user("fan2"), await make_user("fan3")):
        await follow(client, fan, star)
    await deliver(small)
    star_ws = await connect(client, star.token, stream="user")
    alice_ws = await connect(client, alice.token, stream="user")
    bob_ws = await connect(client, bob.token, stream="user")
    await online(res, star.account_id, alice.account_id, bob.account_id)

    status = await post_status(client, star, "to many")
    await deliver(small)

    def is_update(f: dict[str, Any]) -> bool:
        return bool(f["event"] == "update" and f["payload"]["id"] == status["id"])

    for_alice = (await frames_until(alice_ws, is_update))[-1]
    assert for_alice["payload"]["favourited"] is False and for_alice["payload"]["content"] == status["content"]
    await frames_until(star_ws, is_update)  # the author's own home, written as any
    # bob follows nobody: the next thing he hears is his own post, not star's.
    own = await post_status(client, bob, "mine")
    await deliver(small)
    assert (await frames_until(bob_ws, lambda f: f["event"] == "update"))[-1]["payload"]["id"] == own["id"]
    for ws in (star_ws, alice_ws, bob_ws):
        await ws.close()


@pytest.mark.parametrize("mark", QUOTED_MARKS)
async def test_a_status_update_shows_each_follower_their_own_mark(
    client: Client, res: Resources, make_user: UserFactory, mark: str
) -> None:
    alice, bob, carol = await make_user("alice"), await make_user("bob"), await make_user("carol")
    await follow(client, bob, alice)
    await follow(client, carol, alice)
    status = await post_status(client, alice, "to be marked")
    await deliver(res)
    bob_ws = await connect(client, bob.token, stream="user")
    carol_ws = await connect(client, carol.token, stream="user")
    await online(res, bob.account_id, carol.account_id)
    await hub_settled(client)

    field, bobs = await mark_post(client, bob, status["id"], mark)
    await deliver(res)

    def is_change(f: dict[str, Any]) -> bool:
        return bool(f["event"] == "status.update" and f["payload"]["id"] == status["id"])

    for_bob = (await frames_until(bob_ws, is_change))[-1]
    for_carol = (await frames_until(carol_ws, is_change))[-1]
    assert for_bob["payload"][field] == bobs
    assert for_carol["payload"][field] != bobs
    as_carol = await expect(await client.get(f"/api/v1/statuses/{status['id']}", headers=carol.headers), 200)
    assert for_carol["payload"] == as_carol
    for ws in (bob_ws, carol_ws):
        await ws.close()


async def test_deletes_and_status_updates_reach_those_who_got_the_post(
    client: Client, res: Resources, make_user: UserFactory
) -> None:
    alice, bob, carol = await make_user("alice"), await make_user("bob"), await make_user("carol")
    await follow(client, bob, alice)
    await follow(client, carol, alice)
    bob_ws = await connect(client, bob.token, stream="user")
    carol_ws = await connect(client, carol.token, stream="user")
    public_ws = await connect(client, stream="public")
    await online(res, bob.account_id, carol.account_id)
    await hub_settled(client)
    status = await post_status(client, alice, "to be liked, then deleted")
    await deliver(res)
    for ws in (bob_ws, carol_ws, public_ws):
        assert (await next_frame(ws))["event"] == "update"

    await expect(await client.post(f"/api/v1/statuses/{status['id']}/favourite", headers=bob.headers), 200)
    await deliver(res)
    bob_update = (await frames_until(bob_ws, lambda f: f["event"] == "status.update"))[-1]
    carol_update = (await frames_until(carol_ws, lambda f: f["event"] == "status.update"))[-1]
    public_update = (await frames_until(public_ws, lambda f: f["event"] == "status.update"))[-1]
    assert bob_update["payload"]["favourites_count"] == 1
    assert bob_update["payload"]["favourited"] is True
    assert carol_update["payload"]["favourited"] is False
    assert public_update["payload"]["favourited"] is False and public_update["payload"]["favourites_count"] == 1

    await expect(await client.delete(f"/api/v1/statuses/{status['id']}", headers=alice.headers), 200)
    await deliver(res)
    for ws, stream in ((bob_ws, ["user"]), (carol_ws, ["user"]), (public_ws, ["public"])):
        deleted = (await frames_until(ws, lambda f: f["event"] == "delete"))[-1]
        assert deleted["payload"] == status["id"]
        assert deleted["stream"] == stream
    for ws in (bob_ws, carol_ws, public_ws):
        await ws.close()


async def test_user_stream_carries_notifications_too(client: Client, res: Resources, make_user: UserFactory) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    ws = await connect(client, alice.token, stream="user")
    await online(res, alice.account_id)
    await follow(client, bob, alice)
    await deliver(res)
    event = (await frames_until(ws, lambda f: f["event"] == "notification"))[-1]
    assert event["stream"] == ["user"]
    assert event["payload"]["type"] == "follow"
    await ws.close()


async def test_server_sent_events_carry_ids_and_heartbeats(
    make_client: ClientFactory, res: Resources, make_user: UserFactory
) -> None:
    client = await make_client(stream_heartbeat_seconds=0.5)
    alice, bob = await make_user("alice"), await make_user("bob")
    response = await client.get("/api/v1/streaming/user/notification", headers=alice.headers)
    assert response.status == 200
    assert response.headers["Content-Type"] == "text/event-stream"
    await online(res, alice.account_id)
    await follow(client, bob, alice)
    await deliver(res)
    lines: list[str] = []

    def seen_both() -> bool:  # a heartbeat, and the notification's data line (read after its event line)
        return ":thump" in lines and "event: notification" in lines[:-1]

    while not seen_both():
        raw = await asyncio.wait_for(response.content.readline(), WAIT)
        lines.append(raw.decode().rstrip("\n"))
    at = lines.index("event: notification")
    assert lines[at - 1].startswith("id: ")
    payload = json.loads(lines[at + 1].removeprefix("data: "))
    assert payload["type"] == "follow" and lines[at - 1] == f"id: {lines[at - 1][4:]}"
    assert lines[at - 1][4:].endswith(f"_{payload['id']}")
    response.close()


@pytest.mark.parametrize("wire", ["websocket", "sse"])
async def test_a_stream_is_live_the_moment_it_is_answered(
    client: Client, res: Resources, make_user: UserFactory, wire: str
) -> None:
    """The connection is subscribed before the client hears its stream is open (handlers/streaming.py):
    once the 101, or an SSE stream's first bytes, arrive, Valkey has confirmed the channels and lists the
    account online, so an event published right then reaches it."""
    alice = await make_user("alice")
    hub = client.app[HUB]
    if wire == "websocket":
        tagged = await connect(client, stream="hashtag", tag="justnow")
        assert tag_channel("justnow") in hub.subscribed_channels()  # a fresh channel, confirmed already
        await tagged.close()
        ws = await connect(client, alice.token, stream="user:notification")
    else:
        response = await client.get("/api/v1/streaming/user/notification", headers=alice.headers)
        assert await response.content.readline() == b":)\n"
    # Checked with no wait since the answer: the server had no chance to catch up in between.
    assert user_channel(alice.account_id) in hub.subscribed_channels()
    assert await presence.online_among(res.redis, [alice.account_id]) == {alice.account_id}
    mention = UserMessage("notification", 7, '{"type": "mention"}')
    await publish(res.redis, [(user_channel(alice.account_id), mention)])
    if wire == "websocket":
        assert (await next_frame(ws))["payload"]["type"] == "mention"
        await ws.close()
        return
    lines: list[bytes] = []
    while not lines or not lines[-1].startswith(b"data: "):
        lines.append(await asyncio.wait_for(response.content.readline(), WAIT))
    assert json.loads(lines[-1].removeprefix(b"data: "))["type"] == "mention"
    response.close()


async def test_a_socket_still_being_answered_is_not_taken_for_gone(make_client: ClientFactory) -> None:
    """The hub's periodic check ends streams whose socket went; a connection still subscribing before its
    answer (handlers/streaming.py) has no socket of its own yet, and must be left alone."""
    client = await make_client(stream_heartbeat_seconds=0.02)  # the hub checks every 10 ms
    hub = client.app[HUB]
    conn = WebSocketConnection(None, None, frozenset(), Cursor(1, 1), Limits(65536, 5.0))
    conn.keeper = hub
    conn.defer()
    hub.add(conn)
    await asyncio.sleep(0.1)  # ten checks
    assert not conn.closed
    hub.remove(conn)
    ws = await connect(client, stream="public")  # and a socket answered is checked as before
    await hub_settled(client)
    (live,) = hub.connections
    assert not live.answering and not live.closed
    await ws.close()


async def test_streams_dropped_at_once_give_their_leases_back(
    make_client: ClientFactory, res: Resources, make_user: UserFactory
) -> None:
    """Leases of hundreds of streams are renewed, all of them, a chunk at a time. Hundreds of sockets going
    at once (a proxy restarting) give back their leases together: one by one they outran the Valkey pool
    (256 connections) and stayed counted against their user until they expired
    (CHIRP_STREAM_PRESENCE_TTL_SECONDS: 60 s here, far beyond this test's wait)."""
    client = await make_client(stream_max_per_user=1000, stream_max_per_token=1000)
    alice = await make_user("alice")
    hub = client.app[HUB]
    opened = await asyncio.gather(
        *(raw_websocket(client, alice.token, "public", receive_buffer=65536) for _ in range(300))
    )
    leases = stream_leases_key(alice.account_id)
    assert await res.redis.zcard(leases) == 300
    # Renewed in chunks (RENEW_CHUNK, fewer than 300): every one of them is pushed a TTL ahead.
    members = [m.decode() if isinstance(m, bytes) else str(m) for m in await res.redis.zrange(leases, 0, -1)]
    now_ms = int(time.time() * 1000)
    await res.redis.zadd(leases, dict.fromkeys(members, now_ms + 1000))
    await hub.renew_leases()
    scores: list[float | None] = await res.redis.zmscore(leases, members)
    assert len(scores) == 300 and all(score is not None and score > now_ms + 30_000 for score in scores)  # TTL 60 s
    for _, writer in opened:
        writer.transport.abort()  # all in one go
    await until(lambda: not hub.connections)
    for _ in range(int(WAIT / 0.05)):
        if not await res.redis.zcard(leases):
            break
        await asyncio.sleep(0.05)
    assert await res.redis.zcard(leases) == 0


# Resume ----------------------------------------------------------------------------------------------


async def test_resume_after_a_dropped_connection_has_no_gap_and_no_duplicate(
    client: Client, res: Resources, make_user: UserFactory
) -> None:
    alice, bob, carol = await make_user("alice"), await make_user("bob"), await make_user("carol")
    await follow(client, alice, bob)
    await deliver(res)
    ws = await connect(client, alice.token, stream="user")
    await online(res, alice.account_id)
    first = await post_status(client, bob, "one")
    await deliver(res)
    seen = await next_frame(ws)
    assert seen["payload"]["id"] == first["id"]
    last_event_id = seen["id"]
    await ws.close()
    await until(lambda: not client.app[HUB].connections)

    # While alice is away: two posts and a notification.
    missed = [await post_status(client, bob, "two"), await post_status(client, bob, "three")]
    await follow(client, carol, alice)
    await deliver(res)

    again = await connect(client, alice.token, stream="user", last_event_id=last_event_id)
    await online(res, alice.account_id)
    # Meanwhile, live: another post.
    live = await post_status(client, bob, "four")
    await deliver(res)
    got = await frames_until(again, lambda f: f["event"] == "update" and f["payload"]["id"] == live["id"])
    updates = [f["payload"]["id"] for f in got if f["event"] == "update"]
    assert updates == [missed[0]["id"], missed[1]["id"], live["id"]]  # in order, no gap, no duplicate
    notes = [f["payload"]["type"] for f in got if f["event"] == "notification"]
    assert notes == ["follow"]
    ids = [f["id"] for f in got]
    assert ids == sorted(ids, key=lambda i: tuple(int(p) for p in i.split("_")))
    await again.close()


async def test_resume_with_since_id_over_server_sent_events(
    client: Client, res: Resources, make_user: UserFactory
) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    await follow(client, alice, bob)
    before = await post_status(client, bob, "seen already")
    after = await post_status(client, bob, "missed")
    await deliver(res)
    response = await client.get("/api/v1/streaming/user", headers={**alice.headers, "Last-Event-ID": before["id"]})
    data: list[dict[str, Any]] = []
    while not data:
        line = (await asyncio.wait_for(response.content.readline(), WAIT)).decode()
        if line.startswith("data: "):
            data.append(json.loads(line[6:]))
    assert data[0]["id"] == after["id"]
    response.close()


async def test_a_client_too_far_behind_is_told_to_reload(
    make_client: ClientFactory, res: Resources, make_user: UserFactory
) -> None:
    client = await make_client(stream_resume_limit=2)
    alice, bob = await make_user("alice"), await make_user("bob")
    await follow(client, alice, bob)
    oldest = await post_status(client, bob, "zero")
    posts = [await post_status(client, bob, f"post {n}") for n in range(3)]
    await deliver(res)
    ws = await connect(client, alice.token, stream="user", since_id=oldest["id"])
    event = await next_frame(ws)
    assert event["event"] == "reload"
    assert event["payload"]["reason"] == "too_far_behind"
    assert event["id"].startswith(f"{posts[-1]['id']}_")  # continues from the newest
    await ws.close()


# Slow consumers, Valkey restarts, shutdown -------------------------------------------------------------


async def test_a_slow_consumer_is_closed_with_1013_and_others_are_not_delayed(
    make_client: ClientFactory, res: Resources, make_user: UserFactory
) -> None:
    client = await make_client(stream_send_buffer_bytes=16_384, stream_full_seconds=0.2)
    alice, bob = await make_user("alice"), await make_user("bob")
    reader, writer = await raw_websocket(client, alice.token, "user:notification", receive_buffer=4096)
    fast = await connect(client, bob.token, stream="user:notification")
    await online(res, alice.account_id, bob.account_id)
    payload = json.dumps({"type": "mention", "filler": "x" * 8000})
    # Alice's socket is not being read: once the kernel's buffers are full (a few MB on loopback), the
    # server's own buffer for it grows past the bound and stays there.
    flood = [UserMessage("notification", n, payload) for n in range(1, 1501)]
    await publish(res.redis, [(user_channel(alice.account_id), message) for message in flood])
    await publish(res.redis, [(user_channel(bob.account_id), UserMessage("notification", 1, payload))])
    assert (await next_frame(fast))["payload"]["filler"].startswith("x")  # bob is served meanwhile
    codes: list[int] = []
    while not codes:
        opcode, data = await read_frame(reader)
        if opcode == 0x8:
            codes.append(int.from_bytes(data[:2], "big"))
    assert codes == [1013]
    writer.close()
    await fast.close()


async def test_a_peer_that_stops_answering_pings_is_closed(
    make_client: ClientFactory, res: Resources, make_user: UserFactory
) -> None:
    client = await make_client(stream_heartbeat_seconds=0.5)
    alice = await make_user("alice")
    reader, writer = await raw_websocket(client, alice.token, "user", receive_buffer=65536)
    hub = client.app[HUB]
    await until(lambda: len(hub.connections) == 1)
    opcode, _ = await read_frame(reader)
    assert opcode == 0x9  # a ping, which this client never answers
    await until(lambda: not hub.connections)  # so the server gave up on it
    writer.close()


async def test_a_peer_that_answers_pings_stays_connected(make_client: ClientFactory, make_user: UserFactory) -> None:
    client = await make_client(stream_heartbeat_seconds=0.5)
    alice = await make_user("alice")
    reader, writer = await raw_websocket(client, alice.token, "user", receive_buffer=65536)
    hub = client.app[HUB]
    pings = 0
    while pings < 4:  # two seconds of pings: each unanswered one would have closed it after 0.25 s
        opcode, data = await read_frame(reader)
        assert opcode == 0x9
        pings += 1
        writer.write(client_frame(0xA, data))
    assert len(hub.connections) == 1 and not next(iter(hub.connections)).closed
    writer.close()


async def test_a_client_ping_gets_its_pong(make_client: ClientFactory, make_user: UserFactory) -> None:
    client = await make_client(stream_heartbeat_seconds=30)
    alice = await make_user("alice")
    reader, writer = await raw_websocket(client, alice.token, "user", receive_buffer=65536)
    writer.write(client_frame(0x9, b"are you there"))
    assert await read_frame(reader) == (0xA, b"are you there")
    writer.close()


async def test_keep_alives_of_sockets_opened_together_are_spread_over_the_interval(
    make_client: ClientFactory, make_user: UserFactory
) -> None:
    client = await make_client(stream_heartbeat_seconds=30)
    alice = await make_user("alice")
    opened_at = time.monotonic()
    sockets = await asyncio.gather(*(connect(client, alice.token, stream="user") for _ in range(20)))
    hub = client.app[HUB]
    due = sorted(conn.keepalive_at - opened_at for conn in hub.connections)
    assert len(due) == 20
    assert due[0] >= 0 and due[-1] <= 30 + (time.monotonic() - opened_at)
    assert due[-1] - due[0] > 5  # not one burst (20 uniform draws over 30 s all within 5 s: p < 1e-13)
    for ws in sockets:
        await ws.close()


@pytest.mark.single_valkey
async def test_delivery_continues_after_valkey_restarts_mid_stream(
    client: Client, res: Resources, stack: RunningStack, make_user: UserFactory
) -> None:
    alice, bob, carol = await make_user("alice"), await make_user("bob"), await make_user("carol")
    await follow(client, alice, bob)
    await deliver(res)
    ws = await connect(client, alice.token, stream="user")
    await online(res, alice.account_id)
    hub = client.app[HUB]
    reconnects = hub.reconnects

    stack.servers["valkey"].stop()
    # Committed while Valkey is down: the notification is stored, but cannot be published now.
    await follow(client, carol, alice)
    await run_queues(res, "notifications")
    stack.servers["valkey"].start()
    await until(lambda: hub.reconnects > reconnects, wait=30)

    during = (await frames_until(ws, lambda f: f["event"] == "notification", wait=30))[-1]
    assert during["payload"]["account"]["id"] == carol.id  # replayed from where the stream stood
    await online(res, alice.account_id)
    status = await post_status(client, bob, "after the restart")
    await deliver(res)
    after = (await frames_until(ws, lambda f: f["event"] == "update", wait=30))[-1]
    assert after["payload"]["id"] == status["id"]
    await ws.close()


async def test_shutdown_closes_sockets_with_1001(settings: Settings, make_user: UserFactory) -> None:
    from aiohttp import ClientSession, web

    alice = await make_user("alice")
    runner = web.AppRunner(create_app(settings))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    async with ClientSession() as session:
        ws = await session.ws_connect(
            f"http://127.0.0.1:{port}/api/v1/streaming?stream=user", headers={"Authorization": f"Bearer {alice.token}"}
        )
        receiving = asyncio.ensure_future(ws.receive(timeout=WAIT))
        await asyncio.sleep(0)
        await runner.cleanup()
        message = await receiving
        assert message.type is WSMsgType.CLOSE
        assert message.data == 1001


async def test_the_open_streams_gauge_follows_connections(client: Client, make_user: UserFactory) -> None:
    start = OPEN_WEBSOCKETS._value.get()
    ws = await connect(client, stream="public")
    hub = client.app[HUB]
    await until(lambda: len(hub.connections) == 1)
    assert OPEN_WEBSOCKETS._value.get() == start + 1
    await ws.close()
    await until(lambda: not hub.connections)
    assert OPEN_WEBSOCKETS._value.get() == start


# Mastodon.py -----------------------------------------------------------------------------------------


async def test_mastodon_py_stream_user_receives_an_update_over_sse(
    settings: Settings, res: Resources, make_user: UserFactory
) -> None:
    from live import serve_app
    from mastodon import Mastodon, StreamListener

    alice, bob = await make_user("alice"), await make_user("bob")
    received: list[Any] = []
    arrived = threading.Event()

    class Listener(StreamListener):
        def on_update(self, status: Any) -> None:
            received.append(status)
            arrived.set()

    async with serve_app(create_app(settings)) as base_url:
        api = await asyncio.to_thread(Mastodon, api_base_url=base_url, access_token=alice.token)
        await asyncio.to_thread(api.account_follow, bob.account_id)
        handle = await asyncio.to_thread(api.stream_user, Listener(), run_async=True)
        try:
            await online(res, alice.account_id)
            bob_api = await asyncio.to_thread(Mastodon, api_base_url=base_url, access_token=bob.token)
            posted = await asyncio.to_thread(bob_api.status_post, "hello over SSE")
            await deliver(res)
            assert await asyncio.to_thread(arrived.wait, WAIT)
        finally:
            await asyncio.to_thread(handle.close)  # off the loop: it waits on the socket the server holds
    assert received[0]["id"] == posted["id"]
    assert "hello over SSE" in received[0]["content"]


async def test_a_user_stream_closed_and_opened_again_at_once_keeps_the_hub_connected(
    client: Client, res: Resources, make_user: UserFactory
) -> None:
    alice = await make_user("alice")
    hub = client.app[HUB]
    for _ in range(5):  # each close unsubscribes; the next open subscribes before Valkey confirmed that
        ws = await connect(client, alice.token, stream="user:notification")
        await ws.close()
    ws = await connect(client, alice.token, stream="user:notification")
    await online(res, alice.account_id)
    await publish(res.redis, [(user_channel(alice.account_id), UserMessage("notification", 1, '{"type": "mention"}'))])
    assert (await next_frame(ws))["payload"]["type"] == "mention"
    assert hub.reconnects == 0
    await ws.close()
