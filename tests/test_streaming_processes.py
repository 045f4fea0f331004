"""Several API processes: a post made through one reaches a websocket held by another, through Valkey
pub/sub (real `python -m app.cli serve` processes; the worker's queues run in the test)."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from conftest import UserFactory
from processes import chirp, chirp_env, free_port
from streams import WAIT, frame, online, run_queues

from storage import presence
from storage.resources import Resources

pytestmark = pytest.mark.processes  # API processes of their own


@contextmanager
def api_process(env: dict[str, str], port: int, node_id: int, *extra: str) -> Iterator[subprocess.Popen[bytes]]:
    """`python -m app.cli serve` on `port` with node id `node_id`, stopped by its pid when the block ends."""
    with chirp("serve", chirp_env(env, CHIRP_NODE_ID=str(node_id)), *extra, port=port) as process:
        yield process


async def post(session: aiohttp.ClientSession, port: int, token: str, text: str) -> dict[str, Any]:
    async with session.post(
        f"http://127.0.0.1:{port}/api/v1/statuses", json={"status": text}, headers={"Authorization": f"Bearer {token}"}
    ) as response:
        body: dict[str, Any] = await response.json()
        assert response.status == 200, body
        return body


async def follow(session: aiohttp.ClientSession, port: int, token: str, target: int) -> None:
    async with session.post(
        f"http://127.0.0.1:{port}/api/v1/accounts/{target}/follow", headers={"Authorization": f"Bearer {token}"}
    ) as response:
        assert response.status == 200, await response.text()


async def next_update(ws: aiohttp.ClientWebSocketResponse) -> dict[str, Any]:
    """The next `update` frame, within WAIT seconds in all (heartbeats do not extend the wait)."""
    async with asyncio.timeout(WAIT):
        while True:
            data = frame(await ws.receive())
            if data["event"] == "update":
                return data


async def receives(ws: aiohttp.ClientWebSocketResponse, status_id: str, seconds: float) -> bool:
    """Whether the `update` of `status_id` reaches the socket within `seconds` (other frames skipped)."""
    try:
        async with asyncio.timeout(seconds):
            while True:
                data = frame(await ws.receive())
                if data["event"] == "update" and data["payload"]["id"] == status_id:
                    return True
    except TimeoutError:
        return False


@pytest.mark.valkey_modes
async def test_a_post_through_one_process_reaches_a_socket_on_another(
    stack_env: dict[str, str], res: Resources, make_user: UserFactory
) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    first_port, second_port = free_port(), free_port()
    with api_process(stack_env, first_port, 21), api_process(stack_env, second_port, 22):
        async with aiohttp.ClientSession() as session:
            await follow(session, first_port, alice.token, bob.account_id)
            await run_queues(res)
            ws = await session.ws_connect(
                f"http://127.0.0.1:{second_port}/api/v1/streaming?stream=user",
                headers={"Authorization": f"Bearer {alice.token}"},
            )
            await online(res, alice.account_id)
            assert set(await presence.online_by_node(res.redis, [alice.account_id])) == {22}

            status = await post(session, first_port, bob.token, "made on the first process")
            await run_queues(res)
            update = await next_update(ws)
            assert update["stream"] == ["user"]
            assert update["payload"]["id"] == status["id"]
            assert update["payload"]["content"] == "<p>made on the first process</p>"
            await ws.close()


async def test_serve_processes_shares_one_port_between_processes(
    stack_env: dict[str, str], res: Resources, make_user: UserFactory
) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    port = free_port()
    with api_process(stack_env, port, 30, "--processes", "2"):
        async with aiohttp.ClientSession() as session:
            await follow(session, port, alice.token, bob.account_id)
            await run_queues(res)
            # Each new connection lands on one of the two processes (the kernel spreads them). The port
            # answers as soon as the first child listens, so keep connecting until both hold a socket.
            sockets: list[aiohttp.ClientWebSocketResponse] = []
            nodes: set[int] = set()
            deadline = asyncio.get_running_loop().time() + 20
            while nodes != {30, 31} and asyncio.get_running_loop().time() < deadline:
                for _ in range(4):
                    sockets.append(
                        await session.ws_connect(
                            f"http://127.0.0.1:{port}/api/v1/streaming?stream=user",
                            headers={"Authorization": f"Bearer {alice.token}"},
                        )
                    )
                await online(res, alice.account_id)
                await asyncio.sleep(0.05)
                nodes = set(await presence.online_by_node(res.redis, [alice.account_id]))
            assert nodes == {30, 31}
            # Each socket was subscribed before its 101 (handlers/streaming.py): the first post reaches all.
            status = await post(session, port, bob.token, "to every socket")
            await run_queues(res)
            for ws in sockets:
                assert await receives(ws, status["id"], WAIT)
            for ws in sockets:
                await ws.close()


def listen_backlog(port: int) -> int:
    """The accept queue's length of the socket listening on `port`, as the kernel reports it (ss's Send-Q)."""
    out = subprocess.run(["ss", "-ltnH", f"sport = :{port}"], capture_output=True, text=True, check=True).stdout
    (line,) = out.splitlines()
    return int(line.split()[2])


def test_the_api_listens_with_a_long_accept_queue(stack_env: dict[str, str]) -> None:
    """CHIRP_LISTEN_BACKLOG reaches the kernel: with aiohttp's 128, thousands of streams reconnecting at once
    overflowed it and waited on TCP retransmits (docs/operations.md)."""
    port = free_port()
    with chirp("serve", chirp_env(stack_env, CHIRP_LISTEN_BACKLOG="1500"), port=port):
        assert listen_backlog(port) == 1500
    port = free_port()
    with chirp("serve", chirp_env(stack_env), port=port):
        assert listen_backlog(port) == min(4096, int(Path("/proc/sys/net/core/somaxconn").read_text()))
