"""How many streams one API process holds, and whether it keeps up: `python -m bench.streaming_capacity`.

The issue's targets, on one API process:
- 10,000 concurrent idle websockets with RSS growth < 30 KB per connection;
- 10,000 connections each receiving one event a second with no growing lag.

- `--authors` authors (10), each followed by its own `--followers` accounts (1,000): 10,000 `user`
  streams, every one authenticated, subscribed to its user channel, present, its home timeline cached.
- Idle: the API process's RSS after a warm-up (50 sockets opened and closed), then with every socket
  open; growth per connection. Ceiling, same run: the bare aiohttp relay (bench/stream_relay.py) holding
  the same number of idle sockets from the same client.
- Load: each author posts once a second (the authors staggered), for `--duration` seconds, so each socket
  gets one `update` a second (10,000 frames/s in all); latency from just before each POST to each frame,
  per second of the run: a growing lag shows as a rising line and a last-10-seconds p99 above the first's.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

from bench.harness import LoadResult, Report, bench_stack, log, percentiles, spawn_api
from bench.memory import rss_kib
from bench.streaming_common import (
    Client,
    cpu_seconds,
    raise_open_files_limit,
    seed_audience,
    spawn_relay,
    spawn_worker,
    wait_online,
    wait_timelines,
)

TARGET_KB_PER_CONNECTION = 30.0
WARM_UP_SOCKETS = 50


async def _post_steadily(base_url: str, tokens: list[str], duration: float) -> dict[int, float]:
    """Each token posts once a second, the tokens spread evenly over the second; post id → time sent."""
    import aiohttp

    sent: dict[int, float] = {}
    step = 1.0 / len(tokens)
    start = time.time() + 0.5

    async def post(session: aiohttp.ClientSession, token: str, at: float, n: int) -> None:
        await asyncio.sleep(max(at - time.time(), 0))
        begun = time.time()
        async with session.post(
            f"{base_url}/api/v1/statuses", json={"status": f"tick {n}"}, headers={"Authorization": f"Bearer {token}"}
        ) as response:
            body = await response.json()
        if response.status == 200:
            sent[int(body["id"])] = begun

    async with aiohttp.ClientSession() as session:
        tasks = [
            asyncio.ensure_future(post(session, token, start + second + i * step, second))
            for second in range(int(duration))
            for i, token in enumerate(tokens)
        ]
        await asyncio.gather(*tasks)
    return sent


def _per_second(samples: list[tuple[float, float]]) -> dict[int, dict[str, float]]:
    buckets: dict[int, list[float]] = {}
    for at, ms in samples:
        buckets.setdefault(int(at), []).append(ms)
    return {second: percentiles(values) for second, values in sorted(buckets.items())}


def _slope(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of (x, y) points: how fast y grows with x."""
    if len(points) < 2:
        return 0.0
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    mean_x, mean_y = statistics.fmean(xs), statistics.fmean(ys)
    spread = sum((x - mean_x) ** 2 for x in xs)
    return sum((x - mean_x) * (y - mean_y) for x, y in points) / spread if spread else 0.0


