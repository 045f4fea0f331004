"""`python -m bench faults`: a steady light load while each store in turn, and then the worker, is stopped
and brought back. What clients saw in each phase (counts by status), how long after the store's return the
first 200 came, and how many acknowledged posts were lost (goal: 0), as a table and a plot of status codes
over time.

The load is one client posting and one reading the public timeline and searching, each at a fixed rate, on
a real `chirp serve` and `chirp worker`. The ceiling for "errors during an outage" is the number of
requests sent in that phase; the ceiling for losses is the number of posts acknowledged.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from bench.harness import ChirpProcess, Report, bench_servers, log, spawn_api, spawn_worker

STORES = ("postgres", "valkey", "meilisearch", "s3")


@dataclass
class Samples:
    """Every answer: (seconds since the start, what was asked, status; 0 for no answer at all)."""

    started: float = field(default_factory=time.monotonic)
    answers: list[tuple[float, str, int]] = field(default_factory=list)
    acknowledged: list[int] = field(default_factory=list)

    def add(self, kind: str, status: int) -> None:
        self.answers.append((time.monotonic() - self.started, kind, status))

    def now(self) -> float:
        return time.monotonic() - self.started


async def _token(env: dict[str, str]) -> str:
    from config import Settings
    from storage.accounts import insert_account
    from storage.resources import open_resources
    from storage.tokens import issue_token

    async with open_resources(Settings.from_env(env), db_pool_size=2) as res:
        account_id = res.ids.next_id()
        await insert_account(res.db, account_id, username="faults", email="faults@example.test", password_hash="!")
        issued = await issue_token(
            res.db, res.ids.next_id(), app_id=None, account_id=account_id, scopes=("read", "write")
        )
        return issued.access_token


async def _client(samples: Samples, base: str, token: str, rate: float, stop: asyncio.Event, kind: str) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    timeout = aiohttp.ClientTimeout(total=10)
    n = 0
    async with aiohttp.ClientSession(timeout=timeout) as session:
        while not stop.is_set():
            n += 1
            status = 0
            try:
                if kind == "post":
                    async with session.post(
                        f"{base}/api/v1/statuses", json={"status": f"steady {n}"}, headers=headers
                    ) as r:
                        status = r.status
                        if status == 200:
                            samples.acknowledged.append(int((await r.json())["id"]))
                elif kind == "timeline":
                    async with session.get(f"{base}/api/v1/timelines/home", headers=headers) as r:
                        status = r.status
                else:
                    async with session.get(f"{base}/api/v2/search", params={"q": "steady"}, headers=headers) as r:
                        status = r.status
            except (aiohttp.ClientError, TimeoutError):
                status = 0
            samples.add(kind, status)
            await asyncio.sleep(1 / rate)


async def _run(env: dict[str, str], running: Any, api: ChirpProcess, args: argparse.Namespace) -> dict[str, Any]:
    base = f"http://127.0.0.1:{api.port}"
    token = await _token(env)
    samples = Samples()
    stop = asyncio.Event()
    clients = [
        asyncio.create_task(_client(samples, base, token, args.rate, stop, kind))
        for kind in ("post", "timeline", "search")
    ]
    phases: list[tuple[str, float, float, str]] = []  # (name, start, end, what was stopped)
    worker = spawn_worker(env)
    try:
        await asyncio.sleep(args.calm)
        phases.append(("calm", 0.0, samples.now(), ""))
        targets = [*STORES, "worker"]
        for index, target in enumerate(targets, 1):
            log(f"[{index}/{len(targets)}] stopping {target} for {args.outage:g} s")
            began = samples.now()
            if target == "worker":
                worker.popen.kill()  # SIGKILL: whatever it had claimed stays leased
                worker.popen.wait()
            else:
                await asyncio.to_thread(running.servers[target].stop)
            await asyncio.sleep(args.outage)
            back = samples.now()
            phases.append((f"{target} away", began, back, target))
            if target == "worker":
                worker = spawn_worker(env)
            else:
                await asyncio.to_thread(running.servers[target].start)
            log(f"[{index}/{len(targets)}] {target} back; recovering for {args.recover:g} s")
            await asyncio.sleep(args.recover)
            phases.append((f"after {target}", back, samples.now(), target))
        stop.set()
        await asyncio.gather(*clients)
        lost = await _lost(env, samples.acknowledged, wait=args.settle)
    finally:
        stop.set()
        worker.stop()
    return {"samples": samples, "phases": phases, "lost": lost}


async def _lost(env: dict[str, str], acknowledged: list[int], *, wait: float) -> dict[str, int]:
    """Acknowledged posts missing from PostgreSQL, and from search once the worker has caught up."""
    from config import Settings
    from storage.resources import open_resources

    async with open_resources(Settings.from_env(env), db_pool_size=2) as res:
        stored = await res.db.fetchval("SELECT count(*) FROM posts WHERE id = ANY($1::bigint[])", acknowledged)
        deadline = time.monotonic() + wait
        while await res.db.fetchval("SELECT count(*) FROM jobs") and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.5)
        pending = await res.db.fetchval("SELECT count(*) FROM jobs")
        dead = await res.db.fetchval("SELECT count(*) FROM dead_jobs")
    return {"missing_in_postgres": len(acknowledged) - stored, "jobs_left": pending, "dead_jobs": dead}


def _table(samples: Samples, phases: list[tuple[str, float, float, str]]) -> tuple[str, list[dict[str, Any]]]:
    rows: list[dict[str, Any]] = []
    lines = ["| phase | requests | statuses (post / timeline / search) | first 200 after return |", "|---|---|---|---|"]
    refused: set[str] = set()  # the kinds of request answered other than 200 in the phase before
    for name, start, end, _target in phases:
        inside = [(at, kind, status) for at, kind, status in samples.answers if start <= at < end]
        by_kind = {kind: Counter(s for _, k, s in inside if k == kind) for kind in ("post", "timeline", "search")}
        first_ok = ""
        if name.startswith("after"):
            # For each kind the outage refused: from the return to its first 200; the slowest kind.
            firsts = [min((at for at, k, s in inside if k == kind and s == 200), default=None) for kind in refused]
            if any(f is None for f in firsts):
                first_ok = "none in the phase"
            else:
                first_ok = f"{max(f for f in firsts if f is not None) - start:.2f} s" if firsts else "none refused"
        refused = {k for _, k, s in inside if s != 200}
        cells = " / ".join(", ".join(f"{s}×{n}" for s, n in sorted(c.items())) or "-" for c in by_kind.values())
        lines.append(f"| {name} | {len(inside)} | {cells} | {first_ok} |")
        rows.append({"phase": name, "requests": len(inside), "statuses": {k: dict(c) for k, c in by_kind.items()}})
    return "\n".join(lines), rows


def _plot(report: Report, samples: Samples, phases: list[tuple[str, float, float, str]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 4))
    colours = {200: "tab:green", 503: "tab:orange", 0: "tab:grey"}
    offsets = {"post": 0.0, "timeline": 0.15, "search": 0.3}
    for status in sorted({s for _, _, s in samples.answers}):
        points = [(at, offsets[k]) for at, k, s in samples.answers if s == status]
        label = "no answer" if status == 0 else str(status)
        ax.scatter([p[0] for p in points], [status + p[1] * 40 for p in points], s=6, label=label,
                   color=colours.get(status, "tab:red"))  # fmt: skip
    for name, start, end, _ in phases:
        if name.endswith("away"):
            ax.axvspan(start, end, color="tab:red", alpha=0.1)
            ax.text(start, 560, name.removesuffix(" away"), fontsize=8)
    ax.set_xlabel("seconds into the run")
    ax.set_ylabel("status (post, timeline, search stacked)")
    ax.set_ylim(-20, 600)
    ax.set_title("faults: status codes over time (shaded: the store or worker is away)")
    ax.legend(loc="center right")
    report._save(fig, "status-over-time")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench faults")
    parser.add_argument("--tiny", action="store_true", help="a seconds-long run (proves it runs)")
    parser.add_argument("--rate", type=float, default=10.0, help="requests per second per client")
    parser.add_argument("--calm", type=float, default=3.0, help="seconds before the first outage")
    parser.add_argument("--outage", type=float, default=5.0, help="seconds each store is away")
    parser.add_argument("--recover", type=float, default=5.0, help="seconds after each return")
    parser.add_argument("--settle", type=float, default=60.0, help="longest wait for the worker to catch up")
    args = parser.parse_args(argv)
    if args.tiny:
        args.calm, args.outage, args.recover, args.rate = 1.0, 1.0, 2.0, 5.0
    report = Report("faults", params=vars(args))
    with bench_servers(extra_env={"CHIRP_JOB_LEASE_SECONDS": "5", "CHIRP_SEARCH_TIMEOUT": "0.5"}) as (env, running):
        api = spawn_api(env)
        try:
            result = asyncio.run(_run(env, running, api, args))
        finally:
            api.stop()
    samples, phases, lost = result["samples"], result["phases"], result["lost"]
    markdown, rows = _table(samples, phases)
    print(markdown, flush=True)
    report.add_section("Statuses by phase", markdown)
    server_errors = sum(1 for _, _, s in samples.answers if s >= 500 and s != 503)
    report.figure("acknowledged posts missing from PostgreSQL", lost["missing_in_postgres"], "posts",
                  ceiling=len(samples.acknowledged), ceiling_name="posts acknowledged", goal="0")  # fmt: skip
    report.figure("answers other than 200/503 or no answer", server_errors, "requests",
                  ceiling=len(samples.answers), ceiling_name="requests sent", goal="0")  # fmt: skip
    report.figure("jobs left after settling", lost["jobs_left"], "jobs", goal="0")
    report.figure("dead jobs", lost["dead_jobs"], "jobs", goal="0")
    report.extra.update({"phases": rows, "lost": lost, "acknowledged": len(samples.acknowledged)})
    _plot(report, samples, phases)
    report.write()
    return 0 if lost["missing_in_postgres"] == 0 and server_errors == 0 else 1
