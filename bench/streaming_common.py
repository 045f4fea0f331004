"""What the two streaming benchmarks share: the audience (authors, followers, tokens) loaded with COPY,
the fan-out worker, the websocket client process, the ceiling relay, and turning arrivals into latencies.

    python -m bench.streaming_common worker   # the production `timeline` queue alone (used as a child)
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.harness import REPO_ROOT, ChirpProcess, free_port, log, percentiles, spawn_process, wait_http

TOKEN_SCOPES = ["read", "write", "follow"]


def raise_open_files_limit() -> None:
    """Sockets are files: take the hard limit (children inherit it)."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


# the audience ---------------------------------------------------------------------------------------


@dataclass
class Audience:
    authors: list[int]
    author_tokens: list[str]
    followers: dict[int, list[int]]  # author → followers
    follower_tokens: list[str]
    everyone: list[int] = field(default_factory=list)


async def seed_audience(env: dict[str, str], authors: int, followers_each: int) -> Audience:
    """`authors` accounts, each followed by its own `followers_each` accounts; a token for every account."""
    import asyncpg

    from core.ids import IdGenerator
    from storage.migrations import apply_migrations
    from storage.tokens import hash_secret

    await apply_migrations(env["DATABASE_URL"])
    ids = IdGenerator(950)
    author_ids = [ids.next_id() for _ in range(authors)]
    followers = {a: [ids.next_id() for _ in range(followers_each)] for a in author_ids}
    everyone = author_ids + [f for group in followers.values() for f in group]
    tokens = {account: f"bench-{secrets.token_urlsafe(24)}" for account in everyone}
    conn = await asyncpg.connect(env["DATABASE_URL"])
    try:
        await conn.execute("SET synchronous_commit = off")
        await conn.copy_records_to_table(
            "accounts",
            columns=("id", "username", "email", "password_hash", "followers_count", "following_count"),
            records=[
                (
                    a,
                    f"s{i}",
                    f"s{i}@bench.invalid",
                    "!",
                    followers_each if a in followers else 0,
                    0 if a in followers else 1,
                )
                for i, a in enumerate(everyone)
            ],
        )
        await conn.copy_records_to_table(
            "follows",
            columns=("id", "account_id", "target_account_id"),
            records=[(ids.next_id(), f, a) for a, group in followers.items() for f in group],
        )
        await conn.copy_records_to_table(
            "access_tokens",
            columns=("id", "token_hash", "account_id", "scopes"),
            records=[(ids.next_id(), hash_secret(token), account, TOKEN_SCOPES) for account, token in tokens.items()],
        )
        await conn.execute("ANALYZE")
    finally:
        await conn.close()
    return Audience(
        author_ids,
        [tokens[a] for a in author_ids],
        followers,
        [tokens[f] for group in followers.values() for f in group],
        everyone,
    )


async def wait_online(redis_url: str, account_ids: Sequence[int], limit: float = 300) -> float:
    """Wait until presence lists every account as connected; seconds waited."""
    from redis.asyncio import Redis

    from storage import presence

    redis = Redis.from_url(redis_url)
    started = time.monotonic()
    try:
        while True:
            online = await presence.online_among(redis, list(account_ids))
            if len(online) == len(set(account_ids)):
                return time.monotonic() - started
            if time.monotonic() - started > limit:
                raise RuntimeError(f"only {len(online)} of {len(account_ids)} accounts came online")
            await asyncio.sleep(0.2)
    finally:
        await redis.aclose()


async def wait_timelines(redis_url: str, account_ids: Sequence[int], limit: float = 300) -> None:
    """Wait until every account's home timeline is cached (a `user` stream builds it on connect; the
    fan-out writes, and so streams, only to cached timelines)."""
    from redis.asyncio import Redis

    from storage import timeline_cache

    redis = Redis.from_url(redis_url)
    started = time.monotonic()
    try:
        while True:
            built = sum(await timeline_cache.exists(redis, [timeline_cache.home_key(a) for a in account_ids]))
            if built == len(account_ids):
                return
            if time.monotonic() - started > limit:
                raise RuntimeError(f"only {built} of {len(account_ids)} home timelines were built")
            await asyncio.sleep(0.2)
    finally:
        await redis.aclose()


