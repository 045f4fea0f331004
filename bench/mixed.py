"""The mixed workload: `python -m bench mixed` (or `python -m bench.mixed`).

Issue #8: 3,000 home-timeline reads/s and 1,000 posts/s by authors with ~100 followers each, at the same
time (the notes' whole global rate: 300M reads and 100M writes a day) on this one machine, with read
p99 < 50 ms and fan-out lag p99 < 1 s. How close it gets, and what limits it.

- Data: `bench.seed` (power-law follower graph, posts, likes) with a token for every account. Posters:
  the `--posters` accounts whose follower count is nearest `--followers`; every follower of a poster has
  a cached home timeline (built by the real rebuild, as an active user's is), so each post reaches them
  all. Readers: `--readers` accounts at random, each home timeline read twice before the load.
- The system: `--api-processes` API processes on one port (SO_REUSEPORT) and one worker process running
  every queue `chirp worker` runs (`--worker-queues timeline`: the fan-out alone), its timeline handler
  noting when each post's fan-out finished (`bench.fanout_probe`).
- The load: two load processes (`bench.load`), open loop, started at the same instant: GET
  /api/v1/timelines/home?limit=20 round-robin over the readers at `--read-rate`, and POST
  /api/v1/statuses (JSON, bearer token, unique text) round-robin over the posters at `--post-rate`.
  Latency counts from each request's scheduled start. Fan-out lag = fan-out finished - post answered.
- A sweep: both rates at each `--steps` fraction for `--step-duration`, then the full rates for
  `--duration`; the worker drains its queues between runs, so each starts level.
- Ceilings, same run: a bare aiohttp process answering a home page of the same size (closed loop with
  wrk for throughput; open loop at the read rate with the same load generator for latency), and raw
  pipelined ZADDs from one redis-py process for timeline inserts.
- What limits it: CPU of every process (API, worker, PostgreSQL, Valkey, Meilisearch, load generators)
  and of the whole machine (other work on it included) during each run; with `--profile`, py-spy
  profiles of the API processes and the worker during the full-rate run (bench/results/mixed-profile-*).

Settings of the API and worker processes come from the environment as usual (e.g.
CHIRP_DATABASE_POOL_SIZE=20 python -m bench mixed).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from bench import profiling
from bench.fanout_probe import (
    fanout_lag,
    finish_probe_worker,
    finished_at,
    measure_zadd_ceiling,
    reached,
    spawn_probe_worker,
    wait_for_queues,
)
from bench.harness import (
    ALL_SERVERS,
    RESULTS_DIR,
    ChirpProcess,
    CpuSnapshot,
    LoadRequest,
    LoadResult,
    Report,
    bench_stack,
    cpu_by_role,
    free_port,
    log,
    run_load,
    spawn_api,
    spawn_ceiling,
    start_load,
)

# `{run}` is the run's start time and `{n}` (filled in by the load generator) the request's number: no two
# posts alike, across runs too.
POST_TEXT = "Mixed post {run}-{n}: coffee first, then the release notes, then the bug that only shows on Fridays."


# the data --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cast:
    """Who posts and who reads."""

    posters: list[tuple[int, str, int]]  # (account id, token, followers)
    readers: list[tuple[int, str]]  # (account id, token)


async def seed_data(env: dict[str, str], args: argparse.Namespace, tokens_file: Path) -> dict[int, int]:
    """Seed; returns every account's follower count."""
    import asyncpg

    from bench.seed import seed
    from storage.migrations import apply_migrations

    await apply_migrations(env["DATABASE_URL"])
    summary = await seed(
        env["DATABASE_URL"],
        users=args.users,
        posts=args.posts,
        mean_followers=args.mean_followers,
        tokens=args.users,
        tokens_file=tokens_file,
    )
    log(f"seeded {summary.users:,} users, {summary.follows:,} follows, {summary.posts:,} posts in {summary.seconds} s")
    conn = await asyncpg.connect(env["DATABASE_URL"])
    try:
        return {r["id"]: r["followers_count"] for r in await conn.fetch("SELECT id, followers_count FROM accounts")}
    finally:
        await conn.close()


