"""The load generator, run as its own process: `python -m bench.load SPEC.json OUT.json`.

Closed loop: `connections` workers each send the next request when the last one answered. Open loop:
requests start at a constant `rate` whatever the answers, and latency counts from the scheduled start,
so queueing in a slow server shows up instead of silently lowering the offered load.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from itertools import cycle
from typing import Any

import aiohttp
import uvloop


async def closed_loop(session: aiohttp.ClientSession, spec: dict[str, Any]) -> list[tuple[float, float, int]]:
    samples: list[tuple[float, float, int]] = []
    urls = cycle(spec["urls"])
    started = time.perf_counter()
    deadline = started + spec["duration"]

    async def worker() -> None:
        while time.perf_counter() < deadline and len(samples) < spec["max_requests"]:
            url = next(urls)
            sent = time.perf_counter()
            try:
                async with session.get(url) as response:
                    await response.read()
                    status = response.status
            except aiohttp.ClientError:
                status = 0
            samples.append((sent - started, time.perf_counter() - sent, status))

    await asyncio.gather(*(worker() for _ in range(spec["connections"])))
    return samples


async def open_loop(session: aiohttp.ClientSession, spec: dict[str, Any]) -> list[tuple[float, float, int]]:
    samples: list[tuple[float, float, int]] = []
    urls = cycle(spec["urls"])
    interval = 1.0 / spec["rate"]
    total = min(int(spec["rate"] * spec["duration"]), spec["max_requests"])
    started = time.perf_counter()

    async def one(scheduled: float, url: str) -> None:
        try:
            async with session.get(url) as response:
                await response.read()
                status = response.status
        except aiohttp.ClientError:
            status = 0
        samples.append((scheduled - started, time.perf_counter() - scheduled, status))

    tasks = []
    for i in range(total):
        scheduled = started + i * interval
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(scheduled, next(urls))))
    await asyncio.gather(*tasks)
    return samples


async def run(spec: dict[str, Any]) -> dict[str, Any]:
    connector = aiohttp.TCPConnector(limit=spec["connections"], force_close=False)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=connector, headers=spec["headers"], timeout=timeout) as session:
        started = time.perf_counter()
        samples = await (open_loop(session, spec) if spec["rate"] else closed_loop(session, spec))
        duration = time.perf_counter() - started
    return {"duration": duration, "samples": samples}


def main(spec_path: str, out_path: str) -> None:
    with open(spec_path) as spec_file:
        spec = json.load(spec_file)
    result = uvloop.run(run(spec))
    with open(out_path, "w") as out:
        json.dump(result, out)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
