"""`chirp run --topology ha`: the highly-available topology on one machine, for development and tests.

It starts, in a fresh directory (each run begins empty; Ctrl-C stops everything and removes it):
- a 3-primary + 3-replica Valkey Cluster (stack/valkey_cluster.py);
- a PostgreSQL primary and a streaming replica (stack/postgres_replica.py), plus PgBouncer in transaction
  mode in front of the primary when it is installed (stack/pgbouncer.py);
- Meilisearch and S3 as `chirp run` does;
- 2 API processes and 2 workers, pointed at all of it (DATABASE_REPLICA_URL, CHIRP_DATABASE_POOLER,
  CHIRP_VALKEY_CLUSTER);
- HAProxy on the API port with deploy/haproxy/haproxy.cfg (health checks on /readyz, websocket tunnels,
  X-Forwarded-For). Without HAProxy it says how to install it and the two API processes share the port
  with SO_REUSEPORT instead.

It prints the environment (`export ...`) that reaches the same stores, and the pids of what it started.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

import psutil

from app.launcher import REPO_ROOT, _port_free, _refuse, _wait_until_serving, export_lines, stop_children
from config import Settings
from stack import StackError, install_binaries, start_stack, start_valkey_cluster
from stack.pgbouncer import INSTALL_HINT as PGBOUNCER_HINT
from stack.pgbouncer import pgbouncer_path, start_pgbouncer
from stack.ports import pick_free_ports
from stack.postgres_replica import start_postgres_replica
from stack.servers import PostgresServer

HAPROXY_CFG = REPO_ROOT / "deploy" / "haproxy" / "haproxy.cfg"
API_PROCESSES = 2
WORKERS = 2


def haproxy_config(port: int, api_ports: list[int], stats_port: int) -> str:
    """deploy/haproxy/haproxy.cfg with this machine's ports: the balancer on `port`, one server per API."""
    text = HAPROXY_CFG.read_text().replace("bind :80", f"bind 127.0.0.1:{port}")
    text = text.replace("bind 127.0.0.1:8404", f"bind 127.0.0.1:{stats_port}")
    text = re.sub(r"maxconn \d+", "maxconn 4000", text)  # within a developer machine's descriptor limit
    text = re.sub(r"^\s*server api\d .*\n", "", text, flags=re.MULTILINE)
    servers = [f"    server api{i + 1} 127.0.0.1:{p} check" for i, p in enumerate(api_ports)]
    head, marker, tail = text.partition("backend chirp_api\n")
    lines = tail.split("\n")
    # The servers go after the backend's `default-server` line.
    index = next(i for i, line in enumerate(lines) if line.strip().startswith("default-server"))
    lines[index + 1 : index + 1] = servers
    return head + marker + "\n".join(lines)


def ha_settings(settings: Settings, ports: str | None) -> Settings:
    """`--ports` for the topology: its servers are always on free ports of their own, so only the API's
    (HAProxy's) port moves: `auto` picks a free one (printed in the "running at" line), a number names it."""
    if ports is None:
        return settings
    if ports == "auto":
        return dataclasses.replace(settings, port=pick_free_ports(1)[0])
    if not ports.isdigit() or not 1 <= int(ports) <= 65535:
        raise SystemExit(f"chirp: --ports: expected auto or a port number, got {ports!r}")
    return dataclasses.replace(settings, port=int(ports))


def run_ha(settings: Settings) -> int:
    """Start the whole HA topology, wait for Ctrl-C (or SIGTERM, or a process exiting), stop everything."""
    port = settings.port
    if not _port_free(settings.host, port):
        return _refuse(f"port {port} (API) on {settings.host} is already in use")
    haproxy = shutil.which("haproxy")
    if haproxy is None:
        print("chirp: HAProxy is not installed (sudo apt-get install haproxy); the API processes share the port "
              "with SO_REUSEPORT instead", flush=True)  # fmt: skip
    root = Path(tempfile.mkdtemp(prefix="chirp-ha-"))
    children: list[subprocess.Popen[bytes]] = []
    with ExitStack() as servers:
        servers.callback(shutil.rmtree, root, True)
        try:
            install_binaries(REPO_ROOT)
            print(f"chirp: starting the HA topology (data in {root})", flush=True)
            stack = start_stack(
                root / "stack",
                persistent=False,
                only=["postgres", "meilisearch", "s3"],
            )
            servers.callback(stack.stop)
            primary = stack.servers["postgres"]
            assert isinstance(primary, PostgresServer)
            cluster = start_valkey_cluster(root / "valkey-cluster")
            servers.callback(cluster.stop)
            replica = start_postgres_replica(primary)
            servers.callback(replica.cleanup)
            servers.callback(replica.stop)
            env = {
                **os.environ,
                "DATABASE_URL": stack.urls.database_url,
                "DATABASE_REPLICA_URL": replica.url,
                "REDIS_URL": cluster.url,
                "CHIRP_VALKEY_CLUSTER": "true",
                "MEILI_URL": stack.urls.meili_url,
                "MEILI_MASTER_KEY": stack.urls.meili_master_key,
                "S3_ENDPOINT": stack.urls.s3_endpoint,
                "S3_ACCESS_KEY": stack.urls.s3_access_key,
                "S3_SECRET_KEY": stack.urls.s3_secret_key,
                "CHIRP_TRUSTED_PROXIES": "127.0.0.1/32",
            }
            if pgbouncer_path() is not None:
                bouncer = start_pgbouncer(primary)
                servers.callback(bouncer.cleanup)
                servers.callback(bouncer.stop)
                env |= {
                    "DATABASE_URL": bouncer.url,
                    "DATABASE_DIRECT_URL": stack.urls.database_url,
                    "CHIRP_DATABASE_POOLER": "transaction",
                }
            else:
                print(f"chirp: {PGBOUNCER_HINT}; the processes connect to PostgreSQL directly", flush=True)
            env.pop("CHIRP_NODE_ID", None)  # each process leases its own
            env.pop("CHIRP_STACK_PORT_BASE", None)
            from storage.prepare import prepare_stores

            asyncio.run(prepare_stores(Settings.from_env(env)))
        except StackError as exc:
            return _refuse(str(exc))
        try:
            children = _start_processes(env, settings.host, port, haproxy, root)
            url = f"http://{settings.host}:{port}"
            apis = children[1 if haproxy else 0 :][:API_PROCESSES]
            if not _wait_until_serving(f"{url}/readyz", children[0], timeout=60) or not _all_listening(apis, 60):
                print("chirp: the HA topology did not answer; see the logs above", file=sys.stderr)
                return 1
            print("chirp: to reach these stores from another shell:", flush=True)
            shown = {k: v for k, v in env.items() if k not in os.environ or os.environ[k] != v}
            for line in export_lines(shown):
                print(line, flush=True)
            names = ["haproxy"] if haproxy else []
            names += [f"api{i + 1}" for i in range(API_PROCESSES)] + [f"worker{i + 1}" for i in range(WORKERS)]
            pids = ", ".join(f"{name}={child.pid}" for name, child in zip(names, children, strict=True))
            print(f"chirp: running at {url} (HA topology: {pids}); Ctrl-C stops everything", flush=True)
            return _supervise(children, haproxy is not None)
        finally:
            stop_children(list(reversed(children)))
            print("chirp: the HA topology stopped", flush=True)


