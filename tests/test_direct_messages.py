"""Direct messages (issue 23): `visibility=direct` reaches only the accounts it mentions, and stays out of every
route anyone else reads (by id, public, tag, list, home, profile, context, search, streams); conversations
(list with unread and last_status, read, delete) and their live `conversation` events; Mastodon.py."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from conftest import UserFactory
from live import serve_app
from mastodon import Mastodon
from mastodon_schemas import assert_mastodon
from social import Client, User, expect, follow, post_status
from streams import connect, frames_until, hub_settled, next_frame, online, run_queues
from test_lists import add, list_ids, make_list
from test_search import found, index_pending, sclient, search_settings, sres  # noqa: F401 (fixtures)

from app.main import create_app
from config import Settings
from storage.resources import Resources

pytestmark = pytest.mark.valkey_modes  # conversations reach timelines and streams


async def deliver(res: Resources) -> None:
    await run_queues(res, "timeline", "streaming", "notifications", "post_cache", "conversations")


async def ids(client: Client, path: str, user: User | None = None) -> list[str]:
    body = await expect(await client.get(path, headers=user.headers if user else {}), 200)
    return [item["id"] for item in body]


async def conversations(client: Client, user: User) -> list[dict[str, Any]]:
    body: list[dict[str, Any]] = await expect(await client.get("/api/v1/conversations", headers=user.headers), 200)
    return body


async def test_a_direct_message_stays_out_of_every_route_but_its_participants(
    client: Client, res: Resources, make_user: UserFactory
) -> None:
    alice, bob, carol, dave = [await make_user(n) for n in ("alice", "bob", "carol", "dave")]
    await follow(client, carol, alice)  # a follower, not mentioned
    await follow(client, bob, alice)
    # Lists of alice, kept by her follower and by the participant: a direct message is in neither.
    lists = {user.username: (await make_list(client, user))["id"] for user in (carol, bob)}
    for user in (carol, bob):
        await add(client, user, lists[user.username], alice)
    opener = await post_status(client, alice, "a public thread #hush")
    dm = await post_status(client, alice, "@bob the secret #hush", visibility="direct")
    reply = await post_status(client, bob, "@alice got it #hush", visibility="direct", in_reply_to_id=opener["id"])
    assert dm["visibility"] == "direct" and [m["id"] for m in dm["mentions"]] == [bob.id]
    await deliver(res)
    secret = {dm["id"], reply["id"]}

    for user in (alice, bob):
        for status_id in secret:
            await expect(await client.get(f"/api/v1/statuses/{status_id}", headers=user.headers), 200)
    for outsider in (carol, dave, None):
        headers = outsider.headers if outsider else {}
        for status_id in secret:
            await expect(await client.get(f"/api/v1/statuses/{status_id}", headers=headers), 404)
            await expect(await client.get(f"/api/v1/statuses/{status_id}/context", headers=headers), 404)
            await expect(await client.get(f"/api/v1/statuses/{status_id}/history", headers=headers), 404)
        query = "&".join(f"id[]={i}" for i in secret)
        assert await ids(client, f"/api/v1/statuses?{query}", outsider) == []
        context = await expect(await client.get(f"/api/v1/statuses/{opener['id']}/context", headers=headers), 200)
        assert context["descendants"] == []
        assert await ids(client, f"/api/v1/accounts/{alice.id}/statuses", outsider) == [opener["id"]]
        assert await ids(client, f"/api/v1/accounts/{bob.id}/statuses", outsider) == []
    # On no public, tag or home timeline, not even the participants'.
    for anyone in (alice, bob, carol, dave, None):
        for path in ("/api/v1/timelines/public", "/api/v1/timelines/public?local=true", "/api/v1/timelines/tag/hush"):
            assert await ids(client, path, anyone) == [opener["id"]]
    for user in (alice, bob, carol, dave):
        assert secret.isdisjoint(await ids(client, "/api/v1/timelines/home", user))
    for user in (carol, bob):
        assert await list_ids(client, user, lists[user.username]) == [opener["id"]]
    # The thread shows the reply to those in it.
    context = await expect(await client.get(f"/api/v1/statuses/{opener['id']}/context", headers=alice.headers), 200)
    assert [s["id"] for s in context["descendants"]] == [reply["id"]]
    # Nobody else can act on it either.
    await expect(await client.post(f"/api/v1/statuses/{dm['id']}/favourite", headers=carol.headers), 404)
    await expect(await client.post(f"/api/v1/statuses/{dm['id']}/reblog", headers=bob.headers), 403)
    # Mentions notify.
    notes = await expect(await client.get("/api/v1/notifications", headers=bob.headers), 200)
    assert [(n["type"], n["status"]["id"]) for n in notes if n["type"] == "mention"] == [("mention", dm["id"])]
    notes = await expect(await client.get("/api/v1/notifications", headers=carol.headers), 200)
    assert notes == []


async def test_conversations_list_unread_read_delete_and_come_back(
    client: Client, res: Resources, make_user: UserFactory
) -> None:
    alice, bob, carol = [await make_user(n) for n in ("alice", "bob", "carol")]
    first = await post_status(client, alice, "@bob @carol hello both", visibility="direct")
    other = await post_status(client, carol, "@alice just us", visibility="direct")
    await post_status(client, alice, "not a conversation: public")
    await deliver(res)

    bobs = await conversations(client, bob)
    assert [(c["unread"], c["last_status"]["id"]) for c in bobs] == [(True, first["id"])]
    assert sorted(a["username"] for a in bobs[0]["accounts"]) == ["alice", "carol"]
    alices = await conversations(client, alice)
    assert [(c["unread"], c["last_status"]["id"]) for c in alices] == [(True, other["id"]), (False, first["id"])]
    assert [a["username"] for a in alices[1]["accounts"]] == ["bob", "carol"]
    for entity in alices:
        assert_mastodon("Account", entity["accounts"][0])
        assert_mastodon("Status", entity["last_status"])

    # A reply continues the same conversation, unread again for the others.
    read = await expect(await client.post(f"/api/v1/conversations/{bobs[0]['id']}/read", headers=bob.headers), 200)
    assert read["unread"] is False and read["id"] == bobs[0]["id"]
    reply = await post_status(client, carol, "@alice @bob hi", visibility="direct", in_reply_to_id=first["id"])
    await deliver(res)
    bobs = await conversations(client, bob)
    assert [(c["id"], c["unread"], c["last_status"]["id"]) for c in bobs] == [(read["id"], True, reply["id"])]

    # Deleting takes it off bob's list only; the next message brings it back.
    await expect(await client.delete(f"/api/v1/conversations/{bobs[0]['id']}", headers=bob.headers), 200)
    assert await conversations(client, bob) == []
    assert len(await conversations(client, carol)) == 2
    await expect(await client.delete(f"/api/v1/conversations/{bobs[0]['id']}", headers=bob.headers), 404)
    await expect(await client.post(f"/api/v1/conversations/{alices[0]['id']}/read", headers=bob.headers), 404)
    await post_status(client, alice, "@bob again", visibility="direct", in_reply_to_id=reply["id"])
    await deliver(res)
    assert [c["unread"] for c in await conversations(client, bob)] == [True]
    # Retried jobs change nothing (the queue runs at least once).
    await deliver(res)
    assert len(await conversations(client, bob)) == 1

    # Pages by the latest message.
    page = await client.get("/api/v1/conversations?limit=1", headers=alice.headers)
    assert len(await expect(page, 200)) == 1 and 'rel="next"' in page.headers["Link"]
    await expect(await client.get("/api/v1/conversations"), 401)


async def test_streams_carry_a_direct_message_only_to_its_participants(
    client: Client, res: Resources, make_user: UserFactory
) -> None:
    alice, bob, carol = [await make_user(n) for n in ("alice", "bob", "carol")]
    await follow(client, carol, alice)
    await follow(client, bob, alice)
    await deliver(res)
    carol_list = (await make_list(client, carol))["id"]
    await add(client, carol, carol_list, alice)
    carol_home = await connect(client, carol.token, stream="user")
    carol_lists = await connect(client, carol.token, stream="list", list=carol_list)
    public = await connect(client, stream="public")
    tag = await connect(client, stream="hashtag", tag="hush")
    bob_direct = await connect(client, bob.token, stream="direct")
    bob_user = await connect(client, bob.token, stream="user")
    await online(res, bob.account_id, carol.account_id)
    await hub_settled(client)

    dm = await post_status(client, alice, "@bob secret #hush", visibility="direct")
    await deliver(res)
    conversation = await next_frame(bob_direct)
    assert conversation["event"] == "conversation" and conversation["stream"] == ["direct"]
    assert conversation["payload"]["last_status"]["id"] == dm["id"] and conversation["payload"]["unread"] is True
    mention = (await frames_until(bob_user, lambda f: f["event"] == "notification"))[-1]
    assert mention["payload"]["type"] == "mention" and mention["payload"]["status"]["id"] == dm["id"]

    # The others' next event is the public post that came after: the direct one never reached them.
    after = await post_status(client, alice, "public now #hush")
    await deliver(res)
    for ws in (carol_home, carol_lists, public, tag):
        event = await next_frame(ws)
        assert (event["event"], event["payload"]["id"]) == ("update", after["id"])
    # ...and the direct stream carries no posts.
    await bob_user.close()
    again = await post_status(client, alice, "@bob another #hush", visibility="direct")
    await deliver(res)
    assert (await next_frame(bob_direct))["payload"]["last_status"]["id"] == again["id"]
    for ws in (carol_home, carol_lists, public, tag, bob_direct):
        await ws.close()


async def test_search_finds_a_direct_message_only_for_its_participants(
    sclient: Client,  # noqa: F811
    sres: Resources,  # noqa: F811
    make_user: UserFactory,
) -> None:
    alice, bob, carol = [await make_user(n) for n in ("alice", "bob", "carol")]
    await follow(sclient, carol, alice)
    await post_status(sclient, alice, "@bob the rutabaga plan", visibility="direct")
    await index_pending(sres)
    for user in (alice, bob):
        assert await found(sclient, "rutabaga", user) == ["@bob the rutabaga plan"]
    for other in (carol, None):
        assert await found(sclient, "rutabaga", other) == []


# Mastodon.py ------------------------------------------------------------------------------------------


@pytest.fixture
async def base_url(settings: Settings) -> AsyncIterator[str]:
    async with serve_app(create_app(settings)) as url:
        yield url


async def test_mastodon_py_sends_a_direct_message_and_reads_conversations(
    base_url: str, res: Resources, make_user: UserFactory
) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")

    def send() -> Any:
        api = Mastodon(access_token=alice.token, api_base_url=base_url, version_check_mode="none")
        return api.status_post("@bob psst", visibility="direct")

    sent = await asyncio.to_thread(send)
    assert sent.visibility == "direct"
    await deliver(res)

    def read() -> tuple[Any, Any, Any]:
        api = Mastodon(access_token=bob.token, api_base_url=base_url, version_check_mode="none")
        listed = api.conversations()
        marked = api.conversations_read(listed[0].id)
        return listed, marked, api.conversations()

    listed, marked, after = await asyncio.to_thread(read)
    assert [(c.unread, c.last_status.id, c.accounts[0].username) for c in listed] == [(True, sent.id, "alice")]
    assert marked.unread is False and [c.unread for c in after] == [False]
