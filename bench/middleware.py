"""What Chirp's request path costs by itself: `GET /healthz` through the full middleware stack (request
id, metrics, errors, access log) against the bare-aiohttp ceiling serving the same body."""

from __future__ import annotations

import argparse

from bench.harness import Report, bench_stack, run_load, spawn_api, spawn_ceiling


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench middleware")
    parser.add_argument("--tiny", action="store_true")
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=64)
    args = parser.parse_args(argv)
    duration = 1.0 if args.tiny else args.duration
    report = Report("middleware", params={"duration_s": duration, "connections": args.connections})
    with bench_stack() as env:
        api = spawn_api(env)
        ceiling = spawn_ceiling(b'{"status":"ok"}')
        try:
            base = run_load(
                [f"http://127.0.0.1:{ceiling.port}/healthz"], duration=duration, connections=args.connections
            )
            chirp = run_load([f"http://127.0.0.1:{api.port}/healthz"], duration=duration, connections=args.connections)
        finally:
            api.stop()
            ceiling.stop()
    report.add_load("ceiling", base)
    report.add_load("chirp", chirp)
    report.figure(
        "GET /healthz throughput", chirp.throughput, "req/s", ceiling=base.throughput, ceiling_name="bare aiohttp"
    )
    report.figure(
        "GET /healthz p99",
        chirp.latencies_ms["p99"],
        "ms",
        ceiling=base.latencies_ms["p99"],
        ceiling_name="bare aiohttp",
    )
    report.extra["errors"] = {"ceiling": base.errors, "chirp": chirp.errors}
    report.write()
    return 0 if chirp.errors == 0 else 1
