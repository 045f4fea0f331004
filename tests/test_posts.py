"""Posts: publishing, the Status entity, viewing one or many, visibility, deleting, profile posts, events."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import asyncpg
import pytest
from conftest import ClientFactory, UserFactory
from live import serve_app
from mastodon import Mastodon
from social import (
    Client,
    account_counts,
    assert_documented,
    expect,
    follow,
    get_status,
    link_cursor,
    post_counts,
    post_status,
    recorded,
    subscribed,
)

from app.main import create_app
from config import Settings
from storage.resources import Resources

STATUS_KEYS = {
    "id", "created_at", "in_reply_to_id", "in_reply_to_account_id", "sensitive", "spoiler_text", "visibility",
    "language", "uri", "url", "replies_count", "reblogs_count", "favourites_count", "quotes_count", "edited_at",
    "favourited", "reblogged", "muted", "bookmarked", "pinned", "content", "reblog", "quote", "quote_approval",
    "application", "account", "media_attachments", "mentions", "tags", "emojis", "card", "poll", "reactions", "geo",
}  # fmt: skip


# Publishing ------------------------------------------------------------------------------------------


async def test_a_post_comes_back_as_a_mastodon_status(client: Client, make_user: UserFactory) -> None:
    alice = await make_user("alice")
    status = await post_status(client, alice, "Hello world", language="en")
    assert set(status) == STATUS_KEYS
    assert status["content"] == "<p>Hello world</p>"
    assert status["visibility"] == "public"
    assert status["language"] == "en"
    assert status["account"]["id"] == alice.id and status["account"]["username"] == "alice"
    assert status["url"].endswith(f"/@alice/{status['id']}")
    assert status["uri"].endswith(f"/users/alice/statuses/{status['id']}")
    assert status["reblog"] is None and status["quote"] is None and status["geo"] is None
    assert status["media_attachments"] == [] and status["reactions"] == []
    assert status["favourites_count"] == status["reblogs_count"] == status["replies_count"] == 0
    assert status["favourited"] is False and status["reblogged"] is False
    assert "text" not in status
    assert status["created_at"].endswith("Z")


async def test_the_answer_to_a_post_is_the_status_a_later_read_shows(client: Client, make_user: UserFactory) -> None:
    """The answer to POST leaves out the queries that cannot find anything for a post this new (domain
    post_entities.Written): whatever the draft, it must be the Status that GET gives the author after."""
    alice, bob = await make_user("alice"), await make_user("bob")
    await follow(client, alice, bob)
    theirs = await post_status(client, bob, "bob's post")
    for mark in ("favourite", "bookmark", "reblog"):  # marks on a post the new one shows
        await expect(await client.post(f"/api/v1/statuses/{theirs['id']}/{mark}", headers=alice.headers), 200)
    root = await post_status(client, alice, "a thread of mine")
    await expect(await client.post(f"/api/v1/statuses/{root['id']}/mute", headers=alice.headers), 200)
    drafts: list[dict[str, Any]] = [
        {"status": "plain"},
        {"status": "careful", "spoiler_text": "cw", "language": "en"},
        {"status": "here, #Now", "lat": 1.5, "long": 2.5, "sensitive": True, "visibility": "unlisted"},
        {"status": "which?", "poll": {"options": ["a", "b"], "expires_in": 600}},
        {"status": "in my muted thread", "in_reply_to_id": root["id"]},
        {"status": "to bob", "in_reply_to_id": theirs["id"]},
        {"status": "look at this", "quoted_status_id": theirs["id"]},
        {"status": "@bob hi #tag", "visibility": "direct"},
    ]
    for draft in drafts:
        answer = await expect(await client.post("/api/v1/statuses", json=draft, headers=alice.headers), 200)
        later = await expect(await get_status(client, answer["id"], alice), 200)
        assert answer == later, draft
    muted_reply = await post_status(client, alice, "again", in_reply_to_id=root["id"])
    assert muted_reply["muted"] is True
    quoting = await post_status(client, alice, "again", quoted_status_id=theirs["id"])
    assert quoting["quote"]["quoted_status"]["bookmarked"] is True


async def test_an_idempotent_replay_answers_with_the_post_as_it_is_now(client: Client, make_user: UserFactory) -> None:
    alice = await make_user("alice")
    headers = {**alice.headers, "Idempotency-Key": "once"}
    first = await expect(await client.post("/api/v1/statuses", json={"status": "one"}, headers=headers), 200)
    await expect(await client.post(f"/api/v1/statuses/{first['id']}/bookmark", headers=alice.headers), 200)
    again = await expect(await client.post("/api/v1/statuses", json={"status": "one"}, headers=headers), 200)
    assert again["id"] == first["id"] and again["bookmarked"] is True


async def test_form_encoded_posts_work_like_json(client: Client, make_user: UserFactory) -> None:
    alice = await make_user("alice")
    response = await client.post(
        "/api/v1/statuses",
        data={"status": "from a form", "visibility": "unlisted", "sensitive": "true", "spoiler_text": "cw"},
        headers=alice.headers,
    )
    status = await expect(response, 200)
    assert status["content"] == "<p>from a form</p>"
    assert status["visibility"] == "unlisted"
    assert status["sensitive"] is True and status["spoiler_text"] == "cw"


async def test_a_content_warning_marks_the_post_sensitive(client: Client, make_user: UserFactory) -> None:
    alice = await make_user("alice")
    status = await post_status(client, alice, "spoilers", spoiler_text="film ending")
    assert status["sensitive"] is True


async def test_mentions_hashtags_and_links_become_entities_and_html(client: Client, make_user: UserFactory) -> None:
    alice = await make_user("alice")
    bob = await make_user("Bob")
    status = await post_status(client, alice, "hi @bob and @ghost, #Cats https://example.com/x <3")
    [mention] = status["mentions"]
    assert (mention["id"], mention["username"], mention["acct"]) == (bob.id, "Bob", "Bob")
    assert mention["url"].endswith("/@Bob")
    assert [t["name"] for t in status["tags"]] == ["cats"]
    content = status["content"]
    assert 'class="u-url mention">@<span>Bob</span></a></span>' in content
    assert "@ghost" in content and "/@ghost" not in content
    assert 'class="mention hashtag" rel="tag">#<span>Cats</span></a>' in content
    assert '<a href="https://example.com/x" rel="nofollow noopener" target="_blank">' in content
    assert "&lt;3" in content


async def test_mentions_and_tags_are_stored_for_lookups(client: Client, make_user: UserFactory, res: Resources) -> None:
    alice = await make_user("alice")
    bob = await make_user("bob")
    status = await post_status(client, alice, "@bob #One #one #Two")
    mentioned = await res.db.fetch("SELECT account_id FROM post_mentions WHERE post_id = $1", int(status["id"]))
    assert [r["account_id"] for r in mentioned] == [bob.account_id]
    stored = await res.db.fetch("SELECT tag FROM post_tags WHERE post_id = $1 ORDER BY tag", int(status["id"]))
    assert [r["tag"] for r in stored] == ["one", "two"]


async def test_geo_coordinates_are_kept_and_validated(client: Client, make_user: UserFactory) -> None:
    alice = await make_user("alice")
    status = await post_status(client, alice, "here", lat=48.8566, long=2.3522)
    assert status["geo"] == {"lat": 48.8566, "long": 2.3522}
    for bad, field in (({"lat": 91, "long": 0}, "lat"), ({"lat": 0, "long": -180.5}, "long"), ({"lat": 10}, "long")):
        body = await expect(
            await client.post("/api/v1/statuses", json={"status": "x", **bad}, headers=alice.headers), 422
        )
        assert field in body["error"]


async def test_the_limit_is_500_code_points_with_links_counting_23(
    client: Client, make_user: UserFactory, res: Resources
) -> None:
    alice = await make_user("alice")
    await post_status(client, alice, "é" * 500)
    body = await expect(await client.post("/api/v1/statuses", json={"status": "é" * 501}, headers=alice.headers), 422)
    assert body["error"] == "Validation failed: status is too long (maximum is 500 characters)"
    long_link = "https://example.com/" + "x" * 600
    await post_status(client, alice, "a" * 476 + " " + long_link)  # 477 + 23 = 500
    await expect(
        await client.post("/api/v1/statuses", json={"status": "a" * 477 + " " + long_link}, headers=alice.headers), 422
    )
    assert (await account_counts(res, alice))["posts_count"] == 2


async def test_the_limit_follows_the_setting(make_client: ClientFactory, make_user: UserFactory) -> None:
    client = await make_client(post_max_chars=10)
    alice = await make_user("alice")
    await post_status(client, alice, "0123456789")
    await expect(await client.post("/api/v1/statuses", json={"status": "0123456789x"}, headers=alice.headers), 422)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"status": ""}, "status"),
        ({"status": "  \n "}, "status"),
        ({}, "status"),
        ({"status": "x", "visibility": "everyone"}, "visibility"),
        ({"status": "x", "language": "english"}, "language"),
        ({"status": "x", "in_reply_to_id": "abc"}, "in_reply_to_id"),
        ({"status": "x", "quoted_status_id": "-1"}, "quoted_status_id"),
        ({"status": "x", "media_ids": ["123"]}, "media_ids"),
        ({"media_ids": ["123"]}, "media_ids"),
        ({"status": {"nested": 1}}, "status"),
        ({"status": "x", "spoiler_text": "s" * 1001}, "spoiler_text"),
        ({"status": "x", "poll": {"options": ["a", "b"], "expires_in": 60}}, "poll"),
        ({"status": "x", "scheduled_at": "2020-01-01T00:00:00Z"}, "scheduled_at"),
    ],
)
async def test_bad_input_is_a_422_naming_the_field_and_writes_nothing(
    client: Client, make_user: UserFactory, res: Resources, params: dict[str, Any], field: str
) -> None:
    alice = await make_user("alice")
    body = await expect(await client.post("/api/v1/statuses", json=params, headers=alice.headers), 422)
    assert body["error"].startswith("Validation failed")
    assert field in body["error"]
    assert await res.db.fetchval("SELECT count(*) FROM posts") == 0
    assert (await account_counts(res, alice))["posts_count"] == 0


async def test_unknown_media_ids_are_a_422_and_post_nothing(
    client: Client, make_user: UserFactory, res: Resources
) -> None:
    alice = await make_user("alice")
    body = await expect(
        await client.post("/api/v1/statuses", data={"status": "pic", "media_ids[]": "42"}, headers=alice.headers), 422
    )
    assert body["error"].startswith("Validation failed: media_ids")
    assert await res.db.fetchval("SELECT count(*) FROM posts") == 0


async def test_nul_bytes_and_lone_surrogates_are_refused_not_stored(
    client: Client, make_user: UserFactory, res: Resources
) -> None:
    alice = await make_user("alice")
    response = await client.post("/api/v1/statuses", json={"status": "a\x00b"}, headers=alice.headers)
    assert (await expect(response, 422))["error"].startswith("Validation failed: status contains a character")
    # A surrogate encoded as if it were UTF-8 (CESU-8) is not UTF-8: refused, not replaced by U+FFFD.
    response = await client.post(
        "/api/v1/statuses",
        data=b"status=%ED%A0%80ok",
        headers={**alice.headers, "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert (await expect(response, 400))["error"] == "status is not valid UTF-8"
    assert await res.db.fetchval("SELECT count(*) FROM posts") == 0


async def test_replying_to_an_unknown_post_is_a_404(client: Client, make_user: UserFactory) -> None:
    alice = await make_user("alice")
    await expect(
        await client.post("/api/v1/statuses", json={"status": "x", "in_reply_to_id": "999"}, headers=alice.headers), 404
    )


async def test_posting_needs_a_user_token_with_write_statuses(client: Client, make_user: UserFactory) -> None:
    reader = await make_user("reader", scopes=("read",))
    await expect(await client.post("/api/v1/statuses", json={"status": "x"}), 401)
    await expect(
        await client.post("/api/v1/statuses", json={"status": "x"}, headers={"Authorization": "Bearer nope"}), 401
    )
    await expect(await client.post("/api/v1/statuses", json={"status": "x"}, headers=reader.headers), 403)


async def test_a_body_that_is_not_json_is_a_400(client: Client, make_user: UserFactory) -> None:
    alice = await make_user("alice")
    response = await client.post(
        "/api/v1/statuses", data=b"{nope", headers={**alice.headers, "Content-Type": "application/json"}
    )
    await expect(response, 400)


async def test_posting_counts_on_the_author(client: Client, make_user: UserFactory) -> None:
    alice = await make_user("alice")
    await post_status(client, alice, "one")
    await post_status(client, alice, "two")
    account = await expect(await client.get(f"/api/v1/accounts/{alice.id}"), 200)
    assert account["statuses_count"] == 2
    assert account["last_status_at"] is not None


# Idempotency -----------------------------------------------------------------------------------------


@pytest.mark.valkey_modes  # idempotency keys live in Valkey
async def test_a_retried_request_with_the_same_idempotency_key_returns_the_first_post(
    client: Client, make_user: UserFactory, res: Resources
) -> None:
    alice = await make_user("alice")
    headers = {**alice.headers, "Idempotency-Key": "abc-123"}
    first = await expect(await client.post("/api/v1/statuses", json={"status": "once"}, headers=headers), 200)
    again = await expect(await client.post("/api/v1/statuses", json={"status": "once"}, headers=headers), 200)
    assert again["id"] == first["id"]
    other = await expect(await client.post("/api/v1/statuses", json={"status": "once"}, headers=alice.headers), 200)
    assert other["id"] != first["id"]
    assert await res.db.fetchval("SELECT count(*) FROM posts") == 2
    assert (await account_counts(res, alice))["posts_count"] == 2


@pytest.mark.valkey_modes  # idempotency keys live in Valkey
async def test_concurrent_retries_with_one_idempotency_key_create_one_post(
    client: Client, make_user: UserFactory, res: Resources
) -> None:
    alice = await make_user("alice")
    headers = {**alice.headers, "Idempotency-Key": "same-key"}
    responses = await asyncio.gather(
        *(client.post("/api/v1/statuses", json={"status": "racing"}, headers=headers) for _ in range(10))
    )
    bodies = [await expect(response, 200) for response in responses]
    assert len({body["id"] for body in bodies}) == 1
    assert await res.db.fetchval("SELECT count(*) FROM posts") == 1
    assert (await account_counts(res, alice))["posts_count"] == 1


@pytest.mark.valkey_modes  # idempotency keys live in Valkey
async def test_idempotency_keys_belong_to_one_account_and_expire(
    client: Client, make_user: UserFactory, res: Resources
) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    key = {"Idempotency-Key": "k"}
    a = await expect(await client.post("/api/v1/statuses", json={"status": "a"}, headers={**alice.headers, **key}), 200)
    b = await expect(await client.post("/api/v1/statuses", json={"status": "b"}, headers={**bob.headers, **key}), 200)
    assert a["id"] != b["id"]
    await res.db.execute("UPDATE post_idempotency_keys SET expires_at = now() - interval '1 second'")
    c = await expect(await client.post("/api/v1/statuses", json={"status": "c"}, headers={**alice.headers, **key}), 200)
    assert c["id"] != a["id"] and c["content"] == "<p>c</p>"


@pytest.mark.valkey_modes  # idempotency keys live in Valkey
async def test_a_failed_request_does_not_use_up_its_idempotency_key(client: Client, make_user: UserFactory) -> None:
    alice = await make_user("alice")
    headers = {**alice.headers, "Idempotency-Key": "retry-me"}
    await expect(await client.post("/api/v1/statuses", json={"status": ""}, headers=headers), 422)
    status = await expect(await client.post("/api/v1/statuses", json={"status": "fixed"}, headers=headers), 200)
    assert status["content"] == "<p>fixed</p>"


async def test_an_overlong_idempotency_key_is_a_422(client: Client, make_user: UserFactory) -> None:
    alice = await make_user("alice")
    headers = {**alice.headers, "Idempotency-Key": "k" * 256}
    body = await expect(await client.post("/api/v1/statuses", json={"status": "x"}, headers=headers), 422)
    assert "Idempotency-Key" in body["error"]


# Viewing and visibility ------------------------------------------------------------------------------


async def test_public_posts_are_readable_signed_out(client: Client, make_user: UserFactory) -> None:
    alice = await make_user("alice")
    status = await post_status(client, alice, "for all")
    seen = await expect(await get_status(client, status["id"]), 200)
    assert seen["id"] == status["id"] and seen["favourited"] is False


async def test_private_posts_are_seen_by_author_followers_and_mentioned_only(
    client: Client, make_user: UserFactory
) -> None:
    alice, fan, bob, stranger = [await make_user(n) for n in ("alice", "fan", "bob", "stranger")]
    await follow(client, fan, alice)
    status = await post_status(client, alice, "secret for @bob", visibility="private")
    for viewer in (alice, fan, bob):
        await expect(await get_status(client, status["id"], viewer), 200)
    for outsider in (stranger, None):
        body = await expect(await get_status(client, status["id"], outsider), 404)
        assert body["error"] == "Record not found"


async def test_unknown_and_malformed_ids_are_404(client: Client) -> None:
    await expect(await client.get("/api/v1/statuses/12345"), 404)
    await expect(await client.get("/api/v1/statuses/99999999999999999999999"), 404)
    await expect(await client.get("/api/v1/statuses/nope"), 404)


async def test_many_posts_at_once_skip_missing_and_invisible_ones(client: Client, make_user: UserFactory) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    one = await post_status(client, alice, "one")
    hidden = await post_status(client, alice, "hidden", visibility="private")
    two = await post_status(client, alice, "two")
    query = [("id[]", two["id"]), ("id[]", "424242"), ("id[]", hidden["id"]), ("id[]", one["id"])]
    seen = await expect(await client.get("/api/v1/statuses", params=query, headers=bob.headers), 200)
    assert [s["id"] for s in seen] == [two["id"], one["id"]]
    mine = await expect(await client.get("/api/v1/statuses", params=query, headers=alice.headers), 200)
    assert [s["id"] for s in mine] == [two["id"], hidden["id"], one["id"]]
    too_many = [("id[]", str(i)) for i in range(1, 42)]
    await expect(await client.get("/api/v1/statuses", params=too_many), 422)


async def test_the_hydration_reads_a_page_in_a_constant_number_of_queries(
    client: Client, make_user: UserFactory, res: Resources
) -> None:
    from domain.post_entities import post_entities

    alice, bob = await make_user("alice"), await make_user("bob")
    original = await post_status(client, bob, "original")
    ids = [
        int((await post_status(client, alice, f"post {i} @bob #t", quoted_status_id=original["id"]))["id"])
        for i in range(3)
    ]
    repost = await expect(await client.post(f"/api/v1/statuses/{original['id']}/reblog", headers=alice.headers), 200)
    ids.append(int(repost["id"]))

    class CountingPool:
        """The pool, counting the statements run through it."""

        def __init__(self, pool: Any) -> None:
            self.pool, self.statements = pool, 0

        async def fetch(self, *args: Any) -> Any:
            self.statements += 1
            return await self.pool.fetch(*args)

        async def fetchrow(self, *args: Any) -> Any:
            self.statements += 1
            return await self.pool.fetchrow(*args)

        async def fetchval(self, *args: Any) -> Any:
            self.statements += 1
            return await self.pool.fetchval(*args)

    async def count_queries(post_ids: list[int]) -> int:
        counting = CountingPool(res.db)
        entities = await post_entities(dataclasses.replace(res, db=counting), post_ids, alice.account_id)
        assert len(entities) == len(post_ids)
        return counting.statements

    few = await count_queries(ids[:1])
    for i in range(20):
        ids.append(int((await post_status(client, alice, f"more {i} #x @bob", quoted_status_id=original["id"]))["id"]))
    many = await count_queries(ids)
    assert many == few


# Deleting --------------------------------------------------------------------------------------------


async def test_deleting_returns_the_post_with_its_source_text(
    client: Client, make_user: UserFactory, res: Resources
) -> None:
    alice = await make_user("alice")
    status = await post_status(client, alice, "redraft <me> #later")
    deleted = await expect(await client.delete(f"/api/v1/statuses/{status['id']}", headers=alice.headers), 200)
    assert deleted["id"] == status["id"]
    assert deleted["text"] == "redraft <me> #later"
    await expect(await get_status(client, status["id"], alice), 404)
    await expect(await client.delete(f"/api/v1/statuses/{status['id']}", headers=alice.headers), 404)
    assert (await account_counts(res, alice))["posts_count"] == 0
    assert await res.db.fetchval("SELECT count(*) FROM post_tags") == 0


async def test_only_the_author_may_delete(client: Client, make_user: UserFactory) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    public = await post_status(client, alice, "mine")
    private = await post_status(client, alice, "mine too", visibility="private")
    await expect(await client.delete(f"/api/v1/statuses/{public['id']}", headers=bob.headers), 403)
    await expect(await client.delete(f"/api/v1/statuses/{private['id']}", headers=bob.headers), 404)
    await expect(await client.delete(f"/api/v1/statuses/{public['id']}"), 401)
    await expect(await get_status(client, public["id"]), 200)


async def test_replies_outlive_their_deleted_parent(client: Client, make_user: UserFactory, res: Resources) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    parent = await post_status(client, alice, "parent")
    reply = await post_status(client, bob, "reply", in_reply_to_id=parent["id"])
    assert (await post_counts(res, parent["id"]))["replies_count"] == 1
    await expect(await client.delete(f"/api/v1/statuses/{parent['id']}", headers=alice.headers), 200)
    kept = await expect(await get_status(client, reply["id"]), 200)
    assert kept["in_reply_to_id"] == parent["id"]
    assert kept["in_reply_to_account_id"] == alice.id
    context = await expect(await client.get(f"/api/v1/statuses/{reply['id']}/context"), 200)
    assert context == {"ancestors": [], "descendants": []}


async def test_deleting_a_reply_lowers_the_parents_reply_count(
    client: Client, make_user: UserFactory, res: Resources
) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    parent = await post_status(client, alice, "parent")
    reply = await post_status(client, bob, "reply", in_reply_to_id=parent["id"])
    await expect(await client.delete(f"/api/v1/statuses/{reply['id']}", headers=bob.headers), 200)
    assert (await post_counts(res, parent["id"]))["replies_count"] == 0


# Profile posts ---------------------------------------------------------------------------------------


async def test_profile_posts_page_newest_first_with_link_header(client: Client, make_user: UserFactory) -> None:
    alice = await make_user("alice")
    ids = [(await post_status(client, alice, f"post {i}"))["id"] for i in range(5)]
    url = f"/api/v1/accounts/{alice.id}/statuses"
    first = await client.get(url, params={"limit": "2"})
    assert [s["id"] for s in await expect(first, 200)] == [ids[4], ids[3]]
    max_id = link_cursor(first, "next", "max_id")
    assert max_id == ids[3]
    second = await expect(await client.get(url, params={"limit": "2", "max_id": max_id}), 200)
    assert [s["id"] for s in second] == [ids[2], ids[1]]
    newer = await expect(await client.get(url, params={"since_id": ids[2]}), 200)
    assert [s["id"] for s in newer] == [ids[4], ids[3]]
    just_after = await expect(await client.get(url, params={"min_id": ids[0], "limit": "2"}), 200)
    assert [s["id"] for s in just_after] == [ids[2], ids[1]]
    assert len(await expect(await client.get(url, params={"limit": "500"}), 200)) == 5


async def test_profile_posts_filter_replies_reposts_tags_and_media(client: Client, make_user: UserFactory) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    theirs = await post_status(client, bob, "bob's")
    top = await post_status(client, alice, "top #Topic")
    self_reply = await post_status(client, alice, "thread", in_reply_to_id=top["id"])
    reply = await post_status(client, alice, "answer", in_reply_to_id=theirs["id"])
    repost = await expect(await client.post(f"/api/v1/statuses/{theirs['id']}/reblog", headers=alice.headers), 200)
    url = f"/api/v1/accounts/{alice.id}/statuses"

    async def ids(**params: str) -> list[str]:
        return [s["id"] for s in await expect(await client.get(url, params=params), 200)]

    assert await ids() == [repost["id"], reply["id"], self_reply["id"], top["id"]]
    assert await ids(exclude_replies="true") == [repost["id"], self_reply["id"], top["id"]]
    assert await ids(exclude_reblogs="true") == [reply["id"], self_reply["id"], top["id"]]
    assert await ids(tagged="topic") == [top["id"]]
    assert await ids(tagged="#TOPIC") == [top["id"]]
    assert await ids(only_media="true") == []
    assert await ids(pinned="true") == []


async def test_profile_posts_hide_private_ones_from_non_followers(client: Client, make_user: UserFactory) -> None:
    alice, fan, stranger = await make_user("alice"), await make_user("fan"), await make_user("stranger")
    await follow(client, fan, alice)
    public = await post_status(client, alice, "public")
    private = await post_status(client, alice, "private", visibility="private")
    url = f"/api/v1/accounts/{alice.id}/statuses"
    for viewer, expected in ((fan, [private, public]), (alice, [private, public]), (stranger, [public])):
        seen = await expect(await client.get(url, headers=viewer.headers), 200)
        assert [s["id"] for s in seen] == [s["id"] for s in expected]
    assert [s["id"] for s in await expect(await client.get(url), 200)] == [public["id"]]


async def test_profile_posts_of_an_unknown_account_are_a_404(client: Client) -> None:
    await expect(await client.get("/api/v1/accounts/4242/statuses"), 404)
    await expect(await client.get("/api/v1/accounts/1/statuses", params={"max_id": "x"}), 422)


# Events ----------------------------------------------------------------------------------------------


async def test_creating_and_deleting_record_events_in_the_same_transaction(
    client: Client, make_user: UserFactory, res: Resources, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    with subscribed(monkeypatch, "test", "post.created", "post.deleted", "post.updated"):
        parent = await post_status(client, bob, "parent")
        status = await post_status(client, alice, "hi @bob #News", in_reply_to_id=parent["id"], visibility="unlisted")
        await expect(await client.post("/api/v1/statuses", json={"status": ""}, headers=alice.headers), 422)
        await expect(await client.delete(f"/api/v1/statuses/{status['id']}", headers=alice.headers), 200)
    events = await recorded(res, "test")
    assert [e["kind"] for e in events] == [
        "post.created", "post.updated", "post.created", "post.updated", "post.deleted",
    ]  # fmt: skip
    created = events[2]
    assert created["id"] == int(status["id"]) and created["account_id"] == alice.account_id
    assert created["visibility"] == "unlisted"
    assert created["in_reply_to_id"] == int(parent["id"])
    assert created["in_reply_to_account_id"] == bob.account_id
    assert created["mention_ids"] == [bob.account_id] and created["tags"] == ["news"]
    assert events[1]["reason"] == "reply" and events[1]["counts"]["replies_count"] == 1
    assert events[3]["counts"]["replies_count"] == 0
    assert events[4]["id"] == int(status["id"]) and events[4]["tags"] == ["news"]


async def test_a_post_written_by_one_statement_is_written_whole_or_not_at_all(
    client: Client, make_user: UserFactory, res: Resources, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A post with nothing else to write (no reply, quote, media, poll or key) commits by its one statement:
    the post, its mentions, tags and outbox jobs. One part failing (here a mention of an account that does
    not exist) writes none of them, and nothing stays held for the next write."""
    from storage.jobs import NewJob
    from storage.posts import NewPost, insert_post

    alice, bob = await make_user("alice"), await make_user("bob")
    with subscribed(monkeypatch, "test", "post.created"):
        status = await post_status(client, alice, "hi @bob #Whole")
        post_id = res.ids.next_id()
        with pytest.raises(asyncpg.ForeignKeyViolationError):
            await insert_post(
                res.db,
                NewPost(id=post_id, account_id=alice.account_id, visibility="public", text="half"),
                mentions=[bob.account_id, -1],
                tags=["half"],
                jobs=[NewJob("test", "post.created", {"id": post_id})],
            )
    assert [e["id"] for e in await recorded(res, "test")] == [int(status["id"])]
    assert await res.db.fetchval("SELECT count(*) FROM posts WHERE id = $1", post_id) == 0
    assert await res.db.fetchval("SELECT count(*) FROM post_tags WHERE tag = 'half'") == 0
    assert await res.db.fetchval("SELECT count(*) FROM post_mentions WHERE post_id = $1", post_id) == 0
    written = int(status["id"])
    assert await res.db.fetchval("SELECT array_agg(tag) FROM post_tags WHERE post_id = $1", written) == ["whole"]
    assert await res.db.fetchval("SELECT array_agg(account_id) FROM post_mentions WHERE post_id = $1", written) == [
        bob.account_id
    ]
    assert (await account_counts(res, alice))["posts_count"] == 1


