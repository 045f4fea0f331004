"""Scheduled posts (issue 23): scheduled_at at least 5 minutes ahead gives a ScheduledStatus; list, get,
reschedule, cancel; limits per day and in all; published exactly once at its time (with its media and poll),
with two workers at once, and after a worker died while publishing; Mastodon.py."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from conftest import ClientFactory, UserFactory
from live import serve_app
from mastodon import Mastodon
from social import Client, User, expect
from test_media_posts import image

from app.main import create_app
from config import Settings
from domain import scheduled as scheduled_domain
from storage import jobs as job_store
from storage.resources import Resources, open_resources
from workers.queues import all_queues
from workers.runner import JobRunner


def later(minutes: float) -> str:
    return (datetime.now(UTC) + timedelta(minutes=minutes)).isoformat()


async def schedule(client: Client, user: User, when: str, code: int = 200, **params: Any) -> Any:
    body = {"status": "later", "scheduled_at": when, **params}
    return await expect(await client.post("/api/v1/statuses", json=body, headers=user.headers), code)


async def make_due(res: Resources) -> None:
    """Let every scheduled post's time come now (they were scheduled at least 5 minutes ahead)."""
    await res.db.execute("UPDATE scheduled_posts SET scheduled_at = now() - interval '1 second'")
    await res.db.execute("UPDATE jobs SET run_at = now() WHERE queue = 'scheduled'")


async def test_a_scheduled_post_is_listed_rescheduled_cancelled(client: Client, make_user: UserFactory) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    entity = await schedule(client, alice, later(10), spoiler_text="soon", visibility="unlisted")
    assert set(entity) == {"id", "scheduled_at", "params", "media_attachments"}
    assert entity["params"]["text"] == "later" and entity["params"]["visibility"] == "unlisted"
    assert entity["params"]["spoiler_text"] == "soon"
    listed = await expect(await client.get("/api/v1/scheduled_statuses", headers=alice.headers), 200)
    assert [s["id"] for s in listed] == [entity["id"]]
    assert await expect(await client.get("/api/v1/scheduled_statuses", headers=bob.headers), 200) == []
    path = f"/api/v1/scheduled_statuses/{entity['id']}"
    assert (await expect(await client.get(path, headers=alice.headers), 200))["id"] == entity["id"]
    await expect(await client.get(path, headers=bob.headers), 404)
    # Nothing is posted meanwhile.
    assert await expect(await client.get(f"/api/v1/accounts/{alice.id}/statuses"), 200) == []

    when = later(60)
    moved = await expect(await client.put(path, json={"scheduled_at": when}, headers=alice.headers), 200)
    assert abs(datetime.fromisoformat(moved["scheduled_at"]) - datetime.fromisoformat(when)) < timedelta(seconds=1)
    await expect(await client.put(path, json={"scheduled_at": later(1)}, headers=alice.headers), 422)
    await expect(await client.put(path, json={"scheduled_at": later(10)}, headers=bob.headers), 404)
    await expect(await client.delete(path, headers=bob.headers), 404)
    await expect(await client.delete(path, headers=alice.headers), 200)
    await expect(await client.get(path, headers=alice.headers), 404)


@pytest.mark.parametrize(
    ("when", "problem"),
    [
        (lambda: later(-60), "5 minutes"),
        (lambda: later(4), "5 minutes"),
        (lambda: "next tuesday", "ISO 8601"),
    ],
)
async def test_a_time_too_soon_or_unreadable_is_a_422(
    client: Client, res: Resources, make_user: UserFactory, when: Any, problem: str
) -> None:
    alice = await make_user("alice")
    body = await schedule(client, alice, when(), 422)
    assert "scheduled_at" in body["error"] and problem in body["error"]
    assert await res.db.fetchval("SELECT count(*) FROM scheduled_posts") == 0
    # The draft itself is checked now, not at publication.
    await schedule(client, alice, later(10), 422, status="")


async def test_limits_per_day_and_in_all(make_client: ClientFactory, res: Resources, make_user: UserFactory) -> None:
    client = await make_client(rate_limit_enabled=False)
    alice = await make_user("alice")
    day = (datetime.now(UTC) + timedelta(days=3)).replace(hour=12, minute=0, second=0, microsecond=0)
    for n in range(scheduled_domain.MAX_PER_DAY):
        await schedule(client, alice, (day + timedelta(minutes=n)).isoformat())
    body = await schedule(client, alice, (day + timedelta(hours=1)).isoformat(), 422)
    assert "for one day" in body["error"]
    await schedule(client, alice, (day + timedelta(days=1)).isoformat())  # another day is fine
    # The total: fill up to it directly, then one more is refused.
    await res.db.execute(
        """
        INSERT INTO scheduled_posts (id, account_id, scheduled_at, draft)
        SELECT 1000 + n, $1, now() + make_interval(days => 10 + n), '{"text": "x"}'::jsonb
        FROM generate_series(1, $2) AS n
        """,
        alice.account_id,
        scheduled_domain.MAX_TOTAL - scheduled_domain.MAX_PER_DAY - 1,
    )
    body = await schedule(client, alice, (day + timedelta(days=2)).isoformat(), 422)
    assert f"at most {scheduled_domain.MAX_TOTAL}" in body["error"]


