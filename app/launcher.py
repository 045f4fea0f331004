"""`chirp run` and `chirp stack`: the whole system on one machine, for development.

Stores named in the environment (DATABASE_URL, REDIS_URL, MEILI_URL, S3_ENDPOINT) are used as they are;
the others are started from the embedded packages with their data under `.stack/`. Then the API and the
workers run as child processes. Ctrl-C (or SIGTERM) stops everything this command started, by pid.
"""

from __future__ import annotations

import asyncio
import errno
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from config import Settings
from config.settings import DEV_MEILI_PORT, DEV_POSTGRES_PORT, DEV_S3_PORT, DEV_VALKEY_PORT
from stack import RunningStack, StackError, StackUrls, install_binaries, start_stack

REPO_ROOT = Path(__file__).resolve().parent.parent
STACK_ROOT = REPO_ROOT / ".stack"
DEV_PORTS = {"postgres": DEV_POSTGRES_PORT, "valkey": DEV_VALKEY_PORT, "meilisearch": DEV_MEILI_PORT, "s3": DEV_S3_PORT}
# The environment variable that, when set, means "use this server, start none".
SERVER_ENV = {"postgres": "DATABASE_URL", "valkey": "REDIS_URL", "meilisearch": "MEILI_URL", "s3": "S3_ENDPOINT"}


def stack_environment(urls: StackUrls, servers: set[str]) -> dict[str, str]:
    """The environment variables that point Chirp at the embedded servers in `servers`."""
    env: dict[str, str] = {}
    if "postgres" in servers:
        env["DATABASE_URL"] = urls.database_url
    if "valkey" in servers:
        env["REDIS_URL"] = urls.redis_url
    if "meilisearch" in servers:
        env.update(MEILI_URL=urls.meili_url, MEILI_MASTER_KEY=urls.meili_master_key)
    if "s3" in servers:
        env.update(S3_ENDPOINT=urls.s3_endpoint, S3_ACCESS_KEY=urls.s3_access_key, S3_SECRET_KEY=urls.s3_secret_key)
    return env


def install_stack() -> None:
    install_binaries(REPO_ROOT)


def _start_embedded(servers: set[str]) -> RunningStack | None:
    if not servers:
        return None
    install_binaries(REPO_ROOT)
    print(f"chirp: starting {', '.join(sorted(servers))} (data in {STACK_ROOT})", flush=True)
    return start_stack(STACK_ROOT, ports=DEV_PORTS, persistent=True, only=sorted(servers))


def run_stack_only() -> int:
    """`chirp stack up`: the embedded servers alone, printing how to point Chirp at them."""
    try:
        running = _start_embedded(set(DEV_PORTS))
    except StackError as exc:
        print(f"chirp: {exc}", file=sys.stderr)
        return 1
    assert running is not None
    try:
        for name, value in stack_environment(running.urls, set(DEV_PORTS)).items():
            print(f"export {name}={value}")
        print("chirp: servers up; Ctrl-C stops them", flush=True)
        wait_for_children_or_signal([])
    finally:
        running.stop()
    return 0


def _port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return False
            raise
    return True


def _wait_until_serving(url: str, process: subprocess.Popen[bytes], timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return True
        except OSError:
            time.sleep(0.2)
    return False


def run_system(settings: Settings, *, workers: int = 1) -> int:
    """`chirp run`: embedded servers where none is configured, migrations, the API and the workers."""
    if not _port_free(settings.host, settings.port):
        print(
            f"chirp: port {settings.port} on {settings.host} is already in use; stop what holds it or set CHIRP_PORT",
            file=sys.stderr,
        )
        return 1
    wanted = {name for name, var in SERVER_ENV.items() if var not in os.environ}
    try:
        running = _start_embedded(wanted)
    except StackError as exc:
        print(f"chirp: {exc}", file=sys.stderr)
        return 1
    children: list[subprocess.Popen[bytes]] = []
    try:
        env = {**os.environ, **(stack_environment(running.urls, wanted) if running else {})}
        effective = Settings.from_env(env)
        from storage.prepare import prepare_stores

        asyncio.run(prepare_stores(effective))
        python = sys.executable
        env.pop("CHIRP_NODE_ID", None)  # each process leases its own (storage/node_leases.py)
        # One API and no balancer to tell: no reason to wait before stopping.
        api_env = {"CHIRP_DRAIN_SECONDS": "0", **env, "CHIRP_HOST": settings.host, "CHIRP_PORT": str(settings.port)}
        # Own sessions: a terminal's Ctrl-C reaches only us, and we stop the children in order.
        children.append(subprocess.Popen([python, "-m", "app.cli", "serve"], env=api_env, start_new_session=True))
        for _ in range(workers):
            children.append(subprocess.Popen([python, "-m", "app.cli", "worker"], env=env, start_new_session=True))
        url = f"http://{settings.host}:{settings.port}"
        if not _wait_until_serving(f"{url}/healthz", children[0]):
            print("chirp: the API did not come up; see its log above", file=sys.stderr)
            return 1
        pids = ", ".join(str(c.pid) for c in children)
        print(
            f"chirp: running at {url} (API and {workers} worker(s), pids {pids}); Ctrl-C stops everything", flush=True
        )
        wait_for_children_or_signal(children)
        return 0
    finally:
        stop_children(children)
        if running is not None:
            running.stop()
            print("chirp: servers stopped", flush=True)


def wait_for_children_or_signal(children: list[subprocess.Popen[bytes]]) -> None:
    """Block until SIGINT/SIGTERM, or until one of `children` exits."""
    stop = {"now": False}

    def handler(_sig: int, _frame: object) -> None:
        stop["now"] = True

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)
    while not stop["now"]:
        exited = [c for c in children if c.poll() is not None]
        if exited:
            print(f"chirp: process {exited[0].pid} exited with {exited[0].returncode}; stopping", file=sys.stderr)
            return
        time.sleep(0.2)


def stop_children(children: list[subprocess.Popen[bytes]]) -> None:
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 15
    for child in children:
        try:
            child.wait(timeout=max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
