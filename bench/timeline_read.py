"""Reading the home timeline: `python -m bench timeline_read` (or `python -m bench.timeline_read`).

The issue's target: `GET /api/v1/timelines/home?limit=20` with a warm cache reaches at least 50% of the
throughput of a bare aiohttp handler returning a static JSON body of the same size, measured in the same
run, with p99 < 50 ms.

- Data: `bench.seed` (power-law follower counts, replies, reposts, quotes, likes; tokens for the first
  `--readers` accounts).
- Warm-up: every reader reads its home timeline once (the timeline is rebuilt from PostgreSQL, the post
  cache filled), then the load reads them round-robin, each request as a different reader.
- Throughput: closed loop, `--connections` at once, against one API process and against the ceiling (a
  bare aiohttp process answering a real response body of the same size), with the same load generator.
- Latency: open loop at the goal rate (half the ceiling's throughput), so queueing shows in p99.
- Also: the throughput of `--api-processes` (default 2, one per core) API processes sharing the port, still
  against the one-process ceiling.
- Also: the cold read (timeline missing, rebuilt during the request) and bytes per cached entry.
- Floors, same run and load generator: the bare handler reading the same body from Valkey with redis-py,
  then also running one asyncpg query (`bench/ceiling.py`). Chirp's read has that shape (one Valkey script,
  one PostgreSQL query), so no change inside Chirp gets above them.
- `--profile`: py-spy samples the API process during the closed-loop run; its top functions go into the
  report (collapsed stacks in bench/results/timeline_read-profile-api.txt).
- `--baseline DIR` (a checkout of the previous code, e.g. `git archive HEAD | tar -x -C DIR`): instead of
  the runs above, alternating closed-loop runs on the same data, old code and this tree's (each first in
  every other pair), `--pairs` times, each pair beside a one-GET floor measured just before it; throughput
  and CPU per request of each run (API, PostgreSQL, Valkey) are appended to
  bench/results/timeline_read-pairs.md under `--label`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import profiling
from bench.harness import (
    RESULTS_DIR,
    ChirpProcess,
    LoadResult,
    Report,
    bench_stack,
    cpu_seconds,
    log,
    process_tree_cpu,
    run_load,
    spawn_api,
    spawn_ceiling,
)


def _get(url: str) -> tuple[int, bytes]:
    with urllib.request.urlopen(url, timeout=30) as response:
        return int(response.status), bytes(response.read())


async def _prepare(env: dict[str, str], users: int, posts: int, readers: int, tokens_file: Path) -> None:
    from bench.seed import seed
    from storage.migrations import apply_migrations

    await apply_migrations(env["DATABASE_URL"])
    summary = await seed(
        env["DATABASE_URL"], users=users, posts=posts, tokens=readers, tokens_file=tokens_file, likes_per_post=2.0
    )
    log(f"seeded {summary.users:,} users, {summary.follows:,} follows, {summary.posts:,} posts in {summary.seconds} s")


async def _cache_figures(redis_url: str) -> dict[str, Any]:
    from redis.asyncio import Redis

    from storage import timeline_cache

    redis = Redis.from_url(redis_url)
    try:
        keys = [key async for key in redis.scan_iter(match=f"{timeline_cache.HOME_PREFIX}*", count=1000)]
        used = entries = 0
        for key in keys[:200]:
            used += await timeline_cache.memory_usage(redis, key)
            entries += max(int(await redis.zcard(key)) - 2, 0)
        pieces = [key async for key in redis.scan_iter(match="pc:*", count=1000)]
        piece_bytes = [await redis.memory_usage(key, samples=0) or 0 for key in pieces[:500]]
    finally:
        await redis.aclose()
    return {
        "timelines": len(keys),
        "bytes_per_entry": round(used / entries, 1) if entries else 0.0,
        "mean_entries": round(entries / max(len(keys[:200]), 1), 1),
        "cached_posts": len(pieces),
        "bytes_per_cached_post": round(statistics.fmean(piece_bytes), 1) if piece_bytes else 0.0,
    }


def _floors(env: dict[str, str], body: bytes, args: argparse.Namespace) -> dict[str, LoadResult]:
    """The bare handler again, reading the same body from Valkey, then also running one SQL query."""
    floors: dict[str, LoadResult] = {}
    variants = {
        "bare aiohttp + one Valkey GET": {"valkey_url": env["REDIS_URL"]},
        "bare aiohttp + one Valkey GET + one PostgreSQL query": {
            "valkey_url": env["REDIS_URL"],
            "database_url": env["DATABASE_URL"],
        },
    }
    for name, stores in variants.items():
        floor = spawn_ceiling(body, **stores)
        try:
            floors[name] = run_load(
                [f"http://127.0.0.1:{floor.port}/api/v1/timelines/home"],
                duration=args.duration,
                connections=args.connections,
            )
        finally:
            floor.stop()
    return floors


@dataclass(frozen=True)
class Closed:
    """One closed-loop run of an API process: what it reached and what it cost."""

    throughput: float
    cpu_us: float
    system_us: float  # of cpu_us, in the kernel (socket reads and writes, mostly)
    stores_us: dict[str, float]  # the servers' CPU per request (postgres, valkey), every process of each
    p99_ms: float
    errors: int


def _system_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        return int(stat.read().rsplit(")", 1)[1].split()[12]) / os.sysconf("SC_CLK_TCK")


def _stores_cpu() -> dict[str, float]:
    """CPU seconds so far of the servers bench_stack started, summed by server (postgres has many)."""
    totals = {"postgres": 0.0, "valkey": 0.0}
    for name, seconds in process_tree_cpu().values():
        for server in totals:
            if name.startswith(server) or (server == "valkey" and name.startswith("redis")):
                totals[server] += seconds
    return totals


def _closed_run(process: ChirpProcess, urls: list[str], args: argparse.Namespace) -> Closed:
    before, system_before, stores_before = cpu_seconds(process.pid), _system_seconds(process.pid), _stores_cpu()
    result = run_load(urls, duration=args.duration, connections=args.connections)
    per_request = 1e6 / max(result.requests, 1)
    cpu_us = (cpu_seconds(process.pid) - before) * per_request
    system_us = (_system_seconds(process.pid) - system_before) * per_request
    stores = {name: (seconds - stores_before[name]) * per_request for name, seconds in _stores_cpu().items()}
    return Closed(result.throughput, cpu_us, system_us, stores, result.latencies_ms["p99"], result.errors)


def _fresh_api(env: dict[str, str], urls: list[str], cwd: Path | None) -> ChirpProcess:
    """An API process (of the code in `cwd`, else this tree) that has read every page once: its in-process
    caches (tokens, decoded posts) are as warm as a long-running process's."""
    api = spawn_api(env, cwd=cwd)
    for url in urls:
        _get(url.replace("PORT", str(api.port)))
    return api


