"""Editing posts (issue 23): PUT /api/v1/statuses/:id, its versions (history) and source, its limits, and the
edit reaching everyone: live `status.update` (also to a client that resumes after the edit), `update`
notifications to who reposted or quoted it, quotes, the post cache and search; and Mastodon.py's calls."""

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
from streams import connect, frames_until, next_frame, online, run_queues, until
from test_media_posts import image
from test_search import found, index_pending, sclient, search_settings, sres  # noqa: F401 (fixtures)

from api.keys import HUB
from app.main import create_app
from config import Settings
from storage.resources import Resources

pytestmark = pytest.mark.valkey_modes  # edits invalidate the post cache and reach streams

DELIVERY_QUEUES = ("timeline", "streaming", "notifications", "post_cache", "conversations")


async def deliver(res: Resources) -> None:
    await run_queues(res, *DELIVERY_QUEUES)


async def edit(client: Client, user: User, status_id: str, code: int = 200, **params: Any) -> Any:
    return await expect(await client.put(f"/api/v1/statuses/{status_id}", json=params, headers=user.headers), code)


async def history(client: Client, status_id: str, user: User | None = None) -> list[dict[str, Any]]:
    response = await client.get(f"/api/v1/statuses/{status_id}/history", headers=user.headers if user else {})
    body: list[dict[str, Any]] = await expect(response, 200)
    return body


async def test_an_edit_changes_the_post_and_keeps_every_version(client: Client, make_user: UserFactory) -> None:
    alice = await make_user("alice")
    status = await post_status(client, alice, "first #draft", spoiler_text="cw", language="en")
    assert status["edited_at"] is None
    assert [v["content"] for v in await history(client, status["id"])] == [status["content"]]

    edited = await edit(client, alice, status["id"], status="second #final")
    assert edited["edited_at"] is not None and edited["id"] == status["id"]
    assert "second" in edited["content"] and [t["name"] for t in edited["tags"]] == ["final"]
    assert edited["spoiler_text"] == "" and edited["language"] == "en"  # as Mastodon: cw cleared, language kept
    assert edited["created_at"] == status["created_at"]
    shown = await expect(await client.get(f"/api/v1/statuses/{status['id']}"), 200)
    assert shown["content"] == edited["content"] and shown["edited_at"] == edited["edited_at"]

    third = await edit(client, alice, status["id"], status="third", spoiler_text="now a warning", language="de")
    assert third["sensitive"] is True and third["language"] == "de"  # a content warning makes it sensitive
    versions = await history(client, status["id"])
    assert [v["content"] for v in versions] == [status["content"], edited["content"], third["content"]]
    assert [v["spoiler_text"] for v in versions] == ["cw", "", "now a warning"]
    assert versions[0]["created_at"] == status["created_at"] and versions[-1]["created_at"] == third["edited_at"]
    assert all(v["account"]["id"] == alice.id for v in versions)
    source = await expect(await client.get(f"/api/v1/statuses/{status['id']}/source", headers=alice.headers), 200)
    assert source == {"id": status["id"], "text": "third", "spoiler_text": "now a warning"}
    assert_mastodon("Status", third)
    # The tag index follows the text: the old tag no longer finds it, the new one does.
    old = await expect(await client.get("/api/v1/timelines/tag/draft"), 200)
    new = await expect(await client.get("/api/v1/timelines/tag/final"), 200)
    assert old == [] and [s["id"] for s in new] == []  # third removed #final too
    await edit(client, alice, status["id"], status="back to #final")
    assert [s["id"] for s in await expect(await client.get("/api/v1/timelines/tag/final"), 200)] == [status["id"]]


async def test_bad_edits_are_clear_4xx_and_change_nothing(client: Client, make_user: UserFactory) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    status = await post_status(client, alice, "mine")
    assert (await edit(client, bob, status["id"], 403, status="hijacked"))["error"]
    assert (await edit(client, alice, status["id"], 422, status=""))["error"].startswith("Validation failed")
    await edit(client, alice, status["id"], 422, status="x" * 501)
    await edit(client, alice, status["id"], 422, status="ok", language="xx")
    await edit(client, alice, status["id"], 422, status="ok", media_ids=["123"])
    await edit(client, alice, status["id"], 422, status="ok", poll={"options": ["a"], "expires_in": 600})
    await edit(client, alice, "999999999", 404, status="nothing there")
    repost = await expect(await client.post(f"/api/v1/statuses/{status['id']}/reblog", headers=bob.headers), 200)
    await edit(client, bob, repost["id"], 422, status="a repost")
    response = await client.put(f"/api/v1/statuses/{status['id']}", json={"status": "x"})
    assert response.status == 401
    assert (await history(client, status["id"]))[-1]["content"] == status["content"]
    assert len(await history(client, status["id"])) == 1