async def test_published_once_at_its_time_with_media_and_poll(
    client: Client, res: Resources, make_user: UserFactory
) -> None:
    alice = await make_user("alice")
    media_id = await image(client, alice, "the view")
    with_media = await schedule(client, alice, later(10), status="with a picture", media_ids=[media_id])
    assert [m["id"] for m in with_media["media_attachments"]] == [media_id]
    poll = {"options": ["yes", "no"], "expires_in": 3600}
    await schedule(client, alice, later(11), status="with a poll", poll=poll)
    runner = JobRunner(res, all_queues())
    assert await runner.drain("scheduled") == 0  # not yet
    await make_due(res)
    assert await runner.drain("scheduled") == 2
    posts = await expect(await client.get(f"/api/v1/accounts/{alice.id}/statuses"), 200)
    by_text = {p["content"]: p for p in posts}
    assert len(posts) == 2
    assert [m["id"] for m in by_text["<p>with a picture</p>"]["media_attachments"]] == [media_id]
    assert [o["title"] for o in by_text["<p>with a poll</p>"]["poll"]["options"]] == ["yes", "no"]
    assert await expect(await client.get("/api/v1/scheduled_statuses", headers=alice.headers), 200) == []


async def test_two_workers_publish_it_once(
    client: Client, res: Resources, settings: Settings, make_user: UserFactory
) -> None:
    alice = await make_user("alice")
    entity = await schedule(client, alice, later(10))
    await make_due(res)
    # The same job twice (a retry overlapping the first run), and two workers with their own pools.
    await job_store.enqueue(
        res.db, scheduled_domain.SCHEDULED_QUEUE, scheduled_domain.PUBLISH_SCHEDULED, {"id": int(entity["id"])}
    )
    async with open_resources(settings) as other:
        published = await asyncio.gather(
            scheduled_domain.publish_due(res, int(entity["id"])),
            scheduled_domain.publish_due(other, int(entity["id"])),
            JobRunner(res, all_queues()).drain("scheduled"),
            JobRunner(other, all_queues()).drain("scheduled"),
        )
    assert len([p for p in published[:2] if p is not None]) <= 1
    assert await res.db.fetchval("SELECT count(*) FROM posts WHERE account_id = $1", alice.account_id) == 1
    assert await res.db.fetchval("SELECT count(*) FROM scheduled_posts") == 0


async def test_a_worker_killed_while_publishing_leaves_it_to_the_next(
    client: Client, res: Resources, settings: Settings, make_user: UserFactory
) -> None:
    alice = await make_user("alice")
    media_id = await image(client, alice, "kept")
    entity = await schedule(client, alice, later(10), media_ids=[media_id])
    await make_due(res)
    # The dying worker: it has taken the job (a short lease) and is inside the publishing transaction, having
    # taken the scheduled row, when its connection is killed.
    taken = await job_store.claim(res.db, scheduled_domain.SCHEDULED_QUEUE, 10, lease_seconds=0.5)
    assert len(taken.jobs) == 1
    dying = await asyncpg.connect(settings.database_url)
    await dying.execute("BEGIN")
    assert await dying.fetchval("DELETE FROM scheduled_posts WHERE id = $1 RETURNING id", int(entity["id"]))
    assert await res.db.fetchval("SELECT pg_terminate_backend($1)", dying.get_server_pid())
    dying.terminate()
    assert await res.db.fetchval("SELECT count(*) FROM scheduled_posts") == 1  # rolled back
    assert await JobRunner(res, all_queues()).drain("scheduled") == 0  # the lease still holds
    await asyncio.sleep(0.6)  # the lease runs out (not a timing assertion: waiting for the state it leads to)
    assert await JobRunner(res, all_queues()).drain("scheduled") == 1
    posts = await expect(await client.get(f"/api/v1/accounts/{alice.id}/statuses"), 200)
    assert len(posts) == 1 and [m["id"] for m in posts[0]["media_attachments"]] == [media_id]


@pytest.fixture
async def base_url(settings: Settings) -> AsyncIterator[str]:
    async with serve_app(create_app(settings)) as url:
        yield url


async def test_mastodon_py_schedules_and_lists(base_url: str, make_user: UserFactory) -> None:
    alice = await make_user("alice")

    def run() -> tuple[Any, Any, Any]:
        api = Mastodon(access_token=alice.token, api_base_url=base_url, version_check_mode="none")
        made = api.status_post("in an hour", scheduled_at=datetime.now(UTC) + timedelta(hours=1))
        moved = api.scheduled_status_update(made.id, datetime.now(UTC) + timedelta(hours=2))
        listed = api.scheduled_statuses()
        api.scheduled_status_delete(made.id)
        return made, moved, listed

    made, moved, listed = await asyncio.to_thread(run)
    assert made.params.text == "in an hour" and moved.scheduled_at > made.scheduled_at
    assert [s.id for s in listed] == [made.id]