def cast_of(followers: dict[int, int], tokens_file: Path, args: argparse.Namespace) -> Cast:
    tokens = {int(t["account_id"]): t["token"] for t in json.loads(tokens_file.read_text())}
    nearest = sorted(followers, key=lambda a: (abs(followers[a] - args.followers), a))[: args.posters]
    readers = random.Random(2).sample(sorted(tokens.items()), min(args.readers, len(tokens)))
    return Cast([(a, tokens[a], followers[a]) for a in nearest], readers)


async def build_follower_timelines(env: dict[str, str], posters: list[int], concurrency: int = 8) -> int:
    """Every follower of a poster gets a cached home timeline, built as a read would (the real rebuild)."""
    from config import Settings
    from domain.timelines import rebuild_home
    from storage.resources import open_resources
    from storage.timelines import follower_lists

    settings = Settings.from_env({**os.environ, **env, "CHIRP_NODE_ID": "903"})
    async with open_resources(settings, db_pool_size=concurrency) as res:
        lists = await follower_lists(res.db, posters)
        followers = sorted({int(a) for fl in lists.values() for a in fl.everyone.split(",") if a} | set(posters))
        gate = asyncio.Semaphore(concurrency)

        async def build(account_id: int) -> None:
            async with gate:
                await rebuild_home(res, account_id)

        await asyncio.gather(*(build(a) for a in followers))
    return len(followers)


async def read_all(requests: list[LoadRequest], concurrency: int = 16) -> list[tuple[int, bytes]]:
    """Each request once (the warm-up, not measured)."""
    import aiohttp

    gate = asyncio.Semaphore(concurrency)
    async with aiohttp.ClientSession() as session:

        async def one(request: LoadRequest) -> tuple[int, bytes]:
            async with gate, session.get(request.url, headers=request.headers) as response:
                return response.status, await response.read()

        return list(await asyncio.gather(*(one(r) for r in requests)))


def page_body(answers: list[tuple[int, bytes]], limit: int) -> bytes:
    """The largest full page among the answers: the ceiling serves a body of this size."""
    for status, body in answers:
        if status != 200:
            raise RuntimeError(f"warm-up read answered {status}: {body[:200]!r}")
    full = [body for _, body in answers if len(json.loads(body)) == limit]
    return max(full or [body for _, body in answers], key=len)


# CPU -------------------------------------------------------------------------------------------------


def cpu_shares(before: CpuSnapshot, after: CpuSnapshot, roles: dict[int, str], generators: float) -> dict[str, float]:
    """% of one core used by each kind of process between the snapshots (processes named by `roles` or by
    their command), the load generators, everything else on the machine, and the machine in all."""
    used = cpu_by_role(before, after, roles)
    used["load generators"] = generators
    machine = after.machine - before.machine
    used["rest of the machine (other processes, the kernel)"] = max(machine - sum(used.values()), 0.0)
    window = max(after.at - before.at, 1e-6)
    shares = {name: round(seconds / window * 100, 1) for name, seconds in used.items()}
    return {"machine, all cores": round(machine / window * 100, 1)} | dict(
        sorted(shares.items(), key=lambda item: -item[1])
    )


@dataclass(frozen=True)
class Ceilings:
    page_bytes: int
    bare: LoadResult  # a bare aiohttp process serving a page of that size, closed loop
    bare_open: LoadResult  # the same, open loop at the read rate with the reads' load generator
    zadd_rate: float  # raw pipelined ZADDs per second, one redis-py process


# one run at a fraction of the target ------------------------------------------------------------------


@dataclass
class Run:
    fraction: float
    read_rate: float
    post_rate: float
    start: float
    end: float
    reads: LoadResult
    posts: LoadResult
    cpu: dict[str, float]
    drain_seconds: float
    jobs_left: dict[str, int]
    lag: LoadResult | None = None
    inserts_per_s: float = 0.0
    profiles: list[tuple[profiling.Profile, str | None]] = field(default_factory=list)


