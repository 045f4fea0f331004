"""Grouped notifications (Mastodon 4.3) through Mastodon.py and raw requests: favourites and reblogs of a
post and follows share a group, others stand alone; accounts and statuses listed once; pagination by Link;
grouped_types, types and exclude_types; one group, its accounts, dismissing it; unread counts from the
notifications marker; the filtering policy and requests at their defaults."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from conftest import TestUser, UserFactory
from live import serve_app
from mastodon import Mastodon
from social import Client, expect, follow, link_cursor, post_status
from streams import run_queues

from app.main import create_app
from config import Settings
from storage.resources import Resources


@pytest.fixture
async def base_url(settings: Settings) -> AsyncIterator[str]:
    async with serve_app(create_app(settings)) as url:
        yield url


async def like(client: Client, user: TestUser, status: dict[str, Any]) -> None:
    await expect(await client.post(f"/api/v1/statuses/{status['id']}/favourite", headers=user.headers), 200)


async def groups(client: Client, user: TestUser, **params: Any) -> Any:
    return await expect(await client.get("/api/v2/notifications", params=params, headers=user.headers), 200)


async def busy_afternoon(client: Client, res: Resources, make_user: UserFactory) -> dict[str, Any]:
    """alice's notifications: three likes and a reblog of one post, a like of another, a mention, two follows."""
    alice, bob, carol, dave, eve = [await make_user(name) for name in ("alice", "bob", "carol", "dave", "eve")]
    first = await post_status(client, alice, "first")
    second = await post_status(client, alice, "second")
    for who in (bob, carol, dave):
        await like(client, who, first)
    await expect(await client.post(f"/api/v1/statuses/{first['id']}/reblog", headers=bob.headers), 200)
    await like(client, carol, second)
    await post_status(client, eve, "hi @alice")
    await follow(client, bob, alice)
    await follow(client, carol, alice)
    await run_queues(res, "notifications")
    return {"alice": alice, "bob": bob, "carol": carol, "dave": dave, "eve": eve, "first": first, "second": second}


async def test_mastodon_py_reads_grouped_notifications(
    base_url: str, client: Client, res: Resources, make_user: UserFactory
) -> None:
    s = await busy_afternoon(client, res, make_user)
    alice, bob, carol, dave, eve = s["alice"], s["bob"], s["carol"], s["dave"], s["eve"]
    first, second = s["first"], s["second"]
    api = Mastodon(access_token=alice.token, api_base_url=base_url)
    hour = int(time.time()) // 3600

    results = await asyncio.to_thread(api.grouped_notifications, expand_accounts="full")
    found = [(g.type, g.group_key, g.notifications_count, g.sample_account_ids) for g in results.notification_groups]
    mention = results.notification_groups[1]
    assert found == [
        ("follow", f"follow-{hour}", 2, [carol.id, bob.id]),  # newest first
        ("mention", f"ungrouped-{mention.most_recent_notification_id}", 1, [eve.id]),
        ("favourite", f"favourite-{second['id']}-{hour}", 1, [carol.id]),
        ("reblog", f"reblog-{first['id']}-{hour}", 1, [bob.id]),
        ("favourite", f"favourite-{first['id']}-{hour}", 3, [dave.id, carol.id, bob.id]),
    ]
    # Each account and status once, however many groups show it.
    assert sorted(a.id for a in results.accounts) == sorted([bob.id, carol.id, dave.id, eve.id])
    assert sorted(st.id for st in results.statuses) == sorted([first["id"], second["id"], mention.status_id])
    for group in results.notification_groups:
        assert int(group.page_min_id) <= int(group.page_max_id) == int(group.most_recent_notification_id)
    v1 = await asyncio.to_thread(api.notifications)
    assert {n.group_key for n in v1} == {g.group_key for g in results.notification_groups}

    # Mastodon.py's default: the first sample of each group in full, the others as partial accounts.
    partial = await asyncio.to_thread(api.grouped_notifications, types=["favourite"])
    assert [a.id for a in partial.accounts] == [carol.id, dave.id]
    assert [(p.id, p.acct) for p in partial.partial_accounts] == [(bob.id, "bob")]
    assert partial.partial_accounts[0].avatar.endswith("/avatars/original/missing.png")

    one = await asyncio.to_thread(api.grouped_notification, f"favourite-{first['id']}-{hour}")
    assert [g.notifications_count for g in one.notification_groups] == [3]
    assert one.notification_groups[0].get("page_min_id") is None  # a whole group, not a page of one
    accounts = await asyncio.to_thread(api.grouped_notification_accounts, f"follow-{hour}")
    assert [a.id for a in accounts] == [carol.id, bob.id]
    await asyncio.to_thread(api.dismiss_grouped_notification, f"favourite-{first['id']}-{hour}")
    after = await asyncio.to_thread(api.grouped_notifications, expand_accounts="full")
    assert [g.type for g in after.notification_groups] == ["follow", "mention", "favourite", "reblog"]
    assert await res.db.fetchval("SELECT count(*) FROM notifications WHERE type = 'favourite'") == 1


