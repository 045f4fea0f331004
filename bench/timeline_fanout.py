"""Fan-out into home timelines: `python -m bench timeline_fanout` (or `python -m bench.timeline_fanout`).

The issue's target: 1,000 posts/s from authors with 100 followers each (100,000 timeline inserts/s),
sustained for 60 s, fan-out lag p99 < 1 s, everything on this machine.

- The graph: `--accounts` accounts, each followed by the next `--followers` (so every author has exactly
  that many followers), every account with a cached home timeline (all receive inserts), filled with
  `--fill` older entries (default 800, full: the steady state of an active user, where every insert
  also means trimming; 0 starts them empty).
- The load: a separate process writes posts at a constant rate through the real write path
  (`domain.posts.create_post`: the post, its counters and its `post.created` job in one transaction),
  random authors, and notes when each committed. Only the `timeline` queue is subscribed, so the jobs
  of other capabilities (search, notifications, streaming) are not part of this measurement.
- The worker: a separate process running the `timeline` queue's handler (workers/timeline.py) under the
  job runner, noting when each post's fan-out finished. Lag = finished - committed (`bench.fanout_probe`).
- The ceiling, measured in the same run: one process issuing pipelined ZADDs to as many keys with
  redis-py (the raw cost of the inserts, with nothing else; `bench.fanout_probe`).
- Bytes per cached timeline entry: MEMORY USAGE of the timelines after the run, and of a full one.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.fanout_probe import child_role, fanout_lag, finished_at, queue_depth
from bench.harness import REPO_ROOT, CpuSnapshot, Report, bench_stack, cpu_by_role, cpu_seconds, log

ACCOUNT_BATCH = 10_000


# the graph -------------------------------------------------------------------------------------------


async def seed_graph(env: dict[str, str], accounts: int, followers: int, fill: int) -> list[int]:
    """Accounts where account i is followed by accounts i+1 .. i+followers (mod n); all timelines cached,
    each holding `fill` entries older than any real post."""
    import asyncpg
    from redis.asyncio import Redis

    from core.ids import IdGenerator
    from storage import timeline_cache
    from storage.migrations import apply_migrations

    await apply_migrations(env["DATABASE_URL"])
    ids = IdGenerator(900)
    account_ids = [ids.next_id() for _ in range(accounts)]
    conn = await asyncpg.connect(env["DATABASE_URL"])
    try:
        await conn.execute("SET synchronous_commit = off")
        await conn.copy_records_to_table(
            "accounts",
            columns=("id", "username", "email", "password_hash", "followers_count", "following_count"),
            records=[(a, f"u{i}", f"u{i}@bench.invalid", "!", followers, followers) for i, a in enumerate(account_ids)],
        )
        for start in range(0, accounts, ACCOUNT_BATCH):
            records = [
                (ids.next_id(), account_ids[(i + k) % accounts], account_ids[i])
                for i in range(start, min(start + ACCOUNT_BATCH, accounts))
                for k in range(1, followers + 1)
            ]
            await conn.copy_records_to_table(
                "follows", columns=("id", "account_id", "target_account_id"), records=records
            )
        await conn.execute("ANALYZE")
    finally:
        await conn.close()
    redis = Redis.from_url(env["REDIS_URL"])
    try:
        for start in range(0, accounts, 1000):
            keys = [timeline_cache.home_key(a) for a in account_ids[start : start + 1000]]
            await timeline_cache.begin_builds(redis, keys)
            await timeline_cache.finish_builds(redis, [(k, []) for k in keys], cap=800, ttl=86_400)
            if fill:
                await redis.eval(_FILL, 0, ",".join(keys), fill)
    finally:
        await redis.aclose()
    return account_ids


# ARGV: comma-separated timeline keys, entries per timeline. Entries as the fan-out writes them (8-byte
# post id, 8-byte author id; score = post id), with ids far below any real post's.
_FILL = """
local n = tonumber(ARGV[2])
for key in string.gmatch(ARGV[1], '[^,]+') do
  local args = {}
  for i = 1, n do
    args[#args + 1] = i
    args[#args + 1] = struct.pack('>I4I4I4I4', 0, i, 0, 7)
  end
  redis.call('ZADD', key, unpack(args))
end
return 1
"""


# the load: posts at a constant rate ------------------------------------------------------------------


async def write_posts(env_spec: dict[str, Any]) -> dict[str, Any]:
    from config import Settings
    from domain import events
    from domain.event_kinds import EventKind
    from domain.posts import PostDraft, create_post
    from domain.subscriptions import TIMELINE_QUEUE
    from storage.resources import open_resources

    # Only the timeline queue receives the events: this bench measures fan-out alone.
    events.EVENT_QUEUES.clear()
    events.EVENT_QUEUES[EventKind.POST_CREATED] = (TIMELINE_QUEUE,)
    settings = Settings.from_env({**os.environ, "CHIRP_NODE_ID": "901", "CHIRP_DATABASE_POOL_SIZE": "40"})
    authors: list[int] = env_spec["authors"]
    rate: float = env_spec["rate"]
    total = int(env_spec.get("count") or rate * env_spec["duration"])
    committed: list[tuple[int, float, float]] = []  # (post id, scheduled, committed) in epoch seconds
    errors = 0
    in_flight = asyncio.Semaphore(env_spec.get("concurrency", 400))
    rng = random.Random(7)
    async with open_resources(settings) as res:

        async def one(scheduled: float, author: int, n: int) -> None:
            nonlocal errors
            async with in_flight:
                try:
                    post_id = await create_post(res, author, PostDraft(text=f"bench post {n}"))
                except Exception:
                    errors += 1
                    return
                committed.append((post_id, scheduled, time.time()))

        tasks = []
        start = time.time() + 0.2
        for n in range(total):
            scheduled = start + n / rate
            delay = scheduled - time.time()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(scheduled, rng.choice(authors), n)))
        await asyncio.gather(*tasks)
        finished = time.time()
    return {"committed": committed, "errors": errors, "start": start, "end": finished}


# measuring -------------------------------------------------------------------------------------------


async def valkey_cpu_seconds(redis_url: str) -> float:
    from redis.asyncio import Redis

    redis = Redis.from_url(redis_url)
    try:
        info = await redis.info("cpu")
    finally:
        await redis.aclose()
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def measure_drain(env: dict[str, str], tmp: Path, authors: list[int], backlog: int) -> dict[str, float]:
    """The worker's capacity alone: `backlog` posts written while no worker runs, then drained."""
    log(f"drain: writing a backlog of {backlog:,} posts, then one worker drains it")
    spec, load_out, worker_out = tmp / "backlog.json", tmp / "backlog-load.json", tmp / "drain-worker.json"
    spec.write_text(json.dumps({"authors": authors, "rate": 1e9, "count": backlog, "concurrency": 30}))
    _child(["--load", str(spec), str(load_out)], env).wait(timeout=600)
    valkey_before = asyncio.run(valkey_cpu_seconds(env["REDIS_URL"]))
    worker = _child(["--worker", str(worker_out), json.dumps({})], env)
    deadline = time.monotonic() + 600
    while asyncio.run(queue_depth(env["DATABASE_URL"])) and time.monotonic() < deadline:
        time.sleep(0.2)
    valkey_used = asyncio.run(valkey_cpu_seconds(env["REDIS_URL"])) - valkey_before
    worker.send_signal(signal.SIGTERM)
    worker.wait(timeout=60)
    stats = json.loads(worker_out.read_text())
    span = max(finished_at(stats).values()) - stats["first_start"]
    return {
        "posts": len(stats["done"]),
        "seconds": round(span, 2),
        "posts_per_s": round(len(stats["done"]) / span, 1),
        "inserts_per_s": round(stats["delivered"] / span, 1),
        "valkey_us_per_insert": round(valkey_used / max(stats["delivered"], 1) * 1e6, 2),
        "batches": stats["batches"],
    }


def _child(args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "bench.timeline_fanout", *args],
        env={**os.environ, **env},
        cwd=REPO_ROOT,
        start_new_session=True,
    )


async def timeline_memory(redis_url: str, account_ids: list[int], cap: int) -> dict[str, Any]:
    """Bytes per entry of the timelines after the run, and of a full timeline built by the real scripts."""
    from redis.asyncio import Redis

    from storage import timeline_cache
    from storage.timeline_cache import Entry

    redis = Redis.from_url(redis_url)
    try:
        sample = account_ids[:: max(1, len(account_ids) // 200)]
        used = entries = 0
        for account in sample:
            key = timeline_cache.home_key(account)
            used += await timeline_cache.memory_usage(redis, key)
            entries += max(int(await redis.zcard(key)) - 2, 0)
        base = 1 << 59
        full_key = "bench:full-timeline"
        await timeline_cache.begin_build(redis, full_key)
        posts = [Entry(base + 1000 * i, base + 7, None) for i in range(cap)]
        await timeline_cache.finish_build(redis, full_key, posts, [], cap=cap, ttl=600)
        full = await timeline_cache.memory_usage(redis, full_key)
        await redis.delete(full_key)
        empty_key = "bench:empty-timeline"
        await timeline_cache.begin_build(redis, empty_key)
        await timeline_cache.finish_build(redis, empty_key, [], [], cap=cap, ttl=600)
        empty = await timeline_cache.memory_usage(redis, empty_key)
        await redis.delete(empty_key)
        encoding = await redis.object("encoding", timeline_cache.home_key(sample[0]))
    finally:
        await redis.aclose()
    return {
        "after_run_bytes_per_entry": round(used / entries, 1) if entries else 0.0,
        "after_run_mean_entries": round(entries / len(sample), 1),
        "full_timeline_bytes": full,
        "full_timeline_bytes_per_entry": round((full - empty) / cap, 1),
        "encoding": encoding.decode() if isinstance(encoding, bytes) else str(encoding),
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench timeline_fanout")
    parser.add_argument("--tiny", action="store_true", help="a few seconds at a tiny size (proves it runs)")
    parser.add_argument("--rate", type=float, default=1000.0, help="posts per second")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of load")
    parser.add_argument("--followers", type=int, default=100, help="followers of every author")
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--backlog", type=int, default=20_000, help="posts queued before the drain phase")
    parser.add_argument("--batch-size", type=int, help="default: the timeline queue's own")
    parser.add_argument("--concurrency", type=int, help="default: the timeline queue's own")
    parser.add_argument("--linger", type=float, help="default: the timeline queue's own")
    parser.add_argument("--fill", type=int, default=800, help="entries in every timeline before the load")
    args = parser.parse_args(argv)
    if args.tiny:
        args.rate, args.duration, args.accounts, args.followers, args.fill = 50.0, 2.0, 300, 20, 50
    params = {k: v for k, v in vars(args).items() if k != "tiny"}
    report = Report("timeline_fanout", params=params)
    # Other work on the machine changes every figure here: recorded with the results.
    report.extra["load_average_before"] = os.getloadavg()
    with bench_stack(only=("postgres", "valkey")) as env, tempfile.TemporaryDirectory(prefix="chirp-fanout-") as tmp:
        log(f"seeding {args.accounts:,} accounts with {args.followers} followers each")
        account_ids = asyncio.run(seed_graph(env, args.accounts, args.followers, args.fill))

        log("ceiling: raw pipelined ZADDs from one process")
        ceiling_out = Path(tmp) / "ceiling.json"
        zadd = _child(["--zadd-ceiling", str(ceiling_out), str(args.accounts), "2" if args.tiny else "10"], env)
        zadd.wait()
        ceiling = json.loads(ceiling_out.read_text())
        ceiling_rate = ceiling["inserts"] / ceiling["seconds"]

        worker_out, load_out, spec = Path(tmp) / "worker.json", Path(tmp) / "load.json", Path(tmp) / "spec.json"
        spec.write_text(json.dumps({"authors": account_ids, "rate": args.rate, "duration": args.duration}))
        overrides = {"batch_size": args.batch_size, "concurrency": args.concurrency, "linger": args.linger}
        worker = _child(["--worker", str(worker_out), json.dumps(overrides)], env)
        time.sleep(2.0)  # let the worker start listening before the load begins
        log(f"load: {args.rate:g} posts/s for {args.duration:g} s")
        cpu_before = {"worker": cpu_seconds(worker.pid)}
        machine_before = CpuSnapshot.now()
        loader = _child(["--load", str(spec), str(load_out)], env)
        # The writer's CPU is read until it exits (an exited process is gone from /proc).
        machine_after = machine_before
        while loader.poll() is None and time.time() - machine_before.at < args.duration + 300:
            machine_after = CpuSnapshot.now()
            time.sleep(0.5)
        loader.wait(timeout=60)
        roles = {worker.pid: "fan-out worker", loader.pid: "post writer"}
        by_role = cpu_by_role(machine_before, machine_after, roles)
        load_seconds = max(machine_after.at - machine_before.at, 1e-9)
        drain_deadline = time.monotonic() + 120
        while asyncio.run(queue_depth(env["DATABASE_URL"])) and time.monotonic() < drain_deadline:
            time.sleep(0.2)
        left = asyncio.run(queue_depth(env["DATABASE_URL"]))
        worker_cpu = cpu_seconds(worker.pid) - cpu_before["worker"]
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=60)
        memory = asyncio.run(timeline_memory(env["REDIS_URL"], account_ids, 800))
        load = json.loads(load_out.read_text())
        worker_stats = json.loads(worker_out.read_text())
        drain = measure_drain(env, Path(tmp), account_ids, 1000 if args.tiny else args.backlog)

    done = finished_at(worker_stats)
    committed = load["committed"]
    span = load["end"] - load["start"]
    lag = fanout_lag(committed, done, start=load["start"], end=load["end"], errors=load["errors"], rate=args.rate)
    lag_ms = lag.latencies_ms
    report.add_load("fan-out lag", lag)
    posts_per_s = len(committed) / span
    report.figure("posts written", posts_per_s, "posts/s", goal=f"{args.rate:g} posts/s sustained {args.duration:g} s")
    report.figure(
        "timeline inserts",
        worker_stats["delivered"] / span,
        "inserts/s",
        ceiling=round(ceiling_rate, 1),
        ceiling_name="raw pipelined ZADDs, one redis-py process",
        goal="100,000 inserts/s",
    )
    report.figure("fan-out lag p50", lag_ms["p50"], "ms")
    report.figure("fan-out lag p99", lag_ms["p99"], "ms", goal="< 1000 ms")
    report.figure("fan-out lag max", lag_ms["max"], "ms")
    report.figure(
        "fan-out capacity, draining a backlog (no writer running)",
        drain["posts_per_s"],
        "posts/s",
        goal="1,000 posts/s",
    )
    report.figure(
        "timeline inserts while draining",
        drain["inserts_per_s"],
        "inserts/s",
        ceiling=round(ceiling_rate, 1),
        ceiling_name="raw pipelined ZADDs, one redis-py process",
    )
    report.figure("Valkey CPU per timeline insert while draining", drain["valkey_us_per_insert"], "us")
    report.figure("bytes per cached timeline entry", memory["full_timeline_bytes_per_entry"], "bytes")
    report.figure("fan-out worker CPU", worker_cpu / span * 100, "% of one core")
    # Where the machine's cores went while posts were written: the goal puts writer and fan-out on it at once.
    report.figure(
        "machine CPU busy during the load",
        (machine_after.machine - machine_before.machine) / load_seconds * 100,
        "% of one core",
        ceiling=(os.cpu_count() or 1) * 100,
        ceiling_name="all cores",
    )
    for role, seconds in sorted(by_role.items(), key=lambda item: -item[1]):
        if seconds / load_seconds >= 0.01:
            report.figure(f"CPU during the load: {role}", seconds / load_seconds * 100, "% of one core")
    report.extra.update(
        memory=memory,
        posts_committed=len(committed),
        posts_fanned_out=sum(1 for p, _, _ in committed if p in done),
        write_errors=load["errors"],
        jobs_left=left,
        worker_batches=worker_stats["batches"],
        drain=drain,
    )
    report.plot_latency_over_time("lag", {"fan-out lag": report.loads["fan-out lag"]})
    report.extra["load_average_after"] = os.getloadavg()
    log(f"machine load average before/after: {report.extra['load_average_before']} / {os.getloadavg()}")
    report.write()
    fanned_all = left == 0 and len(lag.samples) == len(committed) and load["errors"] == 0
    return 0 if fanned_all else 1


def _entry(argv: list[str]) -> int:
    """Child-process roles first (`--load`; `--worker`, `--zadd-ceiling` from bench.fanout_probe), else the
    scenario itself."""
    import uvloop

    if argv and argv[0] == "--load":
        spec = json.loads(Path(argv[1]).read_text())
        Path(argv[2]).write_text(json.dumps(uvloop.run(write_posts(spec))))
        return 0
    if argv and argv[0] in ("--worker", "--zadd-ceiling"):
        return child_role(argv)
    return main(argv)


if __name__ == "__main__":
    sys.exit(_entry(sys.argv[1:]))