@dataclass
class System:
    env: dict[str, str]
    apis: list[ChirpProcess]
    worker: ChirpProcess
    reads: list[LoadRequest]
    posts: list[LoadRequest]
    served_queues: list[str] | None  # None: every queue


def run_at(system: System, args: argparse.Namespace, fraction: float, duration: float, profile: bool) -> Run:
    read_rate, post_rate = args.read_rate * fraction, args.post_rate * fraction
    log(f"{fraction:.0%} of the target: {read_rate:g} reads/s and {post_rate:g} posts/s for {duration:g} s")
    start = time.time() + 2.0  # the load processes' start-up stays out of the run
    loads = [
        start_load(
            duration=duration,
            rate=read_rate,
            connections=args.connections,
            requests=system.reads,
            start_at=start,
        ),
        start_load(
            duration=duration,
            rate=post_rate,
            connections=args.connections,
            requests=[replace(r, body=(r.body or "").replace("{run}", str(int(start)))) for r in system.posts],
            record_ids=True,
            start_at=start,
        ),
    ]
    time.sleep(max(start - time.time(), 0.0))
    profiles: list[profiling.Profile] = []
    if profile:
        targets = [(f"api{i}" if len(system.apis) > 1 else "api", p.pid) for i, p in enumerate(system.apis)]
        for name, pid in [*targets, ("worker", system.worker.pid)]:
            path = RESULTS_DIR / f"mixed-profile-{name}.txt"
            profiles.append(profiling.start_profile(name, pid, duration, path))
    before = CpuSnapshot.now()
    try:
        reads = loads[0].wait()
    finally:  # never leave the other load process behind
        posts = loads[1].wait()
    after = CpuSnapshot.now()
    roles = {p.pid: "API" for p in system.apis} | {system.worker.pid: "worker"}
    generators = sum(float(r.generator.get("cpu_seconds", 0.0)) for r in (reads, posts))
    cpu = cpu_shares(before, after, roles, generators)
    profiled = [(p, p.wait()) for p in profiles]
    drained = time.monotonic()
    jobs_left = wait_for_queues(system.env["DATABASE_URL"], system.served_queues, args.drain_timeout)
    drain_seconds = time.monotonic() - drained
    log(
        f"  reads {reads.throughput:g}/s p99 {reads.latencies_ms['p99']:g} ms, posts {posts.throughput:g}/s "
        f"p99 {posts.latencies_ms['p99']:g} ms, errors {reads.errors}/{posts.errors}; machine "
        f"{cpu['machine, all cores']:g}% of a core; queues drained in {drain_seconds:.1f} s"
    )
    return Run(
        fraction, read_rate, post_rate, start, after.at, reads, posts, cpu, drain_seconds, jobs_left, profiles=profiled
    )


