"""The public and hashtag timelines, read from PostgreSQL indexes and hydrated through the post cache."""

from __future__ import annotations

from typing import Any

from conftest import UserFactory
from social import Client, User, assert_documented, expect, link_cursor, post_status

from stack import RunningStack
from storage.resources import Resources


async def timeline(
    client: Client, path: str, user: User | None = None, query: dict[str, Any] | None = None, **params: Any
) -> list[str]:
    response = await client.get(path, params={**(query or {}), **params}, headers=user.headers if user else {})
    return [status["id"] for status in await expect(response, 200)]


async def test_public_timeline_shows_public_originals_newest_first(
    client: Client, make_user: UserFactory, res: Resources
) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    first = await post_status(client, alice, "hello world")
    await post_status(client, alice, "quiet", visibility="unlisted")
    await post_status(client, alice, "friends", visibility="private")
    await expect(await client.post(f"/api/v1/statuses/{first['id']}/reblog", headers=bob.headers), 200)
    reply_to_other = await post_status(client, bob, "hi alice", in_reply_to_id=first["id"])
    thread = await post_status(client, alice, "and another thing", in_reply_to_id=first["id"])
    second = await post_status(client, bob, "second")
    expected = [second["id"], thread["id"], first["id"]]
    assert await timeline(client, "/api/v1/timelines/public") == expected
    assert await timeline(client, "/api/v1/timelines/public", alice, local="true") == expected
    assert reply_to_other["id"] not in expected
    assert await timeline(client, "/api/v1/timelines/public", remote="true") == []


async def test_public_timeline_pages_with_cursors(client: Client, make_user: UserFactory) -> None:
    alice = await make_user("alice")
    posts = [(await post_status(client, alice, f"post {i}"))["id"] for i in range(7)]
    newest_first = posts[::-1]
    response = await client.get("/api/v1/timelines/public", params={"limit": 3})
    body = await assert_documented("get", "/api/v1/timelines/public", response)
    assert [s["id"] for s in body] == newest_first[:3]
    next_page = link_cursor(response, "next", "max_id")
    assert await timeline(client, "/api/v1/timelines/public", limit=3, max_id=next_page) == newest_first[3:6]
    assert await timeline(client, "/api/v1/timelines/public", limit=2, min_id=posts[2]) == posts[3:5][::-1]
    assert await timeline(client, "/api/v1/timelines/public", limit=2, since_id=posts[2]) == newest_first[:2]


async def test_only_media_keeps_posts_with_media(client: Client, make_user: UserFactory, res: Resources) -> None:
    alice = await make_user("alice")
    plain = await post_status(client, alice, "words")
    pictured = await post_status(client, alice, "a picture")
    # Attaching media is the media capability's; the flag the timeline filters on is set directly here.
    await res.db.execute("UPDATE posts SET has_media = true WHERE id = $1", int(pictured["id"]))
    assert await timeline(client, "/api/v1/timelines/public", only_media="true") == [pictured["id"]]
    assert plain["id"] in await timeline(client, "/api/v1/timelines/public")


async def test_viewer_fields_on_public_timelines(client: Client, make_user: UserFactory) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    posted = await post_status(client, alice, "like it")
    await expect(await client.post(f"/api/v1/statuses/{posted['id']}/favourite", headers=bob.headers), 200)
    for _ in range(2):  # filling the post cache, then from it
        response = await client.get("/api/v1/timelines/public", headers=bob.headers)
        assert (await expect(response, 200))[0]["favourited"] is True
        response = await client.get("/api/v1/timelines/public", headers=alice.headers)
        assert (await expect(response, 200))[0]["favourited"] is False
        response = await client.get("/api/v1/timelines/public")
        assert (await expect(response, 200))[0]["favourites_count"] == 1


async def test_tag_timeline_is_case_insensitive_and_public_only(client: Client, make_user: UserFactory) -> None:
    alice = await make_user("alice")
    tagged = await post_status(client, alice, "about #Python")
    reply = await post_status(client, alice, "#python again", in_reply_to_id=tagged["id"])
    await post_status(client, alice, "#python quietly", visibility="unlisted")
    await post_status(client, alice, "no tag python")
    response = await client.get("/api/v1/timelines/tag/PYTHON")
    body = await assert_documented("get", "/api/v1/timelines/tag/{hashtag}", response)
    assert [s["id"] for s in body] == [reply["id"], tagged["id"]]
    assert await timeline(client, "/api/v1/timelines/tag/%23python") == [reply["id"], tagged["id"]]
    assert await timeline(client, "/api/v1/timelines/tag/nothing") == []


async def test_tag_timeline_any_all_and_none(client: Client, make_user: UserFactory) -> None:
    alice = await make_user("alice")
    cats = await post_status(client, alice, "#cats")
    dogs = await post_status(client, alice, "#dogs")
    both = await post_status(client, alice, "#cats and #dogs")
    birds = await post_status(client, alice, "#birds")
    path = "/api/v1/timelines/tag/cats"
    assert await timeline(client, path) == [both["id"], cats["id"]]
    assert await timeline(client, path, query={"any[]": ["dogs", "birds"]}) == [
        birds["id"],
        both["id"],
        dogs["id"],
        cats["id"],
    ]
    assert await timeline(client, path, query={"all[]": "dogs"}) == [both["id"]]
    assert await timeline(client, path, query={"none[]": "dogs"}) == [cats["id"]]
    assert await timeline(client, path, query={"any[]": "dogs"}, limit=1) == [both["id"]]


async def test_bad_timeline_parameters_are_clear_errors(client: Client) -> None:
    too_many = {"any[]": ["a", "b", "c", "d", "e"]}
    response = await client.get("/api/v1/timelines/tag/cats", params=too_many)
    assert "any" in (await expect(response, 422))["error"]
    response = await client.get("/api/v1/timelines/public", params={"only_media": "maybe"})
    assert "only_media" in (await expect(response, 422))["error"]
    response = await client.get("/api/v1/timelines/public", params={"since_id": "-4"})
    assert "since_id" in (await expect(response, 422))["error"]
    response = await client.get("/api/v1/timelines/public", headers={"Authorization": "Bearer nope"})
    await expect(response, 401)


async def test_timelines_answer_while_valkey_is_down(
    client: Client, make_user: UserFactory, res: Resources, stack: RunningStack
) -> None:
    alice = await make_user("alice")
    posted = await post_status(client, alice, "still here")
    assert await timeline(client, "/api/v1/timelines/home", alice) == [posted["id"]]
    stack.servers["valkey"].stop()
    try:
        # Public timelines hydrate from PostgreSQL alone; the home timeline, kept in Valkey, says so.
        assert await timeline(client, "/api/v1/timelines/public") == [posted["id"]]
        assert await timeline(client, "/api/v1/timelines/tag/nothing") == []
        response = await client.get("/api/v1/timelines/home", headers=alice.headers)
        assert (await expect(response, 503))["error"]
        assert response.headers["Retry-After"] == "5"
    finally:
        stack.servers["valkey"].start()
    # Back: everything was lost with the server (no persistence in tests), and the read rebuilds it.
    assert await timeline(client, "/api/v1/timelines/home", alice) == [posted["id"]]