def _idle_growth(pid: int, client: Client, baseline_kib: int) -> tuple[int, float]:
    opened = client.wait_ready()
    time.sleep(3.0)  # let the server settle (presence writes, timeline builds)
    grown = rss_kib(pid) - baseline_kib
    return opened, grown / max(opened, 1)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.streaming_capacity")
    parser.add_argument("--tiny", action="store_true", help="a seconds-long run at a tiny size (make test)")
    parser.add_argument("--authors", type=int, default=10)
    parser.add_argument("--followers", type=int, default=1000, help="followers per author")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of one event a second per socket")
    args = parser.parse_args(argv)
    if args.tiny:
        args.authors, args.followers, args.duration = 2, 20, 4.0
    raise_open_files_limit()
    sockets = args.authors * args.followers
    report = Report(
        "streaming_capacity",
        params={"sockets": sockets, "authors": args.authors, "followers": args.followers, "duration_s": args.duration},
    )
    with bench_stack(only=("postgres", "valkey")) as env:
        audience = asyncio.run(seed_audience(env, args.authors, args.followers))
        followers = [f for group in audience.followers.values() for f in group]
        api = spawn_api(env)
        worker = spawn_worker(env)
        url = f"ws://127.0.0.1:{api.port}/api/v1/streaming?stream=user"
        try:
            warm = Client(url, audience.follower_tokens[:WARM_UP_SOCKETS])
            warm.wait_ready()
            warm.finish()
            time.sleep(2.0)
            baseline = rss_kib(api.pid)
            client = Client(url, audience.follower_tokens)
            opened, chirp_kib = _idle_growth(api.pid, client, baseline)
            asyncio.run(wait_online(env["REDIS_URL"], followers))
            asyncio.run(wait_timelines(env["REDIS_URL"], followers))
            log(f"chirp: {opened} idle streams, RSS {baseline / 1024:.0f} → {rss_kib(api.pid) / 1024:.0f} MiB")
            cpu_before = cpu_seconds(api.pid)
            sent = asyncio.run(_post_steadily(f"http://127.0.0.1:{api.port}", audience.author_tokens, args.duration))
            api_cpu = (cpu_seconds(api.pid) - cpu_before) / args.duration
            time.sleep(3.0)
            result = client.finish()
        finally:
            for process in (api, worker):
                process.stop()
        relay = spawn_relay(env, "raw")
        try:
            relay_baseline = rss_kib(relay.pid)
            relay_client = Client(f"ws://127.0.0.1:{relay.port}/api/v1/streaming", audience.follower_tokens)
            _, relay_kib = _idle_growth(relay.pid, relay_client, relay_baseline)
            relay_client.finish()
        finally:
            relay.stop()

    samples: list[tuple[float, float]] = []
    for arrived, post_id in zip(result["times"], result["ids"], strict=True):
        if post_id in sent:
            samples.append((arrived, (arrived - sent[post_id]) * 1000))
    first = min((s[0] for s in samples), default=0.0)
    relative = [(at - first, ms) for at, ms in samples]
    seconds = _per_second(relative)
    expected = len(sent) * args.followers
    overall = percentiles([ms for _, ms in relative])
    window = max(int(args.duration / 6), 1)
    head = percentiles([ms for at, ms in relative if at < window])
    tail = percentiles([ms for at, ms in relative if at >= args.duration - window])
    trend = _slope([(float(s), v["p99"]) for s, v in seconds.items()])

    report.figure(
        "RSS growth per idle stream", chirp_kib, "KiB",
        ceiling=relay_kib, ceiling_name="bare aiohttp relay, same sockets",
        goal=f"< {TARGET_KB_PER_CONNECTION:g} KB",
    )  # fmt: skip
    report.figure("idle streams held", opened, "sockets", goal=f"{sockets}")
    report.figure("frames delivered per second", len(samples) / args.duration, "frames/s", goal=f"{sockets}/s")
    report.figure("post → frame p50 under load", overall["p50"], "ms")
    report.figure("post → frame p99 under load", overall["p99"], "ms")
    report.figure(f"p99, first {window} s", head["p99"], "ms")
    report.figure(f"p99, last {window} s", tail["p99"], "ms", goal="no higher than the first: no growing lag")
    report.figure("p99 trend", trend * 60, "ms per minute", goal="about 0")
    report.figure("frames missing", max(expected - len(samples), 0), "frames", goal="0")
    report.figure("API process CPU under load", api_cpu * 100, "% of one core")
    load = LoadResult(
        mode="streams",
        duration=args.duration,
        requests=len(samples),
        errors=max(expected - len(samples), 0),
        throughput=len(samples) / args.duration,
        latencies_ms=overall,
        samples=[(at, ms / 1000, 200) for at, ms in relative],
    )
    report.add_load("chirp", load)
    if samples:
        report.plot_latency_over_time("lag", {"post → frame": load})
    report.extra.update(
        {
            "per_second": {str(k): v for k, v in seconds.items()},
            "client": {k: result[k] for k in ("open", "failures", "connect_seconds", "other_frames", "closed")},
            "rss_baseline_kib": baseline,
        }
    )
    report.write()
    return 0 if samples else 1


if __name__ == "__main__":
    import sys

    sys.exit(main(sys.argv[1:]))