# the scenario ----------------------------------------------------------------------------------------


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench mixed")
    parser.add_argument("--tiny", action="store_true", help="seconds at a tiny size (proves it runs)")
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--posts", type=int, default=200_000, help="posts seeded before the run")
    parser.add_argument("--mean-followers", type=float, default=100.0, help="of the seeded graph")
    parser.add_argument("--followers", type=int, default=100, help="posters: the accounts nearest this many")
    parser.add_argument("--posters", type=int, default=500)
    parser.add_argument("--readers", type=int, default=1000)
    parser.add_argument("--read-rate", type=float, default=3000.0, help="home timeline reads per second")
    parser.add_argument("--post-rate", type=float, default=1000.0, help="posts per second")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of the full-rate run")
    parser.add_argument("--steps", default="0.1,0.25,0.5", help="fractions of the rates run first ('' for none)")
    parser.add_argument("--step-duration", type=float, default=10.0)
    parser.add_argument("--ceiling-duration", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=64, help="per load process")
    parser.add_argument("--limit", type=int, default=20, help="posts per home page")
    parser.add_argument("--api-processes", type=int, default=1)
    parser.add_argument("--worker-queues", choices=("all", "timeline"), default="all")
    parser.add_argument("--drain-timeout", type=float, default=120.0, help="seconds to wait for the queues")
    parser.add_argument("--profile", action="store_true", help="py-spy the API and worker at the full rate")
    args = parser.parse_args(argv)
    if args.tiny:
        args.users, args.posts, args.mean_followers, args.followers = 200, 2000, 20.0, 20
        args.posters, args.readers, args.read_rate, args.post_rate = 10, 20, 20.0, 10.0
        args.duration, args.steps, args.step_duration, args.ceiling_duration = 2.0, "0.5", 1.0, 1.0
        args.connections, args.drain_timeout = 8, 30.0
    args.fractions = [float(f) for f in args.steps.split(",") if f.strip()]
    return args


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    args.profile = profiling.usable(args.profile)
    report = Report("mixed", params={k: v for k, v in vars(args).items() if k not in ("tiny", "fractions")})
    # Other work on the machine changes every figure here: recorded with the results (and in the CPU table).
    report.extra["load_average_before"] = os.getloadavg()
    servers = ALL_SERVERS if args.worker_queues == "all" else ("postgres", "valkey")
    with bench_stack(only=servers) as env, tempfile.TemporaryDirectory(prefix="chirp-mixed-") as tmp_name:
        tmp = Path(tmp_name)
        cast = cast_of(asyncio.run(seed_data(env, args, tmp / "tokens.json")), tmp / "tokens.json", args)
        followers = [f for _, _, f in cast.posters]
        log(f"{len(cast.posters)} posters ({min(followers)}-{max(followers)} followers), {len(cast.readers)} readers")
        started = time.monotonic()
        built = asyncio.run(build_follower_timelines(env, [a for a, _, _ in cast.posters]))
        log(f"built {built:,} home timelines (the posters' followers) in {time.monotonic() - started:.1f} s")

        log("ceiling: raw pipelined ZADDs from one process")
        zadd_rate = measure_zadd_ceiling(env, tmp, args.users, args.ceiling_duration)

        port = free_port()
        apis: list[ChirpProcess] = []
        worker: ChirpProcess | None = None
        worker_out = tmp / "worker.json"
        try:
            for _ in range(args.api_processes):
                apis.append(spawn_api(env, port=port, reuse_port=args.api_processes > 1))
            worker = spawn_probe_worker(env, worker_out, {"all_queues": args.worker_queues == "all"})
            base = f"http://127.0.0.1:{port}"
            system = System(
                env=env,
                apis=apis,
                worker=worker,
                reads=[
                    LoadRequest(
                        f"{base}/api/v1/timelines/home?limit={args.limit}",
                        headers={"Authorization": f"Bearer {token}"},
                    )
                    for _, token in cast.readers
                ],
                posts=[
                    LoadRequest(
                        f"{base}/api/v1/statuses",
                        method="POST",
                        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
                        body=json.dumps({"status": POST_TEXT, "visibility": "public"}),
                    )
                    for _, token, _ in cast.posters
                ],
                served_queues=None if args.worker_queues == "all" else ["timeline"],
            )
            log(f"warm-up: {len(system.reads)} home timelines read twice")
            asyncio.run(read_all(system.reads))
            body = page_body(asyncio.run(read_all(system.reads)), args.limit)
            bare, bare_open = measure_read_ceiling(body, args)
            ceilings = Ceilings(len(body), bare, bare_open, zadd_rate)
            runs = [run_at(system, args, f, args.step_duration, profile=False) for f in args.fractions]
            runs.append(run_at(system, args, 1.0, args.duration, profile=args.profile))
            stats = finish_probe_worker(worker, worker_out)
        finally:
            if worker is not None:
                worker.stop()  # when something failed before it was finished
            for api in apis:
                api.stop()
    return write_report(report, args, cast, runs, stats, ceilings)


