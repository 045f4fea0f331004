"""Notifications: one for each kind of action on you, none for your own, stored, listed, filtered, cleared,
taken back with their cause, and pushed live on the user's stream."""

from __future__ import annotations

import time
from typing import Any

from conftest import TestUser, UserFactory
from social import Client, expect, follow, post_status
from streams import connect, next_frame, online, run_queues

from storage.resources import Resources


async def notifications(client: Client, user: TestUser, **params: Any) -> list[dict[str, Any]]:
    body: list[dict[str, Any]] = await expect(
        await client.get("/api/v1/notifications", params=params, headers=user.headers), 200
    )
    return body


async def settle(res: Resources) -> None:
    await run_queues(res, "notifications")


async def test_each_kind_of_action_notifies_the_author(client: Client, res: Resources, make_user: UserFactory) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    original = await post_status(client, alice, "an original thought")
    await post_status(client, bob, "hey @alice")
    await post_status(client, bob, "replying without a mention", in_reply_to_id=original["id"])
    await post_status(client, bob, "look at this", quoted_status_id=original["id"])
    await expect(await client.post(f"/api/v1/statuses/{original['id']}/favourite", headers=bob.headers), 200)
    await expect(await client.put(f"/api/v1/statuses/{original['id']}/reactions/love", headers=bob.headers), 200)
    await expect(await client.post(f"/api/v1/statuses/{original['id']}/reblog", headers=bob.headers), 200)
    await follow(client, bob, alice)
    await settle(res)

    found = await notifications(client, alice)
    kinds = [n["type"] for n in found]
    # Newest first; the reply is a mention, as in Mastodon.
    assert kinds == ["follow", "reblog", "reaction", "favourite", "quote", "mention", "mention"]
    assert all(n["account"]["id"] == bob.id for n in found)
    by_type = {n["type"]: n for n in found}
    assert "status" not in by_type["follow"]
    assert by_type["favourite"]["status"]["id"] == original["id"]
    assert by_type["favourite"]["status"]["favourited"] is False  # rendered for alice, who did not like it
    assert by_type["reblog"]["status"]["id"] == original["id"]
    assert by_type["reaction"]["reaction"] == {"name": "love"}
    assert by_type["quote"]["status"]["quote"]["quoted_status"]["id"] == original["id"]
    mentions = [n["status"] for n in found if n["type"] == "mention"]
    replies = [m for m in mentions if m["in_reply_to_id"] == original["id"]]
    assert len(mentions) == 2 and len(replies) == 1
    assert replies[0]["mentions"] == []  # notified as the author replied to, not by a mention
    assert [m["mentions"][0]["id"] for m in mentions if m not in replies] == [alice.id]
    hour = int(time.time()) // 3600
    grouped = {
        "follow": f"follow-{hour}",
        "favourite": f"favourite-{original['id']}-{hour}",
        "reblog": f"reblog-{original['id']}-{hour}",
    }
    for n in found:
        # Mastodon groups favourites and reblogs by post and follows by time; the rest stand alone.
        assert n["group_key"] == grouped.get(n["type"], f"ungrouped-{n['id']}"), n["type"]
        assert n["created_at"].endswith("Z")


async def test_acting_on_your_own_post_notifies_nobody(client: Client, res: Resources, make_user: UserFactory) -> None:
    alice = await make_user("alice")
    original = await post_status(client, alice, "mine, @alice")
    await post_status(client, alice, "replying to myself", in_reply_to_id=original["id"])
    await post_status(client, alice, "quoting myself", quoted_status_id=original["id"])
    await expect(await client.post(f"/api/v1/statuses/{original['id']}/favourite", headers=alice.headers), 200)
    await expect(await client.put(f"/api/v1/statuses/{original['id']}/reactions/laugh", headers=alice.headers), 200)
    await expect(await client.post(f"/api/v1/statuses/{original['id']}/reblog", headers=alice.headers), 200)
    await settle(res)
    assert await notifications(client, alice) == []
    assert await res.db.fetchval("SELECT count(*) FROM notifications") == 0