def _pairs(env: dict[str, str], urls: list[str], body: bytes, args: argparse.Namespace) -> list[dict[str, Any]]:
    """Old code and new, `args.pairs` times on the same data, in turn first; a one-GET floor before each pair."""
    rows: list[dict[str, Any]] = []
    for pair in range(1, args.pairs + 1):
        floor_process = spawn_ceiling(body, valkey_url=env["REDIS_URL"])
        try:
            floor = _closed_run(floor_process, [f"http://127.0.0.1:{floor_process.port}/"], args)
        finally:
            floor_process.stop()
        # Old then new, then new then old (ABBA): neither code always runs first after the floor.
        order: list[tuple[str, Path | None]] = [("old", Path(args.baseline)), ("new", None)]
        for code, cwd in order if pair % 2 else order[::-1]:
            api = _fresh_api(env, urls, cwd)
            try:
                run = _closed_run(api, [url.replace("PORT", str(api.port)) for url in urls], args)
            finally:
                api.stop()
            log(
                f"pair {pair} {code}: {run.throughput:.0f} req/s ({run.throughput / floor.throughput:.1%} of the "
                f"one-GET floor {floor.throughput:.0f}), {run.cpu_us:.0f} us CPU/request "
                f"({run.system_us:.0f} in the kernel), PostgreSQL {run.stores_us['postgres']:.0f} us, Valkey "
                f"{run.stores_us['valkey']:.0f} us, p99 {run.p99_ms:.1f} ms"
            )
            rows.append({"pair": pair, "code": code, "floor": floor, "run": run})
    return rows


def _write_pairs(rows: list[dict[str, Any]], args: argparse.Namespace) -> None:
    lines = [
        f"## {args.label}",
        "",
        f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}; users={args.users}, posts={args.posts}, "
        f"readers={args.readers}, duration={args.duration:g} s, connections={args.connections}, "
        f"limit={args.limit}; load average {os.getloadavg()[0]:.2f}",
        "",
        "| pair | code | req/s | one-GET floor req/s | ratio | API CPU us/request (kernel) | PostgreSQL us/request "
        "| Valkey us/request | p99 ms | errors |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        run, floor = row["run"], row["floor"]
        lines.append(
            f"| {row['pair']} | {row['code']} | {run.throughput:.0f} | {floor.throughput:.0f} | "
            f"{run.throughput / floor.throughput:.1%} | {run.cpu_us:.0f} ({run.system_us:.0f}) | "
            f"{run.stores_us['postgres']:.0f} | {run.stores_us['valkey']:.0f} | {run.p99_ms:.1f} | {run.errors} |"
        )
    path = RESULTS_DIR / "timeline_read-pairs.md"
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    head = "" if path.exists() else "# timeline_read: alternating before/after runs\n\n"
    with path.open("a") as out:
        out.write(head + "\n".join(lines) + "\n\n")
    log(f"pairs appended to {path}")