def measure_read_ceiling(body: bytes, args: argparse.Namespace) -> tuple[LoadResult, LoadResult]:
    """A bare aiohttp process serving `body`: closed loop (the most it does), then open loop at the read rate
    with the same load generator as the reads (the latency floor at that rate on this machine)."""
    ceiling = spawn_ceiling(body)
    try:
        url = f"http://127.0.0.1:{ceiling.port}/api/v1/timelines/home"
        log(f"ceiling: bare aiohttp, {len(body):,}-byte page, closed loop then {args.read_rate:g} req/s")
        bare = run_load([url], duration=args.ceiling_duration, connections=args.connections)
        bare_open = run_load(
            [url], duration=args.ceiling_duration, rate=args.read_rate, connections=args.connections, prefer_wrk=False
        )
    finally:
        ceiling.stop()
    return bare, bare_open


def add_lags(runs: list[Run], stats: dict[str, Any]) -> None:
    done, counts = finished_at(stats), reached(stats)
    for run in runs:
        run.lag = fanout_lag(
            run.posts.records, done, start=run.start, end=run.end, errors=run.posts.errors, rate=run.post_rate
        )
        run.inserts_per_s = sum(counts.get(p, 0) for p, _, _ in run.posts.records) / max(run.end - run.start, 1e-6)


def write_report(
    report: Report,
    args: argparse.Namespace,
    cast: Cast,
    runs: list[Run],
    stats: dict[str, Any],
    ceilings: Ceilings,
) -> int:
    add_lags(runs, stats)
    full = runs[-1]
    assert full.lag is not None
    followers = [f for _, _, f in cast.posters]
    mean_followers = sum(followers) / len(followers)
    reads, posts, lag = full.reads, full.posts, full.lag
    bare, bare_open = ceilings.bare, ceilings.bare_open
    report.add_load("reads (full rate)", reads)
    report.add_load("posts (full rate)", posts)
    report.add_load("fan-out lag (full rate)", lag)
    report.add_load("ceiling: bare aiohttp, closed loop", bare)
    report.add_load("ceiling: bare aiohttp, open loop at the read rate", bare_open)
    same_rate = "bare aiohttp, same page size, open loop at the read rate"
    report.figure(
        "home timeline reads achieved",
        reads.throughput,
        "req/s",
        ceiling=bare.throughput,
        ceiling_name="bare aiohttp, same page size, one process, closed loop",
        goal=f"{args.read_rate:g} req/s offered",
    )
    p50 = reads.latencies_ms["p50"]
    report.figure("read p50", p50, "ms", ceiling=bare_open.latencies_ms["p50"], ceiling_name=same_rate)
    report.figure(
        "read p99",
        reads.latencies_ms["p99"],
        "ms",
        ceiling=bare_open.latencies_ms["p99"],
        ceiling_name=same_rate,
        goal="< 50 ms",
    )
    report.figure("posts achieved", posts.throughput, "posts/s", goal=f"{args.post_rate:g} posts/s offered")
    report.figure("post p50", posts.latencies_ms["p50"], "ms")
    report.figure("post p99", posts.latencies_ms["p99"], "ms")
    report.figure(
        "timeline inserts",
        full.inserts_per_s,
        "inserts/s",
        ceiling=round(ceilings.zadd_rate, 1),
        ceiling_name="raw pipelined ZADDs, one redis-py process",
        goal=f"{args.post_rate * mean_followers:,.0f} inserts/s (posters' mean {mean_followers:.0f} followers)",
    )
    report.figure("fan-out lag p50", lag.latencies_ms["p50"], "ms")
    report.figure("fan-out lag p99", lag.latencies_ms["p99"], "ms", goal="< 1000 ms")
    report.figure("fan-out lag max", lag.latencies_ms["max"], "ms")
    report.figure("posts not fanned out", lag.requests - len(lag.samples), "posts", goal="0")
    report.figure("read errors", reads.errors, "requests", goal="0")
    report.figure("post errors", posts.errors, "requests", goal="0")
    report.figure("queues drained after the full-rate run", full.drain_seconds, "s")
    for name, share in full.cpu.items():
        cores = os.cpu_count() or 1
        ceiling = 100.0 * cores if name == "machine, all cores" else None
        report.figure(f"CPU: {name}", share, "% of one core", ceiling=ceiling, ceiling_name=f"{cores} cores")
    for label, load in (("reads", reads), ("posts", posts)):
        late = load.generator.get("dispatch_late_ms", {})
        report.figure(
            f"load generator ({label}) dispatch lateness p99", late.get("p99", 0.0), "ms", goal="~0: it keeps up"
        )
    report.add_section("The sweep: every run at its fraction of the target", sweep_table(runs))
    add_profiles(report, full)
    report.extra.update(
        posters=len(cast.posters),
        posters_followers={"mean": round(mean_followers, 1), "min": min(followers), "max": max(followers)},
        readers=len(cast.readers),
        runs=[run_summary(run) for run in runs],
        worker_batches=stats["batches"],
        page_bytes=ceilings.page_bytes,
    )
    report.plot_throughput_vs_offered(
        "reads", [(r.read_rate, r.reads.throughput, r.reads.latencies_ms["p99"]) for r in runs], label="reads"
    )
    report.plot_throughput_vs_offered(
        "posts", [(r.post_rate, r.posts.throughput, r.posts.latencies_ms["p99"]) for r in runs], label="posts"
    )
    report.plot_latency_over_time("latency", {"reads": reads, "posts": posts, "fan-out lag": lag})
    report.extra["load_average_after"] = os.getloadavg()
    log(f"machine load average before/after: {report.extra['load_average_before']} / {os.getloadavg()}")
    report.write()
    clean = all(
        r.reads.errors == 0 and r.posts.errors == 0 and r.lag is not None and len(r.lag.samples) == r.lag.requests
        for r in runs
    )
    return 0 if clean else 1


