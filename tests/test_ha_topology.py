"""`chirp run --topology ha`, started as a developer starts it: it answers through HAProxy, and when one of
its two API processes is SIGKILLed, a streaming client reconnects through the balancer with
`last_event_id` and gets every post made meanwhile, in order, none twice, then live updates again. Without
HAProxy it says how to install it, and its two API processes share the one port with SO_REUSEPORT."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import psutil
import pytest
from processes import REPO, free_port

from config import Settings
from storage import presence
from storage.accounts import insert_account
from storage.resources import Resources, open_resources
from storage.tokens import issue_token

pytestmark = pytest.mark.processes  # a whole topology of its own

START_GUARD = 180.0  # seconds: hang guards, not timing assertions
WAIT = 30.0


class Topology:
    def __init__(
        self, process: subprocess.Popen[str], url: str, env: dict[str, str], pids: dict[str, int], said: list[str]
    ) -> None:
        self.process = process
        self.url = url
        self.env = env
        self.pids = pids
        self.said = said  # its output up to "running at"


async def _read_until_running(
    process: subprocess.Popen[str],
) -> tuple[str, dict[str, str], dict[str, int], list[str]]:
    assert process.stdout is not None
    env: dict[str, str] = {}
    seen: list[str] = []
    while True:
        line = await asyncio.to_thread(process.stdout.readline)
        if not line:
            raise AssertionError("chirp run --topology ha ended:\n" + "".join(seen[-30:]))
        seen.append(line)
        if line.startswith("export "):
            name, _, value = line.removeprefix("export ").strip().partition("=")
            env[name] = value.strip("'")
        found = re.search(r"running at (\S+) \(HA topology: ([^)]*)\)", line)
        if found:
            pids = {k: int(v) for k, v in (part.split("=") for part in found.group(2).split(", "))}
            return found.group(1), env, pids, seen


@pytest.fixture
async def topology() -> AsyncIterator[Topology]:
    async with started_topology({}) as running:
        yield running


@contextlib.asynccontextmanager
async def started_topology(overrides: dict[str, str]) -> AsyncIterator[Topology]:
    """`chirp run --topology ha` with `overrides` in its environment, until Ctrl-C (SIGINT) at the end."""
    port = free_port()
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "REDIS_", "MEILI_", "S3_"))}
    environ |= {"CHIRP_PORT": str(port), "CHIRP_LOG_LEVEL": "warning", "CHIRP_RATE_LIMIT": "false", **overrides}
    process = subprocess.Popen(  # noqa: ASYNC220 - started once; its output is read in a thread
        [sys.executable, "-m", "app.cli", "run", "--topology", "ha"],
        cwd=REPO,
        env=environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        url, env, pids, said = await asyncio.wait_for(_read_until_running(process), START_GUARD)
        drain = asyncio.ensure_future(asyncio.to_thread(_drain, process))  # keep its pipe from filling up
        yield Topology(process, url, env, pids, said)
    finally:
        process.send_signal(signal.SIGINT)  # Ctrl-C: it stops everything it started
        try:
            await asyncio.to_thread(process.wait, 60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    await drain
    assert process.returncode == 0


def _drain(process: subprocess.Popen[str]) -> None:
    assert process.stdout is not None
    for _ in process.stdout:
        pass


async def user(res: Resources, name: str) -> tuple[int, str]:
    account_id = res.ids.next_id()
    await insert_account(res.db, account_id, username=name, email=f"{name}@example.test", password_hash="!")
    issued = await issue_token(
        res.db, res.ids.next_id(), app_id=None, account_id=account_id, scopes=("read", "write", "follow")
    )
    return account_id, issued.access_token


async def post(session: aiohttp.ClientSession, url: str, token: str, text: str) -> str:
    """Post through the balancer, again when the request met the killed process (502/503, or disconnected)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT
    while True:
        headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": text}  # a retry posts nothing twice
        try:
            async with session.post(f"{url}/api/v1/statuses", json={"status": text}, headers=headers) as response:
                if response.status == 200:
                    return str((await response.json())["id"])
                assert response.status in (502, 503, 504), await response.text()
        except aiohttp.ServerDisconnectedError:
            pass  # in flight on the killed process: HAProxy closed the connection
        assert loop.time() < deadline, "posts did not come back"
        await asyncio.sleep(0.2)


