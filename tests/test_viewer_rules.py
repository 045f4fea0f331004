"""The viewer's rules kept in memory (domain/viewer_rules.py) stay true: every write to a rule moves its
version stamp in `safety_versions` (a block moves both accounts'), a rule written by another process (here:
straight into PostgreSQL) reaches a process that kept the old rules, on reads and on live events alike,
and a timed mute or filter ends by itself in a process that keeps the rules, with no write at all."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from conftest import UserFactory
from social import Client, User, expect, follow, post_status
from streams import run_queues

from domain import viewer_rules
from domain.filters import CompiledFilter, keyword_pattern, subject_text
from domain.streaming import personalize
from domain.viewer_rules import Shield
from domain.visibility import filter_verdict
from storage import post_cache
from storage.resources import Resources


async def deliver(res: Resources) -> None:
    await run_queues(res, "timeline", "streaming", "notifications", "post_cache")


async def home(client: Client, user: User) -> list[str]:
    body = await expect(await client.get("/api/v1/timelines/home", headers=user.headers), 200)
    return [status["id"] for status in body]


async def stamps(res: Resources, *users: User) -> list[int | None]:
    rows = await res.db.fetch(
        "SELECT account_id, version FROM safety_versions WHERE account_id = ANY($1::bigint[])",
        [user.account_id for user in users],
    )
    found = {row[0]: row[1] for row in rows}
    return [found.get(user.account_id) for user in users]


async def test_every_write_to_a_rule_moves_the_stamp_of_whose_rule_it_is(
    client: Client, res: Resources, make_user: UserFactory
) -> None:
    alice, bob, carol = await make_user("alice"), await make_user("bob"), await make_user("carol")
    assert await stamps(res, alice, bob, carol) == [None, None, None]
    post = await post_status(client, bob, "a thread")
    h = alice.headers

    async def moves(call: Callable[[], Awaitable[Any]], *moved: User) -> Any:
        before = await stamps(res, alice, bob, carol)
        answer = await call()
        after = await stamps(res, alice, bob, carol)
        changed = [
            user.username for user, old, new in zip((alice, bob, carol), before, after, strict=True) if old != new
        ]
        assert changed == [user.username for user in moved], call
        return answer

    async def ok(method: str, path: str, **body: Any) -> Any:
        return await expect(await client.request(method, path, json=body or None, headers=h), 200)

    await moves(lambda: ok("POST", f"/api/v1/accounts/{bob.id}/block"), alice, bob)
    await moves(lambda: ok("POST", f"/api/v1/accounts/{bob.id}/unblock"), alice, bob)
    await moves(lambda: ok("POST", f"/api/v1/accounts/{carol.id}/mute", duration=60), alice)
    await moves(lambda: ok("POST", f"/api/v1/accounts/{carol.id}/unmute"), alice)
    await moves(lambda: ok("POST", f"/api/v1/statuses/{post['id']}/mute"), alice)
    await moves(lambda: ok("POST", f"/api/v1/statuses/{post['id']}/unmute"), alice)
    made = await moves(lambda: ok("POST", "/api/v2/filters", title="t", context=["home"]), alice)
    fid = made["id"]
    added = await moves(lambda: ok("POST", f"/api/v2/filters/{fid}/keywords", keyword="cat"), alice)
    changed = [{"id": added["id"], "keyword": "dog"}]
    await moves(lambda: ok("PUT", f"/api/v2/filters/{fid}", keywords_attributes=changed), alice)
    await moves(lambda: ok("DELETE", f"/api/v2/filters/keywords/{added['id']}"), alice)
    status = await moves(lambda: ok("POST", f"/api/v2/filters/{fid}/statuses", status_id=post["id"]), alice)
    await moves(lambda: ok("DELETE", f"/api/v2/filters/statuses/{status['id']}"), alice)
    await moves(lambda: ok("PUT", f"/api/v2/filters/{fid}", filter_action="hide"), alice)
    await moves(lambda: ok("DELETE", f"/api/v2/filters/{fid}"), alice)
    # Read-only calls move nothing.
    await moves(lambda: ok("GET", "/api/v1/blocks"))
    await moves(lambda: ok("GET", "/api/v2/filters"))


async def test_a_rule_written_by_another_process_reaches_one_that_kept_the_old_rules(
    client: Client, res: Resources, make_user: UserFactory
) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    await follow(client, alice, bob)
    await expect(
        await client.post(f"/api/v1/accounts/{bob.id}/note", json={"comment": "x"}, headers=alice.headers), 200
    )
    # Alice gets rules (a filter that matches nothing), which this process reads and keeps.
    filtered = await expect(
        await client.post(
            "/api/v2/filters",
            json={"title": "t", "context": ["home", "public"], "keywords_attributes": [{"keyword": "zebra"}]},
            headers=alice.headers,
        ),
        200,
    )
    bobs = await post_status(client, bob, "hello from bob")
    await deliver(res)
    assert await home(client, alice) == [bobs["id"]]
    assert set(await personalize(res, int(bobs["id"]), [alice.account_id], "home")) == {alice.account_id}
    kept = viewer_rules._kept[alice.account_id]

    # Another process writes a block: this one's kept copy is stale, and no reader uses it.
    await res.db.execute(
        "INSERT INTO blocks (id, account_id, target_account_id) VALUES ($1, $2, $3)",
        res.ids.next_id(),
        alice.account_id,
        bob.account_id,
    )
    assert await home(client, alice) == []
    assert await personalize(res, int(bobs["id"]), [alice.account_id], "home") == {}
    assert viewer_rules._kept[alice.account_id] is not kept

    await res.db.execute("DELETE FROM blocks WHERE account_id = $1", alice.account_id)
    assert set(await personalize(res, int(bobs["id"]), [alice.account_id], "home")) == {alice.account_id}
    # And a keyword added elsewhere to the kept filter.
    await res.db.execute(
        "INSERT INTO filter_keywords (id, filter_id, keyword, whole_word) VALUES ($1, $2, 'bob', true)",
        res.ids.next_id(),
        int(filtered["id"]),
    )
    entity = (await expect(await client.get("/api/v1/timelines/home", headers=alice.headers), 200))[0]
    assert [match["keyword_matches"] for match in entity["filtered"]] == [["bob"]]


async def test_a_timed_mute_and_a_timed_filter_end_by_themselves_in_a_process_that_keeps_them(
    client: Client, res: Resources, make_user: UserFactory
) -> None:
    alice, bob, carol = await make_user("alice"), await make_user("bob"), await make_user("carol")
    await follow(client, alice, bob)
    await follow(client, alice, carol)
    bobs = await post_status(client, bob, "bob posts")
    carols = await post_status(client, carol, "carol posts about tea")
    await deliver(res)
    await expect(await client.post(f"/api/v1/accounts/{bob.id}/mute", json={"duration": 2}, headers=alice.headers), 200)
    await expect(
        await client.post(
            "/api/v2/filters",
            json={
                "title": "tea",
                "context": ["home"],
                "filter_action": "hide",
                "expires_in": 2,
                "keywords_attributes": [{"keyword": "tea"}],
            },
            headers=alice.headers,
        ),
        200,
    )
    stamp = await stamps(res, alice)
    assert await home(client, alice) == []
    deadline = time.monotonic() + 10
    while await home(client, alice) != [carols["id"], bobs["id"]]:
        assert time.monotonic() < deadline, "the timed mute and filter did not end"
        await asyncio.sleep(0.2)
    assert await stamps(res, alice) == stamp  # nothing was written: time alone ended them


def test_the_case_folded_shortcut_never_misses_what_a_keyword_pattern_matches() -> None:
    """`filter_verdict` skips the patterns when no case-folded keyword is in the (case-folded) subject text:
    that must never skip a text a pattern matches, nor keep one none matches, Unicode included (the Kelvin
    sign, long s, dotted and dotless i, final sigma, German sharp s, ligatures); and case never matters."""
    tricky = ["k", "\u212a", "s", "\u017f", "i", "\u0130", "\u0131", "I", "\u03c3", "\u03c2", "\u03a3", "ß", "ẞ", "ﬁ"]
    words = [a + b for a in tricky for b in tricky] + ["Kelvin", "\u212aelvin", "ſtraße", "STRASSE", "ΣΊΣΥΦΟΣ"]
    for keyword in words:
        for whole_word in (True, False):
            pattern = keyword_pattern(keyword, whole_word)
            compiled = CompiledFilter({"id": "1"}, "warn", frozenset({"home"}), ((keyword, pattern),), frozenset(), {})
            shield = Shield(filters=(compiled,), folded_keywords=frozenset({keyword.casefold()}))
            for other in words:
                text = subject_text("", f"a post about {other} today")
                matched = pattern.search(text) is not None
                if other.casefold() == keyword.casefold():
                    assert matched
                verdict = filter_verdict(shield, 1, text, author_id=2, viewer_id=3)
                assert bool(verdict) == matched, (keyword, other, whole_word)


async def test_a_post_the_viewers_rules_hide_is_cached_by_the_read_that_hid_it(
    client: Client, res: Resources, make_user: UserFactory
) -> None:
    """Else every later read of a timeline holding it renders it from PostgreSQL again, only to hide it."""
    alice, bob, carol = await make_user("alice"), await make_user("bob"), await make_user("carol")
    await follow(client, alice, bob)
    carols = await post_status(client, carol, "carol posts")
    repost = await expect(await client.post(f"/api/v1/statuses/{carols['id']}/reblog", headers=bob.headers), 200)
    bobs = await post_status(client, bob, "bob posts")
    await deliver(res)
    await expect(await client.post(f"/api/v1/accounts/{carol.id}/mute", headers=alice.headers), 200)
    hidden = [int(repost["id"]), int(carols["id"])]
    await post_cache.forget_posts(res.redis, hidden)  # as after an eviction, or before anyone read them
    assert await post_cache.cached_posts(res.redis, hidden) == []
    assert await home(client, alice) == [bobs["id"]]
    assert sorted(await post_cache.cached_posts(res.redis, hidden)) == sorted(hidden)
    assert await home(client, alice) == [bobs["id"]]