def _add_profile(report: Report, profile: profiling.Profile) -> None:
    title = "Profile of the API process in the closed-loop run (py-spy)"
    profiling.add_to_report(report, profile, profile.wait(), title, top=25, logged=12)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench timeline_read")
    parser.add_argument("--tiny", action="store_true", help="seconds at a tiny size (proves it runs)")
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--posts", type=int, default=200_000)
    parser.add_argument("--readers", type=int, default=500, help="accounts whose timelines are read")
    parser.add_argument("--duration", type=float, default=15.0, help="seconds per load run")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--limit", type=int, default=20, help="posts per page")
    parser.add_argument(
        "--api-processes", type=int, default=2, help="also measure this many API processes sharing the port"
    )
    parser.add_argument("--profile", action="store_true", help="py-spy the API process in the closed-loop run")
    parser.add_argument("--profile-lines", action="store_true", help="with --profile: by line, not function")
    parser.add_argument("--profile-native", action="store_true", help="with --profile: C frames too")
    parser.add_argument("--baseline", help="a checkout of the previous code: alternate it with this tree's")
    parser.add_argument("--pairs", type=int, default=2, help="old/new pairs with --baseline")
    parser.add_argument("--label", default="trial", help="the heading of the pairs' table with --baseline")
    args = parser.parse_args(argv)
    args.profile = profiling.usable(args.profile)
    if args.tiny:
        args.users, args.posts, args.readers, args.duration = 200, 2000, 20, 1.0
    # How the run was recorded (profiling, pairs) is not a parameter of the figures.
    recording = {"tiny", "profile", "profile_lines", "profile_native", "baseline", "pairs", "label"}
    report = Report("timeline_read", params={k: v for k, v in vars(args).items() if k not in recording})
    # Other work on the machine changes every figure here: recorded with the results.
    report.extra["load_average_before"] = os.getloadavg()
    with bench_stack(only=("postgres", "valkey")) as env, tempfile.TemporaryDirectory(prefix="chirp-read-") as tmp:
        tokens_file = Path(tmp) / "tokens.json"
        asyncio.run(_prepare(env, args.users, args.posts, args.readers, tokens_file))
        tokens = [entry["token"] for entry in json.loads(tokens_file.read_text())]
        api = spawn_api(env, reuse_port=True)
        more_apis: list[ChirpProcess] = []
        try:
            base = f"http://127.0.0.1:{api.port}/api/v1/timelines/home?limit={args.limit}&access_token="
            urls = [base + token for token in tokens]
            log(f"cold reads: {len(urls)} timelines rebuilt from PostgreSQL during the request")
            cold_ms: list[float] = []
            sizes: list[int] = []
            sample_body = b"[]"
            for url in urls:
                started = time.perf_counter()
                status, body = _get(url)
                cold_ms.append((time.perf_counter() - started) * 1000)
                if status != 200:
                    raise RuntimeError(f"cold read answered {status}: {body[:200]!r}")
                sizes.append(len(body))
                if len(body) > len(sample_body) and body.count(b'"id"') and len(json.loads(body)) == args.limit:
                    sample_body = body
            for url in urls:  # warm: the post cache now holds everything the pages show
                _get(url)
            if args.baseline:
                api.stop()
                rows = _pairs(env, [url.replace(f":{api.port}/", ":PORT/") for url in urls], sample_body, args)
                _write_pairs(rows, args)
                return 0 if all(row["run"].errors == 0 for row in rows) else 1
            ceiling = spawn_ceiling(sample_body)
            try:
                log(f"throughput: closed loop, {args.connections} connections, {args.duration:g} s each")
                before = cpu_seconds(ceiling.pid)
                bare = run_load(
                    [f"http://127.0.0.1:{ceiling.port}/api/v1/timelines/home"],
                    duration=args.duration,
                    connections=args.connections,
                )
                bare_cpu_us = (cpu_seconds(ceiling.pid) - before) / max(bare.requests, 1) * 1e6
                floors = _floors(env, sample_body, args)
                before = cpu_seconds(api.pid)
                profile = None
                if args.profile:
                    path = RESULTS_DIR / "timeline_read-profile-api.txt"
                    profile = profiling.start_profile("api", api.pid, args.duration, path, by_line=args.profile_lines)
                chirp = run_load(urls, duration=args.duration, connections=args.connections)
                chirp_cpu_us = (cpu_seconds(api.pid) - before) / max(chirp.requests, 1) * 1e6
                # At the goal rate (half the ceiling) when Chirp reached it closed-loop; else at 80% of what
                # it reached, so the open-loop run measures latency rather than an ever-growing queue.
                goal_rate = max(bare.throughput * 0.5, 1.0)
                rate = min(goal_rate, max(chirp.throughput * 0.8, 1.0))
                log(f"latency: open loop at {rate:.0f} req/s (goal rate {goal_rate:.0f})")
                at_goal = run_load(urls, duration=args.duration, rate=rate, connections=args.connections)
                several = None
                if args.api_processes > 1:
                    log(f"throughput with {args.api_processes} API processes on the port (closed loop)")
                    for _ in range(1, args.api_processes):
                        more_apis.append(spawn_api(env, port=api.port, reuse_port=True))
                    several = run_load(urls, duration=args.duration, connections=args.connections)
            finally:
                ceiling.stop()
        finally:
            for process in [api, *more_apis]:
                process.stop()
        cache = asyncio.run(_cache_figures(env["REDIS_URL"]))

    report.add_load("ceiling (closed loop)", bare)
    report.add_load("home timeline (closed loop)", chirp)
    report.add_load("home timeline (open loop at goal rate)", at_goal)
    report.figure(
        "home timeline throughput, 20 posts, warm",
        chirp.throughput,
        "req/s",
        ceiling=bare.throughput,
        ceiling_name="bare aiohttp, same body size",
        goal=">= 50% of the ceiling",
    )
    if several is not None:
        report.add_load(f"home timeline, {args.api_processes} API processes (closed loop)", several)
        report.figure(
            f"home timeline throughput, {args.api_processes} API processes",
            several.throughput,
            "req/s",
            ceiling=bare.throughput,
            ceiling_name="bare aiohttp, one process",
        )
    # What any handler pays that reads its page from Valkey (and personalises it from PostgreSQL) with the
    # clients the design prescribes: the part of the ceiling no change inside Chirp can win back.
    for name, floor in floors.items():
        report.add_load(name, floor)
        report.figure(
            f"{name} (closed loop)", floor.throughput, "req/s", ceiling=bare.throughput, ceiling_name="bare aiohttp"
        )
    report.figure(
        f"home timeline p99, open loop at {at_goal.offered_rate:.0f} req/s",
        at_goal.latencies_ms["p99"],
        "ms",
        goal=f"< 50 ms at {bare.throughput * 0.5:.0f} req/s (half the ceiling)",
    )
    report.figure(
        "achieved in the open-loop run",
        at_goal.throughput,
        "req/s",
        ceiling=at_goal.offered_rate,
        ceiling_name="offered",
    )
    report.figure(
        "home timeline p99, closed loop",
        chirp.latencies_ms["p99"],
        "ms",
        ceiling=bare.latencies_ms["p99"],
        ceiling_name="bare aiohttp",
    )
    # CPU per request of the serving process: what one core's worth of requests costs, whatever else runs.
    report.figure(
        "API process CPU per home request", chirp_cpu_us, "us", ceiling=bare_cpu_us, ceiling_name="bare aiohttp"
    )
    report.figure("cold read (rebuild during the request) p50", statistics.median(cold_ms), "ms")
    report.figure("cold read max", max(cold_ms), "ms")
    report.figure("bytes per cached timeline entry", cache["bytes_per_entry"], "bytes")
    report.extra.update(
        body_bytes=len(sample_body),
        mean_body_bytes=round(statistics.fmean(sizes), 1),
        cache=cache,
        errors={"ceiling": bare.errors, "chirp": chirp.errors, "open_loop": at_goal.errors},
    )
    if profile is not None:
        _add_profile(report, profile)
    report.plot_latency_over_time("latency", {"open loop": at_goal})
    report.extra["load_average_after"] = os.getloadavg()
    log(f"machine load average before/after: {report.extra['load_average_before']} / {os.getloadavg()}")
    report.write()
    return 0 if chirp.errors == 0 and at_goal.errors == 0 else 1


if __name__ == "__main__":
    import sys

    sys.exit(main(sys.argv[1:]))
