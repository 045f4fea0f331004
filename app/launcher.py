"""`chirp run` and `chirp stack`: the whole system on one machine, for development.

Stores named in the environment (DATABASE_URL, REDIS_URL, MEILI_URL, S3_ENDPOINT) are used as they are;
the others are started from the embedded packages with their data under `.stack/`. Then the API and the
workers run as child processes. Ctrl-C (or SIGTERM) stops everything this command started, by pid.

The ports move together: CHIRP_STACK_PORT_BASE=B (or `--ports B`) puts the API on B and the servers on
B+1... (config.settings.dev_ports); `--ports auto` finds a free block and prints it. A taken port is
refused before anything starts, with the variable to set and a block that is free right now.
"""

from __future__ import annotations

import asyncio
import errno
import os
import random
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from config import Settings
from config.settings import PORT_BASE_ENV, PORT_BASE_MAX, PORT_BASE_MIN, dev_ports
from stack import SERVICES, RunningStack, StackError, StackUrls, install_binaries, start_stack
from stack.ports import needed_ports

REPO_ROOT = Path(__file__).resolve().parent.parent
STACK_ROOT = REPO_ROOT / ".stack"
# `--ports auto` draws its block here: below the kernel's ephemeral range (32768+), gRPC twins included.
AUTO_BASE_LOW, AUTO_BASE_HIGH = 10300, 22700
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


# ports ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PortPlan:
    """Where `chirp run` puts the API and the embedded servers: `base` 0 is the classic layout."""

    base: int
    ports: dict[str, int]  # "api", then the stack's keys (postgres, valkey, ..., s3_filer)

    @property
    def stack_ports(self) -> dict[str, int]:
        return {key: port for key, port in self.ports.items() if key != "api"}

    def listening(self, host: str, servers: set[str]) -> dict[str, tuple[str, int]]:
        """Every port (label → (host, number)) the API and `servers` will listen on, gRPC twins included."""
        wanted: dict[str, tuple[str, int]] = {"API": (host, self.ports["api"])}
        for key, port in self.stack_ports.items():
            if key.split("_")[0] in servers:  # s3_master etc. belong to s3
                wanted.update({label: ("127.0.0.1", number) for label, number in needed_ports(key, port).items()})
        return wanted

    def describe(self) -> str:
        p = self.ports
        return (
            f"API {p['api']}, postgres {p['postgres']}, valkey {p['valkey']}, meilisearch {p['meilisearch']}, "
            f"s3 {p['s3']} (seaweedfs {p['s3_master']}, {p['s3_volume']}, {p['s3_filer']}; gRPC on each + 10000)"
        )


def plan_ports(settings: Settings, choice: str | None = None) -> PortPlan:
    """The ports for `choice`: None (CHIRP_STACK_PORT_BASE / CHIRP_PORT as set), "auto", or a base number."""
    if choice is None:
        ports = dev_ports(settings.stack_port_base)
        ports["api"] = settings.port  # CHIRP_PORT or --port moves the API alone
        return PortPlan(settings.stack_port_base, ports)
    if choice == "auto":
        base = find_free_base()
    elif choice.isdigit() and PORT_BASE_MIN <= int(choice) <= PORT_BASE_MAX:
        base = int(choice)
    else:
        raise StackError(f"--ports: expected auto or a number from {PORT_BASE_MIN} to {PORT_BASE_MAX}, got {choice!r}")
    return PortPlan(base, dev_ports(base))


def _block(base: int) -> set[int]:
    """Every port a stack on `base` listens on (base 0: the classic layout), gRPC twins included."""
    return {port for _host, port in PortPlan(base, dev_ports(base)).listening("127.0.0.1", set(SERVICES)).values()}


def _block_free(base: int) -> bool:
    return all(_port_free("127.0.0.1", port) for port in _block(base))


def find_free_base(low: int = AUTO_BASE_LOW, high: int = AUTO_BASE_HIGH) -> int:
    """A port base in [low, high) whose whole block (API, servers, SeaweedFS gRPC twins) is free on
    127.0.0.1 now. Callers starting stacks at the same moment pass bands that do not overlap."""
    classic = _block(0)  # a `make run` on the classic ports, later, must not collide with this one
    bases = [base for base in range(low, high, 10) if not _block(base) & classic]
    random.SystemRandom().shuffle(bases)
    for base in bases[:200]:
        if _block_free(base):
            return base
    raise StackError(f"found no free block of ports between {low} and {high + 10010}")


