"""`chirp`: the one command-line entry point.

chirp run            the whole system on the embedded servers (what `make run` does)
chirp serve          one API process
chirp worker         one background worker process
chirp migrate        apply database migrations, create the bucket and the search indexes
chirp stack install  fetch the embedded server binaries
chirp stack up       run only the embedded servers, printing their addresses
chirp jobs stats|dead|replay   inspect and replay the job queue
chirp search reindex rebuild the search indexes from PostgreSQL and swap them in
chirp announce add|list|remove   the announcements every user sees (GET /api/v1/announcements)
chirp admin grant|revoke USER    make an account an admin (or a moderator), or a plain user again
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Callable, Coroutine, Sequence
from datetime import UTC, datetime
from typing import Any

import uvloop

from config import Settings, SettingsError
from core.collector import FrozenSurvivors

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
    from app.main import app_runner, create_app

    app = create_app(settings, on_node_lost=_terminate_self)
    runner = app_runner(app, access_log=None, shutdown_timeout=settings.shutdown_timeout, handle_signals=False)
    await runner.setup()
    # What start-up allocated (modules, app, pools) lives as long as the process: keep it out of the full
    # collections, whose pauses grow with the heap (a process holding 10,000 streams has a large one), and
    # after each full collection freeze what survived it (streams live long): core/collector.py. Here, in
    # the process root, not in the app's start-up: a process that makes many apps (the test suite) would
    # otherwise keep every app's leftovers for good.
    FrozenSurvivors().install()
    try:
        site = web.TCPSite(runner, settings.host, settings.port, reuse_port=reuse_port, backlog=settings.listen_backlog)
        await site.start()
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


def _stats_table(stats: Sequence[Any], queue_names: Sequence[str]) -> list[str]:
    """`chirp jobs stats`: one line per queue the workers serve (and any other queue with jobs), zeros included."""
    by_queue = {stat.queue: stat for stat in stats}
    names = list(dict.fromkeys([*queue_names, *sorted(by_queue)]))
    width = max(len("queue"), *(len(name) for name in names))
    lines = [f"{'queue':<{width}}  {'ready':>8}  {'oldest ready':>12}  {'dead':>6}"]
    for name in names:
        stat = by_queue.get(name)
        ready, lag, dead = (stat.ready, stat.oldest_ready_seconds, stat.dead) if stat else (0, 0.0, 0)
        lines.append(f"{name:<{width}}  {ready:>8,}  {lag:>11.1f}s  {dead:>6,}")
    return lines


def _dead_lines(rows: Sequence[Any]) -> list[str]:
    if not rows:
        return ["no dead jobs"]
    return [
        f"{row['id']} {row['queue']}/{row['kind']} attempts={row['attempts']} "
        f"died={row['died_at']:%Y-%m-%d %H:%M:%S} error={row['last_error']}"
        for row in rows
    ]


async def _jobs(settings: Settings, action: str, ids: Sequence[int]) -> int:
    import asyncpg

    from storage import jobs as job_store
    from workers.queues import all_queues

    conn = await asyncpg.connect(settings.session_database_url)
    try:
        if action == "stats":
            lines = _stats_table(await job_store.queue_stats(conn), [queue.name for queue in all_queues()])
        elif action == "dead":
            lines = _dead_lines(await job_store.dead_jobs(conn))
        else:
            count = await job_store.replay_dead(conn, list(ids) or None)
            lines = [f"replayed {count} dead jobs"]
    finally:
        await conn.close()
    print("\n".join(lines))
    return 0


def cmd_jobs(args: argparse.Namespace) -> int:
    return _run(_jobs(_settings(args), args.action, args.ids))


# search ---------------------------------------------------------------------------------------------


async def _search_reindex(settings: Settings) -> int:
    from core.progress import Progress
    from domain.search_indexing import reindex
    from storage.resources import open_resources

    async with open_resources(settings) as res:
        with Progress() as progress:
            result = await reindex(res, progress)
    print(f"reindexed {result.posts:,} posts, {result.accounts:,} accounts, {result.hashtags:,} hashtags")
    return 0


def cmd_search(args: argparse.Namespace) -> int:
    return _run(_search_reindex(_settings(args)))


# announce -------------------------------------------------------------------------------------------


def _moment(raw: str) -> datetime:
    """An ISO 8601 time for --starts-at/--ends-at; without a zone, UTC."""
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an ISO 8601 time such as 2026-12-24T18:00, got {raw!r}") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


async def _announce(settings: Settings, args: argparse.Namespace) -> int:
    from core.times import iso
    from domain import announcements
    from storage.resources import open_resources

    async with open_resources(settings) as res:
        if args.action == "add":
            try:
                row = await announcements.publish(
                    res, args.text, starts_at=args.starts_at, ends_at=args.ends_at, all_day=args.all_day
                )
            except ValueError as exc:
                print(f"chirp announce: {exc}", file=sys.stderr)
                return 2
            print(f"published announcement {row['id']}")
            return 0
        if args.action == "remove":
            if not await announcements.remove(res, args.id):
                print(f"chirp announce: no announcement {args.id}", file=sys.stderr)
                return 1
            print(f"removed announcement {args.id}")
            return 0
        for row in await announcements.all_announcements(res):
            window = (
                f" ({iso(row['starts_at']) or '…'} to {iso(row['ends_at']) or '…'})"
                if row["starts_at"] or row["ends_at"]
                else ""
            )
            print(f"{row['id']}  {iso(row['published_at'])}{window}  {row['text']}")
        return 0


def cmd_announce(args: argparse.Namespace) -> int:
    return _run(_announce(_settings(args), args))


# admin ----------------------------------------------------------------------------------------------


async def _admin(settings: Settings, args: argparse.Namespace) -> int:
    from domain import moderation
    from storage.resources import open_resources

    role = "user" if args.action == "revoke" else args.role
    async with open_resources(settings) as res:
        if await moderation.grant_role(res, args.username, role) is None:
            print(f"chirp admin: no account {args.username}", file=sys.stderr)
            return 1
    print(f"{args.username.lstrip('@')} is now {'a plain user' if role == 'user' else f'a {role}'}")
    return 0


def cmd_admin(args: argparse.Namespace) -> int:
    return _run(_admin(_settings(args), args))


def _admin_parser(admin: argparse.ArgumentParser) -> None:
    actions = admin.add_subparsers(dest="action", required=True)
    grant = actions.add_parser(
        "grant", help="give an account the admin role (or --role moderator): the admin API and moderation page"
    )
    grant.add_argument("username", help="the account's username")
    grant.add_argument("--role", choices=("admin", "moderator"), default="admin", help="admin (default) or moderator")
    revoke = actions.add_parser("revoke", help="make an admin or moderator a plain user again")
    revoke.add_argument("username", help="the account's username")


def _announce_parser(announce: argparse.ArgumentParser) -> None:
    actions = announce.add_subparsers(dest="action", required=True)
    add = actions.add_parser(
        "add",
        help="publish an announcement to every user",
        description="Publish an announcement: apps show it above the home timeline until the user dismisses it.",
    )
    add.add_argument("text", help="the announcement, plain text (links are not made clickable)")
    add.add_argument("--starts-at", type=_moment, help="when the event it announces starts (ISO 8601, UTC by default)")
    add.add_argument("--ends-at", type=_moment, help="when it ends; the announcement is no longer shown after that")
    add.add_argument("--all-day", action="store_true", help="the event lasts whole days (apps show dates only)")
    actions.add_parser("list", help="every announcement, newest first, with its id")
    remove = actions.add_parser("remove", help="withdraw an announcement (and its reactions)")
    remove.add_argument("id", type=int, help="the announcement's id (from `chirp announce list`)")


# stack and run --------------------------------------------------------------------------------------


def cmd_stack(args: argparse.Namespace) -> int:
    from app.launcher import install_stack, run_stack_only

    if args.action == "install":
        from stack import StackError

        try:
            install_stack()
        except StackError as exc:
            print(f"chirp: {exc}", file=sys.stderr)
            return 1
        return 0
    return run_stack_only(_settings(args), ports=args.ports)


def cmd_run(args: argparse.Namespace) -> int:
    from app.launcher import run_system

    if args.topology == "ha":
        from app.topology import ha_settings, run_ha

        return run_ha(ha_settings(_settings(args), args.ports))
    return run_system(_settings(args), workers=args.workers, ports=args.ports)


PORTS_HELP = (
    "move the API and every embedded server together: 'auto' picks a free block and prints it, "
    "a number B puts the API on B and the servers on B+1..B+7 (as CHIRP_STACK_PORT_BASE=B)"
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="chirp",
        description="Chirp: a Mastodon-API microblogging server. Every setting is an environment variable "
        "(config/settings.py); `chirp COMMAND --help` describes a command.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", title="commands")

    def add(name: str, func: Callable[[argparse.Namespace], int], help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text[0].upper() + help_text[1:] + ".")
        p.set_defaults(func=func)
        return p

    def listen_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("--host", help="address the API listens on (CHIRP_HOST, default 127.0.0.1)")
        p.add_argument("--port", type=int, help="port the API listens on (CHIRP_PORT, default 8080)")

    run = add("run", cmd_run, "run everything on the embedded servers: what `make run` does")
    listen_options(run)
    run.add_argument("--ports", metavar="auto|BASE", help=PORTS_HELP)
    run.add_argument("--workers", type=int, default=1, help="background worker processes to start (default 1)")
    run.add_argument(
        "--topology",
        choices=("single", "ha"),
        default="single",
        help="ha: HAProxy, 2 API processes, 2 workers, a Valkey Cluster, a PostgreSQL replica and PgBouncer, "
        "in a fresh directory (app/topology.py)",
    )
    serve = add("serve", cmd_serve, "run one API process against the configured stores")
    listen_options(serve)
    serve.add_argument("--reuse-port", action="store_true", help="share the port with other API processes")
    serve.add_argument("--processes", type=int, default=1, help="run N API processes sharing the port (default 1)")
    add("worker", cmd_worker, "run one background worker process (all the job queues)")
    add("migrate", cmd_migrate, "apply migrations, create the bucket and the search indexes")
    stack = add("stack", cmd_stack, "the embedded development servers alone")
    stack.add_argument(
        "action",
        choices=("install", "up"),
        help="install: fetch the server binaries; up: run the servers and print the environment to use them",
    )
    stack.add_argument("--ports", metavar="auto|BASE", help=PORTS_HELP)
    search = add("search", cmd_search, "maintain the search indexes")
    search.add_argument(
        "action", choices=("reindex",), help="reindex: rebuild every index from PostgreSQL and swap it in"
    )
    jobs = add("jobs", cmd_jobs, "inspect and replay the background job queue")
    jobs.add_argument(
        "action",
        choices=("stats", "dead", "replay"),
        help="stats: ready and dead jobs per queue; dead: list the dead jobs; replay: queue dead jobs again",
    )
    jobs.add_argument("ids", nargs="*", type=int, help="dead job ids to replay (default: all)")
    _announce_parser(add("announce", cmd_announce, "publish, list and remove announcements to every user"))
    _admin_parser(add("admin", cmd_admin, "grant or revoke the admin and moderator roles"))
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