async def test_a_reply_that_also_mentions_notifies_once(client: Client, res: Resources, make_user: UserFactory) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    original = await post_status(client, alice, "question")
    await post_status(client, bob, "@alice answer", in_reply_to_id=original["id"])
    await settle(res)
    assert [n["type"] for n in await notifications(client, alice)] == ["mention"]


async def test_a_retried_job_writes_nothing_twice(client: Client, res: Resources, make_user: UserFactory) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    await follow(client, bob, alice)
    jobs = await res.db.fetch("SELECT queue, kind, payload FROM jobs WHERE queue = 'notifications'")
    await settle(res)
    # The same event delivered again (at-least-once): re-enqueue it and run it.
    for job in jobs:
        await res.db.execute(
            "INSERT INTO jobs (queue, kind, payload) VALUES ($1, $2, $3)", job["queue"], job["kind"], job["payload"]
        )
    await settle(res)
    assert [n["type"] for n in await notifications(client, alice)] == ["follow"]


async def test_undoing_the_cause_takes_the_notification_back(
    client: Client, res: Resources, make_user: UserFactory
) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    original = await post_status(client, alice, "hello")
    sid = original["id"]
    await expect(await client.post(f"/api/v1/statuses/{sid}/favourite", headers=bob.headers), 200)
    await expect(await client.put(f"/api/v1/statuses/{sid}/reactions/love", headers=bob.headers), 200)
    await expect(await client.post(f"/api/v1/statuses/{sid}/reblog", headers=bob.headers), 200)
    await follow(client, bob, alice)
    await settle(res)
    assert len(await notifications(client, alice)) == 4
    await expect(await client.post(f"/api/v1/statuses/{sid}/unfavourite", headers=bob.headers), 200)
    await expect(await client.delete(f"/api/v1/statuses/{sid}/reactions/love", headers=bob.headers), 200)
    await expect(await client.post(f"/api/v1/statuses/{sid}/unreblog", headers=bob.headers), 200)
    await expect(await client.post(f"/api/v1/accounts/{alice.id}/unfollow", headers=bob.headers), 200)
    await settle(res)
    assert await notifications(client, alice) == []


async def test_an_undo_before_the_job_ran_leaves_nothing(
    client: Client, res: Resources, make_user: UserFactory
) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    original = await post_status(client, alice, "hello")
    await expect(await client.post(f"/api/v1/statuses/{original['id']}/favourite", headers=bob.headers), 200)
    await expect(await client.post(f"/api/v1/statuses/{original['id']}/unfavourite", headers=bob.headers), 200)
    await settle(res)
    assert await notifications(client, alice) == []


async def test_deleting_a_post_removes_its_notifications(
    client: Client, res: Resources, make_user: UserFactory
) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    mention = await post_status(client, bob, "hi @alice")
    await settle(res)
    assert len(await notifications(client, alice)) == 1
    await expect(await client.delete(f"/api/v1/statuses/{mention['id']}", headers=bob.headers), 200)
    assert await notifications(client, alice) == []


async def test_a_private_post_notifies_only_those_who_may_see_it(
    client: Client, res: Resources, make_user: UserFactory
) -> None:
    alice, bob, carol = await make_user("alice"), await make_user("bob"), await make_user("carol")
    original = await post_status(client, alice, "public question")
    # Private reply mentioning carol: carol is mentioned, so she may see it; alice (replied to, not a
    # follower, not mentioned) may not, so she is not notified.
    await post_status(client, bob, "psst @carol", in_reply_to_id=original["id"], visibility="private")
    await settle(res)
    assert [n["type"] for n in await notifications(client, carol)] == ["mention"]
    assert await notifications(client, alice) == []