async def test_responses_match_the_documented_schemas(client: Client, make_user: UserFactory) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    a, b = alice.headers, bob.headers
    root = await post_status(client, alice, "root @bob #Tag https://example.com", lat=1.5, long=2.5)
    root_url = f"/api/v1/statuses/{root['id']}"
    replied = await client.post(
        "/api/v1/statuses",
        json={"status": "reply", "in_reply_to_id": root["id"], "quoted_status_id": root["id"]},
        headers=b,
    )
    reply = await assert_documented("post", "/api/v1/statuses", replied)
    reply_url = f"/api/v1/statuses/{reply['id']}"
    await client.put(f"{root_url}/reactions/love", headers=b)
    reposted = await client.post(f"{reply_url}/reblog", headers=a)
    repost = await assert_documented("post", "/api/v1/statuses/{id}/reblog", reposted)
    one = "/api/v1/statuses/{id}"
    account = f"/api/v1/accounts/{alice.id}"
    relationships = "/api/v1/accounts/relationships"
    checks = [
        ("get", one, client.get(root_url, headers=b)),
        ("get", one, client.get(f"/api/v1/statuses/{repost['id']}")),
        ("get", one, client.get("/api/v1/statuses/1")),
        ("get", "/api/v1/statuses", client.get("/api/v1/statuses", params=[("id[]", root["id"])])),
        ("get", "/api/v1/statuses/{id}/context", client.get(f"{reply_url}/context")),
        ("get", "/api/v1/statuses/{id}/quotes", client.get(f"{root_url}/quotes", headers=a)),
        ("get", "/api/v1/statuses/{id}/reactions", client.get(f"{root_url}/reactions")),
        ("get", "/api/v1/statuses/{id}/favourited_by", client.get(f"{root_url}/favourited_by")),
        ("get", "/api/v1/statuses/{id}/reblogged_by", client.get(f"{reply_url}/reblogged_by")),
        ("get", "/api/v1/accounts/{id}/statuses", client.get(f"{account}/statuses")),
        ("post", "/api/v1/statuses/{id}/favourite", client.post(f"{root_url}/favourite", headers=b)),
        ("get", "/api/v1/favourites", client.get("/api/v1/favourites", headers=b)),
        ("post", "/api/v1/accounts/{id}/follow", client.post(f"{account}/follow", headers=b)),
        ("get", "/api/v1/accounts/{id}/followers", client.get(f"{account}/followers")),
        ("get", "/api/v1/accounts/relationships", client.get(f"{relationships}?id[]={alice.id}", headers=b)),
        ("post", "/api/v1/statuses", client.post("/api/v1/statuses", json={"status": ""}, headers=b)),
        ("delete", one, client.delete(reply_url, headers=b)),
    ]  # fmt: skip
    for method, path, request in checks:
        await assert_documented(method, path, await request)


