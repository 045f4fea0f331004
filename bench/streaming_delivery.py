"""Post → websocket frame at every one of 1,000 connected followers: `python -m bench.streaming_delivery`.

The issue's target: p50 < 20 ms, p99 < 100 ms, measured from just before the author's
`POST /api/v1/statuses` is sent to the moment each follower's socket receives the `update` frame.

- One author, `--followers` followers (each with a token), loaded with COPY.
- One API process (`chirp serve`), one fan-out worker process (the production `timeline` queue: home
  timelines written, then the live publish), one client process holding every follower's websocket
  (`stream=user`; bench/stream_client.py), all on this machine, loopback only.
- `--posts` posts, one every `--interval` seconds, each reaching every socket; latency per (post, socket).
- The ceiling, same run, same client and sockets: a bare aiohttp relay (bench/stream_relay.py) receiving
  one PUBLISH of a frame as large as Chirp's and writing it to every socket; timed from just before the
  PUBLISH. Measured twice: aiohttp's `send_str` per socket, and one frame written to every transport.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

import orjson

from bench.harness import CpuSnapshot, Report, bench_stack, cpu_by_role, log, percentiles, spawn_api
from bench.streaming_common import (
    Client,
    Latencies,
    latencies,
    raise_open_files_limit,
    seed_audience,
    spawn_relay,
    spawn_worker,
    wait_online,
    wait_timelines,
)

TARGET_P50_MS = 20.0
TARGET_P99_MS = 100.0


async def _post_series(
    base_url: str, token: str, posts: int, interval: float
) -> tuple[dict[int, float], dict[int, float], dict[str, Any]]:
    """Post `posts` statuses; (post id → time sent, post id → time the response arrived, a status)."""
    import aiohttp

    sent: dict[int, float] = {}
    answered: dict[int, float] = {}
    sample: dict[str, Any] = {}
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession() as session:
        for n in range(posts):
            started = time.time()
            async with session.post(
                f"{base_url}/api/v1/statuses", json={"status": f"live post {n}"}, headers=headers
            ) as response:
                body = await response.json()
                if response.status != 200:
                    raise RuntimeError(f"posting failed: {response.status} {body}")
            post_id = int(body["id"])
            sent[post_id] = started
            answered[post_id] = time.time()
            sample = body
            await asyncio.sleep(max(interval - (time.time() - started), 0))
    return sent, answered, sample


async def _publish_series(redis_url: str, status: dict[str, Any], count: int, interval: float) -> dict[int, float]:
    """The ceiling's load: a Chirp-sized update frame PUBLISHed `count` times; frame id → time published."""
    from redis.asyncio import Redis

    from bench.stream_relay import CHANNEL

    redis = Redis.from_url(redis_url)
    sent: dict[int, float] = {}
    try:
        for n in range(count):
            event_id = 10**17 + n
            payload = orjson.dumps({**status, "id": str(event_id)}).decode()
            frame = orjson.dumps({"stream": ["user"], "event": "update", "payload": payload, "id": f"{event_id}_0"})
            sent[event_id] = time.time()
            await redis.publish(CHANNEL, frame)
            await asyncio.sleep(interval)
    finally:
        await redis.aclose()
    return sent


def _relay_run(
    env: dict[str, str], mode: str, tokens: list[str], status: dict[str, Any], args: Any
) -> tuple[Latencies, dict[str, float]]:
    relay = spawn_relay(env, mode)
    client = Client(f"ws://127.0.0.1:{relay.port}/api/v1/streaming", tokens)
    try:
        opened = client.wait_ready()
        log(f"ceiling ({mode}): {opened} sockets open")
        time.sleep(1.0)
        before = CpuSnapshot.now()
        sent = asyncio.run(_publish_series(env["REDIS_URL"], status, args.posts, args.interval))
        time.sleep(max(2.0, args.interval * 2))
        cpu = _cpu_per_event(before, CpuSnapshot.now(), {relay.pid: "relay", client.pid: "client"}, len(sent))
        result = client.finish()
    finally:
        relay.stop()
        if client.process.poll() is None:
            client.process.kill()
    return latencies(sent, result, dict.fromkeys(sent, len(tokens))), cpu


