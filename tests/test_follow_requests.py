"""Locked accounts and follow requests, through Mastodon.py: following a locked account asks it; the
request shows in relationships, the list, the count and a `follow_request` notification; authorizing makes
the follow (and shows private posts), rejecting or withdrawing removes the request and its notification."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from conftest import TestUser, UserFactory
from live import serve_app
from mastodon import Mastodon, MastodonNotFoundError
from social import Client, account_counts, expect, follow, get_status, link_cursor, post_status
from streams import run_queues

from app.main import create_app
from config import Settings
from storage.resources import Resources


@pytest.fixture
async def base_url(settings: Settings) -> AsyncIterator[str]:
    async with serve_app(create_app(settings)) as url:
        yield url


def api_for(base_url: str, user: TestUser) -> Mastodon:
    return Mastodon(access_token=user.token, api_base_url=base_url)


async def notification_types(res: Resources, user: TestUser) -> list[tuple[str, int]]:
    await run_queues(res, "notifications")
    rows = await res.db.fetch(
        "SELECT type, from_account_id FROM notifications WHERE account_id = $1 ORDER BY id", user.account_id
    )
    return [(row["type"], row["from_account_id"]) for row in rows]


async def test_a_locked_account_is_asked_and_authorizing_makes_the_follow(
    base_url: str, client: Client, res: Resources, make_user: UserFactory
) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    alice_api, bob_api = api_for(base_url, alice), api_for(base_url, bob)
    me = await asyncio.to_thread(alice_api.account_update_credentials, locked=True)
    assert me.locked is True
    secret = await post_status(client, alice, "for my followers", visibility="private")

    asked = await asyncio.to_thread(bob_api.account_follow, alice.id)
    assert asked.requested is True and asked.following is False
    assert (await account_counts(res, alice))["followers_count"] == 0
    seen_by_alice = (await asyncio.to_thread(alice_api.account_relationships, bob.id))[0]
    assert seen_by_alice.requested_by is True and seen_by_alice.followed_by is False
    waiting = await asyncio.to_thread(alice_api.follow_requests)
    assert [a.id for a in waiting] == [bob.id]
    assert (await asyncio.to_thread(alice_api.account_verify_credentials)).source.follow_requests_count == 1
    assert await notification_types(res, alice) == [("follow_request", bob.account_id)]
    grouped = await asyncio.to_thread(alice_api.grouped_notifications, expand_accounts="full")
    assert [g.type for g in grouped.notification_groups] == ["follow_request"]
    # A pending request shows nothing private.
    assert (await get_status(client, secret["id"], bob)).status == 404

    answer = await asyncio.to_thread(alice_api.follow_request_authorize, bob.id)
    assert answer.followed_by is True and answer.requested_by is False
    now = (await asyncio.to_thread(bob_api.account_relationships, alice.id))[0]
    assert now.following is True and now.requested is False
    assert (await account_counts(res, alice))["followers_count"] == 1
    assert (await account_counts(res, bob))["following_count"] == 1
    assert await asyncio.to_thread(alice_api.follow_requests) == []
    # The request's notification went with it, and the follow it became notifies nobody.
    assert await notification_types(res, alice) == []
    assert (await get_status(client, secret["id"], bob)).status == 200
    # Already following: following again is no new request.
    again = await asyncio.to_thread(bob_api.account_follow, alice.id)
    assert again.following is True and again.requested is False
    with pytest.raises(MastodonNotFoundError):
        await asyncio.to_thread(alice_api.follow_request_authorize, bob.id)  # nothing waits any more


async def test_rejecting_or_withdrawing_removes_the_request_and_its_notification(
    base_url: str, client: Client, res: Resources, make_user: UserFactory
) -> None:
    alice, carol, dave = await make_user("alice"), await make_user("carol"), await make_user("dave")
    alice_api = api_for(base_url, alice)
    await asyncio.to_thread(alice_api.account_update_credentials, locked=True)
    await follow(client, carol, alice)
    await follow(client, dave, alice)
    assert await notification_types(res, alice) == [
        ("follow_request", carol.account_id),
        ("follow_request", dave.account_id),
    ]

    rejected = await asyncio.to_thread(alice_api.follow_request_reject, carol.id)
    assert rejected.requested_by is False and rejected.followed_by is False
    withdrawn = await expect(await client.post(f"/api/v1/accounts/{alice.id}/unfollow", headers=dave.headers), 200)
    assert withdrawn["requested"] is False and withdrawn["following"] is False
    assert await asyncio.to_thread(alice_api.follow_requests) == []
    assert await notification_types(res, alice) == []
    assert (await account_counts(res, alice))["followers_count"] == 0
    with pytest.raises(MastodonNotFoundError):
        await asyncio.to_thread(alice_api.follow_request_reject, carol.id)


async def test_follow_requests_page_with_link_headers(client: Client, res: Resources, make_user: UserFactory) -> None:
    alice = await make_user("alice")
    await expect(
        await client.patch("/api/v1/accounts/update_credentials", data={"locked": "true"}, headers=alice.headers), 200
    )
    askers = [await make_user(f"asker{i}") for i in range(3)]
    for asker in askers:
        body: dict[str, Any] = await follow(client, asker, alice)
        assert body["requested"] is True
    first = await client.get("/api/v1/follow_requests", params={"limit": "2"}, headers=alice.headers)
    page = await expect(first, 200)
    assert [a["id"] for a in page] == [askers[2].id, askers[1].id]
    rest = await client.get(
        "/api/v1/follow_requests", params={"max_id": link_cursor(first, "next", "max_id")}, headers=alice.headers
    )
    assert [a["id"] for a in await expect(rest, 200)] == [askers[0].id]
    # Another account's requests are not yours to answer; an account's own list is its own.
    await expect(await client.post(f"/api/v1/follow_requests/{askers[0].id}/authorize", headers=askers[1].headers), 404)
    assert await expect(await client.get("/api/v1/follow_requests", headers=askers[0].headers), 200) == []
    reader = await make_user("reader", scopes=("read",))
    await expect(await client.post(f"/api/v1/follow_requests/{askers[0].id}/authorize", headers=reader.headers), 403)


async def test_unlocking_lets_everyone_waiting_follow(client: Client, res: Resources, make_user: UserFactory) -> None:
    alice, bob, carol = await make_user("alice"), await make_user("bob"), await make_user("carol")
    await expect(
        await client.patch("/api/v1/accounts/update_credentials", json={"locked": True}, headers=alice.headers), 200
    )
    await follow(client, bob, alice)
    await follow(client, carol, alice)
    me = await expect(
        await client.patch("/api/v1/accounts/update_credentials", json={"locked": False}, headers=alice.headers), 200
    )
    assert me["locked"] is False and me["source"]["follow_requests_count"] == 0
    assert (await account_counts(res, alice))["followers_count"] == 2
    assert (await follow(client, bob, alice))["following"] is True
