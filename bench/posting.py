"""What a post costs: `python -m bench posting`.

Posts are written at a few constant rates (open loop, `POST /api/v1/statuses`, one API process, one worker
process running every queue: fan-out, post cache, search indexing, streaming, notifications), and for each
rate the machine's CPU per post is split by process, with PostgreSQL's transactions and row changes per
post. This is the per-post figure `docs/capacity.md` builds on.

Ceiling, same run: the smallest durable write, one INSERT committed by asyncpg from a bare process at the
same rate (PostgreSQL and client CPU per write).

`--profile` records the API and worker processes with py-spy during each rate's run (their top functions
go into the report). `--statements` restarts PostgreSQL with `pg_stat_statements` and adds, for each rate,
the statements that ran most often per post and those that took the most PostgreSQL time per post: where
the transactions go. Each rate also reports how the search queue's writes reached Meilisearch (its batches
per post and documents per batch, by index).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import asyncpg

from bench import profiling
from bench.harness import (
    RESULTS_DIR,
    CpuSnapshot,
    LoadRequest,
    Report,
    bench_servers,
    cpu_by_role,
    cpu_seconds,
    log,
    run_load,
    spawn_api,
    spawn_process,
    spawn_worker,
)

_POST_TEXT = "a post about #benchmarks and the weather {n}"


async def _database_counters(dsn: str) -> dict[str, float]:
    conn = await asyncpg.connect(dsn)
    try:
        row = await conn.fetchrow(
            """
            SELECT xact_commit, tup_inserted, tup_updated, tup_deleted
            FROM pg_stat_database WHERE datname = current_database()
            """
        )
    finally:
        await conn.close()
    assert row is not None
    return {key: float(value) for key, value in row.items()}


def _ceiling_child(dsn: str, rate: float, duration: float, out: Path) -> None:
    """The ceiling's process: one-row INSERT transactions at `rate` for `duration` seconds. Writes to `out`
    its own CPU seconds and its PostgreSQL backend's pid and CPU seconds, read just before disconnecting:
    both processes are gone from /proc by the time the parent looks."""

    async def run() -> dict[str, float]:
        conn = await asyncpg.connect(dsn)
        await conn.execute("CREATE TABLE IF NOT EXISTS bench_writes (id bigserial PRIMARY KEY, body text)")
        started = time.perf_counter()
        for n in range(int(rate * duration)):
            delay = started + n / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            await conn.execute("INSERT INTO bench_writes (body) VALUES ($1)", _POST_TEXT.format(n=n))
        backend = int(await conn.fetchval("SELECT pg_backend_pid()"))
        backend_seconds = cpu_seconds(backend)
        await conn.close()
        return {"backend": backend, "backend_seconds": backend_seconds}

    backend = asyncio.run(run())
    out.write_text(json.dumps({"own": time.process_time(), **backend}))


def _measure(
    roles: dict[int, str], dsn: str, action: Any, settle: float
) -> tuple[Any, dict[str, float], dict[str, float], float]:
    """Run `action()`, then let the queues settle; CPU and database counters spent meanwhile."""
    cpu_before, db_before = CpuSnapshot.now(), asyncio.run(_database_counters(dsn))
    result = action()
    time.sleep(settle)
    cpu_after, db_after = CpuSnapshot.now(), asyncio.run(_database_counters(dsn))
    db = {key: db_after[key] - db_before[key] for key in db_after}
    return result, cpu_by_role(cpu_before, cpu_after, roles), db, cpu_after.at - cpu_before.at


_STATEMENTS_SQL = """
    SELECT calls, total_exec_time, left(regexp_replace(query, '\\s+', ' ', 'g'), 110) AS query
    FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
"""


def _meili_batches(env: dict[str, str], since: str) -> list[dict[str, Any]]:
    """Meilisearch's batches (its unit of indexing work: one or more tasks of one index) finished since
    `since` (an RFC 3339 time), newest first."""
    import urllib.request

    url = f"{env['MEILI_URL']}/batches?limit=1000&afterFinishedAt={since}"
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {env['MEILI_MASTER_KEY']}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        results: list[dict[str, Any]] = json.loads(response.read())["results"]
    return results


def _report_meili_batches(report: Report, rate: float, batches: list[dict[str, Any]], posts: int) -> None:
    """How the search queue's batches reached Meilisearch: batches per post and documents per batch, by index."""
    by_index: dict[str, list[int]] = {}
    for batch in batches:
        received = int(batch.get("details", {}).get("receivedDocuments") or 0)
        for uid in batch.get("stats", {}).get("indexUids", {}):
            by_index.setdefault(uid.rsplit("_", 1)[-1], []).append(received)
    for index, documents in sorted(by_index.items()):
        per_post = len(documents) / max(posts, 1)
        report.figure(f"  meilisearch {index} batches per post at {rate:g}/s", per_post, "batches")
        report.figure(
            f"  meilisearch {index} documents per batch at {rate:g}/s", sum(documents) / max(len(documents), 1), "docs"
        )