def _cpu_per_event(before: CpuSnapshot, after: CpuSnapshot, roles: dict[int, str], events: int) -> dict[str, float]:
    """Milliseconds of CPU per post (or published frame) each process used, the machine's total first."""
    used = cpu_by_role(before, after, roles)
    per_event = {role: seconds * 1000 / max(events, 1) for role, seconds in used.items() if seconds > 0.0005}
    return {"machine": (after.machine - before.machine) * 1000 / max(events, 1), **per_event}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.streaming_delivery")
    parser.add_argument("--tiny", action="store_true", help="a seconds-long run at a tiny size (make test)")
    parser.add_argument("--followers", type=int, default=1000)
    parser.add_argument("--posts", type=int, default=40)
    parser.add_argument("--interval", type=float, default=0.25, help="seconds between posts")
    args = parser.parse_args(argv)
    if args.tiny:
        args.followers, args.posts, args.interval = 20, 5, 0.1
    raise_open_files_limit()
    report = Report(
        "streaming_delivery", params={"followers": args.followers, "posts": args.posts, "interval_s": args.interval}
    )
    with bench_stack(only=("postgres", "valkey"), extra_env={"CHIRP_JOB_POLL_SECONDS": "1"}) as env:
        audience = asyncio.run(seed_audience(env, 1, args.followers))
        author = audience.authors[0]
        api = spawn_api(env)
        worker = spawn_worker(env)
        client = Client(f"ws://127.0.0.1:{api.port}/api/v1/streaming?stream=user", audience.follower_tokens)
        try:
            opened = client.wait_ready()
            waited = asyncio.run(wait_online(env["REDIS_URL"], audience.followers[author]))
            asyncio.run(wait_timelines(env["REDIS_URL"], audience.followers[author]))
            log(f"chirp: {opened} follower sockets open and present ({waited:.1f} s after opening)")
            base_url = f"http://127.0.0.1:{api.port}"
            asyncio.run(_post_series(base_url, audience.author_tokens[0], 3, 0.3))  # warm-up, not measured
            time.sleep(1.0)
            before = CpuSnapshot.now()
            sent, answered, status = asyncio.run(
                _post_series(base_url, audience.author_tokens[0], args.posts, args.interval)
            )
            time.sleep(max(2.0, args.interval * 2))
            roles = {api.pid: "API", worker.pid: "worker", client.pid: "client"}
            chirp_cpu = _cpu_per_event(before, CpuSnapshot.now(), roles, len(sent))
            result = client.finish()
        finally:
            for process in (api, worker):
                process.stop()
            if client.process.poll() is None:
                client.process.kill()
        chirp = latencies(sent, result, dict.fromkeys(sent, args.followers))
        after_commit = latencies(answered, result, dict.fromkeys(sent, args.followers))
        runs = {mode: _relay_run(env, mode, audience.follower_tokens, status, args) for mode in ("raw", "send_str")}
        ceilings = {mode: latency for mode, (latency, _) in runs.items()}
        relay_cpu = runs["raw"][1]

    figures = chirp.figures()
    raw, naive = ceilings["raw"].figures(), ceilings["send_str"].figures()
    ceiling_name = "bare relay, one PUBLISH, one frame written to each transport"
    report.figure(
        "post → frame p50 (every follower)", figures["p50"], "ms",
        ceiling=raw["p50"], ceiling_name=ceiling_name, goal=f"< {TARGET_P50_MS:g} ms",
    )  # fmt: skip
    report.figure(
        "post → frame p99 (every follower)", figures["p99"], "ms",
        ceiling=raw["p99"], ceiling_name=ceiling_name, goal=f"< {TARGET_P99_MS:g} ms",
    )  # fmt: skip
    report.figure("post → frame max", figures["max"], "ms", ceiling=raw["max"], ceiling_name=ceiling_name)
    report.figure(
        "post → last follower's frame p50",
        percentiles(chirp.per_event_last_ms)["p50"],
        "ms",
        ceiling=percentiles(ceilings["raw"].per_event_last_ms)["p50"],
        ceiling_name=ceiling_name,
    )
    report.figure("committed (response) → frame p50", after_commit.figures()["p50"], "ms")
    # The part of the budget spent before any fan-out can start: the author's POST itself.
    round_trips = [(answered[post_id] - sent[post_id]) * 1000 for post_id in answered if post_id in sent]
    report.figure("POST round trip p50", percentiles(round_trips)["p50"] if round_trips else 0.0, "ms")
    report.figure(
        "bare relay with aiohttp send_str per socket: p50", naive["p50"], "ms", goal="reference: the naive relay"
    )
    report.figure("bare relay with aiohttp send_str per socket: p99", naive["p99"], "ms")
    report.figure("frames missing", chirp.missing, "frames", goal="0")
    # Where the machine's two cores go per post: every process runs on them, the client included.
    report.figure(
        "machine CPU per post (all processes)", chirp_cpu["machine"], "ms",
        ceiling=relay_cpu["machine"], ceiling_name="the bare relay's, per published frame",
    )  # fmt: skip
    for role in ("API", "client", "worker", "valkey-server", "postgres"):
        if role in chirp_cpu:
            report.figure(f"CPU per post: {role}", chirp_cpu[role], "ms")
    for role in ("relay", "client"):
        if role in relay_cpu:
            report.figure(f"bare relay CPU per frame: {role}", relay_cpu[role], "ms")
    report.extra.update(
        {
            "chirp": {"latency_ms": figures, "frames": len(chirp.samples_ms), "expected": chirp.expected},
            "ceiling_raw": {"latency_ms": raw, "missing": ceilings["raw"].missing},
            "ceiling_send_str": {"latency_ms": naive, "missing": ceilings["send_str"].missing},
            "client": {k: result[k] for k in ("open", "failures", "connect_seconds", "other_frames", "closed")},
            "cpu_ms_per_post": chirp_cpu,
            "relay_cpu_ms_per_frame": relay_cpu,
        }
    )
    report.write()
    met = figures["p50"] < TARGET_P50_MS and figures["p99"] < TARGET_P99_MS and chirp.missing == 0
    log(f"targets {'met' if met else 'NOT met'} (p50 < {TARGET_P50_MS:g} ms, p99 < {TARGET_P99_MS:g} ms, none missing)")
    return 0 if chirp.missing == 0 else 1


if __name__ == "__main__":
    import sys

    sys.exit(main(sys.argv[1:]))
