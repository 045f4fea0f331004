"""Fan-out lag, measured one way by every scenario that needs it (timeline_fanout, mixed).

- The worker: a separate process running the production `timeline` queue handler (workers/timeline.py)
  under the job runner, wrapped to note when each post's fan-out finished and how many timelines it
  reached; alone, or (`all_queues`) beside every other queue and periodic task `chirp worker` runs.
  Lag = finished - committed, where the caller says when each post committed.
- The ceiling for timeline inserts: one process issuing pipelined ZADDs with redis-py (the raw cost of the
  inserts, with nothing else).

Child-process roles: `python -m bench.fanout_probe --worker OUT.json 'OVERRIDES-JSON'` (stopped by SIGTERM,
then writes OUT) and `python -m bench.fanout_probe --zadd-ceiling OUT.json KEYS SECONDS`.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.harness import ChirpProcess, LoadResult, percentiles, spawn_process

# the worker: the timeline queue, instrumented ------------------------------------------------------


async def run_worker(overrides: dict[str, Any]) -> dict[str, Any]:
    """The production `timeline` queue, its handler wrapped to note finish times. `overrides`: the queue's
    `batch_size`/`concurrency`/`linger` (None keeps the production value) and `all_queues`."""
    import dataclasses

    from config import Settings
    from domain.subscriptions import TIMELINE_QUEUE
    from storage.jobs import Job
    from storage.resources import open_resources
    from workers.queues import all_periodic, all_queues
    from workers.runner import JobRunner, Periodic, Queue
    from workers.timeline import handle_timeline_jobs

    settings = Settings.from_env({**os.environ, "CHIRP_NODE_ID": "902"})
    done: list[tuple[int, float, int]] = []  # (post id, fan-out finished, timelines reached)
    started: list[float] = []
    delivered = 0
    batches = 0

    async def handler(res: Any, jobs: list[Job]) -> None:
        nonlocal delivered, batches
        started.append(time.time())
        deliveries = await handle_timeline_jobs(res, jobs)
        now = time.time()
        done.extend((d.post_id, now, len(d.recipients)) for d in deliveries)
        delivered += sum(len(d.recipients) for d in deliveries)
        batches += 1

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    settings_of_queue = {k: v for k, v in overrides.items() if k != "all_queues" and v is not None}
    production = all_queues()
    timeline = next(q for q in production if q.name == TIMELINE_QUEUE)
    instrumented = dataclasses.replace(timeline, handler=handler, **settings_of_queue)
    queues: list[Queue] = [instrumented]
    periodic: list[Periodic] = []
    if overrides.get("all_queues"):
        queues = [instrumented if q.name == TIMELINE_QUEUE else q for q in production]
        periodic = all_periodic()
    async with open_resources(settings) as res:
        await JobRunner(res, queues, periodic).run(stop)
    return {"done": done, "delivered": delivered, "batches": batches, "first_start": min(started, default=0.0)}


def spawn_probe_worker(env: dict[str, str], out: Path, overrides: dict[str, Any]) -> ChirpProcess:
    """The instrumented worker as its own process; `finish_probe_worker` stops it and reads what it noted."""
    args = ["-m", "bench.fanout_probe", "--worker", str(out), json.dumps(overrides)]
    return spawn_process("fan-out worker", args, env)


def finish_probe_worker(worker: ChirpProcess, out: Path, timeout: float = 60) -> dict[str, Any]:
    """SIGTERM, let it finish the batches in hand, and read its notes."""
    worker.popen.send_signal(signal.SIGTERM)
    worker.popen.wait(timeout=timeout)
    stats: dict[str, Any] = json.loads(out.read_text())
    return stats


def finished_at(stats: dict[str, Any]) -> dict[int, float]:
    """post id -> when its fan-out finished (epoch seconds), from the worker's notes."""
    return {int(post_id): at for post_id, at, *_ in stats["done"]}


def reached(stats: dict[str, Any]) -> dict[int, int]:
    """post id -> how many home timelines its fan-out reached."""
    return {int(post_id): int(count) for post_id, _, count in stats["done"]}