async def test_grouped_pages_follow_the_link_header_and_filters_apply(
    client: Client, res: Resources, make_user: UserFactory
) -> None:
    s = await busy_afternoon(client, res, make_user)
    alice, first = s["alice"], s["first"]
    everything = (await groups(client, alice))["notification_groups"]
    assert len(everything) == 5

    response = await client.get("/api/v2/notifications", params={"limit": "2"}, headers=alice.headers)
    page = await expect(response, 200)
    assert [g["group_key"] for g in page["notification_groups"]] == [g["group_key"] for g in everything[:2]]
    max_id = link_cursor(response, "next", "max_id")
    rest = await groups(client, alice, max_id=max_id)
    assert [g["group_key"] for g in rest["notification_groups"]] == [g["group_key"] for g in everything[2:]]
    min_id = link_cursor(response, "prev", "min_id")
    assert (await groups(client, alice, min_id=min_id))["notification_groups"] == []
    newer = await groups(client, alice, min_id=everything[1]["most_recent_notification_id"])
    assert [g["group_key"] for g in newer["notification_groups"]] == [everything[0]["group_key"]]

    # A full page that cuts through a group counts only the group's notifications in the page; a last
    # page counts on to the end.
    only_likes = {"types[]": "favourite", "grouped_types[]": "favourite"}
    cut = (await groups(client, alice, limit="2", **only_likes))["notification_groups"]
    assert [g["notifications_count"] for g in cut] == [1, 1]
    assert cut[1]["page_min_id"] == cut[1]["page_max_id"] == cut[1]["most_recent_notification_id"]
    likes = (await groups(client, alice, **only_likes))["notification_groups"]
    assert [g["notifications_count"] for g in likes] == [1, 3]
    assert int(likes[1]["page_min_id"]) < int(likes[1]["page_max_id"])
    lone = await groups(client, alice, **{"types[]": "favourite", "grouped_types[]": "follow"})
    assert [g["group_key"].startswith("ungrouped-") for g in lone["notification_groups"]] == [True] * 4
    no_follows = await groups(client, alice, **{"exclude_types[]": ["follow", "mention"]})
    assert {g["type"] for g in no_follows["notification_groups"]} == {"favourite", "reblog"}
    from_dave = await groups(client, alice, account_id=s["dave"].id)
    assert [g["group_key"] for g in from_dave["notification_groups"]] == [
        f"favourite-{first['id']}-{int(time.time()) // 3600}"
    ]

    await expect(
        await client.get("/api/v2/notifications", params={"expand_accounts": "some"}, headers=alice.headers), 422
    )
    await expect(await client.get("/api/v2/notifications/follow-1", headers=alice.headers), 404)
    await expect(await client.get("/api/v2/notifications/ungrouped-5", headers=s["bob"].headers), 404)
    await expect(await client.post("/api/v2/notifications/follow-1/dismiss", headers=alice.headers), 404)
    await expect(await client.get("/api/v2/notifications"), 401)


