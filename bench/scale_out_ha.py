"""Home reads and posts through HAProxy on the HA topology, beside the same processes on one of each store,
in the same run (part of `python -m bench scale_out`).

- The HA side: `chirp run --topology ha --ports auto` as an operator starts it (HAProxy, 2 APIs, 2 workers,
  a 3+3 Valkey Cluster, a PostgreSQL primary with a streaming replica, PgBouncer when installed).
- The baseline: the same 2 APIs (sharing one port with SO_REUSEPORT) and 2 workers on one PostgreSQL and
  one Valkey, no balancer: what the HA stores and HAProxy cost is the difference.
- Both get the same seeded data (bench/seed.py, straight into PostgreSQL), every reader's home timeline read
  once (rebuilt), then two closed-loop loads at once for `--ha-duration` seconds: home pages by the readers
  and posts by a few of them. Figures: reads/s, read p99, posts/s, each beside the baseline's.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.harness import (
    REPO_ROOT,
    LoadRequest,
    LoadResult,
    Report,
    bench_stack,
    free_port,
    log,
    spawn_api,
    spawn_worker,
    start_load,
)

START_GUARD = 240.0


def _get(url: str) -> int:
    with urllib.request.urlopen(url, timeout=60) as response:
        response.read()
        return int(response.status)


async def _seed(dsn: str, args: Any, tokens_file: Path) -> None:
    from bench.seed import seed

    summary = await seed(
        dsn,
        users=args.ha_users,
        posts=args.ha_posts,
        mean_followers=50.0,
        tokens=args.ha_readers,
        tokens_file=tokens_file,
    )
    log(f"seeded {summary.users:,} users, {summary.follows:,} follows, {summary.posts:,} posts in {summary.seconds} s")


def _load(base: str, tokens: list[str], args: Any) -> tuple[LoadResult, LoadResult]:
    """Every reader's home read once (built), then reads and posts together; (reads, posts)."""
    home = f"{base}/api/v1/timelines/home?limit=20&access_token="
    for token in tokens:
        status = _get(home + token)
        if status != 200:
            raise RuntimeError(f"home read answered {status}")
    posters = tokens[: max(len(tokens) // 10, 1)]
    posts = [
        LoadRequest(
            f"{base}/api/v1/statuses",
            method="POST",
            headers={"Authorization": f"Bearer {t}", "Content-Type": "application/json"},
            body='{"status": "load post ' + str(i) + ' {n}"}',
        )
        for i, t in enumerate(posters)
    ]
    start_at = time.time() + 3
    reading = start_load([home + t for t in tokens], duration=args.ha_duration, connections=24, start_at=start_at)
    posting = start_load(requests=posts, duration=args.ha_duration, connections=4, start_at=start_at)
    return reading.wait(), posting.wait()


def _tokens(path: Path) -> list[str]:
    return [entry["token"] for entry in json.loads(path.read_text())]


def baseline(args: Any, tmp: Path) -> tuple[LoadResult, LoadResult]:
    with bench_stack(only=("postgres", "valkey", "meilisearch", "s3")) as env:
        tokens_file = tmp / "baseline-tokens.json"
        asyncio.run(_seed(env["DATABASE_URL"], args, tokens_file))
        port = free_port()
        processes = [spawn_api(env, port=port, reuse_port=True) for _ in range(2)]
        processes += [spawn_worker(env) for _ in range(2)]
        try:
            return _load(f"http://127.0.0.1:{port}", _tokens(tokens_file), args)
        finally:
            for process in processes:
                process.stop()


@contextmanager
def ha_topology() -> Iterator[tuple[str, dict[str, str]]]:
    """`chirp run --topology ha --ports auto`, until SIGINT (Ctrl-C): its URL and the stores' environment."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "REDIS_", "MEILI_", "S3_"))}
    environ |= {"CHIRP_LOG_LEVEL": "warning", "CHIRP_RATE_LIMIT": "false"}
    process = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "run", "--topology", "ha", "--ports", "auto"],
        cwd=REPO_ROOT,
        env=environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        assert process.stdout is not None
        env: dict[str, str] = {}
        deadline = time.monotonic() + START_GUARD
        while True:
            line = process.stdout.readline()
            if not line or time.monotonic() > deadline:
                raise RuntimeError("the HA topology did not start")
            if line.startswith("export "):
                name, _, value = line.removeprefix("export ").strip().partition("=")
                env[name] = value.strip("'")
            found = re.search(r"running at (\S+) \(HA topology: ([^)]*)\)", line)
            if found:
                log(line.strip())
                break
        drain = subprocess.Popen(["cat"], stdin=process.stdout, stdout=subprocess.DEVNULL)
        yield found.group(1), env
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    drain.wait()


def through_haproxy(args: Any, tmp: Path) -> tuple[LoadResult, LoadResult]:
    with ha_topology() as (url, env):
        tokens_file = tmp / "ha-tokens.json"
        asyncio.run(_seed(env.get("DATABASE_DIRECT_URL") or env["DATABASE_URL"], args, tokens_file))
        return _load(url, _tokens(tokens_file), args)


def measure(args: Any, report: Report) -> None:
    with tempfile.TemporaryDirectory(prefix="chirp-scale-ha-") as root:
        tmp = Path(root)
        log("baseline: 2 APIs (SO_REUSEPORT) and 2 workers on one PostgreSQL and one Valkey")
        base_reads, base_posts = baseline(args, tmp)
        log("HA topology: HAProxy, 2 APIs, 2 workers, Valkey Cluster, PostgreSQL replica, PgBouncer")
        ha_reads, ha_posts = through_haproxy(args, tmp)
    for name, result in (("baseline reads", base_reads), ("baseline posts", base_posts)):
        report.add_load(name, result)
    for name, result in (("ha reads", ha_reads), ("ha posts", ha_posts)):
        report.add_load(name, result)
        if result.errors:
            log(f"{name}: {result.errors} of {result.requests} requests failed")
    report.extra["ha_errors"] = {"reads": ha_reads.errors, "posts": ha_posts.errors}
    report.figure(
        "home reads/s through HAProxy (HA topology)",
        ha_reads.throughput,
        "req/s",
        ceiling=base_reads.throughput,
        ceiling_name="same processes on one PostgreSQL and one Valkey, same run",
    )
    report.figure(
        "home read p99 through HAProxy (HA topology)",
        ha_reads.latencies_ms["p99"],
        "ms",
        ceiling=base_reads.latencies_ms["p99"],
        ceiling_name="baseline p99, same run",
    )
    report.figure(
        "posts/s through HAProxy (HA topology), alongside the reads",
        ha_posts.throughput,
        "req/s",
        ceiling=base_posts.throughput,
        ceiling_name="same processes on one PostgreSQL and one Valkey, same run",
    )