def fanout_lag(
    committed: Sequence[Sequence[float]],
    done: dict[int, float],
    *,
    start: float,
    end: float,
    errors: int,
    rate: float | None,
) -> LoadResult:
    """Fan-out lag of posts `committed` as (post id, scheduled, committed) in epoch seconds between `start`
    and `end`: a LoadResult whose samples are (seconds since `start`, lag, 200) of each post fanned out."""
    lags = [(c - start, done[int(p)] - c) for p, _, c in committed if int(p) in done]
    span = end - start
    return LoadResult(
        mode="open",
        duration=span,
        requests=len(committed),
        errors=errors,
        throughput=round(len(committed) / span, 1) if span > 0 else 0.0,
        latencies_ms=percentiles([lag * 1000 for _, lag in lags]),
        offered_rate=rate,
        samples=[(at, lag, 200) for at, lag in lags],
    )


# the queue -------------------------------------------------------------------------------------------


async def queue_depths(database_url: str) -> dict[str, int]:
    """Jobs ready (or being run) per queue: what the workers have yet to do."""
    import asyncpg

    from storage.jobs import queue_stats

    conn = await asyncpg.connect(database_url)
    try:
        return {stat.queue: stat.ready for stat in await queue_stats(conn)}
    finally:
        await conn.close()


async def queue_depth(database_url: str, queue: str = "timeline") -> int:
    return (await queue_depths(database_url)).get(queue, 0)


def wait_for_queues(database_url: str, queues: Sequence[str] | None, timeout: float) -> dict[str, int]:
    """Until `queues` (None: every queue) hold no ready jobs or `timeout` seconds pass; returns what is left
    in every queue."""
    deadline = time.monotonic() + timeout
    while True:
        depths = asyncio.run(queue_depths(database_url))
        waiting = depths.values() if queues is None else [depths.get(q, 0) for q in queues]
        if not any(waiting) or time.monotonic() > deadline:
            return depths
        time.sleep(0.2)


# the ceiling: raw pipelined ZADDs --------------------------------------------------------------------


async def zadd_ceiling(redis_url: str, keys: int, seconds: float) -> dict[str, float]:
    """As many ZADDs as one redis-py process can pipeline in `seconds` (1,000 per round trip)."""
    from redis.asyncio import Redis

    redis = Redis.from_url(redis_url)
    names = [f"ceiling:{i}" for i in range(keys)]
    done = 0
    started = time.perf_counter()
    score = 1
    try:
        while time.perf_counter() - started < seconds:
            pipe = redis.pipeline(transaction=False)
            for _ in range(1000):
                score += 1
                pipe.zadd(names[score % keys], {score.to_bytes(16, "big"): score})
            await pipe.execute()
            done += 1000
        elapsed = time.perf_counter() - started
        await redis.delete(*names)
    finally:
        await redis.aclose()
    return {"inserts": done, "seconds": elapsed}


def measure_zadd_ceiling(env: dict[str, str], tmp: Path, keys: int, seconds: float) -> float:
    """ZADDs per second of `zadd_ceiling`, run in its own process."""
    out = tmp / "zadd-ceiling.json"
    process = spawn_process(
        "zadd ceiling", ["-m", "bench.fanout_probe", "--zadd-ceiling", str(out), str(keys), str(seconds)], env
    )
    process.popen.wait(timeout=seconds + 60)
    result = json.loads(out.read_text())
    return float(result["inserts"] / result["seconds"])


# child-process roles ---------------------------------------------------------------------------------


def child_role(argv: list[str]) -> int:
    import uvloop

    if argv[0] == "--worker":
        Path(argv[1]).write_text(json.dumps(uvloop.run(run_worker(json.loads(argv[2])))))
        return 0
    if argv[0] == "--zadd-ceiling":
        result = uvloop.run(zadd_ceiling(os.environ["REDIS_URL"], int(argv[2]), float(argv[3])))
        Path(argv[1]).write_text(json.dumps(result))
        return 0
    print(f"unknown role {argv[0]!r}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(child_role(sys.argv[1:]))
