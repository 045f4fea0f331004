"""Streaming delivery with every viewer's rules: `python -m bench safety_streaming` (issue 22).

The issue's target: post → `update` frame at 1,000 connected followers, each with 100 mutes, 100 blocks and
5 keyword filters, within 10% of the same delivery without the rules, measured in the same run.

- One author, `--followers` followers with a websocket each (`stream=user`), one API process and one
  worker, as `bench.streaming_delivery`.
- First `--posts` posts with no rules anywhere (the baseline); then every follower gets the rules
  (`bench.safety_rules`: mutes and blocks of other followers, never the author; filters whose words the
  posts lack, so every post still reaches every socket) and the same series runs again on the same
  sockets and processes; then the rules are taken away and a third series runs without them. The ceiling
  is the mean of the two series without rules, so that what changes with time alone (the timelines and
  Valkey growing, a collection) weighs on both sides. Latency per (post, socket), from just before the
  POST to the frame.
"""

from __future__ import annotations

import argparse
import asyncio
import time

from bench import profiling
from bench.harness import RESULTS_DIR, CpuSnapshot, Report, bench_stack, cpu_by_role, log, spawn_api
from bench.safety_rules import add_rules, remove_rules
from bench.streaming_common import (
    Client,
    Latencies,
    latencies,
    raise_open_files_limit,
    seed_audience,
    spawn_worker,
    wait_online,
    wait_timelines,
)
from bench.streaming_delivery import _post_series

Series = tuple[dict[int, float], float, dict[str, float]]


def _series(base_url: str, token: str, args: argparse.Namespace, roles: dict[int, str]) -> Series:
    """One measured series: (post id → time sent, machine CPU seconds used, CPU seconds by process role)."""
    before = CpuSnapshot.now()
    sent, _, _ = asyncio.run(_post_series(base_url, token, args.posts, args.interval))
    time.sleep(max(2.0, args.interval * 2))
    after = CpuSnapshot.now()
    return sent, after.machine - before.machine, cpu_by_role(before, after, roles)


