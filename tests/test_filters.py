"""Keyword filters: the v2 API (keywords, posts, contexts, actions, expiry), v1 mapped onto it, and the same
rule in REST (from the post cache and from PostgreSQL alike) and in streaming, where hide never arrives."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import UserFactory
from social import Client, User, expect, follow, post_status
from streams import connect, frames_until, hub_settled, online, run_queues

from api.keys import RESOURCES
from storage.resources import Resources

pytestmark = pytest.mark.valkey_modes  # filters apply to the post cache and streams in Valkey


async def deliver(res: Resources) -> None:
    await run_queues(res, "timeline", "streaming", "notifications", "post_cache")


async def make_filter(client: Client, user: User, status: int = 200, **fields: Any) -> Any:
    body = {"title": "words", "context": ["home", "public"], "filter_action": "warn", **fields}
    return await expect(await client.post("/api/v2/filters", json=body, headers=user.headers), status)


async def timeline(client: Client, user: User, which: str = "home") -> dict[str, dict[str, Any]]:
    body = await expect(await client.get(f"/api/v1/timelines/{which}", headers=user.headers), 200)
    return {status["id"]: status for status in body}


def keyword(word: str, whole_word: bool = True) -> dict[str, Any]:
    return {"keyword": word, "whole_word": whole_word}


async def test_filters_are_created_listed_changed_and_deleted(client: Client, make_user: UserFactory) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    created = await make_filter(client, alice, keywords_attributes=[keyword("cat"), keyword("dog", False)])
    assert created["title"] == "words" and created["filter_action"] == "warn" and created["expires_at"] is None
    assert [(k["keyword"], k["whole_word"]) for k in created["keywords"]] == [("cat", True), ("dog", False)]
    fid = created["id"]
    listed = await expect(await client.get("/api/v2/filters", headers=alice.headers), 200)
    assert [f["id"] for f in listed] == [fid]
    assert await expect(await client.get("/api/v2/filters", headers=bob.headers), 200) == []
    await expect(await client.get(f"/api/v2/filters/{fid}", headers=bob.headers), 404)

    cat = created["keywords"][0]["id"]
    change = {
        "title": "animals",
        "filter_action": "hide",
        "expires_in": 3600,
        "keywords_attributes": [{"id": cat, "_destroy": True}, keyword("bird")],
    }
    changed = await expect(await client.put(f"/api/v2/filters/{fid}", json=change, headers=alice.headers), 200)
    assert changed["title"] == "animals" and changed["filter_action"] == "hide" and changed["expires_at"]
    assert [k["keyword"] for k in changed["keywords"]] == ["dog", "bird"]
    added = await expect(
        await client.post(f"/api/v2/filters/{fid}/keywords", json={"keyword": "fish"}, headers=alice.headers), 200
    )
    keywords = await expect(await client.get(f"/api/v2/filters/{fid}/keywords", headers=alice.headers), 200)
    assert [k["keyword"] for k in keywords] == ["dog", "bird", "fish"]
    await expect(await client.delete(f"/api/v2/filters/keywords/{added['id']}", headers=alice.headers), 200)
    await expect(await client.delete(f"/api/v2/filters/{fid}", headers=bob.headers), 404)
    await expect(await client.delete(f"/api/v2/filters/{fid}", headers=alice.headers), 200)
    assert await expect(await client.get("/api/v2/filters", headers=alice.headers), 200) == []


async def test_bad_filters_get_clear_422s(client: Client, make_user: UserFactory) -> None:
    alice = await make_user("alice")
    unknown = await make_filter(client, alice, 422, context=["home", "everywhere"])
    assert "context" in unknown["error"] and "everywhere" in unknown["error"]
    await make_filter(client, alice, 422, context=[])
    await make_filter(client, alice, 422, title="")
    await make_filter(client, alice, 422, filter_action="explode")
    await make_filter(client, alice, 422, expires_in="tomorrow")
    await make_filter(client, alice, 422, keywords_attributes=["cat"])
    bad_v1 = {"phrase": "cat", "context": ["nowhere"]}
    await expect(await client.post("/api/v1/filters", json=bad_v1, headers=alice.headers), 422)


async def test_a_blank_or_overlong_keyword_is_refused_by_every_way_of_writing_one(
    client: Client, make_user: UserFactory
) -> None:
    """keywords_attributes on create and on update, and the one-keyword endpoints, refuse the same keywords
    with the same 422, and nothing of the refused request is written."""
    alice = await make_user("alice")
    for bad, says in (("   ", "can't be blank"), ("x" * 201, "maximum is 200")):
        refused = await make_filter(client, alice, 422, keywords_attributes=[keyword("fine"), keyword(bad)])
        assert says in refused["error"]
    assert await expect(await client.get("/api/v2/filters", headers=alice.headers), 200) == []
    made = await make_filter(client, alice, keywords_attributes=[keyword("cat")])
    cat = made["keywords"][0]
    path = f"/api/v2/filters/{made['id']}"
    for bad, says in (("  ", "can't be blank"), ("x" * 201, "maximum is 200")):
        changes = [{"id": cat["id"], "keyword": bad}]
        body = {"title": "renamed", "keywords_attributes": [keyword("new"), *changes]}
        refused = await expect(await client.put(path, json=body, headers=alice.headers), 422)
        assert says in refused["error"]
        added = await client.post(f"{path}/keywords", json={"keyword": bad}, headers=alice.headers)
        assert says in (await expect(added, 422))["error"]
        one = await client.put(f"/api/v2/filters/keywords/{cat['id']}", json={"keyword": bad}, headers=alice.headers)
        assert says in (await expect(one, 422))["error"]
    unchanged = await expect(await client.get(path, headers=alice.headers), 200)
    assert unchanged["title"] == "words" and unchanged["keywords"] == [cat]
    exactly = "x" * 200  # the longest allowed, by each way
    changed = await client.put(
        path, json={"keywords_attributes": [{"id": cat["id"], "keyword": exactly}]}, headers=alice.headers
    )
    assert (await expect(changed, 200))["keywords"] == [{**cat, "keyword": exactly}]


async def test_warn_marks_matching_posts_whole_words_only_from_the_cache_and_from_postgresql(
    client: Client, res: Resources, make_user: UserFactory
) -> None:
    alice, bob, carol, dave = [await make_user(n) for n in ("alice", "bob", "carol", "dave")]
    await follow(client, alice, bob)
    cat = await post_status(client, bob, "my Cat sleeps")
    concat = await post_status(client, bob, "concatenate strings")
    hotdog = await post_status(client, bob, "hotdogs for lunch", spoiler_text="food")
    daves = await post_status(client, dave, "a cat video")
    repost = await expect(await client.post(f"/api/v1/statuses/{daves['id']}/reblog", headers=carol.headers), 200)
    await follow(client, alice, carol)
    mine = await post_status(client, alice, "my cat too")
    await deliver(res)
    created = await make_filter(client, alice, keywords_attributes=[keyword("cat"), keyword("dog", False)])
    for _ in ("filled from PostgreSQL", "read from the post cache"):
        home = await timeline(client, alice)
        result = home[cat["id"]]["filtered"]
        assert result == [{"filter": created, "keyword_matches": ["cat"], "status_matches": None}]
        assert home[hotdog["id"]]["filtered"][0]["keyword_matches"] == ["dog"]
        assert "filtered" not in home[concat["id"]]  # not a whole word
        assert home[repost["id"]]["reblog"]["filtered"][0]["keyword_matches"] == ["cat"]
        assert home[repost["id"]]["filtered"][0]["keyword_matches"] == ["cat"]
        assert "filtered" not in home[mine["id"]]  # one's own posts are never filtered
        public = await timeline(client, alice, "public")
        assert public[cat["id"]]["filtered"][0]["keyword_matches"] == ["cat"]
    assert "filtered" not in (await timeline(client, carol, "public"))[cat["id"]]
    # A context the filter is not in: the profile shows the post unmarked.
    profile = await expect(await client.get(f"/api/v1/accounts/{bob.id}/statuses", headers=alice.headers), 200)
    assert all("filtered" not in status for status in profile)


async def test_hide_takes_posts_out_until_the_filter_expires(
    client: Client, res: Resources, make_user: UserFactory
) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    await follow(client, alice, bob)
    spoiler = await post_status(client, bob, "hello", spoiler_text="election talk")
    plain = await post_status(client, bob, "weather")
    await deliver(res)
    assert set(await timeline(client, alice)) == {spoiler["id"], plain["id"]}
    await make_filter(client, alice, filter_action="hide", keywords_attributes=[keyword("election")])
    assert set(await timeline(client, alice)) == {plain["id"]}
    assert set(await timeline(client, alice, "public")) == {plain["id"]}
    # Asked for by id, the post is there.
    await expect(await client.get(f"/api/v1/statuses/{spoiler['id']}", headers=alice.headers), 200)
    await res.db.execute("UPDATE filters SET expires_at = now() - interval '1 second'")
    # Expired by an edit behind Chirp's back, where time would have passed: the page's cached marks still
    # carry the rules' old stamp, whose copy would have ended the filter at its time (`Shield.until`).
    client.app[RESOURCES].marks.drop([alice.account_id])
    assert set(await timeline(client, alice)) == {spoiler["id"], plain["id"]}  # kept in the cached timeline
    assert await expect(await client.get("/api/v2/filters", headers=alice.headers), 200) == []


async def test_a_filtered_post_and_a_notifications_filter(
    client: Client, res: Resources, make_user: UserFactory
) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    await follow(client, alice, bob)
    chosen = await post_status(client, bob, "nothing to see")
    await post_status(client, bob, "@alice spam offer")
    await post_status(client, bob, "@alice a real question")
    await deliver(res)
    created = await make_filter(client, alice, context=["home", "notifications"], filter_action="hide")
    added = await expect(
        await client.post(
            f"/api/v2/filters/{created['id']}/statuses", json={"status_id": chosen["id"]}, headers=alice.headers
        ),
        200,
    )
    assert chosen["id"] not in await timeline(client, alice)
    await expect(await client.delete(f"/api/v2/filters/statuses/{added['id']}", headers=alice.headers), 200)
    assert chosen["id"] in await timeline(client, alice)
    spam = {"filter_action": "hide", "keywords_attributes": [keyword("spam")]}
    await expect(await client.put(f"/api/v2/filters/{created['id']}", json=spam, headers=alice.headers), 200)
    notes = await expect(await client.get("/api/v1/notifications", headers=alice.headers), 200)
    assert len(notes) == 1 and "a real question" in notes[0]["status"]["content"]


async def test_v1_filters_map_onto_v2(client: Client, make_user: UserFactory) -> None:
    alice = await make_user("alice")
    v1 = {"phrase": "spoilers", "context": ["home", "thread"], "irreversible": True, "whole_word": False}
    created = await expect(await client.post("/api/v1/filters", json=v1, headers=alice.headers), 200)
    assert created["phrase"] == "spoilers" and created["irreversible"] is True and created["whole_word"] is False
    v2 = await expect(await client.get("/api/v2/filters", headers=alice.headers), 200)
    assert [(f["title"], f["filter_action"], f["context"]) for f in v2] == [("spoilers", "hide", ["home", "thread"])]
    assert v2[0]["keywords"][0]["id"] == created["id"]
    listed = await expect(await client.get("/api/v1/filters", headers=alice.headers), 200)
    assert listed == [created]
    changed = await expect(
        await client.put(f"/api/v1/filters/{created['id']}", json={"phrase": "leaks"}, headers=alice.headers), 200
    )
    assert changed["phrase"] == "leaks"
    await expect(await client.delete(f"/api/v1/filters/{created['id']}", headers=alice.headers), 200)
    assert await expect(await client.get("/api/v2/filters", headers=alice.headers), 200) == []


def _update_of(status: dict[str, Any]) -> Any:
    return lambda f: f["event"] == "update" and f["payload"]["id"] == status["id"]


async def test_streams_apply_the_same_rule_hide_never_arrives_warn_is_marked(
    client: Client, res: Resources, make_user: UserFactory
) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    await follow(client, alice, bob)
    await make_filter(client, alice, filter_action="hide", keywords_attributes=[keyword("secret")])
    await make_filter(client, alice, keywords_attributes=[keyword("rumour")])
    await deliver(res)
    home_ws = await connect(client, alice.token, stream="user")
    public_ws = await connect(client, alice.token, stream="public")
    await online(res, alice.account_id)
    await hub_settled(client)
    hidden = await post_status(client, bob, "a secret plan")
    warned = await post_status(client, bob, "a rumour")
    await deliver(res)
    sentinel = await post_status(client, bob, "the end")  # a later batch: it arrives after the others
    await deliver(res)
    for ws in (home_ws, public_ws):
        got = [f for f in await frames_until(ws, _update_of(sentinel)) if f["event"] == "update"]
        assert [f["payload"]["id"] for f in got] == [warned["id"], sentinel["id"]]
        assert got[0]["payload"]["filtered"][0]["keyword_matches"] == ["rumour"]
        assert "filtered" not in got[1]["payload"]
        await ws.close()
    assert hidden["id"] not in await timeline(client, alice)