async def test_an_edit_changes_media_and_their_descriptions(client: Client, make_user: UserFactory) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    first, second = await image(client, alice, "a cat"), await image(client, alice, "a dog")
    status = await post_status(client, alice, "pets", media_ids=[first])
    edited = await edit(
        client,
        alice,
        status["id"],
        status="pets",
        media_ids=[second, first],
        media_attributes=[{"id": first, "description": "a sleeping cat"}],
    )
    assert [(m["id"], m["description"]) for m in edited["media_attachments"]] == [
        (second, "a dog"),
        (first, "a sleeping cat"),
    ]
    versions = await history(client, status["id"])
    assert [[m["description"] for m in v["media_attachments"]] for v in versions] == [
        ["a cat"],
        ["a dog", "a sleeping cat"],
    ]
    # Dropping media takes them off; someone else's media cannot be put on.
    theirs = await image(client, bob, "not yours")
    await edit(client, alice, status["id"], 422, status="pets", media_ids=[theirs])
    text_only = await edit(client, alice, status["id"], status="no pictures now")
    assert text_only["media_attachments"] == []
    # The dropped media are free again for a new post.
    again = await post_status(client, alice, "reused", media_ids=[first])
    assert [m["id"] for m in again["media_attachments"]] == [first]


async def test_followers_get_a_status_update_and_a_resuming_client_gets_the_new_version(
    client: Client, res: Resources, make_user: UserFactory
) -> None:
    alice, bob, carol = await make_user("alice"), await make_user("bob"), await make_user("carol")
    await follow(client, bob, alice)
    await follow(client, carol, alice)
    await deliver(res)
    bob_ws = await connect(client, bob.token, stream="user")
    carol_ws = await connect(client, carol.token, stream="user")
    public_ws = await connect(client, stream="public")
    await online(res, bob.account_id, carol.account_id)
    status = await post_status(client, alice, "before the edit")
    await deliver(res)
    seen = {}
    for name, ws in (("bob", bob_ws), ("carol", carol_ws), ("public", public_ws)):
        seen[name] = await next_frame(ws)
        assert seen[name]["event"] == "update" and seen[name]["payload"]["id"] == status["id"]
    carol_seen = seen["carol"]["id"]
    await carol_ws.close()  # carol drops off before the edit
    await until(lambda: len(client.app[HUB].connections) == 2)

    await edit(client, alice, status["id"], status="after the edit")
    await deliver(res)
    for ws in (bob_ws, public_ws):
        update = (await frames_until(ws, lambda f: f["event"] == "status.update"))[-1]
        assert update["payload"]["id"] == status["id"] and "after the edit" in update["payload"]["content"]
        assert update["payload"]["edited_at"] is not None

    # carol comes back with her cursor: the edit she missed is replayed before anything live.
    again = await connect(client, carol.token, stream="user", last_event_id=carol_seen)
    replayed = (await frames_until(again, lambda f: f["event"] == "status.update"))[-1]
    assert replayed["payload"]["id"] == status["id"] and "after the edit" in replayed["payload"]["content"]
    # ...and a client that resumes from before the post gets the post itself, already edited.
    fresh = await connect(client, carol.token, stream="user", since_id=str(int(status["id"]) - 1))
    update = (await frames_until(fresh, lambda f: f["event"] == "update"))[-1]
    assert update["payload"]["id"] == status["id"] and "after the edit" in update["payload"]["content"]
    for ws in (bob_ws, public_ws, again, fresh):
        await ws.close()


async def test_reposters_and_quoters_get_an_update_notification_and_quotes_show_the_new_version(
    client: Client, res: Resources, make_user: UserFactory
) -> None:
    alice, bob, carol, dave = [await make_user(n) for n in ("alice", "bob", "carol", "dave")]
    status = await post_status(client, alice, "the original")
    await expect(await client.post(f"/api/v1/statuses/{status['id']}/reblog", headers=bob.headers), 200)
    quote = await post_status(client, carol, "look at this", quoted_status_id=status["id"])
    await follow(client, dave, alice)  # a follower who neither reposted nor quoted
    await deliver(res)

    await edit(client, alice, status["id"], status="the original, corrected")
    await deliver(res)
    for user in (bob, carol):
        notes = await expect(await client.get("/api/v1/notifications?types[]=update", headers=user.headers), 200)
        assert [(n["type"], n["status"]["id"], n["account"]["id"]) for n in notes] == [
            ("update", status["id"], alice.id)
        ]
        assert "corrected" in notes[0]["status"]["content"]
        assert_mastodon("Notification", notes[0])
    for user in (dave, alice):
        notes = await expect(await client.get("/api/v1/notifications?types[]=update", headers=user.headers), 200)
        assert notes == []
    shown = await expect(await client.get(f"/api/v1/statuses/{quote['id']}", headers=dave.headers), 200)
    assert "corrected" in shown["quote"]["quoted_status"]["content"]
    # The post cache (home timelines read through it) has the new version too.
    home = await expect(await client.get("/api/v1/timelines/home", headers=dave.headers), 200)
    assert [("corrected" in s["content"]) for s in home if s["id"] == status["id"]] == [True]