def run_summary(run: Run) -> dict[str, Any]:
    return {
        "fraction": run.fraction,
        "reads": run.reads.as_dict(),
        "posts": run.posts.as_dict(),
        "fan_out_lag": run.lag.as_dict() if run.lag else None,
        "inserts_per_s": round(run.inserts_per_s, 1),
        "cpu_percent_of_one_core": run.cpu,
        "drain_seconds": round(run.drain_seconds, 2),
        "jobs_left": run.jobs_left,
    }


def sweep_table(runs: list[Run]) -> str:
    lines = [
        "| target | reads/s offered | achieved | read p50 | read p99 | posts/s offered | achieved | post p99 "
        "| fan-out lag p50 | lag p99 | inserts/s | errors (reads/posts) | CPU: API | worker | machine |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in runs:
        lag = r.lag.latencies_ms if r.lag else {"p50": 0.0, "p99": 0.0}
        lines.append(
            f"| {r.fraction:.0%} | {r.read_rate:g} | {r.reads.throughput:g} | {r.reads.latencies_ms['p50']:g} ms "
            f"| {r.reads.latencies_ms['p99']:g} ms | {r.post_rate:g} | {r.posts.throughput:g} "
            f"| {r.posts.latencies_ms['p99']:g} ms | {lag['p50']:g} ms | {lag['p99']:g} ms | {r.inserts_per_s:,.0f} "
            f"| {r.reads.errors}/{r.posts.errors} | {r.cpu.get('API', 0.0):g}% | {r.cpu.get('worker', 0.0):g}% "
            f"| {r.cpu['machine, all cores']:g}% |"
        )
    lines += ["", "CPU in % of one core during each run; the full table is in mixed.json (`runs`)."]
    return "\n".join(lines)


def add_profiles(report: Report, run: Run) -> None:
    for profile, failure in run.profiles:
        title = f"Profile of the {profile.name} process at the full rate (py-spy)"
        profiling.add_to_report(report, profile, failure, title)


if __name__ == "__main__":
    import sys

    sys.exit(main(sys.argv[1:]))