def moving_hint() -> str:
    """What to set when a port is taken: the variable, with a base that is free right now."""
    try:
        base = find_free_base()
        example = f"{PORT_BASE_ENV}={base} make run   (ports {base}-{base + 7} are free now)"
    except StackError:
        example = f"{PORT_BASE_ENV}=<port> make run"
    return (
        f"chirp: to move the API and every embedded server together, set {PORT_BASE_ENV}:\n"
        f"    {example}\n"
        "chirp: or let Chirp pick free ports and print them: make run PORTS=auto   (chirp run --ports auto)\n"
        "chirp: (CHIRP_PORT moves only the API; DATABASE_URL, REDIS_URL, MEILI_URL, S3_ENDPOINT use servers of yours)"
    )


def _refuse(reason: str) -> int:
    print(f"chirp: {reason}", file=sys.stderr)
    if "already in use" in reason:
        print(moving_hint(), file=sys.stderr)
    return 1


def export_lines(env: dict[str, str]) -> list[str]:
    """`export NAME=value` lines a shell can `eval`, values quoted."""
    return [f"export {name}={shlex.quote(value)}" for name, value in env.items()]


# stack and run --------------------------------------------------------------------------------------


def _start_embedded(servers: set[str], plan: PortPlan) -> RunningStack | None:
    if not servers:
        return None
    install_binaries(REPO_ROOT)
    print(f"chirp: starting {', '.join(sorted(servers))} (data in {STACK_ROOT})", flush=True)
    return start_stack(STACK_ROOT, ports=plan.stack_ports, persistent=True, only=sorted(servers))


def run_stack_only(settings: Settings, ports: str | None = None) -> int:
    """`chirp stack up`: the embedded servers alone, printing the environment that points Chirp at them."""
    servers = set(SERVICES)
    try:
        plan = plan_ports(settings, ports)
        running = _start_embedded(servers, plan)  # refuses a taken port before anything starts
    except StackError as exc:
        return _refuse(str(exc))
    assert running is not None
    try:
        env = stack_environment(running.urls, servers)
        if plan.base:
            env[PORT_BASE_ENV] = str(plan.base)
        print(f"chirp: ports: {plan.describe()}")
        print("chirp: to use these servers from another shell (chirp run, chirp jobs stats, ...), run:")
        for line in export_lines(env):
            print(line)
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


def run_system(settings: Settings, *, workers: int = 1, ports: str | None = None) -> int:
    """`chirp run`: embedded servers where none is configured, migrations, the API and the workers."""
    wanted = {name for name, var in SERVER_ENV.items() if var not in os.environ}
    try:
        plan = plan_ports(settings, ports)
        if not _port_free(settings.host, plan.ports["api"]):
            return _refuse(f"port {plan.ports['api']} (API) on {settings.host} is already in use")
        if plan.base:
            print(f"chirp: ports ({PORT_BASE_ENV}={plan.base}): {plan.describe()}", flush=True)
        running = _start_embedded(wanted, plan)
    except StackError as exc:
        return _refuse(str(exc))
    api_port = plan.ports["api"]
    children: list[subprocess.Popen[bytes]] = []
    try:
        env = {**os.environ, **(stack_environment(running.urls, wanted) if running else {})}
        if plan.base:
            env[PORT_BASE_ENV] = str(plan.base)
        effective = Settings.from_env(env)
        from storage.prepare import prepare_stores

        asyncio.run(prepare_stores(effective))
        python = sys.executable
        env.pop("CHIRP_NODE_ID", None)  # each process leases its own (storage/node_leases.py)
        # One API and no balancer to tell: no reason to wait before stopping.
        api_env = {"CHIRP_DRAIN_SECONDS": "0", **env, "CHIRP_HOST": settings.host, "CHIRP_PORT": str(api_port)}
        # Own sessions: a terminal's Ctrl-C reaches only us, and we stop the children in order.
        children.append(subprocess.Popen([python, "-m", "app.cli", "serve"], env=api_env, start_new_session=True))
        for _ in range(workers):
            children.append(subprocess.Popen([python, "-m", "app.cli", "worker"], env=env, start_new_session=True))
        url = f"http://{settings.host}:{api_port}"
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
