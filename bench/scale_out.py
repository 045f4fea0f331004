"""Fan-out on a Valkey Cluster against one Valkey, in the same run: `python -m bench scale_out`.

The issue's numbers: cluster mode costs at most 15% of single-Valkey fan-out throughput on this machine, and
each shard's load is within 20% of the mean.

- Two targets started here: one Valkey (the baseline, the same-run ceiling) and a 3-primary + 3-replica
  Valkey Cluster (stack/valkey_cluster.py); both with the same `--accounts` cached home timelines.
- The load: `--posts` posts by random authors, each to `--followers` random followers' timelines, through
  the real write path's Valkey half (`storage.timeline_cache.fan_out`, with the presence lookup read in the
  same calls as the worker does), in batches of `--batch` posts, `--concurrency` batches at a time (the worker's
  concurrency). PostgreSQL is not involved: this measures what sharding Valkey costs and spreads.
- `--rounds` alternating rounds on the cluster: Chirp's transport (storage/keys.py `pipeline`, each node's
  commands packed into one write) and the previous one (redis-py's cluster pipeline), same data, same run.
- The floor: the very commands Chirp sent, recorded, packed before the clock starts and written per node on
  plain sockets, replies counted with hiredis (no Chirp, no redis-py); on one Valkey and on the cluster.
- Per shard: commands processed, Valkey CPU seconds and keys held, each against the shards' mean.
- Then (unless `--no-ha`) home reads and posts through HAProxy on `chirp run --topology ha`, beside the same
  processes on one PostgreSQL and one Valkey (bench/scale_out_ha.py).

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
            delivered, _ = await timeline_cache.fan_out(valkey, batch, args.cap, reads=presence.online_keys(owners))
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


class _Recorder:
    """Wraps `storage.keys.pipeline` to keep every command a load sends (for the raw replay)."""

    def __init__(self) -> None:
        from storage import keys

        self.keys = keys
        self.real = keys.pipeline
        self.batches: list[list[tuple[str, tuple[Any, ...]]]] = []

    async def __call__(self, valkey: Any, commands: Any) -> list[Any]:
        self.batches.append([(key, tuple(args)) for key, args in commands])
        return await self.real(valkey, commands)


def _patched(name: str, replacement: Any) -> Any:
    """Swap `storage.timeline_cache.pipeline` (what the fan-out sends through) for a run."""
    import contextlib

    from storage import timeline_cache

    @contextlib.contextmanager
    def swap() -> Any:
        saved = getattr(timeline_cache, name)
        setattr(timeline_cache, name, replacement)
        try:
            yield
        finally:
            setattr(timeline_cache, name, saved)

    return swap()


async def _redis_py_cluster_pipeline(valkey: Any, commands: Any) -> list[Any]:
    """The previous transport (before the per-node packing in storage/keys.py): redis-py's cluster pipeline."""
    pipe = valkey.pipeline(transaction=False)
    for _, args in commands:
        pipe.execute_command(*args)
    return list(await pipe.execute(raise_on_error=False))


async def _raw_replay(valkey: Any, batches: list[list[tuple[str, tuple[Any, ...]]]], concurrency: int) -> float:
    """The floor: the very commands Chirp sent, packed before the clock starts, written per node on plain
    sockets (one per node and worker) and their replies counted with hiredis, no Chirp and no redis-py.
    Seconds for all of them."""
    import hiredis
    from redis.asyncio.cluster import RedisCluster

    from storage.keys import pack_command, slot

    if isinstance(valkey, RedisCluster):
        nodes: list[tuple[str, int]] = [(str(n.host), int(n.port)) for n in valkey.get_primaries()]
        owner = {s: (ns[0].host, ns[0].port) for s, ns in valkey.nodes_manager.slots_cache.items()}
        placed = [{addr: [c for k, c in batch if owner[slot(k)] == addr] for addr in nodes} for batch in batches]
    else:
        address = valkey.connection_pool.connection_kwargs
        addr = (address.get("host", "127.0.0.1"), address.get("port", 6379))
        nodes = [addr]
        placed = [{addr: [c for _, c in batch]} for batch in batches]
    payloads = [
        {a: (b"".join(map(pack_command, cmds)), len(cmds)) for a, cmds in batch.items() if cmds} for batch in placed
    ]
    queue: asyncio.Queue[dict[Any, tuple[bytes, int]]] = asyncio.Queue()
    for p in payloads:
        queue.put_nowait(p)
    errors = 0

    async def exchange(conn: tuple[asyncio.StreamReader, asyncio.StreamWriter], payload: bytes, count: int) -> None:
        nonlocal errors
        reader, writer = conn
        writer.write(payload)
        parser = hiredis.Reader()
        got = 0
        while got < count:
            parser.feed(await reader.read(1 << 16))
            while (reply := parser.gets()) is not False:
                got += 1
                errors += isinstance(reply, hiredis.ReplyError)

    async def worker() -> None:
        conns = {a: await asyncio.open_connection(*a) for a in nodes}
        try:
            while not queue.empty():
                batch = queue.get_nowait()
                await asyncio.gather(*(exchange(conns[a], payload, n) for a, (payload, n) in batch.items()))
        finally:
            for _, writer in conns.values():
                writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    seconds = time.perf_counter() - started
    if errors:
        raise RuntimeError(f"{errors} error replies in the raw replay")
    return seconds