async def test_listing_filters_paginates_and_shows_one(client: Client, res: Resources, make_user: UserFactory) -> None:
    alice, bob, carol = await make_user("alice"), await make_user("bob"), await make_user("carol")
    original = await post_status(client, alice, "hello")
    await follow(client, bob, alice)
    await follow(client, carol, alice)
    await expect(await client.post(f"/api/v1/statuses/{original['id']}/favourite", headers=bob.headers), 200)
    await settle(res)
    everything = await notifications(client, alice)
    assert [n["type"] for n in everything] == ["favourite", "follow", "follow"]
    assert [n["type"] for n in await notifications(client, alice, **{"types[]": "follow"})] == ["follow", "follow"]
    assert [n["type"] for n in await notifications(client, alice, **{"exclude_types[]": "follow"})] == ["favourite"]
    assert await notifications(client, alice, **{"types[]": "poll"}) == []
    from_carol = await notifications(client, alice, account_id=carol.id)
    assert [n["account"]["id"] for n in from_carol] == [carol.id]

    first = await client.get("/api/v1/notifications", params={"limit": "2"}, headers=alice.headers)
    page = await expect(first, 200)
    assert [n["id"] for n in page] == [n["id"] for n in everything[:2]]
    assert 'rel="next"' in first.headers["Link"]
    rest = await notifications(client, alice, max_id=page[-1]["id"])
    assert [n["id"] for n in rest] == [everything[2]["id"]]
    newer = await notifications(client, alice, since_id=everything[1]["id"])
    assert [n["id"] for n in newer] == [everything[0]["id"]]

    one = await expect(await client.get(f"/api/v1/notifications/{everything[0]['id']}", headers=alice.headers), 200)
    assert one == everything[0]
    # Someone else's notification does not exist for you.
    await expect(await client.get(f"/api/v1/notifications/{everything[0]['id']}", headers=bob.headers), 404)
    await expect(await client.get("/api/v1/notifications/123", headers=alice.headers), 404)


async def test_dismiss_and_clear(client: Client, res: Resources, make_user: UserFactory) -> None:
    alice, bob, carol = await make_user("alice"), await make_user("bob"), await make_user("carol")
    await follow(client, bob, alice)
    await follow(client, carol, alice)
    await follow(client, alice, bob)
    await settle(res)
    found = await notifications(client, alice)
    await expect(await client.post(f"/api/v1/notifications/{found[0]['id']}/dismiss", headers=alice.headers), 200)
    assert [n["id"] for n in await notifications(client, alice)] == [found[1]["id"]]
    await expect(await client.post(f"/api/v1/notifications/{found[1]['id']}/dismiss", headers=bob.headers), 404)
    assert await expect(await client.post("/api/v1/notifications/clear", headers=alice.headers), 200) == {}
    assert await notifications(client, alice) == []
    assert len(await notifications(client, bob)) == 1  # only alice's were cleared


async def test_notifications_need_a_user_token_with_the_scope(client: Client, make_user: UserFactory) -> None:
    await expect(await client.get("/api/v1/notifications"), 401)
    reader = await make_user("reader", scopes=("read:statuses",))
    await expect(await client.get("/api/v1/notifications", headers=reader.headers), 403)
    writer_only = await make_user("writer", scopes=("read:notifications",))
    await expect(await client.post("/api/v1/notifications/clear", headers=writer_only.headers), 403)


async def test_a_notification_is_pushed_live_to_the_user_stream(
    client: Client, res: Resources, make_user: UserFactory
) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    ws = await connect(client, alice.token, stream="user:notification")
    await online(res, alice.account_id)
    await follow(client, bob, alice)
    await settle(res)
    event = await next_frame(ws)
    assert event["stream"] == ["user:notification"]
    assert event["event"] == "notification"
    assert event["payload"]["type"] == "follow"
    assert event["payload"]["account"]["id"] == bob.id
    stored = await notifications(client, alice)
    assert event["payload"] == stored[0]
    await ws.close()
