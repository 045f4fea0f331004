"""Polls after delivery (issue 23): an edit replaces a post's poll with Mastodon's rules (votes kept while
the options and `multiple` stay, void when they change; a poll added or removed by an edit; bad polls a 422
that changes nothing), the history shows each version's options, Mastodon.py's status_update with a poll,
and a stream that resumes after votes gets the current counts."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from conftest import UserFactory
from live import serve_app
from mastodon import Mastodon
from mastodon_schemas import assert_mastodon
from social import Client, User, expect, follow, post_status
from streams import connect, frames_until, online, run_queues, until
from test_edits import edit, history
from test_media_posts import image
from test_polls import cast, poll_post

from api.keys import HUB
from app.main import create_app
from config import Settings
from storage.resources import Resources


def poll(options: list[str], **fields: Any) -> dict[str, Any]:
    return {"options": options, "expires_in": 600, **fields}


async def shown_poll(client: Client, user: User, status_id: str) -> dict[str, Any]:
    status = await expect(await client.get(f"/api/v1/statuses/{status_id}", headers=user.headers), 200)
    body: dict[str, Any] = status["poll"]
    return body


async def test_an_edit_keeps_the_votes_while_the_options_stay_and_voids_them_when_they_change(
    client: Client, res: Resources, make_user: UserFactory
) -> None:
    alice, bob, carol = [await make_user(n) for n in ("alice", "bob", "carol")]
    status = await poll_post(client, alice)
    poll_id = status["poll"]["id"]
    await cast(client, bob, poll_id, [1])
    await cast(client, carol, poll_id, [1])

    # Same options and `multiple`: the votes stay; hide_totals and the end follow the edit.
    kept = await edit(
        client, alice, status["id"], status="which? (edited)", poll=poll(["tea", "coffee", "water"], hide_totals=True)
    )
    assert kept["poll"]["id"] == poll_id and kept["poll"]["votes_count"] == 2
    assert [o["votes_count"] for o in kept["poll"]["options"]] == [0, 2, 0]  # the author sees hidden totals
    as_bob = await shown_poll(client, bob, status["id"])
    assert as_bob["own_votes"] == [1] and [o["votes_count"] for o in as_bob["options"]] == [None, None, None]
    assert_mastodon("Status", kept)

    # Other options: every vote is void, the counts start again, and the voters may vote anew.
    changed = await edit(client, alice, status["id"], status="which?", poll=poll(["tea", "cocoa"]))
    assert changed["poll"]["id"] == poll_id
    assert [o["title"] for o in changed["poll"]["options"]] == ["tea", "cocoa"]
    assert changed["poll"]["votes_count"] == 0 and changed["poll"]["voters_count"] == 0
    assert [o["votes_count"] for o in changed["poll"]["options"]] == [0, 0]
    as_bob = await shown_poll(client, bob, status["id"])
    assert as_bob["voted"] is False and as_bob["own_votes"] == []
    assert await res.db.fetchval("SELECT count(*) FROM poll_votes") == 0
    again = await cast(client, bob, poll_id, [0])
    assert again["own_votes"] == [0] and again["votes_count"] == 1

    # `multiple` changing voids them too.
    multiple = await edit(client, alice, status["id"], status="which?", poll=poll(["tea", "cocoa"], multiple=True))
    assert multiple["poll"]["multiple"] is True and multiple["poll"]["votes_count"] == 0
    both = await cast(client, bob, poll_id, [0, 1])
    assert both["votes_count"] == 2 and both["voters_count"] == 1

    # Each version in the history shows its poll's options.
    versions = await history(client, status["id"], alice)
    assert [[o["title"] for o in v["poll"]["options"]] for v in versions] == [
        ["tea", "coffee", "water"],
        ["tea", "coffee", "water"],
        ["tea", "cocoa"],
        ["tea", "cocoa"],
    ]


async def test_a_poll_is_added_and_removed_by_an_edit(client: Client, res: Resources, make_user: UserFactory) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    status = await post_status(client, alice, "no poll yet")
    added = await edit(client, alice, status["id"], status="now a poll", poll=poll(["yes", "no"]))
    assert [o["title"] for o in added["poll"]["options"]] == ["yes", "no"] and added["poll"]["expired"] is False
    await cast(client, bob, added["poll"]["id"], [0])
    # The new poll's end is a job of its own, as a new post's poll has.
    ends = await res.db.fetch("SELECT payload FROM jobs WHERE queue = 'polls' AND kind = 'poll.expire'")
    assert [int(job["payload"]["poll_id"]) for job in ends] == [int(added["poll"]["id"])]

    # As Mastodon: an edit that names no poll leaves the post without one (its votes go with it).
    removed = await edit(client, alice, status["id"], status="no poll after all")
    assert removed["poll"] is None
    assert await res.db.fetchval("SELECT count(*) FROM polls") == 0
    assert await res.db.fetchval("SELECT count(*) FROM poll_votes") == 0
    await cast(client, bob, added["poll"]["id"], [1], code=404)
    versions = await history(client, status["id"], alice)
    assert [v["poll"] and [o["title"] for o in v["poll"]["options"]] for v in versions] == [None, ["yes", "no"], None]
    # The poll's end job, left in the queue, finds no poll and notifies nobody.
    await res.db.execute("UPDATE jobs SET run_at = now() WHERE queue = 'polls'")
    await run_queues(res, "polls", "notifications")
    assert await res.db.fetchval("SELECT count(*) FROM notifications WHERE type = 'poll'") == 0


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        ({"options": ["only one"], "expires_in": 600}, "poll[options]"),
        ({"options": [f"option {n}" for n in range(100)], "expires_in": 600}, "poll[options]"),
        ({"options": ["a", "a"], "expires_in": 600}, "poll[options]"),
        ({"options": ["a", "b"], "expires_in": 10}, "poll[expires_in]"),
        ({"options": ["a", "b"]}, "poll[expires_in]"),
        ({"options": ["a", "b"], "expires_in": 600, "multiple": "perhaps"}, "poll[multiple]"),
    ],
)
async def test_a_bad_poll_in_an_edit_is_a_422_and_changes_nothing(
    client: Client, res: Resources, make_user: UserFactory, bad: dict[str, Any], field: str
) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    status = await poll_post(client, alice)
    await cast(client, bob, status["poll"]["id"], [2])
    answer = await edit(client, alice, status["id"], 422, status="changed", poll=bad)
    assert field in answer["error"]
    after = await expect(await client.get(f"/api/v1/statuses/{status['id']}", headers=alice.headers), 200)
    assert after["edited_at"] is None and after["content"] == status["content"]
    assert [o["title"] for o in after["poll"]["options"]] == ["tea", "coffee", "water"]
    assert after["poll"]["votes_count"] == 1
    assert await res.db.fetchval("SELECT count(*) FROM post_versions") == 0


async def test_a_poll_and_media_together_and_someone_elses_poll_are_refused(
    client: Client, make_user: UserFactory
) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    status = await poll_post(client, alice)
    picture = await image(client, alice, "a chart")
    answer = await edit(client, alice, status["id"], 422, status="x", media_ids=[picture], poll=poll(["a", "b"]))
    assert "poll" in answer["error"]
    await edit(client, bob, status["id"], 403, status="mine now", poll=poll(["a", "b"]))
    shown = await expect(await client.get(f"/api/v1/statuses/{status['id']}"), 200)
    assert [o["title"] for o in shown["poll"]["options"]] == ["tea", "coffee", "water"]
    assert shown["media_attachments"] == []


async def test_a_stream_that_resumes_after_votes_gets_the_current_counts(
    client: Client, res: Resources, make_user: UserFactory
) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    voters = [await make_user(f"voter{n}") for n in range(3)]
    await follow(client, bob, alice)
    await run_queues(res)
    ws = await connect(client, bob.token, stream="user")
    await online(res, bob.account_id)
    status = await poll_post(client, alice)
    await run_queues(res, "timeline")
    seen = (await frames_until(ws, lambda f: f["event"] == "update"))[-1]
    assert seen["payload"]["id"] == status["id"] and seen["payload"]["poll"]["votes_count"] == 0
    await ws.close()  # bob drops off; the votes and their throttled live updates happen without him
    await until(lambda: len(client.app[HUB].connections) == 0)
    for n, voter in enumerate(voters):
        await cast(client, voter, status["poll"]["id"], [n % 2])
    await res.db.execute("UPDATE jobs SET run_at = now() WHERE queue = 'polls' AND kind = 'poll.counts'")
    await run_queues(res, "streaming", "polls", "post_cache")

    again = await connect(client, bob.token, stream="user", last_event_id=seen["id"])
    replayed = (await frames_until(again, lambda f: f["event"] == "status.update"))[-1]
    assert replayed["payload"]["id"] == status["id"]
    assert replayed["payload"]["poll"]["votes_count"] == 3
    assert [o["votes_count"] for o in replayed["payload"]["poll"]["options"]] == [2, 1, 0]
    assert replayed["payload"]["poll"]["voted"] is False  # rendered for bob, who did not vote
    await again.close()

    # A client whose cursor is already past the last vote is sent no stale update.
    newer = await post_status(client, alice, "later")
    await run_queues(res, "timeline")
    late = await connect(client, bob.token, stream="user", last_event_id=f"{newer['id']}_0")
    await online(res, bob.account_id)
    await cast(client, bob, status["poll"]["id"], [2])  # a live vote after it connected
    await res.db.execute("UPDATE jobs SET run_at = now() WHERE queue = 'polls' AND kind = 'poll.counts'")
    await run_queues(res, "streaming", "polls")  # the live update, throttled or trailing
    live = (await frames_until(late, lambda f: f["event"] == "status.update"))[0]
    assert live["payload"]["poll"]["votes_count"] == 4
    await late.close()


# Mastodon.py ------------------------------------------------------------------------------------------


@pytest.fixture
async def base_url(settings: Settings) -> AsyncIterator[str]:
    async with serve_app(create_app(settings)) as url:
        yield url


async def test_mastodon_py_replaces_a_poll_by_status_update(base_url: str, make_user: UserFactory) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")

    def run() -> tuple[Any, Any, Any, Any]:
        api = Mastodon(access_token=alice.token, api_base_url=base_url, version_check_mode="none")
        voter = Mastodon(access_token=bob.token, api_base_url=base_url, version_check_mode="none")
        posted = api.status_post("lunch?", poll=api.make_poll(["soup", "salad"], expires_in=600))
        voter.poll_vote(posted.poll.id, [0])
        kept = api.status_update(posted.id, "lunch?", poll=api.make_poll(["soup", "salad"], expires_in=900))
        changed = api.status_update(posted.id, "lunch!", poll=api.make_poll(["soup", "bread", "rice"], 600))
        return posted, kept, changed, api.status_history(posted.id)

    posted, kept, changed, versions = await asyncio.to_thread(run)
    assert kept.poll.id == posted.poll.id and kept.poll.votes_count == 1
    assert kept.poll.expires_at > posted.poll.expires_at  # the end counts from the edit
    assert [o.title for o in changed.poll.options] == ["soup", "bread", "rice"] and changed.poll.votes_count == 0
    assert [[o.title for o in v.poll.options] for v in versions][-1] == ["soup", "bread", "rice"]
