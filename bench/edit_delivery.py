"""An edit's `status.update` → websocket frame at every one of 1,000 connected followers, beside a new post's
`update` in the same run: `python -m bench edit_delivery`.

Issue 23 asks for the edit's delivery measured as `streaming_delivery` measures a new post's (p50/p99, from
just before the request is sent to the moment each follower's socket receives the frame), beside the
new-post figure of the same run. This scenario reuses that one's machinery (bench/streaming_common.py: the
audience loaded with COPY, the one client process holding every follower's socket, the latency matching;
bench/streaming_delivery.py: the post series and the CPU accounting) and adds the edits:

- One API process, one `timeline` worker process (a new post: home timelines written, then the live
  `update`) and one `streaming` worker process (an edit: its `post.edited` event, then a `status.update`
  rendered for each connected follower), as in production; loopback only.
- Phase 1: `--posts` new posts, one every `--interval` s (the new-post figure). Phase 2, after every frame
  of phase 1 has arrived: each of those posts edited once (`PUT /api/v1/statuses/:id`), one every
  `--interval` s (the edit figure). A frame is the edit's when it arrives after phase 2 began (the client
  records the post id of each frame, which an `update` and a `status.update` share).
- The ceiling is the new post's delivery of the same run and sockets; the bare-relay ceiling of
  streaming_delivery applies to both and is that scenario's (not rerun here, to keep the run short).
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

from bench.harness import CpuSnapshot, Report, bench_stack, log, percentiles, spawn_api
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
from bench.streaming_delivery import _cpu_per_event, _post_series


async def _edit_series(base_url: str, token: str, post_ids: list[int], interval: float) -> dict[int, float]:
    """Edit each post once, one every `interval` s; post id → time the PUT was sent."""
    import aiohttp

    sent: dict[int, float] = {}
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession() as session:
        for n, post_id in enumerate(post_ids):
            started = time.time()
            body = {"status": f"live post {n}, edited"}
            async with session.put(f"{base_url}/api/v1/statuses/{post_id}", json=body, headers=headers) as response:
                if response.status != 200:
                    raise RuntimeError(f"editing failed: {response.status} {await response.text()}")
            sent[post_id] = started
            await asyncio.sleep(max(interval - (time.time() - started), 0))
    return sent


def _arrivals(result: dict[str, Any], *, after: float = 0.0, before: float = float("inf")) -> dict[str, Any]:
    """The client's arrivals within [after, before): one phase's frames."""
    kept = [(t, i) for t, i in zip(result["times"], result["ids"], strict=True) if after <= t < before]
    return {"times": [t for t, _ in kept], "ids": [i for _, i in kept]}


def _phases(args: Any, env: dict[str, str]) -> tuple[Latencies, Latencies, dict[str, float], dict[str, float]]:
    """Run both phases against Chirp; (new posts, edits, CPU per post, CPU per edit)."""
    audience = asyncio.run(seed_audience(env, 1, args.followers))
    author, token = audience.authors[0], audience.author_tokens[0]
    api = spawn_api(env)
    timeline = spawn_worker(env, "timeline", 901)
    streaming = spawn_worker(env, "streaming", 902)
    client = Client(f"ws://127.0.0.1:{api.port}/api/v1/streaming?stream=user", audience.follower_tokens)
    roles = {api.pid: "API", timeline.pid: "timeline worker", streaming.pid: "streaming worker", client.pid: "client"}
    try:
        opened = client.wait_ready()
        waited = asyncio.run(wait_online(env["REDIS_URL"], audience.followers[author]))
        asyncio.run(wait_timelines(env["REDIS_URL"], audience.followers[author]))
        log(f"chirp: {opened} follower sockets open and present ({waited:.1f} s after opening)")
        base_url = f"http://127.0.0.1:{api.port}"
        warm, _, _ = asyncio.run(_post_series(base_url, token, 3, 0.3))  # warm-up, not measured
        asyncio.run(_edit_series(base_url, token, list(warm), 0.3))
        time.sleep(1.0)
        before = CpuSnapshot.now()
        posted, _, _ = asyncio.run(_post_series(base_url, token, args.posts, args.interval))
        time.sleep(max(2.0, args.interval * 2))
        post_cpu = _cpu_per_event(before, CpuSnapshot.now(), roles, len(posted))
        edits_began = time.time()
        before = CpuSnapshot.now()
        edited = asyncio.run(_edit_series(base_url, token, list(posted), args.interval))
        time.sleep(max(2.0, args.interval * 2))
        edit_cpu = _cpu_per_event(before, CpuSnapshot.now(), roles, len(edited))
        result = client.finish()
    finally:
        for process in (api, timeline, streaming):
            process.stop()
        if client.process.poll() is None:
            client.process.kill()
    expected = dict.fromkeys(posted, args.followers)
    new_posts = latencies(posted, _arrivals(result, before=edits_began), expected)
    edits = latencies(edited, _arrivals(result, after=edits_began), expected)
    return new_posts, edits, post_cpu, edit_cpu


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.edit_delivery")
    parser.add_argument("--tiny", action="store_true", help="a seconds-long run at a tiny size (make test)")
    parser.add_argument("--followers", type=int, default=1000)
    parser.add_argument("--posts", type=int, default=30, help="new posts, then as many edits")
    parser.add_argument("--interval", type=float, default=0.25, help="seconds between requests")
    args = parser.parse_args(argv)
    if args.tiny:
        args.followers, args.posts, args.interval = 20, 5, 0.1
    raise_open_files_limit()
    report = Report(
        "edit_delivery", params={"followers": args.followers, "posts": args.posts, "interval_s": args.interval}
    )
    with bench_stack(only=("postgres", "valkey"), extra_env={"CHIRP_JOB_POLL_SECONDS": "1"}) as env:
        new_posts, edits, post_cpu, edit_cpu = _phases(args, env)

    post_figures, edit_figures = new_posts.figures(), edits.figures()
    ceiling_name = "a new post's `update` to the same sockets, same run"
    for name in ("p50", "p99", "max"):
        report.figure(
            f"edit → status.update frame {name} (every follower)", edit_figures[name], "ms",
            ceiling=post_figures[name], ceiling_name=ceiling_name,
        )  # fmt: skip
    report.figure(
        "edit → last follower's frame p50",
        percentiles(edits.per_event_last_ms)["p50"],
        "ms",
        ceiling=percentiles(new_posts.per_event_last_ms)["p50"],
        ceiling_name=ceiling_name,
    )
    report.figure("edit frames missing", edits.missing, "frames", goal="0")
    report.figure("new-post frames missing", new_posts.missing, "frames", goal="0")
    report.figure(
        "machine CPU per edit (all processes)", edit_cpu["machine"], "ms",
        ceiling=post_cpu["machine"], ceiling_name="per new post, same run",
    )  # fmt: skip
    for role in ("API", "timeline worker", "streaming worker", "client", "valkey-server", "postgres"):
        if role in edit_cpu:
            report.figure(f"CPU per edit: {role}", edit_cpu[role], "ms")
    report.extra.update(
        {
            "new_post": {"latency_ms": post_figures, "frames": len(new_posts.samples_ms), "missing": new_posts.missing},
            "edit": {"latency_ms": edit_figures, "frames": len(edits.samples_ms), "missing": edits.missing},
            "cpu_ms_per_post": post_cpu,
            "cpu_ms_per_edit": edit_cpu,
        }
    )
    report.write()
    log(
        f"edit p50 {edit_figures['p50']:.1f} ms / p99 {edit_figures['p99']:.1f} ms beside new post "
        f"p50 {post_figures['p50']:.1f} ms / p99 {post_figures['p99']:.1f} ms"
    )
    return 0 if edits.missing == 0 and new_posts.missing == 0 else 1


if __name__ == "__main__":
    import sys

    sys.exit(main(sys.argv[1:]))
