"""Featured hashtags: featuring (idempotent, normalised, at most ten), the counts following posts made and
deleted, another account's featured tags, suggestions from one's most used tags, and bad input."""

from __future__ import annotations

from typing import Any

from conftest import UserFactory
from social import Client, User, assert_documented, expect, post_status


async def feature(client: Client, user: User, name: str, status: int = 200) -> Any:
    return await expect(await client.post("/api/v1/featured_tags", json={"name": name}, headers=user.headers), status)


async def featured_of(client: Client, user: User, viewer: User | None = None) -> Any:
    response = await client.get(f"/api/v1/accounts/{user.id}/featured_tags", headers=viewer.headers if viewer else {})
    return await assert_documented("get", "/api/v1/accounts/{id}/featured_tags", response)


async def test_a_featured_tag_counts_the_posts_as_they_are_made_and_deleted(
    client: Client, make_user: UserFactory
) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    first = await post_status(client, alice, "#Gardening tomatoes")
    await post_status(client, alice, "#gardening beans", visibility="unlisted")
    await post_status(client, alice, "#gardening secret", visibility="private")  # not on a public profile
    await post_status(client, bob, "#gardening too")  # someone else's
    created = await feature(client, alice, "#GARDENING")
    assert created["name"] == "gardening" and created["statuses_count"] == "2"
    assert created["last_status_at"] is not None
    assert created["url"].endswith("/@alice/tagged/gardening")
    assert (await feature(client, alice, "gardening"))["id"] == created["id"]  # idempotent
    assert [t["statuses_count"] for t in await featured_of(client, alice, bob)] == ["2"]
    await expect(await client.delete(f"/api/v1/statuses/{first['id']}", headers=alice.headers), 200)
    assert [t["statuses_count"] for t in await featured_of(client, alice)] == ["1"]
    await post_status(client, alice, "more #gardening")
    assert [t["statuses_count"] for t in await featured_of(client, alice)] == ["2"]
    mine = await expect(await client.get("/api/v1/featured_tags", headers=alice.headers), 200)
    assert [t["id"] for t in mine] == [created["id"]]
    assert await featured_of(client, bob) == []


async def test_unfeaturing_and_the_limit_of_ten(client: Client, make_user: UserFactory) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    ids = [(await feature(client, alice, f"tag{i}x"))["id"] for i in range(10)]
    problem = await feature(client, alice, "eleventh", 422)
    assert "limited to 10" in problem["error"]
    # Someone else's featured tag is not yours to remove; an unknown one is a 404 too.
    await expect(await client.delete(f"/api/v1/featured_tags/{ids[0]}", headers=bob.headers), 404)
    await expect(await client.delete("/api/v1/featured_tags/12345", headers=alice.headers), 404)
    assert await expect(await client.delete(f"/api/v1/featured_tags/{ids[0]}", headers=alice.headers), 200) == {}
    assert len(await featured_of(client, alice)) == 9
    await feature(client, alice, "eleventh")
    assert [t["name"] for t in await featured_of(client, alice)][-1] == "eleventh"


async def test_a_name_that_is_not_a_hashtag_and_unknown_accounts_are_4xx(
    client: Client, make_user: UserFactory
) -> None:
    alice = await make_user("alice")
    for bad in ("", "#", "two words", "123", "dash-ed", "x" * 150):
        body = await feature(client, alice, bad, 422)
        assert "error" in body
    await expect(await client.post("/api/v1/featured_tags", json={}, headers=alice.headers), 422)
    await expect(await client.get("/api/v1/accounts/999999/featured_tags"), 404)
    await expect(await client.get("/api/v1/featured_tags"), 401)
    await expect(await client.post("/api/v1/featured_tags", json={"name": "x"}), 401)


async def test_suggestions_are_your_most_used_tags_not_yet_featured(client: Client, make_user: UserFactory) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    for text in ("#cats #dogs", "#cats", "#cats #birds", "#dogs"):
        await post_status(client, alice, text)
    await post_status(client, bob, "#fish #fish2 #fish3")
    response = await client.get("/api/v1/featured_tags/suggestions", headers=alice.headers)
    suggested = await assert_documented("get", "/api/v1/featured_tags/suggestions", response)
    assert [t["name"] for t in suggested] == ["cats", "dogs", "birds"]
    await feature(client, alice, "cats")
    again = await expect(await client.get("/api/v1/featured_tags/suggestions", headers=alice.headers), 200)
    assert [t["name"] for t in again] == ["dogs", "birds"]
