"""Reading a list timeline against reading home: `python -m bench list_read`.

Issue 24's target: `GET /api/v1/timelines/list/:id?limit=20` reaches at least 90% of the home timeline's
throughput (`GET /api/v1/timelines/home?limit=20`), both warm, measured in the same run.

- Data: `bench.seed` (power-law follower counts, replies, reposts, quotes, likes; tokens for the first
  `--readers` accounts). Each reader gets one list holding every account it follows (up to 250, the most
  one call adds), written straight into PostgreSQL; so a list page shows what a home page shows (home also
  merges the followed high-follower accounts' timelines at read time, which a list does not need).
- Warm-up: each reader reads its home and its list once (both rebuilt from PostgreSQL during that read,
  the post cache filled), then again.
- Throughput: closed loop, `--connections` at once, one API process, each request as another reader:
  home, then the lists, then home again; the lists' figure is set against the mean of the two home runs
  (the machine is shared: bracketing shows drift). CPU per request of the API process for each.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import urllib.request
from pathlib import Path

from bench.harness import LoadResult, Report, bench_stack, cpu_seconds, log, run_load, spawn_api

MEMBERS_MAX = 250


def _get(url: str) -> tuple[int, bytes]:
    with urllib.request.urlopen(url, timeout=30) as response:
        return int(response.status), bytes(response.read())


async def _prepare(env: dict[str, str], users: int, posts: int, readers: int, tokens_file: Path) -> dict[str, str]:
    """Seed, then give each reader a list of the accounts it follows; the readers' list ids by account."""
    import asyncpg

    from bench.seed import seed
    from core.ids import IdGenerator
    from storage.migrations import apply_migrations

    await apply_migrations(env["DATABASE_URL"])
    summary = await seed(
        env["DATABASE_URL"], users=users, posts=posts, tokens=readers, tokens_file=tokens_file, likes_per_post=2.0
    )
    log(f"seeded {summary.users:,} users, {summary.follows:,} follows, {summary.posts:,} posts in {summary.seconds} s")
    ids = IdGenerator(904)
    readers_ids = [int(entry["account_id"]) for entry in json.loads(await asyncio.to_thread(tokens_file.read_text))]
    lists = {account: ids.next_id() for account in readers_ids}
    conn = await asyncpg.connect(env["DATABASE_URL"])
    try:
        await conn.executemany(
            "INSERT INTO lists (id, account_id, title) VALUES ($1, $2, 'everyone I follow')",
            [(list_id, account) for account, list_id in lists.items()],
        )
        rows = await conn.fetch(
            """
            SELECT f.account_id, f.target_account_id FROM unnest($1::bigint[]) AS r(account_id)
            CROSS JOIN LATERAL (
                SELECT account_id, target_account_id FROM follows WHERE account_id = r.account_id LIMIT $2
            ) f
            """,
            readers_ids,
            MEMBERS_MAX,
        )
        await conn.copy_records_to_table(
            "list_accounts",
            records=[(lists[r["account_id"]], r["target_account_id"], r["account_id"], ids.next_id()) for r in rows],
            columns=["list_id", "account_id", "owner_id", "id"],
        )
    finally:
        await conn.close()
    log(f"{len(lists)} lists, {len(rows):,} members ({len(rows) / max(len(lists), 1):.0f} each)")
    return {str(account): str(list_id) for account, list_id in lists.items()}


def _closed(name: str, urls: list[str], api_pid: int, args: argparse.Namespace) -> tuple[LoadResult, float]:
    log(f"{name}: closed loop, {args.connections} connections, {args.duration:g} s")
    before = cpu_seconds(api_pid)
    result = run_load(urls, duration=args.duration, connections=args.connections)
    return result, (cpu_seconds(api_pid) - before) / max(result.requests, 1) * 1e6


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench list_read")
    parser.add_argument("--tiny", action="store_true", help="seconds at a tiny size (proves it runs)")
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--posts", type=int, default=100_000)
    parser.add_argument("--readers", type=int, default=300, help="accounts whose home and list are read")
    parser.add_argument("--duration", type=float, default=8.0, help="seconds per load run")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--limit", type=int, default=20, help="posts per page")
    args = parser.parse_args(argv)
    if args.tiny:
        args.users, args.posts, args.readers, args.duration = 200, 2000, 20, 1.0
    report = Report("list_read", params={k: v for k, v in vars(args).items() if k != "tiny"})
    report.extra["load_average_before"] = os.getloadavg()
    with bench_stack(only=("postgres", "valkey")) as env, tempfile.TemporaryDirectory(prefix="chirp-list-") as tmp:
        tokens_file = Path(tmp) / "tokens.json"
        lists = asyncio.run(_prepare(env, args.users, args.posts, args.readers, tokens_file))
        readers = json.loads(tokens_file.read_text())
        api = spawn_api(env)
        try:
            base = f"http://127.0.0.1:{api.port}/api/v1/timelines"
            home = [f"{base}/home?limit={args.limit}&access_token={r['token']}" for r in readers]
            listed = [
                f"{base}/list/{lists[r['account_id']]}?limit={args.limit}&access_token={r['token']}" for r in readers
            ]
            shown = {"home": 0, "list": 0}
            for _ in range(2):  # the first read rebuilds each timeline; the second finds the post cache full
                for kind, urls in (("home", home), ("list", listed)):
                    for url in urls:
                        status, body = _get(url)
                        if status != 200:
                            raise RuntimeError(f"{kind} read answered {status}: {body[:200]!r}")
                        shown[kind] += len(json.loads(body))
            home_first, home_first_cpu = _closed("home timeline", home, api.pid, args)
            lists_run, list_cpu = _closed("list timeline", listed, api.pid, args)
            home_again, home_again_cpu = _closed("home timeline again", home, api.pid, args)
        finally:
            api.stop()

    home_rate = (home_first.throughput + home_again.throughput) / 2
    report.add_load("home timeline (closed loop)", home_first)
    report.add_load("list timeline (closed loop)", lists_run)
    report.add_load("home timeline again (closed loop)", home_again)
    report.figure(
        "list timeline throughput, 20 posts, warm",
        lists_run.throughput,
        "req/s",
        ceiling=home_rate,
        ceiling_name="home timeline, same readers (mean of the runs before and after)",
        goal=">= 90% of the home read",
    )
    report.figure("home timeline throughput (run before)", home_first.throughput, "req/s")
    report.figure("home timeline throughput (run after)", home_again.throughput, "req/s")
    report.figure(
        "API process CPU per list request",
        list_cpu,
        "us",
        ceiling=(home_first_cpu + home_again_cpu) / 2,
        ceiling_name="per home request",
    )
    report.figure(
        "list timeline p99, closed loop",
        lists_run.latencies_ms["p99"],
        "ms",
        ceiling=home_first.latencies_ms["p99"],
        ceiling_name="home, closed loop",
    )
    report.figure(
        "posts per page (list / home, warm-up reads)", shown["list"] / max(shown["home"], 1), "ratio", goal="about 1"
    )
    report.extra.update(
        posts_shown=shown,
        errors={"home": home_first.errors + home_again.errors, "list": lists_run.errors},
        load_average_after=os.getloadavg(),
    )
    log(f"machine load average before/after: {report.extra['load_average_before']} / {os.getloadavg()}")
    report.write()
    return 0 if lists_run.errors == 0 and home_first.errors == 0 and home_again.errors == 0 else 1


if __name__ == "__main__":
    import sys

    sys.exit(main(sys.argv[1:]))
