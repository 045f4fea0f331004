"""A home timeline read by a viewer with rules: `python -m bench safety_timeline_read` (issue 22).

The issue's target: a home timeline read by a viewer with 100 mutes, 100 blocks and 5 keyword filters
reaches at least 90% of the plain read's throughput, measured in the same run.

- Data: `bench.seed` (as `timeline_read`), with tokens for `2 × --readers` accounts. The first half read
  plainly; the second half get the rules (`bench.safety_rules`): mutes and blocks of accounts the reader does
  not follow, and 5 keyword filters in every context whose words the seeded posts lack, so both halves
  get full pages and the rules' whole cost is the check itself (loading them, matching every post).
- Warm-up: every reader reads once (timelines rebuilt, the post cache filled).
- Throughput: closed loop, `--connections` at once, one API process, the same load generator; the plain
  and the ruled readers alternate `--rounds` times in the order plain, rules, rules, plain, ... (each
  goes first as often as second), so drift on a shared machine falls on both.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import urllib.request
from pathlib import Path

from bench import profiling
from bench.harness import RESULTS_DIR, LoadResult, Report, bench_stack, cpu_seconds, log, run_load, spawn_api
from bench.safety_rules import add_rules


def _get(url: str) -> int:
    with urllib.request.urlopen(url, timeout=30) as response:
        response.read()
        return int(response.status)


async def _prepare(env: dict[str, str], args: argparse.Namespace, tokens_file: Path) -> None:
    from bench.seed import seed
    from storage.migrations import apply_migrations

    await apply_migrations(env["DATABASE_URL"])
    summary = await seed(
        env["DATABASE_URL"], users=args.users, posts=args.posts, tokens=2 * args.readers, tokens_file=tokens_file
    )
    log(f"seeded {summary.users:,} users, {summary.follows:,} follows, {summary.posts:,} posts")


async def _follows(database_url: str, readers: list[int]) -> tuple[list[int], dict[int, set[int]]]:
    """Every account, and whom each reader follows: a reader's mutes and blocks are of accounts it does
    not follow, so its pages stay whole."""
    import asyncpg

    conn = await asyncpg.connect(database_url)
    try:
        accounts = [row["id"] for row in await conn.fetch("SELECT id FROM accounts")]
        rows = await conn.fetch(
            "SELECT account_id, target_account_id FROM follows WHERE account_id = ANY($1::bigint[])", readers
        )
    finally:
        await conn.close()
    followed: dict[int, set[int]] = {}
    for row in rows:
        followed.setdefault(row["account_id"], set()).add(row["target_account_id"])
    return accounts, followed


def _merged(results: list[LoadResult]) -> tuple[float, float]:
    """(mean throughput, worst p99) over the rounds."""
    return sum(r.throughput for r in results) / len(results), max(r.latencies_ms["p99"] for r in results)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench safety_timeline_read")
    parser.add_argument("--tiny", action="store_true", help="seconds at a tiny size (proves it runs)")
    parser.add_argument("--users", type=int, default=5_000)
    parser.add_argument("--posts", type=int, default=50_000)
    parser.add_argument("--readers", type=int, default=200, help="accounts per half (plain, with rules)")
    parser.add_argument("--duration", type=float, default=8.0, help="seconds per load run")
    parser.add_argument("--rounds", type=int, default=2, help="plain/ruled alternations")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--mutes", type=int, default=100)
    parser.add_argument("--blocks", type=int, default=100)
    parser.add_argument("--filters", type=int, default=5)
    parser.add_argument("--profile", action="store_true", help="py-spy the API over each kind's first round")
    args = parser.parse_args(argv)
    args.profile = profiling.usable(args.profile)
    if args.tiny:
        args.users, args.posts, args.readers, args.duration, args.rounds = 400, 3000, 10, 1.0, 1
    report = Report(
        "safety_timeline_read", params={k: v for k, v in vars(args).items() if k not in ("tiny", "profile")}
    )
    report.extra["load_average_before"] = os.getloadavg()
    with bench_stack(only=("postgres", "valkey")) as env, tempfile.TemporaryDirectory(prefix="chirp-safety-") as tmp:
        tokens_file = Path(tmp) / "tokens.json"
        asyncio.run(_prepare(env, args, tokens_file))
        entries = json.loads(tokens_file.read_text())
        plain, ruled = entries[: args.readers], entries[args.readers :]
        ruled_ids = [int(e["account_id"]) for e in ruled]
        candidates, followed = asyncio.run(_follows(env["DATABASE_URL"], ruled_ids))
        rules = {"mutes": args.mutes, "blocks": args.blocks, "filters": args.filters}
        rows = asyncio.run(add_rules(env["DATABASE_URL"], ruled_ids, candidates, followed=followed, **rules))
        log(f"rules: {rows:,} rows for {len(ruled_ids)} readers ({len(candidates):,} candidate targets)")
        api = spawn_api(env)
        try:
            base = f"http://127.0.0.1:{api.port}/api/v1/timelines/home?limit=20&access_token="
            urls = {"plain": [base + e["token"] for e in plain], "rules": [base + e["token"] for e in ruled]}
            for url in urls["plain"] + urls["rules"]:  # cold, then warm
                _get(url)
                _get(url)
            results: dict[str, list[LoadResult]] = {"plain": [], "rules": []}
            cpu: dict[str, float] = {"plain": 0.0, "rules": 0.0}
            for n in range(args.rounds):
                # ABBA...: each kind goes first as often as second, so drift over the run weighs on both.
                for kind in ("plain", "rules") if n % 2 == 0 else ("rules", "plain"):
                    log(f"round {n + 1}: {kind} readers, closed loop, {args.duration:g} s")
                    path = RESULTS_DIR / f"safety_timeline_read-profile-api-{kind}.txt"
                    recording = (
                        profiling.start_profile(f"API ({kind} readers)", api.pid, args.duration, path, rate=250)
                        if args.profile and n == 0
                        else None
                    )
                    before = cpu_seconds(api.pid)
                    result = run_load(urls[kind], duration=args.duration, connections=args.connections)
                    cpu[kind] += cpu_seconds(api.pid) - before
                    results[kind].append(result)
                    if recording is not None:
                        title = f"Profile of the {recording.name} (py-spy)"
                        profiling.add_to_report(report, recording, recording.wait(), title)
        finally:
            api.stop()

    (plain_rate, plain_p99), (rules_rate, rules_p99) = _merged(results["plain"]), _merged(results["rules"])
    requests = {kind: sum(r.requests for r in rs) for kind, rs in results.items()}
    for kind, rs in results.items():
        for n, result in enumerate(rs):
            report.add_load(f"{kind} readers, round {n + 1}", result)
    rules_name = f"{args.mutes} mutes, {args.blocks} blocks, {args.filters} keyword filters"
    report.figure(
        f"home read throughput, viewer with {rules_name}", rules_rate, "req/s",
        ceiling=plain_rate, ceiling_name="the plain read, same run", goal=">= 90% of the plain read",
    )  # fmt: skip
    report.figure(
        "home read p99 with the rules (worst round)", rules_p99, "ms", ceiling=plain_p99, ceiling_name="plain"
    )
    report.figure(
        "API CPU per home read with the rules",
        cpu["rules"] / max(requests["rules"], 1) * 1e6, "us",
        ceiling=cpu["plain"] / max(requests["plain"], 1) * 1e6, ceiling_name="plain",
    )  # fmt: skip
    errors = {kind: sum(r.errors for r in rs) for kind, rs in results.items()}
    report.extra.update(errors=errors, rule_rows=rows, ratio=round(rules_rate / max(plain_rate, 1e-9), 3))
    report.extra["load_average_after"] = os.getloadavg()
    log(f"ratio (rules / plain): {report.extra['ratio']:.3f} (goal >= 0.90)")
    report.write()
    return 0 if not any(errors.values()) else 1


if __name__ == "__main__":
    import sys

    sys.exit(main(sys.argv[1:]))
