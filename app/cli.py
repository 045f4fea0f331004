"""`chirp`: the one command-line entry point.

chirp run            the whole system on the embedded servers (what `make run` does)
chirp serve          one API process
chirp worker         one background worker process
chirp migrate        apply database migrations, create the bucket and the search indexes
chirp stack install  fetch the embedded server binaries
chirp stack up       run only the embedded servers, printing their addresses
chirp jobs stats|dead|replay   inspect and replay the job queue
chirp search reindex rebuild the search indexes from PostgreSQL and swap them in
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

import uvloop

from config import Settings, SettingsError

log = logging.getLogger("chirp")


def _settings(args: argparse.Namespace) -> Settings:
    overrides: dict[str, Any] = {}
    if getattr(args, "host", None):
        overrides["host"] = args.host
    if getattr(args, "port", None):
        overrides["port"] = args.port
    return Settings.from_env(**overrides)


def _run(main: Coroutine[Any, Any, int]) -> int:
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    return asyncio.run(main)


def _stop_on_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)


# serve ----------------------------------------------------------------------------------------------


def cmd_serve(args: argparse.Namespace) -> int:
    settings = _settings(args)
    if getattr(args, "processes", 1) > 1:
        return _serve_processes(settings, args.processes)
    return _run(_serve(settings, reuse_port=getattr(args, "reuse_port", False)))


async def _serve(settings: Settings, *, reuse_port: bool) -> int:
    """One API process until SIGTERM or SIGINT, then in order: readiness fails (SIGTERM: for
    CHIRP_DRAIN_SECONDS, so the balancer stops sending new requests; a second signal cuts it short), the
    port closes, websockets close with 1001, in-flight requests get CHIRP_SHUTDOWN_TIMEOUT to finish,
    and the stores close."""
    from aiohttp import web

    from api.keys import LIFECYCLE
    from app.main import create_app

    app = create_app(settings, on_node_lost=_terminate_self)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=settings.shutdown_timeout, handle_signals=False)
    await runner.setup()
    try:
        await web.TCPSite(runner, settings.host, settings.port, reuse_port=reuse_port).start()
        log.info("API listening on http://%s:%d", settings.host, settings.port)
        received: list[signal.Signals] = []
        stop = asyncio.Event()

        def on_signal(sig: signal.Signals) -> None:
            received.append(sig)
            stop.set()

        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, on_signal, sig)
        await stop.wait()
        app[LIFECYCLE].draining = True
        if received[0] == signal.SIGTERM and settings.drain_seconds > 0:
            log.info("draining: /readyz fails for %g s before the port closes", settings.drain_seconds)
            stop.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), settings.drain_seconds)
    finally:
        await runner.cleanup()
    return 0


def _terminate_self() -> None:
    """Another process took this one's node id: shut down in order (the supervisor starts a fresh one)."""
    import os

    os.kill(os.getpid(), signal.SIGTERM)


def _serve_processes(settings: Settings, count: int) -> int:
    """`chirp serve --processes N`: N API processes sharing the port (SO_REUSEPORT). Each leases its own
    node id (it mints ids and owns a streaming channel under it); with CHIRP_NODE_ID they are CHIRP_NODE_ID
    to CHIRP_NODE_ID+N-1."""
    import os
    import subprocess

    from app.launcher import stop_children, wait_for_children_or_signal
    from core.ids import MAX_NODE

    first = settings.node_id
    if first is not None and first + count - 1 > MAX_NODE:
        print(f"chirp: --processes needs node ids up to {MAX_NODE}; lower CHIRP_NODE_ID", file=sys.stderr)
        return 2
    base = {**os.environ, "CHIRP_HOST": settings.host, "CHIRP_PORT": str(settings.port)}
    children = [
        subprocess.Popen(
            [sys.executable, "-m", "app.cli", "serve", "--reuse-port"],
            env=base if first is None else {**base, "CHIRP_NODE_ID": str(first + n)},
        )
        for n in range(count)
    ]
    pids = ", ".join(str(c.pid) for c in children)
    log.info("%d API processes on http://%s:%d (pids %s)", count, settings.host, settings.port, pids)
    try:
        wait_for_children_or_signal(children)
    finally:
        stop_children(children)
    return max((c.returncode or 0 for c in children), default=0)


# worker ---------------------------------------------------------------------------------------------


async def _worker(settings: Settings) -> int:
    from storage.resources import open_resources
    from workers.queues import all_periodic, all_queues
    from workers.runner import JobRunner

    stop = asyncio.Event()
    _stop_on_signals(stop)
    async with open_resources(settings, role="worker", on_node_lost=stop.set) as res:
        await JobRunner(res, all_queues(), all_periodic()).run(stop)
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    return _run(_worker(_settings(args)))


# migrate --------------------------------------------------------------------------------------------


def cmd_migrate(args: argparse.Namespace) -> int:
    return _run(_migrate(_settings(args)))