# A real client -----------------------------------------------------------------------------------------


def mastodon_py_session(base_url: str, alice_token: str, bob_token: str, bob_id: str) -> dict[str, Any]:
    """What a Mastodon.py user does with posts: post, reply, like, boost, quote, follow, read, delete."""
    alice = Mastodon(access_token=alice_token, api_base_url=base_url)
    bob = Mastodon(access_token=bob_token, api_base_url=base_url)
    root = alice.status_post("Hello from Mastodon.py #python", visibility="public", idempotency_key="k1")
    again = alice.status_post("Hello from Mastodon.py #python", visibility="public", idempotency_key="k1")
    answer = bob.status_reply(root, "nice one")  # mentions alice, as Mastodon.py does
    quote = bob.status_post("quoting", quoted_status_id=root.id)
    bob.status_favourite(root)
    boost = bob.status_reblog(root)
    alice.account_follow(bob_id)
    return {
        "root": root,
        "again": again,
        "answer": answer,
        "quote": quote,
        "boost": boost,
        "seen": alice.status(root.id),
        "context": alice.status_context(root.id),
        "likers": alice.status_favourited_by(root.id),
        "boosters": alice.status_reblogged_by(root.id),
        "relationships": alice.account_relationships(bob_id),
        "profile": alice.account_statuses(bob_id, exclude_reblogs=True),
        "favourites": bob.favourites(),
        "deleted": bob.status_delete(answer.id),
    }