async def _measure(
    name: str, url: str, is_cluster: bool, accounts: list[int], args: argparse.Namespace, report: Report
) -> dict[str, float]:
    """Inserts/s of Chirp's fan-out on one target (alternating with the previous transport on a cluster),
    then the raw replay of the commands it sent."""
    valkey = await _open(url, is_cluster)
    rates: dict[str, list[float]] = {}
    try:
        await _seed(valkey, accounts, args.cap)
        await _fan_out(valkey, accounts, argparse.Namespace(**{**vars(args), "posts": args.batch * 2}), 1)  # warm
        before = await _shard_stats(valkey) if is_cluster else {}
        variants = [("chirp", None)] + (
            [("redis-py cluster pipeline", _redis_py_cluster_pipeline)] if is_cluster else []
        )
        for round_ in range(args.rounds):
            for variant, transport in variants:
                if transport is None:
                    inserted, seconds = await _fan_out(valkey, accounts, args, 7 + round_)
                else:
                    with _patched("pipeline", transport):
                        inserted, seconds = await _fan_out(valkey, accounts, args, 7 + round_)
                rates.setdefault(variant, []).append(inserted / seconds)
                log(f"{name}, {variant}, round {round_ + 1}: {inserted:,} inserts in {seconds:.2f} s")
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
        recorder = _Recorder()
        with _patched("pipeline", recorder):
            inserted, _ = await _fan_out(valkey, accounts, args, 7)
        commands = sum(len(b) for b in recorder.batches)
        seconds = await _raw_replay(valkey, recorder.batches, args.concurrency)
        log(f"{name}, raw replay: {commands:,} commands ({commands / inserted:.3f} per insert) in {seconds:.2f} s")
        report.extra[f"{name}_commands_per_insert"] = commands / inserted
        result = {variant: sum(r) / len(r) for variant, r in rates.items()}
        result["raw"] = inserted / seconds
        return result
    finally:
        await valkey.aclose()


async def _run(args: argparse.Namespace, single_url: str, cluster_url: str, report: Report) -> None:
    accounts = list(range(10_000_000, 10_000_000 + args.accounts))
    single = await _measure("single", single_url, False, accounts, args, report)
    cluster = await _measure("cluster", cluster_url, True, accounts, args, report)
    report.extra["inserts_per_s"] = {"single": single, "cluster": cluster}
    report.figure(
        "fan-out inserts/s, 3-shard cluster",
        cluster["chirp"],
        "inserts/s",
        ceiling=single["chirp"],
        ceiling_name="one Valkey, same run",
        goal=">= 85% of one Valkey",
    )
    report.figure(
        "fan-out inserts/s, 3-shard cluster, previous transport (redis-py cluster pipeline)",
        cluster["redis-py cluster pipeline"],
        "inserts/s",
        ceiling=single["chirp"],
        ceiling_name="one Valkey, same run",
    )
    report.figure(
        "raw replay of the cluster's commands (no Chirp, no redis-py)",
        cluster["raw"],
        "inserts/s",
        ceiling=single["raw"],
        ceiling_name="raw replay of one Valkey's commands, same run",
    )
    report.figure(
        "fan-out inserts/s, 3-shard cluster, against its raw replay",
        cluster["chirp"],
        "inserts/s",
        ceiling=cluster["raw"],
        ceiling_name="raw replay on the cluster, same run",
    )


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench scale_out")
    parser.add_argument("--accounts", type=int, default=50_000)
    parser.add_argument("--posts", type=int, default=2_000)
    parser.add_argument("--followers", type=int, default=100)
    parser.add_argument("--batch", type=int, default=20)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--cap", type=int, default=800)
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds of each variant")
    parser.add_argument("--no-ha", action="store_true", help="leave out the reads and posts through HAProxy")
    parser.add_argument("--ha-users", type=int, default=2_000)
    parser.add_argument("--ha-posts", type=int, default=20_000)
    parser.add_argument("--ha-readers", type=int, default=200)
    parser.add_argument("--ha-duration", type=float, default=10.0)
    parser.add_argument("--tiny", action="store_true", help="seconds at a tiny size (proves it runs)")
    args = parser.parse_args(argv)
    if args.tiny:
        args.accounts, args.posts, args.followers, args.batch = 500, 40, 20, 10
        args.ha_users, args.ha_posts, args.ha_readers, args.ha_duration = 200, 1000, 20, 2.0
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
    failed = False
    if not args.no_ha:
        from bench.scale_out_ha import measure

        try:
            measure(args, report)
        except Exception as exc:  # the fan-out figures above are still written, with what went wrong
            log(f"the HA part failed: {exc!r}")
            report.extra["ha_failed"] = repr(exc)
            failed = True
    report.write()
    return 1 if failed else 0


if __name__ == "__main__":
    import sys

    sys.exit(main(sys.argv[1:]))