async def updates(ws: aiohttp.ClientWebSocketResponse, count: int) -> list[dict[str, Any]]:
    """The next `count` update frames (the status id and the frame's resume id)."""
    out: list[dict[str, Any]] = []
    while len(out) < count:
        message = await ws.receive(timeout=WAIT)
        assert message.type is aiohttp.WSMsgType.TEXT, f"stream ended: {message.type} {message.data!r}"
        data = json.loads(message.data)
        if data.get("event") == "update":
            out.append({"status": str(json.loads(data["payload"])["id"]), "id": data.get("id")})
    return out


async def test_a_killed_api_behind_haproxy_loses_no_streamed_post(topology: Topology) -> None:
    settings = Settings.from_env(topology.env)
    async with open_resources(settings) as res, aiohttp.ClientSession() as session:
        alice_id, alice = await user(res, "alice")
        bob_id, bob = await user(res, "bob")
        headers = {"Authorization": f"Bearer {bob}"}
        async with session.post(f"{topology.url}/api/v1/accounts/{alice_id}/follow", headers=headers) as r:
            assert r.status == 200, await r.text()
        ws = await session.ws_connect(f"{topology.url}/api/v1/streaming?stream=user", headers=headers)
        first = await post(session, topology.url, alice, "before")
        [seen] = await updates(ws, 1)
        assert seen["status"] == first

        # The API process holding bob's stream, by the node id it leased.
        nodes = await presence.online_by_node(res.redis, [bob_id])
        [node] = list(nodes)
        owner = await res.db.fetchval("SELECT owner FROM node_leases WHERE node = $1", node)
        pid = int(owner.split(":")[1].split("#")[0])
        assert pid in (topology.pids["api1"], topology.pids["api2"])
        os.kill(pid, signal.SIGKILL)
        closed = await ws.receive(timeout=WAIT)
        assert closed.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR)

        meanwhile = [await post(session, topology.url, alice, f"meanwhile {n}") for n in range(3)]
        resumed = await session.ws_connect(
            f"{topology.url}/api/v1/streaming?stream=user&last_event_id={seen['id']}", headers=headers
        )
        assert [u["status"] for u in await updates(resumed, 3)] == meanwhile
        live = await post(session, topology.url, alice, "after")
        assert [u["status"] for u in await updates(resumed, 1)] == [live]
        await resumed.close()
        await ws.close()


def path_without(program: str) -> str:
    """$PATH without the directories that hold `program`."""
    return os.pathsep.join(d for d in os.environ["PATH"].split(os.pathsep) if not (Path(d) / program).exists())


def listening_on(pid: int, port: int) -> bool:
    return any(
        c.status == psutil.CONN_LISTEN and c.laddr.port == port for c in psutil.Process(pid).net_connections("tcp")
    )


async def test_without_haproxy_the_two_apis_share_one_port_with_so_reuseport() -> None:
    async with started_topology({"PATH": path_without("haproxy")}) as topology:
        assert any("HAProxy is not installed (sudo apt-get install haproxy)" in line for line in topology.said)
        assert "haproxy" not in topology.pids
        port = int(topology.url.rsplit(":", 1)[1])
        apis = [topology.pids["api1"], topology.pids["api2"]]
        assert all(listening_on(pid, port) for pid in apis)
        settings = Settings.from_env(topology.env)
        async with open_resources(settings) as res, aiohttp.ClientSession() as session:
            bob_id, bob = await user(res, "bob")
            headers = {"Authorization": f"Bearer {bob}"}
            # Each connection is a new TCP connection: the kernel spreads them over the two listeners.
            streams = [
                await session.ws_connect(f"{topology.url}/api/v1/streaming?stream=user", headers=headers)
                for _ in range(16)
            ]
            loop = asyncio.get_running_loop()
            deadline = loop.time() + WAIT
            while len(nodes := await presence.online_by_node(res.redis, [bob_id])) < 2:
                assert loop.time() < deadline, f"bob's 16 streams are held by {len(nodes)} process(es)"
                await asyncio.sleep(0.2)
            owners = await res.db.fetch("SELECT owner FROM node_leases WHERE node = ANY($1::int[])", list(nodes))
            assert {int(o["owner"].split(":")[1].split("#")[0]) for o in owners} == set(apis)
            for ws in streams:
                await ws.close()