async def test_mastodon_py_posts_replies_likes_boosts_quotes_follows_and_deletes(
    settings: Settings, make_user: UserFactory
) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    async with serve_app(create_app(settings)) as base_url:
        seen = await asyncio.to_thread(mastodon_py_session, base_url, alice.token, bob.token, bob.id)
    root = seen["root"]
    assert (
        root.content
        == '<p>Hello from Mastodon.py <a href="'
        + root.tags[0].url
        + '" class="mention hashtag" rel="tag">#<span>python</span></a></p>'
    )
    assert seen["again"].id == root.id
    assert seen["answer"].in_reply_to_id == root.id and seen["answer"].mentions[0].acct == "alice"
    assert seen["quote"].quote.state == "accepted" and seen["quote"].quote.quoted_status.id == root.id
    assert seen["boost"].reblog.id == root.id
    assert (seen["seen"].favourites_count, seen["seen"].reblogs_count, seen["seen"].replies_count) == (1, 1, 1)
    assert [s.id for s in seen["context"].descendants] == [seen["answer"].id]
    assert [a.acct for a in seen["likers"]] == ["bob"] and [a.acct for a in seen["boosters"]] == ["bob"]
    assert seen["relationships"][0].following is True
    assert [s.id for s in seen["profile"]] == [seen["quote"].id, seen["answer"].id]
    assert [s.id for s in seen["favourites"]] == [root.id]
    assert seen["deleted"].text.startswith("@alice")
