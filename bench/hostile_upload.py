"""Hostile image uploads: the API's memory under 10 concurrent decompression bombs, and the worker's peak
RSS while it processes 10 large (but allowed) images.

    python -m bench hostile_upload [--tiny] [--parallel 10] [--side 7000] [--allowed-side 5000]

A bomb is a small PNG (about 50 KB) that declares SIDE x SIDE pixels; the API must refuse it (422) from its
header, before decoding. The allowed image is a PNG under CHIRP_MEDIA_MAX_PIXELS sent with the sync limit at
0, so the worker decodes it in its pool. The ceiling for memory is each process's own idle RSS, measured in
the same run just before. Loopback only; every loop is bounded.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

from bench.harness import ChirpProcess, Report, bench_stack, log, spawn_api, spawn_worker
from bench.media_upload import make_token, wait_processed
from bench.memory import RssSampler, tree_rss_kib


def make_png(path: Path, side: int) -> None:
    """A flat grey PNG: compresses to almost nothing, decodes to side*side bytes or more."""
    from PIL import Image

    Image.new("L", (side, side), 128).save(path, "PNG", optimize=True)


async def _upload(session: aiohttp.ClientSession, base: str, token: str, data: bytes) -> tuple[int, dict[str, Any]]:
    form = aiohttp.FormData()
    form.add_field("file", data, filename="upload.png", content_type="image/png")
    async with session.post(f"{base}/api/v2/media", data=form, headers={"Authorization": f"Bearer {token}"}) as r:
        return r.status, await r.json()


async def hostile(api: ChirpProcess, token: str, bomb: bytes, parallel: int) -> dict[str, Any]:
    base = f"http://127.0.0.1:{api.port}"
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=300)) as session:
        await _upload(session, base, token, bomb)  # warm-up: code paths, connections
        before = api.rss_kib()
        with RssSampler(api.rss_kib) as sampler:
            started = time.perf_counter()
            answers = await asyncio.gather(*(_upload(session, base, token, bomb) for _ in range(parallel)))
            seconds = time.perf_counter() - started
        after = api.rss_kib()
    return {
        "statuses": sorted(status for status, _ in answers),
        "message": answers[0][1].get("error"),
        "seconds": seconds,
        "before_kib": before,
        "peak_kib": sampler.peak_kib,
        "after_kib": after,
    }


async def allowed(env: dict[str, str], api: ChirpProcess, token: str, image: bytes, parallel: int) -> dict[str, Any]:
    base = f"http://127.0.0.1:{api.port}"
    worker = spawn_worker(env)
    try:
        await asyncio.sleep(2)  # let it start and listen
        idle = tree_rss_kib(worker.pid)
        api_before = api.rss_kib()
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=600)) as session:
            with RssSampler(lambda: tree_rss_kib(worker.pid)) as sampler, RssSampler(api.rss_kib) as api_sampler:
                started = time.perf_counter()
                answers = await asyncio.gather(*(_upload(session, base, token, image) for _ in range(parallel)))
                states = [await wait_processed(session, base, token, body["id"], limit=300) for _, body in answers]
                seconds = time.perf_counter() - started
    finally:
        worker.stop()
    return {
        "statuses": sorted(status for status, _ in answers),
        "states": sorted(states),
        "seconds": seconds,
        "worker_idle_kib": idle,
        "worker_peak_kib": sampler.peak_kib,
        "api_before_kib": api_before,
        "api_peak_kib": api_sampler.peak_kib,
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench hostile_upload")
    parser.add_argument("--tiny", action="store_true", help="a seconds-long run (proves it runs)")
    parser.add_argument("--parallel", type=int, default=10)
    parser.add_argument("--side", type=int, default=7000, help="the bomb's declared width and height")
    parser.add_argument("--allowed-side", type=int, default=5000, help="the allowed image's width and height")
    args = parser.parse_args(argv)
    if args.tiny:
        args.parallel, args.allowed_side = 2, 1000
    report = Report("hostile_upload", params=vars(args))
    with tempfile.TemporaryDirectory(prefix="chirp-bench-hostile-") as tmp:
        bomb, image = Path(tmp) / "bomb.png", Path(tmp) / "allowed.png"
        make_png(bomb, args.side)
        make_png(image, args.allowed_side)
        log(f"bomb: {bomb.stat().st_size} bytes declaring {args.side}x{args.side}; allowed: {image.stat().st_size} B")
        with bench_stack(extra_env={"CHIRP_MEDIA_SYNC_MAX_BYTES": "0"}) as env:
            api = spawn_api(env)
            try:
                token = asyncio.run(make_token(env))
                bombs = asyncio.run(hostile(api, token, bomb.read_bytes(), args.parallel))
                big = asyncio.run(allowed(env, api, token, image.read_bytes(), args.parallel))
            finally:
                api.stop()
    mib = 1024
    log(f"bombs answered {bombs['statuses']}: {bombs['message']}")
    log(f"allowed images answered {big['statuses']}, ended {big['states']}")
    report.figure(f"{args.parallel} concurrent bombs refused in", bombs["seconds"], "s")
    report.figure(
        "API RSS after the bombs", bombs["after_kib"] / mib, "MiB", ceiling=bombs["before_kib"] / mib,
        ceiling_name="API RSS before", goal="flat",
    )  # fmt: skip
    report.figure(
        "API peak RSS during the bombs", bombs["peak_kib"] / mib, "MiB", ceiling=bombs["before_kib"] / mib,
        ceiling_name="API RSS before", goal="flat",
    )  # fmt: skip
    report.figure(f"{args.parallel} allowed {args.allowed_side}px images processed in", big["seconds"], "s")
    report.figure(
        "worker peak RSS (with its decoding processes)", big["worker_peak_kib"] / mib, "MiB",
        ceiling=big["worker_idle_kib"] / mib, ceiling_name="worker idle RSS",
    )  # fmt: skip
    report.figure(
        "API peak RSS while the worker processed them", big["api_peak_kib"] / mib, "MiB",
        ceiling=big["api_before_kib"] / mib, ceiling_name="API RSS before",
    )  # fmt: skip
    report.extra.update({"bombs": bombs, "allowed": big})
    report.write()
    ok = all(s == 422 for s in bombs["statuses"]) and all(s in (200, 202) for s in big["statuses"])
    return 0 if ok else 1