async def _migrate(settings: Settings) -> int:
    from storage.prepare import prepare_stores

    await prepare_stores(settings)
    return 0


# jobs -----------------------------------------------------------------------------------------------


async def _jobs(settings: Settings, action: str, ids: Sequence[int]) -> int:
    import asyncpg

    from storage import jobs as job_store

    conn = await asyncpg.connect(settings.database_url)
    try:
        if action == "stats":
            for stat in await job_store.queue_stats(conn):
                print(f"{stat.queue:<12} ready={stat.ready:<8} lag={stat.oldest_ready_seconds:.1f}s dead={stat.dead}")
        elif action == "dead":
            for row in await job_store.dead_jobs(conn):
                print(
                    f"{row['id']} {row['queue']}/{row['kind']} attempts={row['attempts']} "
                    f"died={row['died_at']:%Y-%m-%d %H:%M:%S} error={row['last_error']}"
                )
        else:
            count = await job_store.replay_dead(conn, list(ids) or None)
            print(f"replayed {count} dead jobs")
    finally:
        await conn.close()
    return 0


def cmd_jobs(args: argparse.Namespace) -> int:
    return _run(_jobs(_settings(args), args.action, args.ids))


# search ---------------------------------------------------------------------------------------------


class _ProgressBar:
    """`posts    [######......]  41% 410,000/1,000,000`, redrawn in place on a terminal, every 10% otherwise."""

    WIDTH = 30

    def __init__(self) -> None:
        self._tty = sys.stderr.isatty()
        self._last: tuple[str, int] = ("", -1)

    def __call__(self, stage: str, done: int, total: int) -> None:
        share = done / total if total else 0.0  # a total not known yet
        step = int(share * 100) if self._tty else int(share * 10)
        if (stage, step) == self._last:
            return
        self._last = (stage, step)
        filled = int(share * self.WIDTH)
        line = f"{stage:<9}[{'#' * filled}{'.' * (self.WIDTH - filled)}] {share:4.0%} {done:,}/{total:,}"
        if self._tty:
            print(f"\r{line}", end="\n" if done >= total else "", file=sys.stderr, flush=True)
        else:
            print(line, file=sys.stderr, flush=True)


async def _search_reindex(settings: Settings) -> int:
    from domain.search_indexing import reindex
    from storage.resources import open_resources

    async with open_resources(settings) as res:
        result = await reindex(res, _ProgressBar())
    print(f"reindexed {result.posts:,} posts, {result.accounts:,} accounts, {result.hashtags:,} hashtags")
    return 0


def cmd_search(args: argparse.Namespace) -> int:
    return _run(_search_reindex(_settings(args)))


# stack and run --------------------------------------------------------------------------------------


def cmd_stack(args: argparse.Namespace) -> int:
    from app.launcher import install_stack, run_stack_only

    if args.action == "install":
        install_stack()
        return 0
    return run_stack_only()


def cmd_run(args: argparse.Namespace) -> int:
    from app.launcher import run_system

    return run_system(_settings(args), workers=args.workers)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="chirp", description="Chirp microblogging server")
    sub = parser.add_subparsers(dest="command", required=True)

    def add(name: str, func: Callable[[argparse.Namespace], int], help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text)
        p.set_defaults(func=func)
        return p

    serve = add("serve", cmd_serve, "run one API process")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--reuse-port", action="store_true", help="share the port with other API processes")
    serve.add_argument("--processes", type=int, default=1, help="run N API processes on the port (reuse_port)")
    add("worker", cmd_worker, "run one background worker process")
    add("migrate", cmd_migrate, "apply migrations, create the bucket and the search indexes")
    run = add("run", cmd_run, "run everything on the embedded servers (make run)")
    run.add_argument("--host")
    run.add_argument("--port", type=int)
    run.add_argument("--workers", type=int, default=1, help="worker processes to start")
    stack = add("stack", cmd_stack, "the embedded development servers")
    stack.add_argument("action", choices=("install", "up"))
    search = add("search", cmd_search, "maintain the search indexes")
    search.add_argument("action", choices=("reindex",), help="rebuild every index from PostgreSQL and swap it in")
    jobs = add("jobs", cmd_jobs, "inspect the job queue")
    jobs.add_argument("action", choices=("stats", "dead", "replay"))
    jobs.add_argument("ids", nargs="*", type=int, help="dead job ids to replay (default: all)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        print(f"chirp: configuration error: {exc}", file=sys.stderr)
        return 2
    from app.logs import configure_logging

    configure_logging(settings.log_level, settings.log_format)
    from storage.node_leases import NodeLeaseError

    try:
        return int(args.func(args))
    except SettingsError as exc:
        print(f"chirp: configuration error: {exc}", file=sys.stderr)
        return 2
    except NodeLeaseError as exc:
        print(f"chirp: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
