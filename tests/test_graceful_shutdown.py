"""SIGTERM of a real `chirp serve` process: readiness fails first while requests are still served (one in
flight when the signal came finishes), then the port closes and websockets close with 1001.

(A request whose body is still arriving when the port closes is cut off: aiohttp stops reading every
connection when its shutdown starts. The drain is what lets such requests finish.)"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import WSMsgType
from conftest import UserFactory
from processes import REPO, free_port, wait_until_serving

from storage.resources import Resources

WAIT = 30.0


async def status_of(session: aiohttp.ClientSession, url: str) -> tuple[int, dict[str, object]]:
    async with session.get(url) as response:
        return response.status, await response.json()


async def port_closed(port: int) -> bool:
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return True
    writer.close()
    return False


async def test_sigterm_drains_then_closes_sockets_with_1001_and_finishes_requests(
    stack_env: dict[str, str], res: Resources, make_user: UserFactory
) -> None:
    alice = await make_user("alice")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, **stack_env, "CHIRP_PORT": str(port), "CHIRP_DRAIN_SECONDS": "2", "CHIRP_LOG_LEVEL": "warning"}
    env.pop("CHIRP_NODE_ID", None)
    process = subprocess.Popen([sys.executable, "-m", "app.cli", "serve"], env=env, cwd=REPO)  # noqa: ASYNC220
    try:
        wait_until_serving(port, process)
        auth = {"Authorization": f"Bearer {alice.token}"}
        async with aiohttp.ClientSession() as session, aiohttp.ClientSession() as slow_session:
            ws = await session.ws_connect(f"{base}/api/v1/streaming?stream=user", headers=auth)
            # A post whose body is still on its way when the process is told to stop.
            rest_of_body = asyncio.Event()

            async def body() -> AsyncIterator[bytes]:
                yield b'{"status": "sent across '
                await rest_of_body.wait()
                yield b'a shutdown"}'

            in_flight = asyncio.ensure_future(
                slow_session.post(
                    f"{base}/api/v1/statuses", data=body(), headers={**auth, "Content-Type": "application/json"}
                )
            )
            await asyncio.sleep(0.5)  # let the first half reach the server
            assert not in_flight.done()

            process.send_signal(signal.SIGTERM)
            # First: not ready, yet alive and still serving.
            for _ in range(100):
                status, ready = await status_of(session, f"{base}/readyz")
                if status == 503:
                    break
                await asyncio.sleep(0.05)
            assert (status, ready["status"]) == (503, "draining")
            assert (await status_of(session, f"{base}/livez"))[0] == 200
            assert (await status_of(session, f"{base}/api/v1/instance"))[0] == 200
            assert not ws.closed

            # The request that was in flight when the signal came finishes.
            rest_of_body.set()
            response = await asyncio.wait_for(in_flight, WAIT)
            created = await response.json()
            assert response.status == 200, created
            assert created["content"] == "<p>sent across a shutdown</p>"

            # Then the websocket is told the server is going away.
            while True:
                message = await ws.receive(timeout=WAIT)
                if message.type in (WSMsgType.CLOSE, WSMsgType.CLOSED, WSMsgType.CLOSING):
                    break
            assert message.type is WSMsgType.CLOSE
            assert message.data == 1001
            assert await port_closed(port)  # no new connections
        assert process.wait(timeout=WAIT) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert await res.db.fetchval("SELECT count(*) FROM posts WHERE id = $1", int(created["id"])) == 1