def _supervise(children: list[subprocess.Popen[bytes]], balanced: bool) -> int:
    """Until Ctrl-C or SIGTERM: an API or worker process that dies is started again, as systemd's
    `Restart=always` would (its streams resume on the other API meanwhile); HAProxy dying stops it all."""
    stop = {"now": False}

    def handler(_sig: int, _frame: object) -> None:
        stop["now"] = True

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)
    while not stop["now"]:
        for index, child in enumerate(children):
            if child.poll() is None:
                continue
            if balanced and index == 0:
                print(f"chirp: HAProxy exited with {child.returncode}; stopping", file=sys.stderr, flush=True)
                return 1
            print(f"chirp: process {child.pid} exited with {child.returncode}; starting it again", flush=True)
            children[index] = _spawn(list(child.args), _env_of(child))  # type: ignore[arg-type]
        time.sleep(0.2)
    return 0


_ENVS: dict[int, dict[str, str]] = {}


def _env_of(child: subprocess.Popen[bytes]) -> dict[str, str]:
    return _ENVS[child.pid]


def _spawn(args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    child = subprocess.Popen(args, env=env, start_new_session=True)
    _ENVS[child.pid] = env
    return child


def _all_listening(processes: list[subprocess.Popen[bytes]], timeout: float) -> bool:
    """Whether every API process listens within `timeout`. An API binds its port once its start-up is done;
    one /readyz through the shared port (SO_REUSEPORT, or HAProxy) answers as soon as any one API does,
    and "running" must not be said while the other is still starting."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(process.poll() is not None for process in processes):
            return False
        if all(_listening(process.pid) for process in processes):
            return True
        time.sleep(0.2)
    return False


def _listening(pid: int) -> bool:
    try:
        return any(c.status == psutil.CONN_LISTEN for c in psutil.Process(pid).net_connections("tcp"))
    except psutil.Error:
        return False


def _start_processes(
    env: dict[str, str], host: str, port: int, haproxy: str | None, root: Path
) -> list[subprocess.Popen[bytes]]:
    """HAProxy (or nothing), the API processes, the workers: in that order in the list returned."""
    python = sys.executable
    children: list[subprocess.Popen[bytes]] = []
    try:
        if haproxy is not None:
            api_ports = pick_free_ports(API_PROCESSES + 1)
            stats_port = api_ports.pop()
            config = root / "haproxy.cfg"
            config.write_text(haproxy_config(port, api_ports, stats_port))
            # Its access log (a line per request) goes to a file, not between the processes' own lines.
            with (root / "haproxy.log").open("wb") as log:
                command = [haproxy, "-db", "-f", str(config)]
                children.append(subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True))
            print(f"chirp: HAProxy on {host}:{port}, its log in {root / 'haproxy.log'}", flush=True)
            api_envs = [{**env, "CHIRP_HOST": "127.0.0.1", "CHIRP_PORT": str(p)} for p in api_ports]
            serve = ["serve"]
        else:
            api_envs = [{**env, "CHIRP_HOST": host, "CHIRP_PORT": str(port)} for _ in range(API_PROCESSES)]
            serve = ["serve", "--reuse-port"]
        for api_env in api_envs:
            children.append(_spawn([python, "-m", "app.cli", *serve], api_env))
        for _ in range(WORKERS):
            children.append(_spawn([python, "-m", "app.cli", "worker"], env))
    except BaseException:
        stop_children(children)
        raise
    return children
