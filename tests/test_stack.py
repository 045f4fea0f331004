"""The embedded servers (stack/): real processes in temporary directories, no mocks."""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import boto3
import pytest
import redis

from stack import DEV_PORTS, RunningStack, StackError, install_binaries, start_stack
from stack.ports import resolve_ports
from stack.processes import pid_alive

pytestmark = pytest.mark.processes  # stacks of servers of their own

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def full_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    install_binaries(REPO_ROOT)
    running = start_stack(tmp_path_factory.mktemp("full"), persistent=False, log=lambda _: None)
    try:
        yield running
    finally:
        running.stop()


def _http_get(port: int, path: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def _port(url: str) -> int:
    return int(url.rsplit(":", 1)[1].split("/")[0])


async def _query(url: str, *statements: str) -> object:
    conn = await asyncpg.connect(url)
    try:
        result: object = None
        for statement in statements:
            result = await conn.fetchval(statement)
        return result
    finally:
        await conn.close()


def _descendants(pid: int) -> set[int]:
    """Every process below `pid` (PostgreSQL's backends, for instance)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rpartition(")")[2].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def _wait_dead(pids: set[int], timeout: float) -> set[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(pid_alive(p) for p in pids):
        time.sleep(0.05)
    return {p for p in pids if pid_alive(p)}


def _listening_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    return sock


def test_every_server_answers(full_stack: RunningStack) -> None:
    urls = full_stack.urls
    assert asyncio.run(_query(urls.database_url, "SELECT current_database()")) == "chirp"

    client = redis.Redis.from_url(urls.redis_url)
    try:
        assert client.ping() is True
    finally:
        client.close()

    meili = _port(urls.meili_url)
    assert _http_get(meili, "/health") == (200, b'{"status":"available"}')
    assert _http_get(meili, "/keys")[0] == 401
    assert _http_get(meili, "/keys", {"Authorization": f"Bearer {urls.meili_master_key}"})[0] == 200

    assert _http_get(_port(urls.s3_endpoint), "/")[0] == 403  # anonymous: refused
    s3 = boto3.client(
        "s3",
        endpoint_url=urls.s3_endpoint,
        aws_access_key_id=urls.s3_access_key,
        aws_secret_access_key=urls.s3_secret_key,
        region_name="us-east-1",
    )
    assert s3.list_buckets()["ResponseMetadata"]["HTTPStatusCode"] == 200


def test_restarting_postgres_keeps_its_tables(full_stack: RunningStack) -> None:
    url = full_stack.urls.database_url
    asyncio.run(_query(url, "CREATE TABLE kept (v text)", "INSERT INTO kept VALUES ('still here')"))
    server = full_stack.servers["postgres"]
    old_pid = server.pid
    server.stop()
    assert not server.is_running() and server.pid is None
    assert old_pid is not None and not pid_alive(old_pid)
    server.start()
    assert server.is_running() and server.pid not in (None, old_pid)
    assert asyncio.run(_query(url, "SELECT v FROM kept")) == "still here"


def test_stop_leaves_no_process_behind(tmp_path: Path) -> None:
    started = time.monotonic()
    running = start_stack(tmp_path / "stack", persistent=False, log=lambda _: None)
    start_time = time.monotonic() - started
    pids = {server.pid for server in running.servers.values() if server.pid is not None}
    assert len(pids) == 4
    asyncio.run(_query(running.urls.database_url, "SELECT 1"))  # a backend process exists now
    every = pids.union(*(_descendants(pid) for pid in pids))

    started = time.monotonic()
    running.stop()
    stop_time = time.monotonic() - started
    print(f"start_stack {start_time:.2f}s, stop {stop_time:.2f}s")
    assert _wait_dead(every, timeout=2) == set()
    assert not list((tmp_path / "stack").glob("*/pid"))
    running.stop()  # idempotent


def test_a_taken_port_is_refused_quickly(tmp_path: Path) -> None:
    with _listening_socket() as taken:
        port = taken.getsockname()[1]
        started = time.monotonic()
        with pytest.raises(StackError, match=rf"^port {port} \(valkey\) is already in use by another process$"):
            start_stack(tmp_path, ports={"valkey": port}, persistent=False, only=["valkey"])
        assert time.monotonic() - started < 2
    assert not (tmp_path / "valkey" / "pid").exists()


def test_a_taken_seaweed_grpc_port_is_named(tmp_path: Path) -> None:
    with _listening_socket() as taken:
        grpc = taken.getsockname()[1]
        if grpc - 10000 < 1024:
            pytest.skip("the kernel handed out a port too low to be a gRPC twin")
        with pytest.raises(StackError, match=rf"^port {grpc} \(s3 gRPC\) is already in use"):
            start_stack(tmp_path, ports={"s3": grpc - 10000}, persistent=False, only=["s3"])


def test_a_stale_pid_file_is_removed_with_a_message(tmp_path: Path) -> None:
    exited = subprocess.Popen(["true"])
    exited.wait()
    pid_file = tmp_path / "valkey" / "pid"
    pid_file.parent.mkdir(parents=True)
    pid_file.write_text(f"{exited.pid}\n")
    messages: list[str] = []
    with start_stack(tmp_path, persistent=False, only=["valkey"], log=messages.append) as running:
        assert any(
            m.startswith("stale pid file") and f"(pid {exited.pid} is not running) removed" in m for m in messages
        ), messages
        assert pid_file.read_text().strip() == str(running.servers["valkey"].pid)
    assert not pid_file.exists()


def test_a_live_pid_file_refuses_a_second_stack(tmp_path: Path) -> None:
    with start_stack(tmp_path, persistent=False, only=["valkey"], log=lambda _: None) as first:
        pid = first.servers["valkey"].pid
        with pytest.raises(StackError, match=rf"^valkey already running from .* \(pid {pid}\); stop it first$"):
            start_stack(tmp_path, persistent=False, only=["valkey"])
        assert first.servers["valkey"].is_running()


def test_a_persistent_stack_keeps_valkey_data_and_secrets(tmp_path: Path) -> None:
    with start_stack(tmp_path, persistent=True, only=["valkey"], log=lambda _: None) as running:
        urls = running.urls
        client = redis.Redis.from_url(urls.redis_url)
        client.set("greeting", "hello")
        client.close()
        server = running.servers["valkey"]
        server.stop()
        server.start()
        client = redis.Redis.from_url(urls.redis_url)
        assert client.get("greeting") == b"hello"
        client.close()
    assert (tmp_path / "secrets.json").stat().st_mode & 0o777 == 0o600
    # A second run on the same directory (and port): same data, same secrets.
    with start_stack(tmp_path, ports={"valkey": server.port}, persistent=True, only=["valkey"]) as again:
        assert again.urls == urls
        client = redis.Redis.from_url(again.urls.redis_url)
        assert client.get("greeting") == b"hello"
        client.close()


def test_a_server_that_fails_to_start_reports_its_log(tmp_path: Path) -> None:
    (tmp_path / "meilisearch").mkdir()
    (tmp_path / "meilisearch" / "data.ms").write_text("not a database directory")
    with pytest.raises(StackError) as failure:
        start_stack(tmp_path, persistent=False, only=["meilisearch", "valkey"], log=lambda _: None)
    headline, _, tail = str(failure.value).partition("\n")
    assert headline.startswith("meilisearch exited with code") and "meilisearch/log" in headline
    assert tail.strip()
    assert not list(tmp_path.glob("*/pid"))  # valkey, started alongside, was stopped again


_CHILD = """
import json, sys, time
from pathlib import Path
from stack import start_stack
running = start_stack(Path(sys.argv[1]), persistent=False, only=["postgres", "valkey"], log=lambda _: None)
print(json.dumps([s.pid for s in running.servers.values()]), flush=True)
time.sleep(60)
"""


def test_servers_die_with_a_killed_parent(tmp_path: Path) -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(tmp_path / "stack")],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    )
    try:
        assert child.stdout is not None
        pids = set(json.loads(child.stdout.readline()))
        assert len(pids) == 2 and all(pid_alive(pid) for pid in pids)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    assert _wait_dead(pids, timeout=10) == set()
    # As root, the killed child's cluster lived in a private temp dir it had no chance to remove.
    for leftover in Path(tempfile.gettempdir()).glob(f"chirp-pg-{child.pid}-*"):
        shutil.rmtree(leftover, ignore_errors=True)


def test_install_binaries_is_idempotent_and_quiet_when_done() -> None:
    install_binaries(REPO_ROOT)
    messages: list[str] = []
    started = time.monotonic()
    install_binaries(REPO_ROOT, log=messages.append)
    assert messages == []
    assert time.monotonic() - started < 1


def test_fixed_ports_give_seaweedfs_the_documented_dev_ports() -> None:
    given = {"postgres": 55432, "valkey": 16379, "meilisearch": 17700, "s3": 18333}
    assert resolve_ports(given, ["postgres", "valkey", "meilisearch", "s3"]) == DEV_PORTS
    with pytest.raises(StackError, match=r"port 60000 for s3 is out of range 1-55535"):
        resolve_ports({"s3": 60000}, ["s3"])


@pytest.mark.parametrize(("tools", "missing"), [((), "npm and node are missing"), (("npm",), "node is missing")])
def test_a_missing_npm_or_node_is_named_with_how_to_get_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tools: tuple[str, ...], missing: str
) -> None:
    from stack.binaries import install_meilisearch

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in tools:
        (bin_dir / tool).write_text("#!/bin/sh\nexit 1\n")
        (bin_dir / tool).chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))
    with pytest.raises(StackError) as caught:
        install_meilisearch(tmp_path / "repo", log=lambda _: None)
    assert str(caught.value).startswith(f"meilisearch: {missing}: "), caught.value
    assert "apt-get install nodejs npm" in str(caught.value)
    assert not (tmp_path / "repo" / ".stack" / "bin" / "meilisearch").exists()
