"""Polls (issue 23): creating one within configuration.polls, voting once (concurrently, counted exactly),
voted/own_votes per viewer, hidden totals, the end's `poll` notifications from the delayed job, live counts
as throttled status.update, bad input as 422s, and Mastodon.py."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from conftest import UserFactory
from live import serve_app
from mastodon import Mastodon
from social import Client, User, expect, follow
from streams import connect, frames_until, hub_settled, online, run_queues

from app.main import create_app
from config import Settings
from storage.resources import Resources


async def poll_post(client: Client, user: User, code: int = 200, **poll: Any) -> Any:
    body = {"options": ["tea", "coffee", "water"], "expires_in": 600, **poll}
    response = await client.post("/api/v1/statuses", json={"status": "which?", "poll": body}, headers=user.headers)
    return await expect(response, code)


async def cast(client: Client, user: User, poll_id: str, choices: list[Any], code: int = 200) -> Any:
    response = await client.post(f"/api/v1/polls/{poll_id}/votes", json={"choices": choices}, headers=user.headers)
    return await expect(response, code)


async def test_a_poll_is_created_voted_once_and_shown_per_viewer(client: Client, make_user: UserFactory) -> None:
    alice, bob, carol = [await make_user(n) for n in ("alice", "bob", "carol")]
    status = await poll_post(client, alice)
    poll = status["poll"]
    assert [o["title"] for o in poll["options"]] == ["tea", "coffee", "water"]
    assert poll["expired"] is False and poll["multiple"] is False and poll["votes_count"] == 0
    assert poll["voted"] is True and poll["own_votes"] == []  # the author counts as having voted, as Mastodon

    voted = await cast(client, bob, poll["id"], [1])
    assert voted["voted"] is True and voted["own_votes"] == [1] and voted["votes_count"] == 1
    assert [o["votes_count"] for o in voted["options"]] == [0, 1, 0]
    again = await cast(client, bob, poll["id"], [0], code=422)
    assert "already voted" in again["error"]
    as_carol = await expect(await client.get(f"/api/v1/polls/{poll['id']}", headers=carol.headers), 200)
    assert as_carol["voted"] is False and as_carol["own_votes"] == [] and as_carol["voters_count"] == 1
    anonymous = await expect(await client.get(f"/api/v1/polls/{poll['id']}"), 200)
    assert "voted" not in anonymous and anonymous["votes_count"] == 1
    shown = await expect(await client.get(f"/api/v1/statuses/{status['id']}", headers=bob.headers), 200)
    assert shown["poll"]["own_votes"] == [1] and shown["poll"]["id"] == poll["id"]

    # Bad votes: unknown options, none, two in a single-choice poll, a poll that does not exist.
    for choices in ([3], [-1], [], [0, 2], ["x"]):
        await cast(client, carol, poll["id"], choices, code=422)
    await cast(client, carol, "12345", [0], code=404)
    await expect(await client.post(f"/api/v1/polls/{poll['id']}/votes", json={"choices": [0]}), 401)
    after = await expect(await client.get(f"/api/v1/polls/{poll['id']}", headers=carol.headers), 200)
    assert after["votes_count"] == 1 and after["voted"] is False


async def test_multiple_choice_and_hidden_totals(client: Client, make_user: UserFactory) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    status = await poll_post(client, alice, multiple=True, hide_totals=True)
    voted = await cast(client, bob, status["poll"]["id"], [0, 2])
    assert voted["own_votes"] == [0, 2] and voted["votes_count"] == 2 and voted["voters_count"] == 1
    assert [o["votes_count"] for o in voted["options"]] == [None, None, None]  # hidden until it ends
    own = await expect(await client.get(f"/api/v1/polls/{status['poll']['id']}", headers=alice.headers), 200)
    assert [o["votes_count"] for o in own["options"]] == [1, 0, 1]  # but not from its author


async def test_home_timelines_show_each_reader_their_own_vote(
    client: Client, res: Resources, make_user: UserFactory
) -> None:
    """Home is read through the post cache; a poll shows something as each viewer sees it (voted,
    own_votes, totals hidden from all but the author), so it is rendered for the reader, warm or cold."""
    alice, bob, carol = [await make_user(n) for n in ("alice", "bob", "carol")]
    for reader in (bob, carol):
        await follow(client, reader, alice)
    status = await poll_post(client, alice, hide_totals=True)
    await run_queues(res)
    await cast(client, bob, status["poll"]["id"], [2])
    await run_queues(res)
    for _ in range(2):  # the first read fills the post cache; the second reads from it
        polls = {}
        for reader in (alice, bob, carol):
            home = await expect(await client.get("/api/v1/timelines/home", headers=reader.headers), 200)
            polls[reader.account_id] = next(s["poll"] for s in home if s["id"] == status["id"])
        assert polls[bob.account_id]["voted"] is True and polls[bob.account_id]["own_votes"] == [2]
        assert polls[carol.account_id]["voted"] is False and polls[carol.account_id]["own_votes"] == []
        assert [o["votes_count"] for o in polls[carol.account_id]["options"]] == [None, None, None]
        assert [o["votes_count"] for o in polls[alice.account_id]["options"]] == [0, 0, 1]


@pytest.mark.parametrize(
    ("poll", "field"),
    [
        ({"options": ["only one"]}, "poll[options]"),
        ({"options": [f"option {n}" for n in range(100)]}, "poll[options]"),
        ({"options": ["a", "b", "c", "d", "e"]}, "poll[options]"),
        ({"options": ["same", "same"]}, "poll[options]"),
        ({"options": ["a", ""]}, "poll[options]"),
        ({"options": ["a", "x" * 51]}, "poll[options]"),
        ({"expires_in": 60}, "poll[expires_in]"),
        ({"expires_in": 10**8}, "poll[expires_in]"),
        ({"expires_in": None}, "poll[expires_in]"),
        ({"multiple": "maybe"}, "poll[multiple]"),
    ],
)
async def test_bad_polls_are_a_422_naming_the_field_and_post_nothing(
    client: Client, res: Resources, make_user: UserFactory, poll: dict[str, Any], field: str
) -> None:
    alice = await make_user("alice")
    body = await poll_post(client, alice, 422, **poll)
    assert field in body["error"]
    assert await res.db.fetchval("SELECT count(*) FROM posts") == 0
    assert await res.db.fetchval("SELECT count(*) FROM polls") == 0


async def test_concurrent_votes_are_all_counted(client: Client, res: Resources, make_user: UserFactory) -> None:
    alice = await make_user("alice")
    voters = [await make_user(f"voter{n}") for n in range(40)]
    status = await poll_post(client, alice)
    poll_id = status["poll"]["id"]
    # Every voter at once, and each twice: exactly one of each pair counts.
    results = await asyncio.gather(
        *(
            client.post(f"/api/v1/polls/{poll_id}/votes", json={"choices": [n % 3]}, headers=voter.headers)
            for n, voter in enumerate(voters)
            for _ in range(2)
        )
    )
    statuses = sorted(r.status for r in results)
    assert statuses == [200] * 40 + [422] * 40
    final = await expect(await client.get(f"/api/v1/polls/{poll_id}"), 200)
    assert final["votes_count"] == 40 and final["voters_count"] == 40
    assert [o["votes_count"] for o in final["options"]] == [14, 13, 13]
    assert await res.db.fetchval("SELECT count(*) FROM poll_votes") == 40


async def test_the_end_of_a_poll_notifies_voters_and_author_once(
    client: Client, res: Resources, make_user: UserFactory
) -> None:
    alice, bob, carol, dave = [await make_user(n) for n in ("alice", "bob", "carol", "dave")]
    status = await poll_post(client, alice)
    poll_id = status["poll"]["id"]
    await cast(client, bob, poll_id, [0])
    await cast(client, carol, poll_id, [2])
    assert await run_queues(res, "polls") == 0  # the end's job waits for the end
    # Let the poll end now (the job was recorded to run at its end, 600 s ahead).
    await res.db.execute("UPDATE polls SET expires_at = now() - interval '1 second'")
    await res.db.execute("UPDATE jobs SET run_at = now() WHERE queue = 'polls'")
    await run_queues(res, "polls", "notifications")
    await cast(client, dave, poll_id, [1], code=422)  # ended
    for user in (alice, bob, carol):
        notes = await expect(await client.get("/api/v1/notifications?types[]=poll", headers=user.headers), 200)
        assert [(n["type"], n["status"]["id"]) for n in notes] == [("poll", status["id"])]
        assert notes[0]["status"]["poll"]["expired"] is True
    assert await expect(await client.get("/api/v1/notifications", headers=dave.headers), 200) == []
    # A second run of the job (at least once) writes nothing twice.
    await res.db.execute(
        "INSERT INTO jobs (queue, kind, payload)"
        " VALUES ('polls', 'poll.expire', jsonb_build_object('poll_id', $1::bigint))",
        int(poll_id),
    )
    await run_queues(res, "polls")
    assert await res.db.fetchval("SELECT count(*) FROM notifications WHERE type = 'poll'") == 3


@pytest.mark.valkey_modes  # streaming through Valkey
async def test_votes_reach_streams_as_a_throttled_status_update(
    client: Client, res: Resources, make_user: UserFactory
) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    voters = [await make_user(f"voter{n}") for n in range(5)]
    await follow(client, bob, alice)
    await run_queues(res)
    ws = await connect(client, bob.token, stream="user")
    await online(res, bob.account_id)
    await hub_settled(client)
    status = await poll_post(client, alice)
    await run_queues(res, "timeline")
    for voter in voters:
        await cast(client, voter, status["poll"]["id"], [0])
    await run_queues(res, "streaming")
    jobs = await res.db.fetch("SELECT kind FROM jobs WHERE queue = 'polls' AND kind = 'poll.counts'")
    assert len(jobs) == 1  # five votes within one window: one update now, one trailing job
    first = (await frames_until(ws, lambda f: f["event"] == "status.update"))[-1]
    assert first["payload"]["poll"]["votes_count"] >= 1
    await res.db.execute("UPDATE jobs SET run_at = now() WHERE queue = 'polls' AND kind = 'poll.counts'")
    await run_queues(res, "polls")
    last = (await frames_until(ws, lambda f: f["event"] == "status.update"))[-1]
    assert last["payload"]["poll"]["votes_count"] == 5
    await ws.close()


async def test_the_instance_announces_the_limits_it_enforces(client: Client) -> None:
    instance = await expect(await client.get("/api/v2/instance"), 200)
    assert instance["configuration"]["polls"] == {
        "max_options": 4,
        "max_characters_per_option": 50,
        "min_expiration": 300,
        "max_expiration": 2_629_746,
    }


@pytest.fixture
async def base_url(settings: Settings) -> AsyncIterator[str]:
    async with serve_app(create_app(settings)) as url:
        yield url


async def test_mastodon_py_makes_a_poll_and_votes(base_url: str, make_user: UserFactory) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")

    def run() -> tuple[Any, Any, Any]:
        author = Mastodon(access_token=alice.token, api_base_url=base_url, version_check_mode="none")
        poll = author.make_poll(["yes", "no"], expires_in=3600, multiple=False)
        status = author.status_post("shall we?", poll=poll)
        voter = Mastodon(access_token=bob.token, api_base_url=base_url, version_check_mode="none")
        return status, voter.poll_vote(status.poll.id, [1]), voter.poll(status.poll.id)

    status, voted, fetched = await asyncio.to_thread(run)
    assert [o.title for o in status.poll.options] == ["yes", "no"]
    assert voted.own_votes == [1] and fetched.voted is True and fetched.options[1].votes_count == 1