def _track_statements(running: Any, dsn: str) -> None:
    """Restart PostgreSQL with pg_stat_statements loaded (a bench-only setting, never the product's)."""

    async def run(statements: list[str]) -> None:
        conn = await asyncpg.connect(dsn)
        try:
            for statement in statements:
                await conn.execute(statement)
        finally:
            await conn.close()

    asyncio.run(run(["ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'"]))
    running.servers["postgres"].stop()
    running.servers["postgres"].start()
    asyncio.run(run(["CREATE EXTENSION IF NOT EXISTS pg_stat_statements", "SELECT pg_stat_statements_reset()"]))


async def _statements(dsn: str) -> dict[str, tuple[float, float]]:
    """query text -> (calls, total ms) so far."""
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(_STATEMENTS_SQL)
    finally:
        await conn.close()
    totals: dict[str, tuple[float, float]] = {}
    for row in rows:
        calls, ms = totals.get(row["query"], (0.0, 0.0))
        totals[row["query"]] = (calls + row["calls"], ms + row["total_exec_time"])
    return totals


def _statements_table(before: dict[str, tuple[float, float]], after: dict[str, tuple[float, float]], n: int) -> str:
    """Markdown: the top statements by calls per post and by PostgreSQL time per post over one run."""
    spent = {
        query: (calls - before.get(query, (0.0, 0.0))[0], ms - before.get(query, (0.0, 0.0))[1])
        for query, (calls, ms) in after.items()
        if "pg_stat_statements" not in query
    }
    lines = ["| calls per post | µs per post | statement |", "|---|---|---|"]
    top = sorted(spent.items(), key=lambda kv: -kv[1][1])[:15]
    top += [kv for kv in sorted(spent.items(), key=lambda kv: -kv[1][0])[:15] if kv not in top]
    for query, (calls, ms) in top:
        if calls > 0:
            lines.append(f"| {calls / n:.3f} | {ms * 1000 / n:.1f} | `{query.replace('|', '/')}` |")
    total_calls = sum(calls for calls, _ in spent.values())
    total_ms = sum(ms for _, ms in spent.values())
    lines.append(f"| {total_calls / n:.3f} | {total_ms * 1000 / n:.1f} | all statements |")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench posting")
    parser.add_argument("--tiny", action="store_true", help="seconds at a tiny size (proves it runs)")
    parser.add_argument("--rates", default="50,200,400", help="posts per second, one run each")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds per rate")
    parser.add_argument("--settle", type=float, default=5.0, help="seconds for the queues after each run")
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--profile", action="store_true", help="py-spy the API and worker during each rate")
    parser.add_argument("--statements", action="store_true", help="report statements per post (pg_stat_statements)")
    parser.add_argument("--ceiling-child", nargs=4, metavar=("DSN", "RATE", "DURATION", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.ceiling_child:
        dsn, rate, duration, out = args.ceiling_child
        _ceiling_child(dsn, float(rate), float(duration), Path(out))
        return 0
    args.profile = profiling.usable(args.profile)
    if args.tiny:
        args.rates, args.duration, args.settle, args.users = "10", 1.0, 1.0, 200
    rates = [float(r) for r in args.rates.split(",") if r]
    recording = ("tiny", "ceiling_child", "profile", "statements")  # how it ran, not what it measured
    report = Report("posting", params={k: v for k, v in vars(args).items() if k not in recording})
    with bench_servers() as (env, running), tempfile.TemporaryDirectory(prefix="chirp-posting-") as tmp:
        from bench.seed import seed
        from storage.migrations import apply_migrations

        tokens_file = Path(tmp) / "tokens.json"
        dsn = env["DATABASE_URL"]

        async def prepare() -> None:
            await apply_migrations(dsn)
            await seed(dsn, users=args.users, posts=args.users * 10, tokens=500, tokens_file=tokens_file)

        asyncio.run(prepare())
        if args.statements:
            _track_statements(running, dsn)
        tokens = [entry["token"] for entry in json.loads(tokens_file.read_text())]
        api, worker = spawn_api(env), spawn_worker(env)
        roles = {api.pid: "API", worker.pid: "worker"}
        try:
            base = f"http://127.0.0.1:{api.port}/api/v1/statuses"
            posts = [
                LoadRequest(
                    base,
                    method="POST",
                    headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
                    body=json.dumps({"status": _POST_TEXT, "visibility": "public"}),
                )
                for token in tokens
            ]
            run_load(requests=posts[:20], duration=2.0, rate=10.0)  # warm: connections, statements, caches
            time.sleep(args.settle)
            for rate in rates:
                log(f"{rate:g} posts/s for {args.duration:g} s, then {args.settle:g} s for the queues")
                statements_before = asyncio.run(_statements(dsn)) if args.statements else {}
                meili_since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
                profiles = (
                    [
                        profiling.start_profile(
                            role, process.pid, args.duration, RESULTS_DIR / f"posting-profile-{role}-{rate:g}.txt"
                        )
                        for role, process in (("api", api), ("worker", worker))
                    ]
                    if args.profile
                    else []
                )
                load, cpu, db, elapsed = _measure(
                    roles,
                    dsn,
                    lambda rate=rate: run_load(requests=posts, duration=args.duration, rate=rate),
                    args.settle,
                )
                n = max(load.requests - load.errors, 1)
                report.add_load(f"posts at {rate:g}/s", load)
                total_ms = sum(cpu.values()) * 1000 / n
                ceiling_ms = _ceiling_ms(roles, rate, args.duration, dsn, Path(tmp) / "ceiling-cpu")
                report.figure(
                    f"machine CPU per post at {rate:g} posts/s",
                    total_ms,
                    "ms",
                    ceiling=ceiling_ms,
                    ceiling_name="one INSERT committed by a bare asyncpg process",
                )
                for role, seconds in sorted(cpu.items(), key=lambda kv: -kv[1]):
                    if seconds * 1000 / n >= 0.05:
                        report.figure(f"  {role} at {rate:g} posts/s", seconds * 1000 / n, "ms/post")
                _report_meili_batches(report, rate, _meili_batches(env, meili_since), n)
                report.figure(f"PostgreSQL transactions per post at {rate:g}/s", db["xact_commit"] / n, "xacts")
                report.figure(
                    f"rows written per post at {rate:g}/s",
                    (db["tup_inserted"] + db["tup_updated"] + db["tup_deleted"]) / n,
                    "rows",
                )
                report.figure(f"post p99 at {rate:g}/s", load.latencies_ms["p99"], "ms")
                report.figure(f"post errors at {rate:g}/s", load.errors, "requests", goal="0")
                report.extra[f"cpu_seconds_{rate:g}"] = {**cpu, "elapsed": elapsed}
                for profile in profiles:
                    title = f"Profile of the {profile.name} at {rate:g} posts/s"
                    profiling.add_to_report(report, profile, profile.wait(), title, top=25, logged=8)
                if args.statements:
                    table = _statements_table(statements_before, asyncio.run(_statements(dsn)), n)
                    report.add_section(f"Statements at {rate:g} posts/s (pg_stat_statements)", table)
        finally:
            for process in (api, worker):
                process.stop()
    report.write()
    return 0


def _ceiling_ms(roles: dict[int, str], rate: float, duration: float, dsn: str, out: Path) -> float:
    """Machine CPU per write of the ceiling at the same rate: its own process, its PostgreSQL backend, and
    PostgreSQL's other processes (WAL writer, checkpointer)."""
    before = CpuSnapshot.now()
    args = ["-m", "bench.posting", "--ceiling-child", dsn, str(rate), str(duration), str(out)]
    spawn_process("ceiling", args, {}).popen.wait(timeout=duration + 60)
    time.sleep(0.5)
    after = CpuSnapshot.now()
    report = json.loads(out.read_text())
    after.processes.pop(report["backend"], None)  # counted from the child's own reading
    background = cpu_by_role(before, after, roles).get("postgres", 0.0)
    writes = max(int(rate * duration), 1)
    return float(report["own"] + report["backend_seconds"] + background) * 1000 / writes


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