async def test_a_group_spans_at_most_twelve_hours(client: Client, res: Resources, make_user: UserFactory) -> None:
    alice, bob, carol, dave = [await make_user(name) for name in ("alice", "bob", "carol", "dave")]
    post = await post_status(client, alice, "a post")
    hour = int(time.time()) // 3600
    await like(client, bob, post)
    await run_queues(res, "notifications")
    # The group began 11 hours ago: a new like still joins it.
    await res.db.execute("UPDATE notifications SET group_key = $1", f"favourite-{post['id']}-{hour - 11}")
    await like(client, carol, post)
    await run_queues(res, "notifications")
    # Now pretend that group began 12 hours ago: the next like begins a group of this hour.
    await res.db.execute("UPDATE notifications SET group_key = $1", f"favourite-{post['id']}-{hour - 12}")
    await like(client, dave, post)
    await run_queues(res, "notifications")
    keys = await res.db.fetch("SELECT from_account_id, group_key FROM notifications ORDER BY id")
    assert [(row["from_account_id"], row["group_key"]) for row in keys] == [
        (bob.account_id, f"favourite-{post['id']}-{hour - 12}"),
        (carol.account_id, f"favourite-{post['id']}-{hour - 12}"),
        (dave.account_id, f"favourite-{post['id']}-{hour}"),
    ]
    found = (await groups(client, alice))["notification_groups"]
    assert [g["notifications_count"] for g in found] == [1, 2]


async def test_unread_counts_come_from_the_notifications_marker(
    base_url: str, client: Client, res: Resources, make_user: UserFactory
) -> None:
    s = await busy_afternoon(client, res, make_user)
    alice = s["alice"]
    api = Mastodon(access_token=alice.token, api_base_url=base_url)
    assert (await asyncio.to_thread(api.notifications_unread_count)).count == 8
    assert await asyncio.to_thread(api.unread_grouped_notifications_count) == 5
    assert await asyncio.to_thread(api.unread_grouped_notifications_count, limit=3) == 3
    assert await asyncio.to_thread(api.unread_grouped_notifications_count, types=["favourite"]) == 2

    everything = (await groups(client, alice))["notification_groups"]
    await asyncio.to_thread(api.markers_set, "notifications", everything[2]["most_recent_notification_id"])
    assert (await asyncio.to_thread(api.notifications_unread_count)).count == 3  # the follows and the mention
    assert await asyncio.to_thread(api.unread_grouped_notifications_count) == 2
    body = await expect(await client.get("/api/v1/notifications/unread_count", headers=s["bob"].headers), 200)
    assert body == {"count": 0}


async def test_the_policy_accepts_everything_and_no_request_is_pending(
    base_url: str, client: Client, make_user: UserFactory
) -> None:
    alice = await make_user("alice")
    api = Mastodon(access_token=alice.token, api_base_url=base_url)
    policy = await asyncio.to_thread(api.notifications_policy)
    assert policy.for_not_following == policy.for_new_accounts == policy.for_limited_accounts == "accept"
    assert policy.summary.pending_requests_count == 0
    same = await asyncio.to_thread(api.update_notifications_policy, for_not_following="accept")
    assert same.for_not_following == "accept"
    refused = await expect(
        await client.patch("/api/v2/notifications/policy", json={"for_new_accounts": "filter"}, headers=alice.headers),
        422,
    )
    assert "for_new_accounts" in refused["error"]
    assert await asyncio.to_thread(api.notification_requests) == []
    assert await asyncio.to_thread(api.notifications_merged) is True
    await expect(await client.get("/api/v1/notifications/requests/12", headers=alice.headers), 404)
    await expect(await client.post("/api/v1/notifications/requests/12/accept", headers=alice.headers), 404)
    await asyncio.to_thread(api.dismiss_multiple_notification_requests, ["12", "13"])
