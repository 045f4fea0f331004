"""Lists: CRUD, members (only followed accounts), the list timeline (fan-out, replies policy, exclusive,
rebuilt after FLUSHALL, paged), and the `list` stream over websocket and server-sent events."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from conftest import UserFactory
from social import Client, User, expect, follow, link_cursor, post_status
from streams import WAIT, connect, frames_until, hub_settled, run_queues

from storage.lists import list_key
from storage.resources import Resources

# Each test runs on one Valkey and on a Valkey Cluster (tests/conftest.py).
pytestmark = pytest.mark.valkey_modes


async def deliver(res: Resources) -> None:
    await run_queues(res, "timeline", "streaming", "notifications", "post_cache")


async def make_list(client: Client, user: User, title: str = "friends", **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = await expect(
        await client.post("/api/v1/lists", json={"title": title, **fields}, headers=user.headers), 200
    )
    return body


async def add(client: Client, user: User, list_id: str, *members: User, status: int = 200) -> Any:
    response = await client.post(
        f"/api/v1/lists/{list_id}/accounts", json={"account_ids": [m.id for m in members]}, headers=user.headers
    )
    return await expect(response, status)


async def list_ids(client: Client, user: User, list_id: str, **params: Any) -> list[str]:
    response = await client.get(f"/api/v1/timelines/list/{list_id}", params=params, headers=user.headers)
    return [s["id"] for s in await expect(response, 200)]


async def home_ids(client: Client, user: User) -> list[str]:
    return [s["id"] for s in await expect(await client.get("/api/v1/timelines/home", headers=user.headers), 200)]


# CRUD and members --------------------------------------------------------------------------------------


async def test_lists_are_created_renamed_listed_and_deleted_by_their_owner_only(
    client: Client, make_user: UserFactory
) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    made = await make_list(client, alice, "news")
    assert made["title"] == "news" and made["replies_policy"] == "list" and made["exclusive"] is False
    url = f"/api/v1/lists/{made['id']}"
    changed = await expect(
        await client.put(
            url, json={"title": "daily", "replies_policy": "none", "exclusive": True}, headers=alice.headers
        ),
        200,
    )
    assert changed == {"id": made["id"], "title": "daily", "replies_policy": "none", "exclusive": True}
    assert await expect(await client.get("/api/v1/lists", headers=alice.headers), 200) == [changed]
    assert await expect(await client.get("/api/v1/lists", headers=bob.headers), 200) == []
    await expect(await client.get(url, headers=bob.headers), 404)
    await expect(await client.delete(url, headers=bob.headers), 404)
    await expect(await client.delete(url, headers=alice.headers), 200)
    await expect(await client.get(url, headers=alice.headers), 404)


async def test_bad_list_input_is_a_clear_422(client: Client, make_user: UserFactory) -> None:
    alice = await make_user("alice")
    for body in ({}, {"title": "  "}, {"title": "x" * 101}, {"title": "ok", "replies_policy": "everyone"}):
        answer = await expect(await client.post("/api/v1/lists", json=body, headers=alice.headers), 422)
        assert answer["error"].startswith("Validation failed")
    made = await make_list(client, alice)
    await expect(await client.post(f"/api/v1/lists/{made['id']}/accounts", json={}, headers=alice.headers), 422)
    bad = {"account_ids": ["not-an-id"]}
    await expect(await client.post(f"/api/v1/lists/{made['id']}/accounts", json=bad, headers=alice.headers), 422)


async def test_only_followed_accounts_can_be_added_and_unfollowing_removes_them(
    client: Client, make_user: UserFactory
) -> None:
    alice, bob, carol = await make_user("alice"), await make_user("bob"), await make_user("carol")
    made = await make_list(client, alice)
    refused = await add(client, alice, made["id"], bob, status=422)
    assert "follow" in refused["error"]
    await follow(client, alice, bob)
    await follow(client, alice, carol)
    await add(client, alice, made["id"], bob, carol)
    await add(client, alice, made["id"], bob)  # idempotent
    members = await expect(await client.get(f"/api/v1/lists/{made['id']}/accounts", headers=alice.headers), 200)
    assert sorted(m["id"] for m in members) == sorted([bob.id, carol.id])
    held = await expect(await client.get(f"/api/v1/accounts/{bob.id}/lists", headers=alice.headers), 200)
    assert [lst["id"] for lst in held] == [made["id"]]
    await expect(await client.post(f"/api/v1/accounts/{bob.id}/unfollow", headers=alice.headers), 200)
    members = await expect(await client.get(f"/api/v1/lists/{made['id']}/accounts", headers=alice.headers), 200)
    assert [m["id"] for m in members] == [carol.id]
    removed = await client.delete(
        f"/api/v1/lists/{made['id']}/accounts", json={"account_ids": [carol.id]}, headers=alice.headers
    )
    await expect(removed, 200)
    assert await expect(await client.get(f"/api/v1/lists/{made['id']}/accounts", headers=alice.headers), 200) == []
    await add(client, alice, "12345", carol, status=404)


# the list timeline ------------------------------------------------------------------------------------


async def test_the_list_timeline_holds_members_posts_fanned_out_and_rebuilt_after_flushall(
    client: Client, make_user: UserFactory, res: Resources
) -> None:
    alice, bob, carol, dave = [await make_user(n) for n in ("alice", "bob", "carol", "dave")]
    for target in (bob, carol, dave):
        await follow(client, alice, target)
    before = await post_status(client, bob, "before")  # in PostgreSQL only: adding bob builds the timeline
    made = await make_list(client, alice)
    await add(client, alice, made["id"], bob, carol)
    assert await list_ids(client, alice, made["id"]) == [before["id"]]
    posted = [await post_status(client, who, f"by {who.username}") for who in (carol, dave, bob)]
    await deliver(res)
    expected = [posted[2]["id"], posted[0]["id"], before["id"]]
    assert await res.redis.exists(list_key(alice.account_id, int(made["id"])))
    assert await list_ids(client, alice, made["id"]) == expected
    await res.redis.flushall()
    assert await list_ids(client, alice, made["id"]) == expected
    # Paged like home: by post id, with Link cursors.
    response = await client.get(f"/api/v1/timelines/list/{made['id']}", params={"limit": 2}, headers=alice.headers)
    assert [s["id"] for s in await expect(response, 200)] == expected[:2]
    older = await list_ids(client, alice, made["id"], max_id=link_cursor(response, "next", "max_id"))
    assert older == expected[2:]
    # The owner only.
    await expect(await client.get(f"/api/v1/timelines/list/{made['id']}", headers=bob.headers), 404)


@pytest.mark.parametrize(
    ("policy", "shown"),
    [("none", {"self"}), ("list", {"self", "member", "owner"}), ("followed", {"self", "member", "owner", "followed"})],
)
async def test_the_replies_policy_decides_which_replies_reach_the_list(
    client: Client, make_user: UserFactory, res: Resources, policy: str, shown: set[str]
) -> None:
    alice, bob, carol, dave, erin = [await make_user(n) for n in ("alice", "bob", "carol", "dave", "erin")]
    for target in (bob, carol, dave):
        await follow(client, alice, target)
    made = await make_list(client, alice, replies_policy=policy)
    await add(client, alice, made["id"], bob, carol)
    await list_ids(client, alice, made["id"])  # cached: what follows is fanned out
    targets = {
        "self": await post_status(client, bob, "bob's thread"),
        "member": await post_status(client, carol, "carol's"),
        "owner": await post_status(client, alice, "alice's"),
        "followed": await post_status(client, dave, "dave's"),
        "stranger": await post_status(client, erin, "erin's"),
    }
    replies = {
        name: await post_status(client, bob, f"re {name}", in_reply_to_id=target["id"])
        for name, target in targets.items()
    }
    await deliver(res)
    fanned = set(await list_ids(client, alice, made["id"], limit=40))
    await res.redis.flushall()
    rebuilt = set(await list_ids(client, alice, made["id"], limit=40))
    for got in (fanned, rebuilt):
        assert {name for name, reply in replies.items() if reply["id"] in got} == shown


async def test_an_exclusive_lists_members_leave_home_and_come_back_when_it_is_not(
    client: Client, make_user: UserFactory, res: Resources
) -> None:
    alice, bob, carol = await make_user("alice"), await make_user("bob"), await make_user("carol")
    await follow(client, alice, bob)
    await follow(client, alice, carol)
    old = await post_status(client, bob, "old")
    await deliver(res)
    assert await home_ids(client, alice) == [old["id"]]
    made = await make_list(client, alice, exclusive=True)
    await add(client, alice, made["id"], bob)
    assert await home_ids(client, alice) == []  # the cached home timeline dropped bob's posts
    new = await post_status(client, bob, "new")
    other = await post_status(client, carol, "carol")
    await deliver(res)
    assert await home_ids(client, alice) == [other["id"]]
    assert await list_ids(client, alice, made["id"]) == [new["id"], old["id"]]
    await res.redis.flushall()
    assert await home_ids(client, alice) == [other["id"]]  # the rebuild leaves them out too
    url = f"/api/v1/lists/{made['id']}"
    await expect(await client.put(url, json={"exclusive": False}, headers=alice.headers), 200)
    assert await home_ids(client, alice) == [other["id"], new["id"], old["id"]]


async def test_reposts_reach_a_list_only_when_the_follow_shows_them(
    client: Client, make_user: UserFactory, res: Resources
) -> None:
    alice, bob, carol, dave = [await make_user(n) for n in ("alice", "bob", "carol", "dave")]
    await follow(client, alice, bob)
    await expect(
        await client.post(f"/api/v1/accounts/{carol.id}/follow", json={"reblogs": False}, headers=alice.headers), 200
    )
    made = await make_list(client, alice)
    await add(client, alice, made["id"], bob, carol)
    await list_ids(client, alice, made["id"])
    original = await post_status(client, dave, "worth sharing")
    by_bob = await expect(await client.post(f"/api/v1/statuses/{original['id']}/reblog", headers=bob.headers), 200)
    await expect(await client.post(f"/api/v1/statuses/{original['id']}/reblog", headers=carol.headers), 200)
    await deliver(res)
    assert await list_ids(client, alice, made["id"]) == [by_bob["id"]]


# the list stream --------------------------------------------------------------------------------------


async def test_the_list_stream_carries_members_posts_once_over_websocket_and_sse(
    client: Client, make_user: UserFactory, res: Resources
) -> None:
    alice, bob, carol = await make_user("alice"), await make_user("bob"), await make_user("carol")
    await follow(client, alice, bob)
    await follow(client, alice, carol)
    made = await make_list(client, alice)
    await add(client, alice, made["id"], bob)
    ws = await connect(client, alice.token, stream="list", list=made["id"])
    sse = await client.get("/api/v1/streaming/list", params={"list": made["id"]}, headers=alice.headers)
    assert sse.status == 200
    await hub_settled(client)
    await post_status(client, carol, "not in the list")
    posted = await post_status(client, bob, "in the list")
    await deliver(res)
    frames = await frames_until(ws, lambda f: f["event"] == "update")
    assert [f["payload"]["id"] for f in frames if f["event"] == "update"] == [posted["id"]]
    assert frames[-1]["stream"] == ["list", made["id"]]
    assert frames[-1]["payload"]["bookmarked"] is False
    lines: list[str] = []
    while "event: update" not in lines[:-1]:
        lines.append((await asyncio.wait_for(sse.content.readline(), WAIT)).decode().rstrip("\n"))
    at = lines.index("event: update")
    assert json.loads(lines[at + 1].removeprefix("data: "))["id"] == posted["id"]
    await ws.close()
    sse.close()


async def test_someone_elses_or_a_missing_list_stream_is_refused(client: Client, make_user: UserFactory) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    made = await make_list(client, alice)
    response = await client.get("/api/v1/streaming/list", params={"list": made["id"]}, headers=bob.headers)
    assert response.status == 404 and "error" in await response.json()
    response = await client.get("/api/v1/streaming/list", headers=alice.headers)
    assert response.status == 400 and "error" in await response.json()
    response = await client.get("/api/v1/streaming/list", params={"list": made["id"]})
    assert response.status == 401
