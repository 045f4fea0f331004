"""Streaming delivery with every viewer's rules: `python -m bench safety_streaming` (issue 22).

The issue's target: post → `update` frame at 1,000 connected followers, each with 100 mutes, 100 blocks and
5 keyword filters, within 10% of the same delivery without the rules, measured in the same run.

- One author, `--followers` followers with a websocket each (`stream=user`), one API process and one
  worker, as `bench.streaming_delivery`.
- First `--posts` posts with no rules anywhere (the baseline); then every follower gets the rules
  (`bench.safety_rules`: mutes and blocks of other followers, never the author; filters whose words the
  posts lack, so every post still reaches every socket) and the same series runs again on the same
  sockets and processes. Latency per (post, socket), from just before the POST to the frame.
"""

from __future__ import annotations

import argparse
import asyncio
import time

from bench.harness import CpuSnapshot, Report, bench_stack, log, spawn_api
from bench.safety_rules import add_rules
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


def _series(base_url: str, token: str, args: argparse.Namespace) -> tuple[dict[int, float], float]:
    """One measured series; (post id → time sent, machine CPU seconds used)."""
    before = CpuSnapshot.now()
    sent, _, _ = asyncio.run(_post_series(base_url, token, args.posts, args.interval))
    time.sleep(max(2.0, args.interval * 2))
    return sent, CpuSnapshot.now().machine - before.machine


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench safety_streaming")
    parser.add_argument("--tiny", action="store_true", help="a seconds-long run at a tiny size (make test)")
    parser.add_argument("--followers", type=int, default=1000)
    parser.add_argument("--posts", type=int, default=30)
    parser.add_argument("--interval", type=float, default=0.25, help="seconds between posts")
    parser.add_argument("--mutes", type=int, default=100)
    parser.add_argument("--blocks", type=int, default=100)
    parser.add_argument("--filters", type=int, default=5)
    args = parser.parse_args(argv)
    if args.tiny:
        args.followers, args.posts, args.interval, args.mutes, args.blocks = 20, 5, 0.1, 5, 5
    raise_open_files_limit()
    report = Report("safety_streaming", params={k: v for k, v in vars(args).items() if k != "tiny"})
    with bench_stack(only=("postgres", "valkey"), extra_env={"CHIRP_JOB_POLL_SECONDS": "1"}) as env:
        audience = asyncio.run(seed_audience(env, 1, args.followers))
        author = audience.authors[0]
        viewers = audience.followers[author]
        api = spawn_api(env)
        worker = spawn_worker(env)
        client = Client(f"ws://127.0.0.1:{api.port}/api/v1/streaming?stream=user", audience.follower_tokens)
        runs: dict[str, tuple[dict[int, float], float]] = {}
        try:
            opened = client.wait_ready()
            asyncio.run(wait_online(env["REDIS_URL"], viewers))
            asyncio.run(wait_timelines(env["REDIS_URL"], viewers))
            log(f"{opened} follower sockets open and present")
            base_url = f"http://127.0.0.1:{api.port}"
            token = audience.author_tokens[0]
            asyncio.run(_post_series(base_url, token, 3, 0.3))  # warm-up, not measured
            time.sleep(1.0)
            runs["plain"] = _series(base_url, token, args)
            rules = {"mutes": args.mutes, "blocks": args.blocks, "filters": args.filters}
            rows = asyncio.run(add_rules(env["DATABASE_URL"], viewers, viewers, **rules))
            log(f"rules: {rows:,} rows for {len(viewers)} followers")
            asyncio.run(_post_series(base_url, token, 3, 0.3))  # warm-up with the rules, not measured
            time.sleep(1.0)
            runs["rules"] = _series(base_url, token, args)
            result = client.finish()
        finally:
            for process in (api, worker):
                process.stop()
            if client.process.poll() is None:
                client.process.kill()

    measured: dict[str, Latencies] = {
        kind: latencies(sent, result, dict.fromkeys(sent, args.followers)) for kind, (sent, _) in runs.items()
    }
    plain, ruled = measured["plain"].figures(), measured["rules"].figures()
    rules_name = f"{args.mutes} mutes, {args.blocks} blocks, {args.filters} filters on every follower"
    for pct in ("p50", "p99"):
        report.figure(
            f"post → frame {pct}, {rules_name}", ruled[pct], "ms",
            ceiling=plain[pct], ceiling_name="no rules, same run", goal="within 10% of no rules",
        )  # fmt: skip
    report.figure(
        "machine CPU per post with the rules", runs["rules"][1] * 1000 / max(len(runs["rules"][0]), 1), "ms",
        ceiling=runs["plain"][1] * 1000 / max(len(runs["plain"][0]), 1), ceiling_name="no rules",
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
    return 0 if measured["rules"].missing == 0 and measured["plain"].missing == 0 else 1


if __name__ == "__main__":
    import sys

    sys.exit(main(sys.argv[1:]))