async def mentions_of(client: Client, user: User) -> list[str]:
    notes = await expect(await client.get("/api/v1/notifications?types[]=mention", headers=user.headers), 200)
    return [n["status"]["id"] for n in notes]


async def test_an_edit_that_adds_a_mention_notifies_the_newly_mentioned_once(
    client: Client, res: Resources, make_user: UserFactory
) -> None:
    alice, bob, carol = [await make_user(n) for n in ("alice", "bob", "carol")]
    status = await post_status(client, alice, "hello")
    await deliver(res)
    await edit(client, alice, status["id"], status="hello @bob")
    await deliver(res)
    assert await mentions_of(client, bob) == [status["id"]]
    # As Mastodon: the post's mentions notify on each edit, once per mention: bob is not told again.
    both = await edit(client, alice, status["id"], status="hello @bob and @carol")
    await deliver(res)
    assert sorted(m["id"] for m in both["mentions"]) == sorted([bob.id, carol.id])
    assert await mentions_of(client, bob) == [status["id"]]
    assert await mentions_of(client, carol) == [status["id"]]
    await edit(client, alice, status["id"], status="hello @bob again, @alice")  # carol dropped, herself added
    await deliver(res)
    assert await mentions_of(client, alice) == []  # nobody is notified of their own post
    assert await res.db.fetchval("SELECT count(*) FROM notifications WHERE type = 'mention'") == 2


async def test_a_direct_message_edited_to_mention_someone_new_reaches_them(
    client: Client, res: Resources, make_user: UserFactory
) -> None:
    alice, bob, carol, dave = [await make_user(n) for n in ("alice", "bob", "carol", "dave")]
    dm = await post_status(client, alice, "@bob the plan", visibility="direct")
    await deliver(res)
    await expect(await client.get(f"/api/v1/statuses/{dm['id']}", headers=carol.headers), 404)
    carol_ws = await connect(client, carol.token, stream="user:notification")
    await online(res, carol.account_id)

    await edit(client, alice, dm["id"], status="@bob @carol the plan")
    await deliver(res)
    shown = await expect(await client.get(f"/api/v1/statuses/{dm['id']}", headers=carol.headers), 200)
    assert shown["visibility"] == "direct" and "the plan" in shown["content"]
    assert await mentions_of(client, carol) == [dm["id"]]
    live = (await frames_until(carol_ws, lambda f: f["event"] == "notification"))[-1]
    assert live["payload"]["type"] == "mention" and live["payload"]["status"]["id"] == dm["id"]
    assert await mentions_of(client, bob) == [dm["id"]]  # bob was told once, when it was sent
    # As Mastodon (its fan-out skips the conversation on an update): no conversation starts for carol.
    assert await expect(await client.get("/api/v1/conversations", headers=carol.headers), 200) == []
    # Everyone else still gets a 404, and it is on nobody's public timeline.
    await expect(await client.get(f"/api/v1/statuses/{dm['id']}", headers=dave.headers), 404)
    await expect(await client.get(f"/api/v1/statuses/{dm['id']}/history"), 404)
    public = await expect(await client.get("/api/v1/timelines/public"), 200)
    assert dm["id"] not in [s["id"] for s in public]
    await carol_ws.close()


async def test_an_edit_is_found_by_its_new_words_in_search(
    sclient: Client,  # noqa: F811
    sres: Resources,  # noqa: F811
    make_user: UserFactory,
) -> None:
    alice = await make_user("alice")
    status = await post_status(sclient, alice, "a sentence about turnips")
    await index_pending(sres)
    await edit(sclient, alice, status["id"], status="a sentence about parsnips")
    assert await index_pending(sres) >= 1
    assert await found(sclient, "parsnips") == ["a sentence about parsnips"]
    assert await found(sclient, "turnips") == []


# Mastodon.py ------------------------------------------------------------------------------------------


@pytest.fixture
async def base_url(settings: Settings) -> AsyncIterator[str]:
    async with serve_app(create_app(settings)) as url:
        yield url


async def test_mastodon_py_edits_and_reads_history_and_source(base_url: str, make_user: UserFactory) -> None:
    alice = await make_user("alice")

    def run() -> tuple[Any, Any, Any, Any]:
        api = Mastodon(access_token=alice.token, api_base_url=base_url, version_check_mode="none")
        posted = api.status_post("typo hre", spoiler_text="spelling")
        updated = api.status_update(posted.id, "typo here", spoiler_text="spelling")
        return posted, updated, api.status_history(posted.id), api.status_source(posted.id)

    posted, updated, versions, source = await asyncio.to_thread(run)
    assert updated.id == posted.id and updated.edited_at is not None and "typo here" in updated.content
    assert [v.content for v in versions] == [posted.content, updated.content]
    assert [v.spoiler_text for v in versions] == ["spelling", "spelling"]
    assert source.text == "typo here" and source.spoiler_text == "spelling"
