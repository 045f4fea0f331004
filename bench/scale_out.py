"""Fan-out on a Valkey Cluster against one Valkey, in the same run: `python -m bench scale_out`.

The issue's numbers: cluster mode costs at most 15% of single-Valkey fan-out throughput on this machine, and
each shard's load is within 20% of the mean.

- Two targets started here: one Valkey (the baseline, the same-run ceiling) and a 3-primary + 3-replica
  Valkey Cluster (stack/valkey_cluster.py); both with the same `--accounts` cached home timelines.
- The load: `--posts` posts by random authors, each to `--followers` random followers' timelines, through
  the real write path's Valkey half (`storage.timeline_cache.fan_out`, with the presence lookup appended as
  the worker does), in batches of `--batch` posts, `--concurrency` batches at a time (the worker's
  concurrency). PostgreSQL is not involved: this measures what sharding Valkey costs and spreads.
- Per shard: commands processed, Valkey CPU seconds and keys held, each against the shards' mean.

On 2 cores the three primaries, their replicas and the client share the CPUs, so the cluster cannot go
faster than one Valkey here; the figure says what the cluster's per-slot calls cost.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.harness import REPO_ROOT, Report, log


async def _open(url: str, cluster: bool) -> Any:
    from redis.asyncio import Redis
    from redis.asyncio.cluster import RedisCluster

    if cluster:
        return RedisCluster.from_url(url, max_connections=256)
    return Redis.from_url(url, max_connections=256)


async def _seed(valkey: Any, accounts: list[int], cap: int) -> None:
    from storage import timeline_cache

    keys = [timeline_cache.home_key(a) for a in accounts]
    for start in range(0, len(keys), 2000):
        chunk = keys[start : start + 2000]
        await timeline_cache.begin_builds(valkey, chunk)
        await timeline_cache.finish_builds(valkey, [(key, []) for key in chunk], cap=cap, ttl=3600)


async def _fan_out(valkey: Any, accounts: list[int], args: argparse.Namespace, seed: int) -> tuple[int, float]:
    """Inserts done and seconds taken for the whole load."""
    from storage import presence, timeline_cache
    from storage.keys import tagged_csv
    from storage.timeline_cache import Delivery, Entry

    rng = random.Random(seed)
    base = 1 << 60
    batches: list[list[Delivery]] = []
    for b in range(args.posts // args.batch):
        batch = []
        for p in range(args.batch):
            author = rng.choice(accounts)
            followers = rng.sample(accounts, args.followers)
            entry = Entry(base + b * args.batch + p, author, None)
            batch.append(Delivery(entry, tagged_csv(timeline_cache.HOME_PREFIX, ",".join(map(str, followers)))))
        batches.append(batch)
    queue: asyncio.Queue[list[Delivery]] = asyncio.Queue()
    for batch in batches:
        queue.put_nowait(batch)
    inserted = 0

    async def worker() -> None:
        nonlocal inserted
        while not queue.empty():
            batch = queue.get_nowait()
            owners = [k[4:-1] for d in batch for k in d.keys.split(",")]
            lookup = presence.online_lookup(valkey, owners)
            delivered, _ = await timeline_cache.fan_out(valkey, batch, args.cap, then=lookup)
            inserted += sum(len(keys) for keys in delivered)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(args.concurrency)))
    return inserted, time.perf_counter() - started


async def _shard_stats(cluster: Any) -> dict[str, dict[str, float]]:
    stats: dict[str, dict[str, float]] = {}
    for node in cluster.get_primaries():
        info = await cluster.info(target_nodes=node)
        keys = await cluster.dbsize(target_nodes=node)
        stats[node.name] = {
            "commands": float(info["total_commands_processed"]),
            "cpu_s": float(info["used_cpu_user"]) + float(info["used_cpu_sys"]),
            "keys": float(keys),
        }
    return stats


def _spread(values: list[float]) -> float:
    """The largest distance from the mean, as a fraction of the mean."""
    mean = sum(values) / len(values)
    return max(abs(v - mean) for v in values) / mean if mean else 0.0


async def _run(args: argparse.Namespace, single_url: str, cluster_url: str, report: Report) -> None:
    accounts = list(range(10_000_000, 10_000_000 + args.accounts))
    results: dict[str, float] = {}
    for name, url, is_cluster in (("single", single_url, False), ("cluster", cluster_url, True)):
        valkey = await _open(url, is_cluster)
        try:
            await _seed(valkey, accounts, args.cap)
            await _fan_out(valkey, accounts, argparse.Namespace(**{**vars(args), "posts": args.batch * 2}), 1)  # warm
            before = await _shard_stats(valkey) if is_cluster else {}
            inserted, seconds = await _fan_out(valkey, accounts, args, 7)
            results[name] = inserted / seconds
            log(f"{name}: {inserted:,} inserts in {seconds:.2f} s")
            if is_cluster:
                after = await _shard_stats(valkey)
                per_shard = {
                    shard: {k: after[shard][k] - before[shard][k] for k in ("commands", "cpu_s")}
                    | {"keys": after[shard]["keys"]}
                    for shard in after
                }
                report.extra["per_shard"] = per_shard
                for what in ("commands", "cpu_s", "keys"):
                    spread = _spread([s[what] for s in per_shard.values()])
                    report.figure(f"shard {what}: largest distance from the mean", spread * 100, "%", goal="<= 20%")
        finally:
            await valkey.aclose()
    report.figure(
        "fan-out inserts/s, 3-shard cluster",
        results["cluster"],
        "inserts/s",
        ceiling=results["single"],
        ceiling_name="one Valkey, same run",
        goal=">= 85% of one Valkey",
    )


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench scale_out")
    parser.add_argument("--accounts", type=int, default=50_000)
    parser.add_argument("--posts", type=int, default=2_000)
    parser.add_argument("--followers", type=int, default=100)
    parser.add_argument("--batch", type=int, default=20)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--cap", type=int, default=800)
    parser.add_argument("--tiny", action="store_true", help="seconds at a tiny size (proves it runs)")
    args = parser.parse_args(argv)
    if args.tiny:
        args.accounts, args.posts, args.followers, args.batch = 500, 40, 20, 10
    from stack import install_binaries, start_stack, start_valkey_cluster

    install_binaries(REPO_ROOT, log=log)
    report = Report("scale_out", params={k: v for k, v in vars(args).items() if k != "tiny"})
    with tempfile.TemporaryDirectory(prefix="chirp-bench-") as root:
        single = start_stack(Path(root) / "single", persistent=False, only=["valkey"], log=log)
        try:
            with start_valkey_cluster(Path(root) / "cluster", log=log) as cluster:
                asyncio.run(_run(args, single.urls.redis_url, cluster.url, report))
        finally:
            single.stop()
    report.write()
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main(sys.argv[1:]))