# processes ------------------------------------------------------------------------------------------


def spawn_worker(env: dict[str, str], queue: str = "timeline", node_id: int = 901) -> ChirpProcess:
    """One production queue in a process of its own: by default `timeline` (fan-out, then the live publish);
    `streaming` publishes the `status.update`s of edits and counters (bench/edit_delivery.py)."""
    return spawn_process(
        f"{queue}-worker", ["-m", "bench.streaming_common", "worker", queue], {**env, "CHIRP_NODE_ID": str(node_id)}
    )


def spawn_relay(env: dict[str, str], mode: str) -> ChirpProcess:
    port = free_port()
    process = spawn_process(
        f"relay-{mode}",
        ["-m", "bench.stream_relay", "--port", str(port), "--redis-url", env["REDIS_URL"], "--mode", mode],
        {},
        port,
    )
    wait_http(f"http://127.0.0.1:{port}/healthz", process)
    return process


class Client:
    """The websocket client process (bench/stream_client.py): open, wait until ready, stop, read results."""

    def __init__(self, url: str, tokens: Sequence[str]) -> None:
        self._dir = Path(tempfile.mkdtemp(prefix="chirp-stream-client-"))
        self.ready_path = self._dir / "ready"
        self.out_path = self._dir / "out.json"
        spec = self._dir / "spec.json"
        spec.write_text(json.dumps({"url": url, "tokens": list(tokens), "ready": str(self.ready_path)}))
        self.expected = len(tokens)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.stream_client", str(spec), str(self.out_path)],
            cwd=REPO_ROOT,
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def wait_ready(self, timeout: float = 600) -> int:
        deadline = time.monotonic() + timeout
        while not self.ready_path.exists():
            if self.process.poll() is not None:
                raise RuntimeError(f"the client exited with {self.process.returncode}")
            if time.monotonic() > deadline:
                raise RuntimeError("the client did not open its sockets in time")
            time.sleep(0.1)
        time.sleep(0.05)
        opened = int(self.ready_path.read_text() or 0)
        if opened < self.expected:
            raise RuntimeError(f"the client opened {opened} of {self.expected} sockets")
        return opened

    def finish(self) -> dict[str, Any]:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=120)
        result: dict[str, Any] = json.loads(self.out_path.read_text())
        return result


# measuring ------------------------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Latencies:
    """Post → frame latencies of every (event, socket) pair seen, and what was missing."""

    samples_ms: list[float]
    per_event_last_ms: list[float]
    missing: int
    expected: int

    def figures(self) -> dict[str, float]:
        return percentiles(self.samples_ms)


def latencies(sent: dict[int, float], result: dict[str, Any], sockets_per_event: dict[int, int]) -> Latencies:
    """Match arrivals (time, event id) to send times; `sockets_per_event` says how many should arrive."""
    by_event: dict[int, list[float]] = {}
    for arrived, event_id in zip(result["times"], result["ids"], strict=True):
        if event_id in sent:
            by_event.setdefault(event_id, []).append((arrived - sent[event_id]) * 1000)
    samples = [ms for values in by_event.values() for ms in values]
    expected = sum(sockets_per_event.get(event_id, 0) for event_id in sent)
    return Latencies(
        samples,
        [max(values) for values in by_event.values()],
        max(expected - len(samples), 0),
        expected,
    )


# the worker entry point ----------------------------------------------------------------------------


async def _run_worker(name: str) -> None:
    from config import Settings
    from storage.resources import open_resources
    from workers.queues import all_queues
    from workers.runner import JobRunner

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    wanted = [queue for queue in all_queues() if queue.name == name]
    if not wanted:
        raise SystemExit(f"no queue named {name!r}")
    async with open_resources(Settings.from_env()) as res:
        await JobRunner(res, wanted).run(stop)


if __name__ == "__main__":
    if sys.argv[1:2] == ["worker"]:
        import uvloop

        uvloop.install()
        asyncio.run(_run_worker(sys.argv[2] if len(sys.argv) > 2 else "timeline"))
    else:
        log("usage: python -m bench.streaming_common worker [QUEUE]")
        sys.exit(2)
