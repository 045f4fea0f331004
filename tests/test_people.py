"""Finding people: account search (ranked as /api/v2/search ranks accounts, with following, limit and
offset, hiding the suspended and the blocked), familiar followers, the directory and suggestions (friends of
friends, the most followed active accounts, dismissing one), each with its viewer's flags and bad input."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from conftest import ClientFactory, UserFactory
from search_scope import fresh_search_indexes
from social import Client, User, assert_documented, expect, follow, post_status, record_event

from config import Settings
from storage.resources import Resources, open_resources
from workers.queues import all_queues
from workers.runner import JobRunner


@pytest.fixture
async def search_settings(settings: Settings) -> AsyncIterator[Settings]:
    async with fresh_search_indexes(settings) as scoped:
        yield scoped


@pytest.fixture
async def sres(search_settings: Settings) -> AsyncIterator[Resources]:
    async with open_resources(search_settings) as resources:
        yield resources


@pytest.fixture
async def sclient(make_client: ClientFactory, search_settings: Settings) -> Client:
    return await make_client(meili_index_prefix=search_settings.meili_index_prefix, rate_limit_enabled=False)


async def indexed(res: Resources, *users: User) -> None:
    """Index the accounts (made directly in storage) as the worker would after their events."""
    async with res.db.acquire() as conn, conn.transaction():
        for user in users:
            await record_event(conn, "account.updated", {"account_id": user.account_id})
    await JobRunner(res, all_queues()).drain("search")


async def names(response: Any, path: str) -> list[str]:
    return [a["username"] for a in await assert_documented("get", path, response)]


async def account_search(client: Client, user: User | None, q: str, **params: str) -> Any:
    return await client.get("/api/v1/accounts/search", params={"q": q, **params}, headers=user.headers if user else {})


async def test_account_search_ranks_as_search_does_and_pages(
    sclient: Client, sres: Resources, make_user: UserFactory
) -> None:
    amy, ben, cat, fan1, fan2 = [await make_user(n) for n in ("pilot_amy", "pilot_ben", "pilot_cat", "fan1", "fan2")]
    await follow(sclient, fan1, ben)
    await follow(sclient, fan2, ben)
    await follow(sclient, fan1, cat)
    await indexed(sres, amy, ben, cat, fan1, fan2)
    v2 = await expect(await sclient.get("/api/v2/search", params={"q": "pilot", "type": "accounts"}), 200)
    ranked = [a["username"] for a in v2["accounts"]]
    assert ranked[:2] == ["pilot_ben", "pilot_cat"] and sorted(ranked) == ["pilot_amy", "pilot_ben", "pilot_cat"]
    path = "/api/v1/accounts/search"
    assert await names(await account_search(sclient, fan2, "pilot"), path) == ranked
    first = await account_search(sclient, fan2, "pilot", limit="2")
    assert await names(first, path) == ranked[:2] and "offset=2" in first.headers["Link"]
    assert await names(await account_search(sclient, fan2, "pilot", limit="2", offset="2"), path) == ranked[2:]
    assert await names(await account_search(sclient, fan1, "pilot", following="true"), path) == ranked[:2]
    exact = await names(await account_search(sclient, fan2, "@pilot_amy@elsewhere", resolve="true"), path)
    assert exact[0] == "pilot_amy"


async def test_account_search_hides_the_suspended_and_the_blocked(
    sclient: Client, sres: Resources, make_user: UserFactory
) -> None:
    names_ = ("pilot_amy", "pilot_ben", "pilot_cat", "viewer", "bystander")
    amy, ben, cat, viewer, bystander = [await make_user(n) for n in names_]
    await indexed(sres, amy, ben, cat)
    await expect(await sclient.post(f"/api/v1/accounts/{amy.id}/block", headers=viewer.headers), 200)
    await expect(await sclient.post(f"/api/v1/accounts/{viewer.id}/block", headers=ben.headers), 200)
    await sres.db.execute("UPDATE accounts SET suspended_at = now() WHERE id = $1", cat.account_id)
    path = "/api/v1/accounts/search"
    assert await names(await account_search(sclient, viewer, "pilot"), path) == []
    # Someone in no block sees both, and never the suspended (whose own token no longer works at all).
    assert sorted(await names(await account_search(sclient, bystander, "pilot"), path)) == ["pilot_amy", "pilot_ben"]
    await expect(await account_search(sclient, cat, "pilot"), 401)
    v2 = await expect(await sclient.get("/api/v2/search", params={"q": "pilot"}, headers=viewer.headers), 200)
    assert v2["accounts"] == []  # the same hiding in /api/v2/search


async def test_account_search_bad_input(sclient: Client, make_user: UserFactory) -> None:
    viewer = await make_user("viewer")
    await expect(await account_search(sclient, None, "x"), 401)
    await expect(await sclient.get("/api/v1/accounts/search", headers=viewer.headers), 422)
    await expect(await account_search(sclient, viewer, "x", offset="-3"), 422)
    await expect(await account_search(sclient, viewer, "x", resolve="perhaps"), 422)


async def test_familiar_followers_are_the_followed_who_follow_each_account(
    client: Client, res: Resources, make_user: UserFactory
) -> None:
    me, ann, bo, cy, star, loner = [await make_user(n) for n in ("me", "ann", "bo", "cy", "star", "loner")]
    for friend in (ann, bo, cy):
        await follow(client, me, friend)
    for friend in (ann, bo):
        await follow(client, friend, star)
    await follow(client, cy, loner)
    await expect(await client.post(f"/api/v1/accounts/{me.id}/block", headers=bo.headers), 200)  # bo blocks me
    await follow(client, me, cy)
    response = await client.get(
        "/api/v1/accounts/familiar_followers",
        params=[("id[]", star.id), ("id[]", loner.id), ("id[]", "424242"), ("id[]", star.id)],
        headers=me.headers,
    )
    body = await assert_documented("get", "/api/v1/accounts/familiar_followers", response)
    assert [(e["id"], [a["username"] for a in e["accounts"]]) for e in body] == [
        (star.id, ["ann"]),  # bo blocks me, so bo is left out; the unknown id too
        (loner.id, ["cy"]),
    ]
    other = await expect(
        await client.get("/api/v1/accounts/familiar_followers", params={"id[]": star.id}, headers=ann.headers), 200
    )
    assert other == [{"id": star.id, "accounts": []}]  # ann follows nobody
    await expect(await client.get("/api/v1/accounts/familiar_followers", params={"id[]": "x"}, headers=me.headers), 422)
    await expect(await client.get("/api/v1/accounts/familiar_followers", params={"id[]": star.id}), 401)


async def test_the_directory_lists_discoverable_accounts_active_or_new(
    client: Client, res: Resources, make_user: UserFactory
) -> None:
    old, mid, new, hermit, muted, silenced = [
        await make_user(n) for n in ("old", "mid", "new", "hermit", "muted", "silenced")
    ]
    await post_status(client, mid, "earlier")
    await post_status(client, old, "latest")
    await res.db.execute("UPDATE accounts SET discoverable = false WHERE id = $1", hermit.account_id)
    await res.db.execute("UPDATE accounts SET silenced_at = now() WHERE id = $1", silenced.account_id)
    path = "/api/v1/directory"
    assert await names(await client.get(path), path) == ["old", "mid", "muted", "new"]
    assert await names(await client.get(path, params={"order": "new"}), path) == ["muted", "new", "mid", "old"]
    page = await client.get(path, params={"order": "new", "limit": "2", "offset": "1", "local": "true"})
    assert await names(page, path) == ["new", "mid"]
    assert "offset=3" in page.headers["Link"] and "offset=0" in page.headers["Link"]
    await expect(await client.post(f"/api/v1/accounts/{muted.id}/mute", headers=new.headers), 200)
    await expect(await client.post(f"/api/v1/accounts/{new.id}/block", headers=mid.headers), 200)
    assert await names(await client.get(path, headers=new.headers), path) == ["old", "new"]
    await expect(await client.get(path, params={"order": "popular"}), 422)
    await expect(await client.get(path, params={"limit": "x"}), 422)


async def test_suggestions_are_friends_of_friends_then_the_most_followed_active(
    client: Client, res: Resources, make_user: UserFactory
) -> None:
    me, ann, bo, fof, star, idle, hermit, fan1, fan2 = [
        await make_user(n) for n in ("me", "ann", "bo", "fof", "star", "idle", "hermit", "fan1", "fan2")
    ]
    await follow(client, me, ann)
    await follow(client, me, bo)
    await follow(client, ann, fof)
    await follow(client, bo, fof)
    await follow(client, ann, hermit)
    await res.db.execute("UPDATE accounts SET discoverable = false WHERE id = $1", hermit.account_id)
    for fan in (fan1, fan2):
        await follow(client, fan, star)
        await follow(client, fan, idle)  # as followed as star, but has never posted
    await follow(client, fan1, fof)
    await post_status(client, star, "active")
    await post_status(client, fof, "active too")
    response = await client.get("/api/v2/suggestions", headers=me.headers)
    body = await assert_documented("get", "/api/v2/suggestions", response)
    assert [(s["account"]["username"], s["sources"], s["source"]) for s in body] == [
        ("fof", ["friends_of_friends", "most_followed"], "past_interactions"),
        ("star", ["most_followed"], "global"),
    ]
    v1 = await client.get("/api/v1/suggestions", params={"limit": "1"}, headers=me.headers)
    assert await names(v1, "/api/v1/suggestions") == ["fof"]
    dismissed = await client.delete(f"/api/v1/suggestions/{fof.id}", headers=me.headers)
    assert await assert_documented("delete", "/api/v1/suggestions/{id}", dismissed) == {}
    assert await names(await client.get("/api/v1/suggestions", headers=me.headers), "/api/v1/suggestions") == ["star"]
    await follow(client, me, star)
    assert await expect(await client.get("/api/v2/suggestions", headers=me.headers), 200) == []
    await expect(await client.delete("/api/v1/suggestions/777777", headers=me.headers), 404)
    await expect(await client.get("/api/v2/suggestions"), 401)
    await expect(await client.get("/api/v2/suggestions", params={"limit": "lots"}, headers=me.headers), 422)
