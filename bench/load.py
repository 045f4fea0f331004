"""The load generator, run as its own process: `python -m bench.load SPEC.json OUT.json`.

Closed loop: `connections` workers each send the next request when the last one answered. Open loop:
requests start at a constant `rate` whatever the answers, and latency counts from the scheduled start,
so queueing in a slow server shows up instead of silently lowering the offered load.

The spec (written by `bench.harness.start_load`): `urls` (GETs) or `requests` (`method`, `url`, `headers`,
`body`; a `{n}` in the body becomes the request's sequence number, so every post is unique), sent
round-robin; `duration`, `connections`, `rate`, `headers` (every request), `max_requests`; optionally
`record_ids` (note the `id` of every 2xx JSON answer with when it was scheduled and answered, in epoch
seconds, so the caller can follow what the requests created) and `start_at` (epoch seconds to begin at,
so loads in separate processes run side by side).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from itertools import cycle
from typing import Any

import aiohttp
import orjson
import uvloop

# (method, url, headers, body template)
Request = tuple[str, str, dict[str, str] | None, str | None]


def requests_of(spec: dict[str, Any]) -> list[Request]:
    if spec.get("requests"):
        return [(r["method"], r["url"], r.get("headers") or None, r.get("body")) for r in spec["requests"]]
    return [("GET", url, None, None) for url in spec["urls"]]


class Recorder:
    """The samples (seconds since start, latency, status) and, with `record_ids`, what the answers created."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.record_ids = bool(spec.get("record_ids"))
        self.samples: list[tuple[float, float, int]] = []
        self.records: list[tuple[int, float, float]] = []
        self.started = time.perf_counter()
        self.started_epoch = time.time()

    def note(self, began: float, status: int, payload: bytes) -> None:
        """`began`: the perf_counter time the request was scheduled (open loop) or sent (closed loop)."""
        since_start = began - self.started
        self.samples.append((since_start, time.perf_counter() - began, status))
        if self.record_ids and 200 <= status < 300:
            created = orjson.loads(payload).get("id")
            if created is not None:
                self.records.append((int(created), self.started_epoch + since_start, time.time()))


async def send(session: aiohttp.ClientSession, request: Request, n: int) -> tuple[int, bytes]:
    method, url, headers, body = request
    data = body.replace("{n}", str(n)).encode() if body is not None else None
    try:
        async with session.request(method, url, headers=headers, data=data) as response:
            return response.status, await response.read()
    except (aiohttp.ClientError, TimeoutError):
        return 0, b""


async def closed_loop(session: aiohttp.ClientSession, spec: dict[str, Any], recorder: Recorder) -> dict[str, Any]:
    requests = cycle(requests_of(spec))
    deadline = recorder.started + spec["duration"]
    sent = 0

    async def worker() -> None:
        nonlocal sent
        while time.perf_counter() < deadline and sent < spec["max_requests"]:
            sent += 1
            began = time.perf_counter()
            status, payload = await send(session, next(requests), sent)
            recorder.note(began, status, payload)

    await asyncio.gather(*(worker() for _ in range(spec["connections"])))
    return {}


async def open_loop(session: aiohttp.ClientSession, spec: dict[str, Any], recorder: Recorder) -> dict[str, Any]:
    requests = cycle(requests_of(spec))
    interval = 1.0 / spec["rate"]
    total = min(int(spec["rate"] * spec["duration"]), spec["max_requests"])
    late: list[float] = []  # how far behind schedule each request was dispatched: is the generator keeping up?

    async def one(scheduled: float, request: Request, n: int) -> None:
        status, payload = await send(session, request, n)
        recorder.note(scheduled, status, payload)

    tasks = []
    for i in range(total):
        scheduled = recorder.started + i * interval
        # Sleeping even when behind schedule (0 s) lets answers be read instead of dispatching in a burst.
        await asyncio.sleep(max(scheduled - time.perf_counter(), 0.0))
        late.append(time.perf_counter() - scheduled)
        tasks.append(asyncio.create_task(one(scheduled, next(requests), i)))
    await asyncio.gather(*tasks)
    return {"dispatch_late_ms": quantiles_ms(late)}


def quantiles_ms(seconds: list[float]) -> dict[str, float]:
    ordered = sorted(seconds) or [0.0]
    return {
        name: round(ordered[min(int(q * len(ordered)), len(ordered) - 1)] * 1000, 3)
        for name, q in (("p50", 0.5), ("p99", 0.99), ("max", 1.0))
    }


async def run(spec: dict[str, Any]) -> dict[str, Any]:
    connector = aiohttp.TCPConnector(limit=spec["connections"], force_close=False)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=connector, headers=spec["headers"], timeout=timeout) as session:
        if spec.get("start_at"):
            await asyncio.sleep(max(spec["start_at"] - time.time(), 0.0))
        recorder = Recorder(spec)
        cpu_before = time.process_time()
        loop = open_loop if spec["rate"] else closed_loop
        generator = await loop(session, spec, recorder)
        duration = time.perf_counter() - recorder.started
        generator["cpu_seconds"] = round(time.process_time() - cpu_before, 3)
    return {"duration": duration, "samples": recorder.samples, "records": recorder.records, "generator": generator}


def main(spec_path: str, out_path: str) -> None:
    with open(spec_path) as spec_file:
        spec = json.load(spec_file)
    result = uvloop.run(run(spec))
    with open(out_path, "w") as out:
        json.dump(result, out)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
