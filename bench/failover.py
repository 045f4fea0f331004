"""Failover: how long Chirp takes to serve again after a Valkey Cluster primary is SIGKILLed under load,
and how far a PostgreSQL streaming replica lags behind the primary.

One API process and one worker run on a 3+3 Valkey Cluster and a PostgreSQL primary with a streaming
replica (DATABASE_REPLICA_URL). A loop posts as an author and reads a follower's home timeline; a
websocket on the follower's user stream counts live updates. Then the primary owning the follower's slot
is killed, and the loop carries on. Figures (each beside its same-run baseline):
- kill → the first home read that answers 200 with every acknowledged post in it (baseline: one loop
  round before the kill);
- kill → the first live update delivered for a post made after the kill;
- acknowledged posts lost (goal 0);
- replica lag: a commit on the primary → the replica has replayed it (baseline: the same probe against
  the primary itself, a round trip).
A PNG shows each request's status over time around the kill.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

from bench.harness import REPO_ROOT, Report, free_port, log, meili_indexing_budget, percentiles, spawn_api, spawn_worker

GUARD = 60.0  # seconds: a run that does not recover within this fails


async def _users(env: dict[str, str]) -> tuple[int, str, int, str]:
    from config import Settings
    from storage.accounts import insert_account
    from storage.resources import open_resources
    from storage.tokens import issue_token

    async with open_resources(Settings.from_env(env)) as res:
        out: list[Any] = []
        for name in ("author", "reader"):
            account = res.ids.next_id()
            await insert_account(res.db, account, username=name, email=f"{name}@example.test", password_hash="!")
            token = await issue_token(
                res.db, res.ids.next_id(), app_id=None, account_id=account, scopes=("read", "write", "follow")
            )
            out += [account, token.access_token]
        return out[0], out[1], out[2], out[3]


async def _replica_lag(env: dict[str, str], rounds: int) -> tuple[list[float], list[float]]:
    """Per round: ms from a commit to the replica having replayed it, and ms of the same probe on the
    primary (its own round trip: the floor)."""
    import asyncpg

    primary = await asyncpg.connect(env["DATABASE_DIRECT_URL"] if "DATABASE_DIRECT_URL" in env else env["DATABASE_URL"])
    replica = await asyncpg.connect(env["DATABASE_REPLICA_URL"])
    lags: list[float] = []
    floors: list[float] = []
    try:
        await primary.execute("CREATE TABLE IF NOT EXISTS bench_lag (id bigserial PRIMARY KEY, at timestamptz)")
        for _ in range(rounds):
            began = time.perf_counter()
            await primary.execute("INSERT INTO bench_lag (at) VALUES (now())")
            target = await primary.fetchval("SELECT (pg_current_wal_insert_lsn() - '0/0')::bigint")
            floors.append((time.perf_counter() - began) * 1000)
            began = time.perf_counter()
            while await replica.fetchval("SELECT (pg_last_wal_replay_lsn() - '0/0')::bigint") < target:  # noqa: ASYNC110
                await asyncio.sleep(0.0005)  # polling the replica is the measurement
            lags.append((time.perf_counter() - began) * 1000 + floors[-1])
            await asyncio.sleep(0.01)
    finally:
        await primary.execute("DROP TABLE IF EXISTS bench_lag")
        await primary.close()
        await replica.close()
    return lags, floors


async def _failover(url: str, env: dict[str, str], cluster: Any, args: argparse.Namespace, report: Report) -> None:
    from redis.asyncio.cluster import RedisCluster

    from storage import keys

    author_id, author, reader_id, reader = await _users(env)
    samples: list[tuple[float, str, int]] = []  # (seconds since the kill, what, status)
    async with aiohttp.ClientSession() as session:
        auth = {"Authorization": f"Bearer {reader}"}
        async with session.post(f"{url}/api/v1/accounts/{author_id}/follow", headers=auth) as r:
            assert r.status == 200, await r.text()
        ws = await session.ws_connect(f"{url}/api/v1/streaming?stream=user", headers=auth)
        live: list[tuple[float, str]] = []

        async def pump() -> None:
            async for message in ws:
                if message.type is aiohttp.WSMsgType.TEXT:
                    data = json.loads(message.data)
                    if data.get("event") == "update":
                        live.append((time.monotonic(), str(json.loads(data["payload"])["id"])))

        pumping = asyncio.ensure_future(pump())
        acknowledged: list[str] = []
        n = 0

        async def round_trip(t0: float | None) -> bool:
            """One post and one home read; True when the home read had every acknowledged post."""
            nonlocal n
            n += 1
            at = time.monotonic() - (t0 or time.monotonic())
            headers = {"Authorization": f"Bearer {author}", "Idempotency-Key": f"p{n}"}
            try:
                async with session.post(f"{url}/api/v1/statuses", json={"status": f"p{n}"}, headers=headers) as r:
                    samples.append((at, "post", r.status))
                    if r.status == 200:
                        acknowledged.append(str((await r.json())["id"]))
                async with session.get(f"{url}/api/v1/timelines/home", params={"limit": "40"}, headers=auth) as r:
                    samples.append((time.monotonic() - (t0 or time.monotonic()), "home", r.status))
                    if r.status != 200:
                        return False
                    seen = {str(s["id"]) for s in await r.json()}
                    return set(acknowledged[-40:]) <= seen
            except aiohttp.ClientError:
                samples.append((at, "post", 599))
                return False

        # Baseline: rounds before the kill (the worker fans out in the background).
        rounds: list[float] = []
        for _ in range(args.warmup):
            began = time.perf_counter()
            while not await round_trip(None):  # noqa: ASYNC110 - the round is the work, not a wait
                await asyncio.sleep(0.01)
            rounds.append(time.perf_counter() - began)
        samples.clear()
        baseline = percentiles([r * 1000 for r in rounds])["p50"] / 1000

        client = RedisCluster.from_url(env["REDIS_URL"])
        await client.initialize()
        node = client.get_node_from_key(keys.home_key(reader_id))
        await client.aclose()
        assert node is not None
        victim = next(n for n in cluster.nodes if n.port == int(node.port))
        killed = time.monotonic()
        os.kill(victim.pid, signal.SIGKILL)
        home_back: float | None = None
        while home_back is None:
            assert time.monotonic() - killed < GUARD, "home reads did not come back"
            if await round_trip(killed):
                home_back = time.monotonic() - killed
            await asyncio.sleep(0.05)
        after_kill = {pid for _, pid in live}
        first_after: float | None = None
        while first_after is None:
            assert time.monotonic() - killed < GUARD, "no live update after the kill"
            await round_trip(killed)
            new = [t for t, pid in live if pid not in after_kill and t > killed]
            posted_after = [pid for pid in acknowledged if pid not in after_kill]
            if new and posted_after:
                first_after = min(new) - killed
            await asyncio.sleep(0.05)
        for _ in range(args.after):
            await round_trip(killed)
        await asyncio.sleep(1.0)
        async with session.get(
            f"{url}/api/v1/accounts/{author_id}/statuses", params={"limit": "40"}, headers=auth
        ) as r:
            stored = {str(s["id"]) for s in await r.json()}
        lost = [pid for pid in acknowledged[-40:] if pid not in stored]
        pumping.cancel()
        await ws.close()
    report.figure("Valkey primary SIGKILL -> first complete home read", home_back, "s", ceiling=baseline,
                  ceiling_name="one post+read round before the kill", goal="< 10 s")  # fmt: skip
    report.figure("Valkey primary SIGKILL -> first live update delivered", first_after, "s", goal="< 10 s")
    report.figure("acknowledged posts lost", len(lost), "posts", goal="0")
    report.extra["samples"] = samples
    victim.start()
    cluster.wait_ok()
    _plot(report, samples, home_back)


def _plot(report: Report, samples: list[tuple[float, str, int]], home_back: float) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 3.5))
    for what, marker, offset in (("post", "o", 0.1), ("home", "s", -0.1)):
        points = [(at, status) for at, kind, status in samples if kind == what]
        ax.scatter([p[0] for p in points], [p[1] + offset * 10 for p in points], s=10, marker=marker, label=what)
    ax.axvline(0, color="red", linestyle="--", label="SIGKILL")
    ax.axvline(home_back, color="green", linestyle=":", label="home complete again")
    ax.set_xlabel("seconds since the Valkey primary was killed")
    ax.set_ylabel("HTTP status (599: connection failed)")
    ax.set_title("failover: each request's status")
    ax.legend(loc="center right")
    ax.grid(alpha=0.3)
    report._save(fig, "status")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench failover")
    parser.add_argument("--warmup", type=int, default=20, help="post+read rounds before the kill")
    parser.add_argument("--after", type=int, default=20, help="rounds after recovery")
    parser.add_argument("--lag-rounds", type=int, default=200)
    parser.add_argument("--tiny", action="store_true", help="seconds at a tiny size (proves it runs)")
    args = parser.parse_args(argv)
    if args.tiny:
        args.warmup, args.after, args.lag_rounds = 3, 3, 20
    from app.launcher import stack_environment
    from config import Settings
    from stack import install_binaries, start_stack, start_valkey_cluster
    from stack.postgres_replica import start_postgres_replica
    from stack.servers import PostgresServer
    from storage.prepare import prepare_stores

    install_binaries(REPO_ROOT, log=log)
    report = Report("failover", params={k: v for k, v in vars(args).items() if k != "tiny"})
    only = {"postgres", "meilisearch", "s3"}
    with tempfile.TemporaryDirectory(prefix="chirp-bench-") as root:
        running = start_stack(
            Path(root) / "stack",
            persistent=False,
            only=sorted(only),
            log=log,
            meili_indexing_mb=meili_indexing_budget(),
        )
        processes: list[Any] = []
        try:
            primary = running.servers["postgres"]
            assert isinstance(primary, PostgresServer)
            replica = start_postgres_replica(primary, log=log)
            try:
                with start_valkey_cluster(Path(root) / "cluster", log=log) as cluster:
                    env = {
                        **stack_environment(running.urls, only),
                        "REDIS_URL": cluster.url,
                        "CHIRP_VALKEY_CLUSTER": "true",
                        "DATABASE_REPLICA_URL": replica.url,
                        "CHIRP_LOG_LEVEL": "error",
                        "CHIRP_RATE_LIMIT": "false",
                    }
                    asyncio.run(prepare_stores(Settings.from_env(env)))
                    port = free_port()
                    processes = [spawn_api(env, port=port), spawn_worker(env)]
                    lags, floors = asyncio.run(_replica_lag(env, args.lag_rounds))
                    lag, floor = percentiles(lags), percentiles(floors)
                    for p in ("p50", "p99"):
                        name = f"PostgreSQL replica lag {p} (commit -> replayed)"
                        floor_name = "the commit's round trip on the primary"
                        report.figure(name, lag[p], "ms", ceiling=floor[p], ceiling_name=floor_name)
                    try:
                        asyncio.run(_failover(f"http://127.0.0.1:{port}", env, cluster, args, report))
                    finally:
                        for process in processes:  # before the cluster goes
                            process.stop()
            finally:
                replica.stop()
                replica.cleanup()
        finally:
            running.stop()
    report.write()
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main(sys.argv[1:]))
