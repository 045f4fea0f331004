"""The fan-out worker: batched delivery inside Valkey, idempotence, and a real worker process killed with
SIGKILL in the middle of a batch that, restarted, loses and duplicates nothing."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, cast

import pytest
from conftest import REPO_ROOT, UserFactory

from domain import timelines
from domain.posts import PostDraft, create_post
from domain.subscriptions import TIMELINE_QUEUE
from storage import jobs as job_store
from storage import keys, presence, timeline_cache
from storage.resources import Resources
from storage.timeline_cache import Entry, decode_entry, home_key
from workers import timeline as timeline_worker
from workers.runner import JobRunner

# Each test runs on one Valkey and on a Valkey Cluster (tests/conftest.py).
pytestmark = pytest.mark.valkey_modes


async def add_followers(res: Resources, author_id: int, count: int, prefix: str = "f") -> list[int]:
    """`count` accounts following `author_id`, written in two statements (the benches do the same)."""
    ids = [res.ids.next_id() for _ in range(count)]
    await res.db.execute(
        """
        INSERT INTO accounts (id, username, email, password_hash)
        SELECT id, $2 || n, $2 || n || '@example.test', '!' FROM unnest($1::bigint[]) WITH ORDINALITY AS t(id, n)
        """,
        ids,
        prefix,
    )
    await res.db.execute(
        """
        INSERT INTO follows (id, account_id, target_account_id)
        SELECT follow_id, id, $3 FROM unnest($1::bigint[], $2::bigint[]) AS t(id, follow_id)
        """,
        ids,
        [res.ids.next_id() for _ in ids],
        author_id,
    )
    await res.db.execute("UPDATE accounts SET followers_count = followers_count + $2 WHERE id = $1", author_id, count)
    return ids


async def cache_timelines(res: Resources, account_ids: list[int]) -> None:
    """Give accounts a cached (empty) home timeline, as if each had read it recently."""
    for start in range(0, len(account_ids), 1000):
        keys = [home_key(a) for a in account_ids[start : start + 1000]]
        await timeline_cache.begin_builds(res.redis, keys)
        await timeline_cache.finish_builds(
            res.redis, [(key, []) for key in keys], cap=res.settings.timeline_size, ttl=3600
        )


async def home_post_ids(res: Resources, account_id: int) -> list[int]:
    """The posts in a cached home timeline, by score (post id); the markers scored below 0 left out."""
    members = cast(list[tuple[bytes, float]], await res.redis.zrange(home_key(account_id), 0, -1, withscores=True))
    return [decode_entry(member).post_id for member, score in members if score > 0]


async def timeline_members(res: Resources, account_ids: list[int]) -> list[list[bytes]]:
    pipe = res.redis.pipeline(transaction=False)
    for account in account_ids:
        pipe.zrange(home_key(account), 0, -1)
    return list(await pipe.execute())


async def timeline_jobs(res: Resources) -> list[job_store.Job]:
    rows = await res.db.fetch(
        "SELECT id, queue, kind, payload, attempts FROM jobs WHERE queue = $1 ORDER BY id", TIMELINE_QUEUE
    )
    return [job_store.Job(r["id"], r["queue"], r["kind"], r["payload"], r["attempts"]) for r in rows]


async def dump(res: Resources, account_ids: list[int]) -> list[Any]:
    return [await res.redis.zrange(home_key(a), 0, -1, withscores=True) for a in account_ids]


async def test_fan_out_returns_the_recipients_it_wrote(make_user: UserFactory, res: Resources) -> None:
    author = await make_user("author")
    followers = await add_followers(res, author.account_id, 30)
    await cache_timelines(res, [author.account_id, *followers[:10]])
    post_id = await create_post(res, author.account_id, PostDraft(text="hello"))
    [delivery] = await timelines.fan_out_posts(res, [post_id])
    assert sorted(delivery.recipients) == sorted([author.account_id, *followers[:10]])
    assert (delivery.post_id, delivery.author_id, delivery.reblog_of_id) == (post_id, author.account_id, None)
    # Delivered again (a retry): the same recipients, since the post is in their timelines.
    [again] = await timelines.fan_out_posts(res, [post_id])
    assert sorted(again.recipients) == sorted(delivery.recipients)
    assert all(await timeline_cache.exists(res.redis, [home_key(a) for a in followers[:10]]))
    assert not any(await timeline_cache.exists(res.redis, [home_key(a) for a in followers[10:]]))


async def test_an_authors_posts_are_fanned_out_one_after_another(make_user: UserFactory, res: Resources) -> None:
    """While one worker fans out an author's post, another worker leaves that author's next posts (and their
    deletion) alone, so followers' streams get them in the order written; another author's post goes on."""
    author, other = await make_user("author"), await make_user("other")
    follower = (await add_followers(res, author.account_id, 1))[0]
    await res.db.execute(
        "INSERT INTO follows (id, account_id, target_account_id) VALUES ($1, $2, $3)",
        res.ids.next_id(),
        follower,
        other.account_id,
    )
    await cache_timelines(res, [follower])
    first = await create_post(res, author.account_id, PostDraft(text="first"))
    second = await create_post(res, author.account_id, PostDraft(text="second"))
    theirs = await create_post(res, other.account_id, PostDraft(text="theirs"))
    # Worker A has the first post's job in hand...
    held = await job_store.claim(res.db, TIMELINE_QUEUE, 1, lease_seconds=60)
    assert [job.payload["id"] for job in held.jobs] == [first]
    # ...so worker B fans out the other author's post only.
    runner = JobRunner(res, timeline_worker.queues())
    assert await runner.drain(TIMELINE_QUEUE) == 1
    assert await home_post_ids(res, follower) == [theirs]
    # Worker A is done: the second post follows.
    await timeline_worker.run_timeline_jobs(res, held.jobs)
    await job_store.complete(res.db, [job.id for job in held.jobs])
    assert await runner.drain(TIMELINE_QUEUE) == 1
    assert await home_post_ids(res, follower) == sorted([first, second, theirs])


async def test_a_batch_takes_a_few_valkey_round_trips_whatever_the_posts(
    make_user: UserFactory, res: Resources, monkeypatch: pytest.MonkeyPatch
) -> None:
    authors = [await make_user(f"author{i}") for i in range(5)]
    everyone: list[int] = []
    for i, author in enumerate(authors):
        everyone += await add_followers(res, author.account_id, 400, prefix=f"f{i}_")
    await cache_timelines(res, everyone)
    post_ids = [await create_post(res, a.account_id, PostDraft(text=f"post {n}")) for a in authors for n in range(4)]
    # Valkey knows the scripts (one that forgot them takes a round trip more to load them, once).
    await res.redis.script_load(timeline_cache.FAN_OUT.source)
    round_trips: list[int] = []
    real = timeline_cache._pipeline

    slots_per_call: set[int] = set()

    async def counted(redis: Any, calls: Any) -> list[Any]:
        round_trips.append(len(calls))
        slots_per_call.update(len({keys.slot(key) for key in call_keys}) for _, call_keys, _ in calls)
        return await real(redis, calls)

    monkeypatch.setattr(timeline_cache, "_pipeline", counted)
    slices: list[list[timelines.PostDelivery]] = []

    async def written(deliveries: list[timelines.PostDelivery]) -> None:
        slices.append(deliveries)

    deliveries = await timelines.fan_out_posts(res, post_ids, written=written)
    # 20 posts, 8,000 timeline inserts: each round trip writes a slice of every post's audience (its first
    # 128 timelines, then 128 more, then the rest), in pipelined script calls, and asks who of it is connected.
    assert len(round_trips) == 3
    if res.settings.valkey_cluster:
        # One script call per slot and round, each touching that one slot: the presence lookup rides in the
        # writes' call of its slot (the followers' slots, and the authors' own timelines').
        assert slots_per_call == {1}
        slots = len({keys.slot(home_key(a)) for a in everyone})
        assert all(calls <= slots + 2 * len(authors) for calls in round_trips)
    else:
        assert sum(round_trips) <= 8_000 // timeline_cache.KEYS_PER_CALL + 3 * 20 + 3
    assert [len(written) for written in slices] == [20, 20, 20]
    # The author's own timeline (first, not cached here) and 127 followers; 128 followers; the last 145.
    assert [sorted({len(d.recipients) for d in written}) for written in slices] == [[127], [128], [145]]
    assert sum(len(d.recipients) for d in deliveries) == 20 * 400
    members = await timeline_members(res, everyone)
    assert all(len(m) == 4 + 2 for m in members)


async def test_each_slice_of_the_audience_is_reported_once_its_timelines_hold_the_post(
    make_user: UserFactory, res: Resources
) -> None:
    """What makes a slice's live updates safe to send at once: when the fan-out hands it over, every
    recipient in it has the post in their timeline; the next slice is written only after. Each slice
    says which of its recipients are connected, and to which API process."""
    author = await make_user("author")
    followers = await add_followers(res, author.account_id, 500)
    await cache_timelines(res, followers)
    connected = {31: followers[::7], 32: followers[::11]}  # some on two processes
    for node, accounts in connected.items():
        await presence.mark_online(res.redis, node, accounts, ttl_seconds=60)
    post_id = await create_post(res, author.account_id, PostDraft(text="to three slices"))
    member = Entry(post_id, author.account_id, None).member()
    reported: list[int] = []
    holding_when_reported: list[set[int]] = []
    online_when_reported: list[dict[int, set[int]]] = []

    async def written(deliveries: list[timelines.PostDelivery]) -> None:
        [delivery] = deliveries
        assert delivery.post_id == post_id
        reported.extend(delivery.recipients)
        assert delivery.online is not None
        online_when_reported.append({node: set(accounts) for node, accounts in delivery.online.items()})
        pipe = res.redis.pipeline(transaction=False)
        for follower in followers:
            pipe.zscore(home_key(follower), member)
        scores = await pipe.execute()
        holding_when_reported.append({f for f, score in zip(followers, scores, strict=True) if score is not None})

    [delivery] = await timelines.fan_out_posts(res, [post_id], written=written)
    # Slice by slice: exactly the recipients reported so far hold the post, never fewer, never more.
    assert [len(holding) for holding in holding_when_reported] == [127, 127 + 128, 500]
    assert holding_when_reported == [set(reported[:127]), set(reported[: 127 + 128]), set(followers)]
    assert sorted(reported) == sorted(delivery.recipients) == sorted(followers)
    slices = [set(reported[:127]), set(reported[127 : 127 + 128]), set(reported[127 + 128 :])]
    assert online_when_reported == [
        {node: set(accounts) & recipients for node, accounts in connected.items()} for recipients in slices
    ]
    for node in connected:
        await presence.leave(res.redis, node)


async def test_applying_the_same_events_twice_changes_nothing(make_user: UserFactory, res: Resources) -> None:
    author, other, reader = await make_user("author"), await make_user("other"), await make_user("reader")
    followers = await add_followers(res, author.account_id, 20)
    await cache_timelines(res, [*followers, reader.account_id])
    await create_post(res, author.account_id, PostDraft(text="one"))
    doomed = await create_post(res, author.account_id, PostDraft(text="two"))
    await create_post(res, other.account_id, PostDraft(text="other's"))
    from domain.follows import follow
    from domain.posts import delete_post
    from domain.reposts import repost

    await follow(res, reader.account_id, author.account_id)
    await follow(res, reader.account_id, other.account_id)
    await repost(res, author.account_id, doomed)
    await delete_post(res, author.account_id, doomed)
    jobs = await timeline_jobs(res)
    assert {job.kind for job in jobs} == {"post.created", "post.deleted", "follow.created"}
    await timeline_worker.run_timeline_jobs(res, jobs)
    once = await dump(res, [*followers, reader.account_id])
    await timeline_worker.run_timeline_jobs(res, jobs)
    await timeline_worker.run_timeline_jobs(res, list(reversed(jobs)))
    assert await dump(res, [*followers, reader.account_id]) == once
    assert len(once[0]) == 1 + 2  # "one" (the deleted post and its repost went), plus the meta members
    assert len(once[-1]) == 2 + 2  # the reader: "one" by author and "other's", backfilled on follow


# SIGKILL in the middle of a batch ------------------------------------------------------------------

FOLLOWERS = 4_000
POSTS = 100


def spawn_worker(env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    log = log_path.open("ab")
    return subprocess.Popen(
        [sys.executable, "-m", "app.cli", "worker"],
        env={**os.environ, **env, "CHIRP_JOB_LEASE_SECONDS": "2", "CHIRP_NODE_ID": "77"},
        cwd=REPO_ROOT,
        stdout=log,
        stderr=log,
        start_new_session=True,
    )


async def delivered(res: Resources, sample: list[int]) -> int:
    """Entries delivered so far to a sample of timelines (meta members not counted)."""
    pipe = res.redis.pipeline(transaction=False)
    for account in sample:
        pipe.zcard(home_key(account))
    return sum(max(n - 2, 0) for n in await pipe.execute())


@pytest.mark.processes  # starts a worker process of its own
async def test_a_worker_killed_mid_batch_loses_and_duplicates_nothing(
    make_user: UserFactory, res: Resources, stack_env: dict[str, str], tmp_path: Path
) -> None:
    author = await make_user("author")
    followers = await add_followers(res, author.account_id, FOLLOWERS)
    await cache_timelines(res, followers)
    post_ids = [await create_post(res, author.account_id, PostDraft(text=f"post {i}")) for i in range(POSTS)]
    sample = followers[:: FOLLOWERS // 200]
    full = len(sample) * POSTS
    log_path = tmp_path / "worker.log"

    worker = spawn_worker(stack_env, log_path)
    try:
        deadline = time.monotonic() + 60
        progress = 0
        while time.monotonic() < deadline and not 0 < progress < full // 2:
            await asyncio.sleep(0.01)
            progress = await delivered(res, sample)
        assert 0 < progress < full, f"did not catch the fan-out in progress ({progress}/{full}): {log_path.read_text()}"
        os.kill(worker.pid, signal.SIGKILL)
        assert worker.wait(timeout=10) == -signal.SIGKILL
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    # The batch was cut short: its jobs are still there, leased, and the timelines are partly written.
    assert len(await timeline_jobs(res)) == POSTS
    partial = await delivered(res, sample)
    assert partial < full

    worker = spawn_worker(stack_env, log_path)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if not await timeline_jobs(res):
                break
            await asyncio.sleep(0.2)
        assert not await timeline_jobs(res), log_path.read_text()[-3000:]
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=30)
    assert await res.db.fetchval("SELECT count(*) FROM dead_jobs WHERE queue = $1", TIMELINE_QUEUE) == 0

    expected = {timeline_cache.Entry(p, author.account_id, None).member() for p in post_ids}
    members = await timeline_members(res, followers)
    meta = {timeline_cache.BUILT, timeline_cache.FOLLOWED_TAG}
    for account, got in zip(followers, members, strict=True):
        assert len(got) == POSTS + 2, f"timeline of {account} holds {len(got) - 2} entries"
        assert set(got) - meta == expected