def _profiled_series(
    base_url: str, token: str, args: argparse.Namespace, roles: dict[int, str], kind: str, report: Report
) -> Series:
    """`_series`, with py-spy recordings of the API and the worker over it when `--profile` is given (in
    the report, and in bench/results/safety_streaming-profile-ROLE-KIND.txt)."""
    seconds = args.posts * args.interval + 2
    profiles = [
        profiling.start_profile(
            f"{role} ({kind})", pid, seconds, RESULTS_DIR / f"safety_streaming-profile-{role}-{kind}.txt", rate=250
        )
        for pid, role in roles.items()
        if args.profile
    ]
    series = _series(base_url, token, args, roles)
    for profile in profiles:
        profiling.add_to_report(report, profile, profile.wait(), f"Profile of the {profile.name} (py-spy)")
    return series


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench safety_streaming")
    parser.add_argument("--tiny", action="store_true", help="a seconds-long run at a tiny size (make test)")
    parser.add_argument("--followers", type=int, default=1000)
    parser.add_argument("--posts", type=int, default=30)
    parser.add_argument("--interval", type=float, default=0.25, help="seconds between posts")
    parser.add_argument("--mutes", type=int, default=100)
    parser.add_argument("--blocks", type=int, default=100)
    parser.add_argument("--filters", type=int, default=5)
    parser.add_argument("--profile", action="store_true", help="py-spy the API and worker over both series")
    args = parser.parse_args(argv)
    args.profile = profiling.usable(args.profile)
    if args.tiny:
        args.followers, args.posts, args.interval, args.mutes, args.blocks = 20, 5, 0.1, 5, 5
    raise_open_files_limit()
    report = Report("safety_streaming", params={k: v for k, v in vars(args).items() if k not in ("tiny", "profile")})
    with bench_stack(only=("postgres", "valkey"), extra_env={"CHIRP_JOB_POLL_SECONDS": "1"}) as env:
        audience = asyncio.run(seed_audience(env, 1, args.followers))
        author = audience.authors[0]
        viewers = audience.followers[author]
        api = spawn_api(env)
        worker = spawn_worker(env)
        client = Client(f"ws://127.0.0.1:{api.port}/api/v1/streaming?stream=user", audience.follower_tokens)
        runs: dict[str, Series] = {}
        roles = {api.pid: "api", worker.pid: "worker"}
        try:
            opened = client.wait_ready()
            asyncio.run(wait_online(env["REDIS_URL"], viewers))
            asyncio.run(wait_timelines(env["REDIS_URL"], viewers))
            log(f"{opened} follower sockets open and present")
            base_url = f"http://127.0.0.1:{api.port}"
            token = audience.author_tokens[0]
            asyncio.run(_post_series(base_url, token, 3, 0.3))  # warm-up, not measured
            time.sleep(1.0)
            runs["plain"] = _profiled_series(base_url, token, args, roles, "plain", report)
            rules = {"mutes": args.mutes, "blocks": args.blocks, "filters": args.filters}
            rows = asyncio.run(add_rules(env["DATABASE_URL"], viewers, viewers, **rules))
            log(f"rules: {rows:,} rows for {len(viewers)} followers")
            asyncio.run(_post_series(base_url, token, 3, 0.3))  # warm-up with the rules, not measured
            time.sleep(1.0)
            runs["rules"] = _profiled_series(base_url, token, args, roles, "rules", report)
            rows = asyncio.run(remove_rules(env["DATABASE_URL"], viewers))
            log(f"rules taken away: {rows:,} rows")
            asyncio.run(_post_series(base_url, token, 3, 0.3))  # warm-up without the rules, not measured
            time.sleep(1.0)
            runs["plain after"] = _profiled_series(base_url, token, args, roles, "plain-after", report)
            result = client.finish()
        finally:
            for process in (api, worker):
                process.stop()
            if client.process.poll() is None:
                client.process.kill()

    measured: dict[str, Latencies] = {
        kind: latencies(sent, result, dict.fromkeys(sent, args.followers)) for kind, (sent, _, _) in runs.items()
    }
    before, after, ruled = (measured[kind].figures() for kind in ("plain", "plain after", "rules"))
    plain = {pct: (before[pct] + after[pct]) / 2 for pct in ("p50", "p99")}
    rules_name = f"{args.mutes} mutes, {args.blocks} blocks, {args.filters} filters on every follower"
    for pct in ("p50", "p99"):
        report.figure(
            f"post → frame {pct}, {rules_name}", ruled[pct], "ms", ceiling=plain[pct],
            ceiling_name=f"no rules, same run: mean of {before[pct]:.1f} before and {after[pct]:.1f} after",
            goal="within 10% of no rules",
        )  # fmt: skip

    def per_post(kind: str, role: str | None = None) -> float:
        sent, machine, by_role = runs[kind]
        return (machine if role is None else by_role.get(role, 0.0)) * 1000 / max(len(sent), 1)

    for role in (None, "api", "worker", "postgres", "valkey-server"):
        report.figure(
            f"{role or 'machine'} CPU per post with the rules", per_post("rules", role), "ms",
            ceiling=(per_post("plain", role) + per_post("plain after", role)) / 2, ceiling_name="no rules (mean)",
        )  # fmt: skip
    report.figure("frames missing with the rules", measured["rules"].missing, "frames", goal="0")
    report.extra.update(
        {
            kind: {"latency_ms": m.figures(), "frames": len(m.samples_ms), "missing": m.missing}
            for kind, m in measured.items()
        }
    )
    report.extra["ratio_p50"] = round(ruled["p50"] / max(plain["p50"], 1e-9), 3)
    report.extra["ratio_p99"] = round(ruled["p99"] / max(plain["p99"], 1e-9), 3)
    log(f"p50 rules/plain {report.extra['ratio_p50']}, p99 {report.extra['ratio_p99']} (goal <= 1.10)")
    report.write()
    return 0 if all(m.missing == 0 for m in measured.values()) else 1


if __name__ == "__main__":
    import sys

    sys.exit(main(sys.argv[1:]))
